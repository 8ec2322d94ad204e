-- 00020_prediction_scores_columns: nothing to do on SQLite (mirrors
-- PostgreSQL's 00020, which stores the columns of table prediction_scores
-- widest-aligned first to save alignment padding, so both backends report
-- the same version). SQLite has no table prediction_scores and no
-- alignment padding.

-- +goose Up
SELECT 1;

-- +goose Down
SELECT 1;
