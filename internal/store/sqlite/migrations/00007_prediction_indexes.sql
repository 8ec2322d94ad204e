-- 00007_prediction_indexes: three indexes of predictions stop costing a
-- prediction's worth of storage each (mirrors PostgreSQL's 00007, so both
-- backends report the same version).
--
-- idx_predictions_claim indexed every prediction ever stored, though the
-- claim (ClaimAndScore: status = 'SUCCESS' AND score_scored_at IS NULL AND
-- resolvable_at <= now ORDER BY resolvable_at, id) only looks for the
-- unscored ones: it is now partial, as PostgreSQL's always was, and holds
-- the few predictions waiting for their ground truth (84 bytes per
-- prediction of the baseline pack's one-day replay before, a few pages
-- now). The claim names 'SUCCESS' as a literal so the planner can prove
-- the partial index applies.
--
-- idx_predictions_lookup (model_id, scope_key) is a prefix of
-- idx_predictions_series (model_id, scope_key, performed_at, status), which
-- serves any lookup it served (34 bytes per prediction), and
-- ix_predictions_resolvable_at (resolvable_at) a prefix of
-- idx_predictions_window_stats (resolvable_at, model_id, ...) (19 bytes per
-- prediction): a migration that drops window_stats must bring it back.
--
-- Every statement is IF [NOT] EXISTS, harmless to re-run (00001 recreates
-- the old indexes on a schema whose version table was lost; this drops them
-- again).

-- +goose Up
DROP INDEX IF EXISTS idx_predictions_claim;
CREATE INDEX IF NOT EXISTS idx_predictions_claim ON predictions (resolvable_at, id)
    WHERE status = 'SUCCESS' AND score_scored_at IS NULL;
DROP INDEX IF EXISTS idx_predictions_lookup;
DROP INDEX IF EXISTS ix_predictions_resolvable_at;

-- +goose Down
DROP INDEX IF EXISTS idx_predictions_claim;
CREATE INDEX IF NOT EXISTS idx_predictions_claim ON predictions (status, score_scored_at, resolvable_at, id);
CREATE INDEX IF NOT EXISTS idx_predictions_lookup ON predictions (model_id, scope_key);
CREATE INDEX IF NOT EXISTS ix_predictions_resolvable_at ON predictions (resolvable_at);
