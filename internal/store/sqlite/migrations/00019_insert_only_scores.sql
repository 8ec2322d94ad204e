-- 00019_insert_only_scores: nothing to do on SQLite (mirrors PostgreSQL's
-- 00019, which moves the scores to table prediction_scores and the claim
-- queue to table score_queue so that a score never rewrites a prediction
-- row, so both backends report the same version). SQLite rewrites a row in
-- place: a score leaves no dead row version behind.

-- +goose Up
SELECT 1;

-- +goose Down
SELECT 1;
