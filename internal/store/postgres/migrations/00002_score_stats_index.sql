-- 00002_score_stats_index: a partial covering index for ModelScoreStats,
-- the query behind every leaderboard window (mirrors SQLite's 00002, so
-- both backends report the same schema version).
--
-- It holds only successfully scored SUCCESS predictions, ordered by
-- resolvable_at, and carries model_id and score_value, so a window's
-- aggregate is an index-only range scan that never touches the wide rows.

-- +goose Up
CREATE INDEX IF NOT EXISTS idx_predictions_score_stats ON predictions (resolvable_at, model_id) INCLUDE (score_value)
    WHERE status = 'SUCCESS' AND score_success AND score_value IS NOT NULL;

-- +goose Down
DROP INDEX IF EXISTS idx_predictions_score_stats;
