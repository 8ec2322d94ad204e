-- 00002_score_stats_index: a covering index for ModelScoreStats (SQLite only).
--
-- A predictions row stores its inference input (kilobytes of JSON) before
-- the score columns, so SQLite reaches score_success and score_value only
-- by walking the row's overflow pages. ModelScoreStats, run for every
-- leaderboard window, reads those columns for every prediction of the
-- window; this index answers it from the index alone
-- (WHERE score_success = 1 AND resolvable_at BETWEEN ? AND ?, reading
-- model_id and score_value). PostgreSQL keeps large values out of line
-- (TOAST) and needs no such index.

-- +goose Up
CREATE INDEX IF NOT EXISTS idx_predictions_score_stats ON predictions (score_success, resolvable_at, model_id, score_value);

-- +goose Down
DROP INDEX IF EXISTS idx_predictions_score_stats;
