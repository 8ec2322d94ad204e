package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/pressly/goose/v3"
)

// migrationScopes is schema version 11 (mirrors PostgreSQL's
// 00011_scopes.sql): a scope is stored once per distinct content.
//
// Every prediction of a schedule usually has the same scope (the baseline
// pack: 54 bytes of JSON in every row, the same for every model). A new
// prediction references it by scope_id (store.ScopeID, a 64-bit content
// hash, 8 bytes in the row) in table scopes and leaves scope_jsonb NULL;
// rows stored before keep theirs inline and read back unchanged. Nothing
// is moved or dropped. As for ground_truth_id (00008), the store writes a
// scope in the transaction that references it and never deletes one.
//
// A Go migration because SQLite has no ADD COLUMN IF NOT EXISTS and every
// step must be harmless on a schema whose version table was lost.
var migrationScopes = goose.NewGoMigration(11, &goose.GoFunc{RunTx: func(ctx context.Context, tx *sql.Tx) error {
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS scopes (
    id          INTEGER NOT NULL PRIMARY KEY,
    scope_jsonb TEXT    NOT NULL
)`); err != nil {
		return fmt.Errorf("00011 scopes: create table scopes: %w", err)
	}
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM pragma_table_info('predictions') WHERE name = 'scope_id'`).Scan(&n); err != nil {
		return fmt.Errorf("00011 scopes: read the columns of predictions: %w", err)
	}
	if n == 0 {
		if _, err := tx.ExecContext(ctx, `ALTER TABLE predictions ADD COLUMN scope_id INTEGER REFERENCES scopes (id)`); err != nil {
			return fmt.Errorf("00011 scopes: add predictions.scope_id: %w", err)
		}
	}
	return nil
}}, nil)
