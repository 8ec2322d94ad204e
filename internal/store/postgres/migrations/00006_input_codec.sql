-- 00006_input_codec: inference inputs are stored compressed (mirrors
-- SQLite's migrationInputCodec (migrate_input_codec.go), so both backends
-- report the same version).
--
-- A predict cycle's input is usually a sliding window over the same feed
-- (the baseline pack: the last 120 one-minute candles, 13 KB of JSON), so
-- consecutive inputs share all but one record. internal/store/inputcodec
-- stores a new input as a zstd frame (data) whose codec says how to read
-- it: 1 = a keyframe, 2 = a delta compressed against the input base_id
-- names as a raw dictionary (a keyframe every 32 inputs of a stream bounds
-- the chain a read decodes); 0 = the JSON text itself, byte for byte, in
-- data. Rows written before this migration keep codec 0 and their text in
-- input_jsonb, and read back unchanged; nothing is moved. input_jsonb is
-- NULL for new rows. data is never compressed again by TOAST (a zstd
-- frame does not shrink).

-- +goose Up
ALTER TABLE inputs ADD COLUMN IF NOT EXISTS codec smallint NOT NULL DEFAULT 0;
ALTER TABLE inputs ADD COLUMN IF NOT EXISTS base_id varchar;
ALTER TABLE inputs ADD COLUMN IF NOT EXISTS data bytea;
ALTER TABLE inputs ALTER COLUMN data SET STORAGE EXTERNAL;
ALTER TABLE inputs ALTER COLUMN input_jsonb DROP NOT NULL;

-- +goose Down
-- Irreversible: inputs written since are readable only through data.
SELECT 1;
