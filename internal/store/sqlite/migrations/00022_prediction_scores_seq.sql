-- 00022_prediction_scores_seq: nothing to do on SQLite (mirrors
-- PostgreSQL's 00022, which references a prediction from its score by a
-- bigint instead of the text id, so both backends report the same
-- version). SQLite has no table prediction_scores: a score is stored in
-- its prediction's row.

-- +goose Up
SELECT 1;

-- +goose Down
SELECT 1;
