-- 00020_prediction_scores_columns: the columns of prediction_scores are
-- stored widest-aligned first (value, scored_at, ground_truth_id, success,
-- prediction_id, failed_reason), so a row has no alignment padding: 96
-- bytes instead of 104 with the baseline pack's ids (SQLite's 00020 is a
-- no-op, so both backends report the same version).
--
-- In 00019's order the 38-byte text prediction_id came first, and value
-- and scored_at (8-byte aligned) each needed padding after it and after
-- success. PostgreSQL stores columns in the order of the table's
-- definition, so the table is rebuilt: a new table in the new order, the
-- rows copied, the old table dropped and the new one renamed, with its
-- primary key named as before. Every statement of the store names the
-- columns, so reads and writes are unchanged. Measured with the baseline
-- pack (go run ./cmd/coordinator-bench -only storage): prediction_scores
-- grows 8 bytes per prediction less.
--
-- Both directions are guarded (a table already in the target order is left
-- as it is) and run in one transaction. Each first takes the table's
-- ACCESS EXCLUSIVE lock, held to the end of the transaction: a score
-- committed between the copy and the DROP would otherwise be lost while its
-- score_queue entry is already gone (a scorer of another process during a
-- rolling upgrade). A scorer that waits on the lock fails when the old
-- table is dropped and its transaction rolls back, its queue entry with it,
-- so the prediction is claimed again. About a second per million scores.

-- +goose Up
-- +goose StatementBegin
DO $$
BEGIN
    LOCK TABLE prediction_scores IN ACCESS EXCLUSIVE MODE;
    IF (SELECT attnum FROM pg_attribute WHERE attrelid = 'prediction_scores'::regclass AND attname = 'prediction_id') = 1 THEN
        CREATE TABLE prediction_scores_00020 (
            value           double precision,
            scored_at       timestamptz,
            ground_truth_id uuid,
            success         boolean,
            prediction_id   varchar NOT NULL,
            failed_reason   varchar
        );
        INSERT INTO prediction_scores_00020 (value, scored_at, ground_truth_id, success, prediction_id, failed_reason)
        SELECT value, scored_at, ground_truth_id, success, prediction_id, failed_reason FROM prediction_scores ORDER BY prediction_id;
        DROP TABLE prediction_scores;
        ALTER TABLE prediction_scores_00020 RENAME TO prediction_scores;
        ALTER TABLE prediction_scores ADD CONSTRAINT prediction_scores_pkey PRIMARY KEY (prediction_id);
    END IF;
END $$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
DO $$
BEGIN
    LOCK TABLE prediction_scores IN ACCESS EXCLUSIVE MODE;
    IF (SELECT attnum FROM pg_attribute WHERE attrelid = 'prediction_scores'::regclass AND attname = 'prediction_id') <> 1 THEN
        CREATE TABLE prediction_scores_00019 (
            prediction_id   varchar PRIMARY KEY,
            value           double precision,
            success         boolean,
            failed_reason   varchar,
            scored_at       timestamptz,
            ground_truth_id uuid
        );
        INSERT INTO prediction_scores_00019 (prediction_id, value, success, failed_reason, scored_at, ground_truth_id)
        SELECT prediction_id, value, success, failed_reason, scored_at, ground_truth_id FROM prediction_scores ORDER BY prediction_id;
        DROP TABLE prediction_scores;
        ALTER TABLE prediction_scores_00019 RENAME TO prediction_scores;
        ALTER INDEX prediction_scores_00019_pkey RENAME TO prediction_scores_pkey;
    END IF;
END $$;
-- +goose StatementEnd
