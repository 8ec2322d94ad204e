-- 00005_inputs: the inference input is stored once per distinct content
-- (mirrors SQLite's migrationInputs (migrate_inputs.go), so both backends report the same version).
--
-- Every prediction of a predict cycle gets the same inference input
-- (kilobytes of JSON: 13 KB for the baseline pack); storing it in each row
-- made the input most of the database. A new row of predictions references
-- its input by input_id (store.InputID, a content hash) and leaves
-- inference_input_jsonb NULL; rows written before this migration keep
-- their input inline (input_id NULL) and read back unchanged. Nothing is
-- moved or dropped. As for predictions' other references (00001), the
-- store writes an input in the same transaction as the predictions that
-- reference it and never deletes one, so no per-row FOREIGN KEY trigger.

-- It also adds idx_predictions_series, the index of SamplePredictions (a
-- chart's downsampling reads it instead of the wide rows).

-- +goose Up
CREATE TABLE IF NOT EXISTS inputs (
    id          varchar     PRIMARY KEY,
    input_jsonb jsonb       NOT NULL,
    created_at  timestamptz NOT NULL
);
ALTER TABLE predictions ADD COLUMN IF NOT EXISTS input_id varchar;
CREATE INDEX IF NOT EXISTS idx_predictions_series ON predictions (model_id, scope_key, performed_at) INCLUDE (status);

-- +goose Down
-- Irreversible: predictions written since reference their input only here.
SELECT 1;
