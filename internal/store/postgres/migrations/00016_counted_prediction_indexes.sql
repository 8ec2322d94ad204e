-- 00016_counted_prediction_indexes: idx_predictions_window_stats and
-- idx_predictions_model_resolvable hold only the predictions that count in
-- an aggregation window (SQLite's 00016 is a no-op, so both backends
-- report the same version).
--
-- Their two queries, ModelScoreStats (window_stats, index-only) and
-- WindowPredictions (model_resolvable), read only the predictions that are
-- scored or non-answers (countedPredicate in predictions.go, which must
-- stay the text of the WHERE below, so that the planner proves a query
-- implies it): a SUCCESS prediction waiting for its score adds nothing to
-- either. As partial indexes on that condition they get no entry when a
-- prediction is stored, and one when its score is written. Before, the
-- score (an UPDATE that is not HOT: it changes the columns window_stats
-- INCLUDEs) added a second entry next to the first in both, and the first
-- one's space stayed in the index after VACUUM removed it: each index was
-- twice its live size after the baseline pack's replay (0.80 and 0.48 MB
-- for 0.43 and 0.26 MB of entries). No other query ranges over
-- resolvable_at alone (the claim has its own partial index), so nothing
-- needs the entries of unscored predictions (see 00007).

-- +goose Up
DROP INDEX IF EXISTS idx_predictions_window_stats;
CREATE INDEX IF NOT EXISTS idx_predictions_window_stats ON predictions (resolvable_at, model_id)
    INCLUDE (status, score_success, score_value, score_scored_at)
    WHERE (score_scored_at IS NOT NULL OR score_success IS NOT NULL OR status IN ('FAILED', 'TIMEOUT', 'CRASHED', 'ABSENT', 'BAD_IMPLEMENTATION'));
DROP INDEX IF EXISTS idx_predictions_model_resolvable;
CREATE INDEX IF NOT EXISTS idx_predictions_model_resolvable ON predictions (model_id, resolvable_at)
    WHERE (score_scored_at IS NOT NULL OR score_success IS NOT NULL OR status IN ('FAILED', 'TIMEOUT', 'CRASHED', 'ABSENT', 'BAD_IMPLEMENTATION'));

-- +goose Down
DROP INDEX IF EXISTS idx_predictions_window_stats;
CREATE INDEX IF NOT EXISTS idx_predictions_window_stats ON predictions (resolvable_at, model_id)
    INCLUDE (status, score_success, score_value, score_scored_at);
DROP INDEX IF EXISTS idx_predictions_model_resolvable;
CREATE INDEX IF NOT EXISTS idx_predictions_model_resolvable ON predictions (model_id, resolvable_at);
