-- 00012_drop_config_performed_index: idx_predictions_config_performed
-- (prediction_config_id, performed_at) is dropped (the same on both
-- backends, so both report the same version).
--
-- Its only query is LatestPerformedAt (the newest performed_at of one
-- schedule), which the predict worker asks once per schedule and then
-- remembers. ix_predictions_performed_at read backwards answers it at the
-- first row of that schedule: immediately for a schedule that is
-- predicting (its newest predictions are among the newest rows). A
-- schedule with no prediction at all costs a scan of the table until it
-- has one (33 ms for the 120,960 predictions of a 21-day replay on SQLite).
-- It cost 28 bytes per prediction on SQLite (3.4 MB of the 21-day replay's
-- database with the baseline pack's 4 Go models) and about 23 on
-- PostgreSQL.

-- +goose Up
DROP INDEX IF EXISTS idx_predictions_config_performed;

-- +goose Down
CREATE INDEX IF NOT EXISTS idx_predictions_config_performed ON predictions (prediction_config_id, performed_at);
