-- 00015_input_uuid: nothing to do on SQLite (mirrors PostgreSQL's 00015,
-- which stores input ids as uuid, so both backends report the same
-- version).

-- +goose Up
SELECT 1;

-- +goose Down
SELECT 1;
