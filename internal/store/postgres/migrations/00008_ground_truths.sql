-- 00008_ground_truths: a ground truth is stored once per distinct content
-- (mirrors SQLite's migrationGroundTruths (migrate_ground_truths.go), so
-- both backends report the same version).
--
-- The score worker records with every prediction the ground truth its
-- score used (00004), and every model's prediction of one slot and scope
-- gets the same one (the baseline pack: about 200 bytes of jsonb, the
-- largest value of a prediction row once the input moved out, 00005). A
-- newly scored prediction references it by ground_truth_id
-- (store.GroundTruthID, a content hash) in table ground_truths and leaves
-- ground_truth_jsonb NULL; rows scored before keep theirs inline and read
-- back unchanged. Nothing is moved or dropped. As for input_id (00005), the
-- store writes a ground truth in the transaction that references it and
-- never deletes one, so no per-row FOREIGN KEY trigger.

-- +goose Up
CREATE TABLE IF NOT EXISTS ground_truths (
    id          varchar PRIMARY KEY,
    truth_jsonb jsonb   NOT NULL
);
ALTER TABLE predictions ADD COLUMN IF NOT EXISTS ground_truth_id varchar;

-- +goose Down
-- Irreversible: ground truths recorded since live only in ground_truths.
SELECT 1;
