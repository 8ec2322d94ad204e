-- 00021_hashed_model_indexes: nothing to do on SQLite (mirrors
-- PostgreSQL's 00021, which makes its two model-first prediction indexes
-- lead with hashes of model_id and scope_key, whose entries nbtree packs
-- fuller, so both backends report the same version). SQLite's b-tree
-- splits a page where the row goes; its indexes are unchanged.

-- +goose Up
SELECT 1;

-- +goose Down
SELECT 1;
