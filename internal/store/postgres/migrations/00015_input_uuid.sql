-- 00015_input_uuid: the ids of table inputs (id, base_id) and
-- predictions.input_id are stored as uuid, 16 bytes, instead of their
-- 36-character text (SQLite's 00015 is a no-op, so both backends report
-- the same version).
--
-- An input id is store.InputID: "INP_" and 32 hex digits, 128 bits, which
-- is what a uuid holds; the store strips the prefix when it writes
-- (inputHex) and puts it back when it reads (inputIDOf). Every prediction
-- row carries one (37 bytes as text), and so does every version of the row
-- a score writes; it was also most of a row of table inputs (id and
-- base_id, 74 of its about 170 bytes) and all of inputs_pkey. About 50
-- bytes per prediction of the baseline pack's replay once vacuumed, 80 as
-- measured (the score leaves the older version of each row in the table).
--
-- The columns are rewritten in place (ALTER COLUMN TYPE, under an
-- exclusive lock, for about a second per million predictions); a value that
-- is not an input id fails the migration (naming it) rather than being
-- lost. Re-runnable: a column already of type uuid is left as it is.

-- +goose Up
-- +goose StatementBegin
DO $$
BEGIN
    IF (SELECT atttypid FROM pg_attribute WHERE attrelid = 'predictions'::regclass AND attname = 'input_id') <> 'uuid'::regtype THEN
        ALTER TABLE predictions ALTER COLUMN input_id TYPE uuid USING substr(NULLIF(input_id, ''), 5)::uuid;
    END IF;
    IF (SELECT atttypid FROM pg_attribute WHERE attrelid = 'inputs'::regclass AND attname = 'id') <> 'uuid'::regtype THEN
        ALTER TABLE inputs ALTER COLUMN id TYPE uuid USING substr(id, 5)::uuid,
            ALTER COLUMN base_id TYPE uuid USING substr(base_id, 5)::uuid;
    END IF;
END $$;
-- +goose StatementEnd

-- +goose Down
-- Guarded like the Up: a column already back to text is left as it is (a
-- second run would otherwise prefix its ids twice).
-- +goose StatementBegin
DO $$
BEGIN
    IF (SELECT atttypid FROM pg_attribute WHERE attrelid = 'predictions'::regclass AND attname = 'input_id') = 'uuid'::regtype THEN
        ALTER TABLE predictions ALTER COLUMN input_id TYPE varchar USING 'INP_' || replace(input_id::text, '-', '');
    END IF;
    IF (SELECT atttypid FROM pg_attribute WHERE attrelid = 'inputs'::regclass AND attname = 'id') = 'uuid'::regtype THEN
        ALTER TABLE inputs ALTER COLUMN id TYPE varchar USING 'INP_' || replace(id::text, '-', ''),
            ALTER COLUMN base_id TYPE varchar USING 'INP_' || replace(base_id::text, '-', '');
    END IF;
END $$;
-- +goose StatementEnd
