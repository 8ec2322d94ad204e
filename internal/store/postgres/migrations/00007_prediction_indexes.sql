-- 00007_prediction_indexes: two redundant indexes are dropped (mirrors
-- SQLite's 00007, which also makes its claim index partial, as this
-- backend's always was).
--
-- idx_predictions_lookup (model_id, scope_key) is a prefix of
-- idx_predictions_series (model_id, scope_key, performed_at), which serves
-- any lookup it served, and ix_predictions_resolvable_at (resolvable_at) a
-- prefix of idx_predictions_window_stats (resolvable_at, model_id) INCLUDE
-- (...): a migration that drops window_stats must bring it back. Two index
-- entries less per prediction.

-- +goose Up
DROP INDEX IF EXISTS idx_predictions_lookup;
DROP INDEX IF EXISTS ix_predictions_resolvable_at;

-- +goose Down
CREATE INDEX IF NOT EXISTS idx_predictions_lookup ON predictions (model_id, scope_key);
CREATE INDEX IF NOT EXISTS ix_predictions_resolvable_at ON predictions (resolvable_at);
