-- 00021_hashed_model_indexes: the two model-first indexes of predictions
-- lead with hashtext(model_id) (and hashtext(scope_key)), 4-byte integers,
-- instead of the text columns (SQLite's 00021 is a no-op, so both backends
-- report the same version).
--
-- ix_predictions_model_resolvable (model_id, resolvable_at) serves
-- WindowPredictions, idx_predictions_series (model_id, scope_key,
-- performed_at) INCLUDE (status) the seeks of SamplePredictions. Every
-- model appends to its own range of both, in the middle of the index: a
-- full leaf was split in halves and its left half never got another entry,
-- so their leaves were 58% full after the baseline pack's replay (67 and
-- 95 bytes per prediction, go run ./cmd/coordinator-bench -only storage).
-- An entry of (int4, timestamptz) or (int4, int4, timestamptz) is 24
-- bytes, small enough for nbtree to recognise the ascending insertion
-- within a group of equal leading keys and split a leaf where the new
-- entry goes, leaving the left page at the leaf fillfactor (nbtsplitloc.c,
-- _bt_afternewitemoff): 27 bytes per prediction each.
--
-- A query names both the hash and the column (hashtext(model_id) =
-- hashtext($1) AND model_id = $1): the index finds the entries of the hash,
-- the row's column rejects a collision. The hashed series index holds
-- neither status nor the text of scope_key: SamplePredictions finds the
-- scope keys of a model in chart_revisions (00013: a row per model, scope
-- key and day with predictions) and checks status on the row it reads,
-- which stops a backward scan at once for SUCCESS, the common status. A
-- rarer status is found in ix_predictions_series_unusual, partial on the
-- predictions that are not SUCCESS (none in the baseline pack's replay),
-- index-only as before. The price is a row read per seek where the text
-- index answered from its entries: the month-of-data report rows (go run
-- ./cmd/coordinator-bench -only report-month, one client, machine load
-- about 7) gave GET /reports/predictions a p50 of 7.1 and 7.6 ms against
-- 5.6 ms before.
--
-- Locks: the first DROP INDEX takes ACCESS EXCLUSIVE on predictions and
-- goose runs the file in one transaction, so every read and write of
-- predictions waits until the migration commits, after both index builds.
-- Re-runnable: the new names are created IF NOT EXISTS, the old ones
-- dropped IF EXISTS.
--
-- hashtext is an internal PostgreSQL function whose output is not
-- promised across major versions, and pg_upgrade keeps index entries
-- computed by the old server: after a major-version pg_upgrade, run
-- REINDEX INDEX ix_predictions_model_hash_resolvable; REINDEX INDEX
-- ix_predictions_series_hash; (a changed hash would otherwise make the
-- index miss rows; the column comparison only rejects extra ones).

-- +goose Up
DROP INDEX IF EXISTS ix_predictions_model_resolvable;
CREATE INDEX IF NOT EXISTS ix_predictions_model_hash_resolvable ON predictions (hashtext(model_id), resolvable_at);
DROP INDEX IF EXISTS idx_predictions_series;
CREATE INDEX IF NOT EXISTS ix_predictions_series_hash ON predictions (hashtext(model_id), hashtext(scope_key), performed_at);
CREATE INDEX IF NOT EXISTS ix_predictions_series_unusual ON predictions (model_id, scope_key, performed_at) INCLUDE (status)
    WHERE status <> 'SUCCESS';

-- +goose Down
DROP INDEX IF EXISTS ix_predictions_series_unusual;
DROP INDEX IF EXISTS ix_predictions_model_hash_resolvable;
CREATE INDEX IF NOT EXISTS ix_predictions_model_resolvable ON predictions (model_id, resolvable_at);
DROP INDEX IF EXISTS ix_predictions_series_hash;
CREATE INDEX IF NOT EXISTS idx_predictions_series ON predictions (model_id, scope_key, performed_at) INCLUDE (status);
