-- 00014_market_natural_key: nothing to do on SQLite (mirrors PostgreSQL's
-- 00014, which makes market_records' natural key its primary key, so both
-- backends report the same version). SQLite's table keeps its primary key
-- on id: changing a primary key there rebuilds the table.

-- +goose Up
SELECT 1;

-- +goose Down
SELECT 1;
