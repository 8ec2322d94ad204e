-- 00003_window_stats_index: ModelScoreStats counts non-answers too (mirrors
-- SQLite's 00003, so both backends report the same schema version).
--
-- Each window's aggregate now reads every prediction of the window, scored
-- or not: answered predictions and non-answers (FAILED, TIMEOUT, CRASHED,
-- ABSENT, BAD_IMPLEMENTATION, or SUCCESS scored without a value). This
-- index is a range scan on resolvable_at that carries the columns the
-- query reads, so it never touches the wide rows; it replaces 00002's
-- partial index of scored rows.

-- +goose Up
DROP INDEX IF EXISTS idx_predictions_score_stats;
CREATE INDEX IF NOT EXISTS idx_predictions_window_stats ON predictions (resolvable_at, model_id)
    INCLUDE (status, score_success, score_value, score_scored_at);

-- +goose Down
DROP INDEX IF EXISTS idx_predictions_window_stats;
CREATE INDEX IF NOT EXISTS idx_predictions_score_stats ON predictions (resolvable_at, model_id) INCLUDE (score_value)
    WHERE status = 'SUCCESS' AND score_success AND score_value IS NOT NULL;
