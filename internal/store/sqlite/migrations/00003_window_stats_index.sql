-- 00003_window_stats_index: ModelScoreStats counts non-answers too.
--
-- Every leaderboard window now reads, for each prediction of the window,
-- its status and score columns (answered predictions and non-answers:
-- FAILED, TIMEOUT, CRASHED, ABSENT, BAD_IMPLEMENTATION, or SUCCESS scored
-- without a value). This covering index answers the query from the index
-- alone (the row's score columns sit behind its inference input, in
-- overflow pages) and replaces 00002's, which held scored rows only.

-- +goose Up
DROP INDEX IF EXISTS idx_predictions_score_stats;
CREATE INDEX IF NOT EXISTS idx_predictions_window_stats ON predictions (resolvable_at, model_id, status, score_success, score_value, score_scored_at);

-- +goose Down
DROP INDEX IF EXISTS idx_predictions_window_stats;
CREATE INDEX IF NOT EXISTS idx_predictions_score_stats ON predictions (score_success, resolvable_at, model_id, score_value);
