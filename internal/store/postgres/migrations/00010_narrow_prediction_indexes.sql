-- 00010_narrow_prediction_indexes: the claim index stops carrying the
-- 37-byte prediction id (mirrors SQLite's 00010, which drops the id from
-- two of its prediction indexes the same way).
--
-- idx_predictions_claim (resolvable_at, id) WHERE status = 'SUCCESS' AND
-- score_scored_at IS NULL holds one entry per prediction waiting for its
-- score; a score is an UPDATE that cannot be HOT (score_scored_at is in
-- the predicate), so until VACUUM reclaims them, every prediction stored
-- since the last VACUUM has an entry (69 bytes per prediction after the
-- baseline pack's one-day replay). On resolvable_at alone the predictions
-- of one instant (every model's of a slot) share one deduplicated entry
-- (about 12 bytes per prediction). The claim (ORDER BY resolvable_at, id
-- LIMIT n) becomes an index scan with an incremental sort of each
-- instant's ties when the queue is long, a bitmap scan and a sort of the
-- few due rows when it is short; both stop at the due rows.

-- +goose Up
DROP INDEX IF EXISTS idx_predictions_claim;
CREATE INDEX IF NOT EXISTS idx_predictions_claim ON predictions (resolvable_at)
    WHERE status = 'SUCCESS' AND score_scored_at IS NULL;

-- +goose Down
DROP INDEX IF EXISTS idx_predictions_claim;
CREATE INDEX IF NOT EXISTS idx_predictions_claim ON predictions (resolvable_at, id)
    WHERE status = 'SUCCESS' AND score_scored_at IS NULL;
