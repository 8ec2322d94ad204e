-- 00010_narrow_prediction_indexes: two indexes of predictions stop carrying
-- the 37-byte prediction id (mirrors PostgreSQL's 00010, whose claim index
-- loses its id the same way).
--
-- ix_predictions_performed_at (performed_at, id) and
-- idx_predictions_model_resolvable (model_id, resolvable_at, id) carried the
-- id so ListPredictions (ORDER BY performed_at, id) and WindowPredictions
-- (ORDER BY resolvable_at, id) needed no sort. Without it SQLite reads the
-- same range in the same order and sorts only the ties of each instant
-- ("USE TEMP B-TREE FOR RIGHT PART OF ORDER BY": the models' predictions of
-- one slot), so a page of results still stops at its LIMIT; every index
-- entry keeps the rowid. About 80 bytes less per prediction (the baseline
-- pack's one-day replay: 62 and 78 bytes per prediction for these two
-- indexes before).

-- +goose Up
DROP INDEX IF EXISTS ix_predictions_performed_at;
CREATE INDEX IF NOT EXISTS ix_predictions_performed_at ON predictions (performed_at);
DROP INDEX IF EXISTS idx_predictions_model_resolvable;
CREATE INDEX IF NOT EXISTS idx_predictions_model_resolvable ON predictions (model_id, resolvable_at);

-- +goose Down
DROP INDEX IF EXISTS ix_predictions_performed_at;
CREATE INDEX IF NOT EXISTS ix_predictions_performed_at ON predictions (performed_at, id);
DROP INDEX IF EXISTS idx_predictions_model_resolvable;
CREATE INDEX IF NOT EXISTS idx_predictions_model_resolvable ON predictions (model_id, resolvable_at, id);
