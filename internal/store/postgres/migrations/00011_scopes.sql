-- 00011_scopes: a scope is stored once per distinct content (mirrors
-- SQLite's migrationScopes (migrate_scopes.go), so both backends report the
-- same version).
--
-- Every prediction of a schedule usually has the same scope (the baseline
-- pack: 54 bytes of JSON, about 80 as jsonb, in every row and in every row
-- version a score rewrites). A new prediction references it by scope_id
-- (store.ScopeID, a 64-bit content hash: 8 bytes in the row) in table
-- scopes and leaves scope_jsonb NULL; rows stored before keep theirs
-- inline and read back unchanged. Nothing is moved or dropped. As for
-- ground_truth_id (00008), the store writes a scope in the transaction that
-- references it and never deletes one, so no per-row FOREIGN KEY trigger.

-- +goose Up
CREATE TABLE IF NOT EXISTS scopes (
    id          bigint PRIMARY KEY,
    scope_jsonb jsonb  NOT NULL
);
ALTER TABLE predictions ADD COLUMN IF NOT EXISTS scope_id bigint;

-- +goose Down
-- Irreversible: scopes of predictions stored since live only in scopes.
SELECT 1;
