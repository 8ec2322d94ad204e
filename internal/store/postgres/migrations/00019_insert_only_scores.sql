-- 00019_insert_only_scores: a score is a row of its own, inserted, and a
-- prediction row is never rewritten by its score (SQLite's 00019 is a
-- no-op, so both backends report the same version).
--
-- A score was an UPDATE of the prediction's score columns. PostgreSQL
-- writes a new version of the whole row (about 270 bytes with the baseline
-- pack) and, since three indexes named score columns
-- (idx_predictions_claim's predicate, idx_predictions_window_stats's
-- INCLUDE and predicate, idx_predictions_model_resolvable's predicate), a
-- new entry in every index of the table. The old version and entries stay
-- until VACUUM: 1,407 bytes per prediction after the baseline pack's
-- one-day replay (nothing vacuums during it), 942 once VACUUM FULL had
-- removed them. A live node's autovacuum frees the heap space for later
-- rows, not all of the index pages.
--
-- Now:
--   * prediction_scores holds one row per scored prediction (its id, the
--     value, success, failed reason, scored_at and ground truth id: what
--     the score columns held), inserted by ClaimAndScore, or with the
--     prediction by SavePredictCycle. A prediction is scored when it has
--     one. The columns score_value, score_success and score_scored_at of
--     predictions are dropped; score_failed_reason and ground_truth_id
--     stay for a terminal Status without a score (UNRESOLVED: the reason and
--     ground truth recorded with it), the one update of a prediction row
--     left, and rare. A read joins the score on the primary key.
--   * score_queue is the claim queue the partial claim index was: one row
--     per instant (resolvable_at) that may have unscored SUCCESS
--     predictions. SavePredictCycle adds the instants of the SUCCESS
--     predictions it inserts unscored; ClaimAndScore locks due instants
--     (FOR UPDATE SKIP LOCKED), reads their pending predictions in a second
--     statement (which sees every score committed by an earlier holder of
--     the lock) and deletes an instant once none is left. A row per
--     instant, not per prediction: its deleted rows are the only dead rows
--     scoring leaves, one per instant (one a minute for the baseline pack).
--   * ix_predictions_resolvable_at (the claim's read of an instant, the
--     window of ModelScoreStats) and ix_predictions_model_resolvable
--     (WindowPredictions) replace the three indexes; they hold every
--     prediction, written once.
--
-- Measured with the baseline pack's one-day replay (5,760 predictions,
-- sizes after the replay's VACUUM; nothing vacuums during it): predictions
-- with its indexes, its scores and the claim queue take 4.0 MB, against
-- 5.35 MB before; the whole database 1,179 bytes per prediction against
-- 1,407. Considered instead: making the UPDATE a HOT one (the same two
-- indexes, no index naming a score column). The replay's score worker
-- scores every prediction of a page in one statement, about 15 minutes
-- after they were stored, so the page must have room for the new version
-- of each of its rows at once: a fillfactor near 45, 4.8 MB in a
-- simulation of the replay, and a heap half empty for good on a live node
-- (with fillfactor 100 almost no score was HOT: 1,392 bytes per prediction).
--
-- Up moves the existing scores to prediction_scores and fills score_queue
-- from the unscored SUCCESS predictions; Down moves the scores back into
-- the columns it adds again and rebuilds the indexes of 00010 and 00016.
-- Both are guarded (a schema already migrated either way is left as it is)
-- and run in one transaction.

-- +goose Up
CREATE TABLE IF NOT EXISTS prediction_scores (
    prediction_id   varchar          PRIMARY KEY,
    value           double precision,
    success         boolean,
    failed_reason   varchar,
    scored_at       timestamptz,
    ground_truth_id uuid
);
-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 'predictions'::regclass AND attname = 'score_scored_at' AND NOT attisdropped) THEN
        INSERT INTO prediction_scores (prediction_id, value, success, failed_reason, scored_at, ground_truth_id)
        SELECT id, score_value, score_success, score_failed_reason, score_scored_at, ground_truth_id FROM predictions
        WHERE score_scored_at IS NOT NULL OR score_success IS NOT NULL
        ORDER BY id
        ON CONFLICT (prediction_id) DO NOTHING;
        DROP INDEX IF EXISTS idx_predictions_claim;
        DROP INDEX IF EXISTS idx_predictions_window_stats;
        DROP INDEX IF EXISTS idx_predictions_model_resolvable;
        ALTER TABLE predictions DROP COLUMN score_value, DROP COLUMN score_success, DROP COLUMN score_scored_at;
    END IF;
END $$;
-- +goose StatementEnd
CREATE TABLE IF NOT EXISTS score_queue (
    resolvable_at timestamptz PRIMARY KEY
);
INSERT INTO score_queue (resolvable_at)
SELECT DISTINCT resolvable_at FROM predictions p
WHERE p.status = 'SUCCESS' AND NOT EXISTS (SELECT 1 FROM prediction_scores ps WHERE ps.prediction_id = p.id)
ON CONFLICT (resolvable_at) DO NOTHING;
CREATE INDEX IF NOT EXISTS ix_predictions_resolvable_at ON predictions (resolvable_at);
CREATE INDEX IF NOT EXISTS ix_predictions_model_resolvable ON predictions (model_id, resolvable_at);

-- +goose Down
-- +goose StatementBegin
DO $$
BEGIN
    IF to_regclass('prediction_scores') IS NOT NULL THEN
        ALTER TABLE predictions ADD COLUMN IF NOT EXISTS score_value double precision,
            ADD COLUMN IF NOT EXISTS score_success boolean,
            ADD COLUMN IF NOT EXISTS score_scored_at timestamptz;
        UPDATE predictions p SET score_value = ps.value, score_success = ps.success,
            score_failed_reason = ps.failed_reason, score_scored_at = ps.scored_at,
            ground_truth_id = COALESCE(ps.ground_truth_id, p.ground_truth_id)
        FROM prediction_scores ps WHERE ps.prediction_id = p.id;
        DROP TABLE prediction_scores;
    END IF;
END $$;
-- +goose StatementEnd
DROP TABLE IF EXISTS score_queue;
DROP INDEX IF EXISTS ix_predictions_model_resolvable;
DROP INDEX IF EXISTS ix_predictions_resolvable_at;
CREATE INDEX IF NOT EXISTS idx_predictions_claim ON predictions (resolvable_at)
    WHERE status = 'SUCCESS' AND score_scored_at IS NULL;
CREATE INDEX IF NOT EXISTS idx_predictions_window_stats ON predictions (resolvable_at, model_id)
    INCLUDE (status, score_success, score_value, score_scored_at)
    WHERE (score_scored_at IS NOT NULL OR score_success IS NOT NULL OR status IN ('FAILED', 'TIMEOUT', 'CRASHED', 'ABSENT', 'BAD_IMPLEMENTATION'));
CREATE INDEX IF NOT EXISTS idx_predictions_model_resolvable ON predictions (model_id, resolvable_at)
    WHERE (score_scored_at IS NOT NULL OR score_success IS NOT NULL OR status IN ('FAILED', 'TIMEOUT', 'CRASHED', 'ABSENT', 'BAD_IMPLEMENTATION'));
