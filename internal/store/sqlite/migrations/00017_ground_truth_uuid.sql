-- 00017_ground_truth_uuid: nothing to do on SQLite (mirrors PostgreSQL's
-- 00017, which stores ground truth ids as uuid, so both backends report
-- the same version).

-- +goose Up
SELECT 1;

-- +goose Down
SELECT 1;
