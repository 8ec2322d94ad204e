-- 00017_ground_truth_uuid: ground truth ids (ground_truths.id,
-- predictions.ground_truth_id) are stored as uuid, 16 bytes, instead of
-- their 22-character base64url text (SQLite's 00017 is a no-op, so both
-- backends report the same version).
--
-- A ground truth id is store.GroundTruthID: 16 bytes of a SHA-256, which
-- is what a uuid holds; the store writes the bytes (truthHex) and never
-- reads the id back (a read joins on it). Every scored prediction row
-- carries one (23 bytes as text), and so does the row version the score
-- leaves behind; it is also the key of ground_truths and its index.
--
-- As 00015: the columns are rewritten in place, a value that is not such
-- an id fails the migration (naming it) rather than being lost, and a
-- column already of type uuid is left as it is.

-- +goose Up
-- +goose StatementBegin
DO $$
BEGIN
    IF (SELECT atttypid FROM pg_attribute WHERE attrelid = 'ground_truths'::regclass AND attname = 'id') <> 'uuid'::regtype THEN
        ALTER TABLE ground_truths ALTER COLUMN id TYPE uuid
            USING encode(decode(translate(id, '-_', '+/') || '==', 'base64'), 'hex')::uuid;
    END IF;
    IF (SELECT atttypid FROM pg_attribute WHERE attrelid = 'predictions'::regclass AND attname = 'ground_truth_id') <> 'uuid'::regtype THEN
        ALTER TABLE predictions ALTER COLUMN ground_truth_id TYPE uuid
            USING encode(decode(translate(NULLIF(ground_truth_id, ''), '-_', '+/') || '==', 'base64'), 'hex')::uuid;
    END IF;
END $$;
-- +goose StatementEnd

-- +goose Down
-- Guarded like the Up: a column already back to text is left as it is.
-- +goose StatementBegin
DO $$
BEGIN
    IF (SELECT atttypid FROM pg_attribute WHERE attrelid = 'ground_truths'::regclass AND attname = 'id') = 'uuid'::regtype THEN
        ALTER TABLE ground_truths ALTER COLUMN id TYPE varchar
            USING translate(rtrim(encode(decode(replace(id::text, '-', ''), 'hex'), 'base64'), '='), '+/', '-_');
    END IF;
    IF (SELECT atttypid FROM pg_attribute WHERE attrelid = 'predictions'::regclass AND attname = 'ground_truth_id') = 'uuid'::regtype THEN
        ALTER TABLE predictions ALTER COLUMN ground_truth_id TYPE varchar
            USING translate(rtrim(encode(decode(replace(ground_truth_id::text, '-', ''), 'hex'), 'base64'), '='), '+/', '-_');
    END IF;
END $$;
-- +goose StatementEnd
