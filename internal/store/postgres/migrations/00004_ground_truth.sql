-- 00004_ground_truth: the resolved ground truth is stored with the
-- prediction it scored (issue 13, item 6).
--
-- ground_truth_jsonb holds what the challenge's ground-truth resolver
-- returned for the prediction (for the baseline pack: entry and resolved
-- price with the instants they were observed, the move and the y used), so
-- every score can be recomputed from the database alone. It is written by
-- the score worker together with the score, or with the UNRESOLVED status
-- when the resolver explained why a prediction cannot be scored; NULL for
-- predictions not resolved yet and for rows scored before this migration.

-- +goose Up
ALTER TABLE predictions ADD COLUMN IF NOT EXISTS ground_truth_jsonb jsonb;

-- +goose Down
ALTER TABLE predictions DROP COLUMN IF EXISTS ground_truth_jsonb;
