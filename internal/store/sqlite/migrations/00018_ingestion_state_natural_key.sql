-- 00018_ingestion_state_natural_key: nothing to do on SQLite (mirrors
-- PostgreSQL's 00018, which makes market_ingestion_state's natural key its
-- primary key, so both backends report the same version). SQLite runs one
-- writer at a time, so the watermark upsert's ON CONFLICT on the natural
-- key never races a second insert of the same feed.

-- +goose Up
SELECT 1;

-- +goose Down
SELECT 1;
