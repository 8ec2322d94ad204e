package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/pressly/goose/v3"
)

// migrationInputs is schema version 5 (mirrors PostgreSQL's
// 00005_inputs.sql, so both backends report the same version): the
// inference input is stored once per distinct content.
//
// Every prediction of a predict cycle gets the same inference input
// (kilobytes of JSON: 13 KB for the baseline pack); storing it in each row
// made the input 90 % of the database. A new row of predictions references
// its input by input_id (store.InputID, a content hash) and leaves
// inference_input_jsonb NULL; rows written before this migration keep their
// input inline (input_id NULL) and read back unchanged. Nothing is moved or
// dropped.
//
// It also adds idx_predictions_series (model_id, scope_key, performed_at,
// status), the covering index of SamplePredictions: a chart's downsampling
// reads it instead of the wide rows (49 s to 3 s for 806,400 predictions
// on the loaded benchmark machine).
//
// It is a Go migration because SQLite has no ADD COLUMN IF NOT EXISTS and
// every step must be harmless on a schema created before goose's version
// table existed (see 00001_init.sql).
var migrationInputs = goose.NewGoMigration(5, &goose.GoFunc{RunTx: func(ctx context.Context, tx *sql.Tx) error {
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS inputs (
    id          TEXT    NOT NULL PRIMARY KEY,
    input_jsonb TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
)`); err != nil {
		return fmt.Errorf("create table inputs: %w", err)
	}
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM pragma_table_info('predictions') WHERE name = 'input_id'`).Scan(&n); err != nil {
		return fmt.Errorf("read the columns of predictions: %w", err)
	}
	if n == 0 {
		if _, err := tx.ExecContext(ctx, `ALTER TABLE predictions ADD COLUMN input_id TEXT REFERENCES inputs (id)`); err != nil {
			return fmt.Errorf("add predictions.input_id: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `CREATE INDEX IF NOT EXISTS idx_predictions_series ON predictions (model_id, scope_key, performed_at, status)`); err != nil {
		return fmt.Errorf("create index idx_predictions_series: %w", err)
	}
	return nil
}}, nil)
