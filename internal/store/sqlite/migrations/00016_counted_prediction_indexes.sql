-- 00016_counted_prediction_indexes: nothing to do on SQLite (mirrors
-- PostgreSQL's 00016, which makes two prediction indexes partial, so both
-- backends report the same version).

-- +goose Up
SELECT 1;

-- +goose Down
SELECT 1;
