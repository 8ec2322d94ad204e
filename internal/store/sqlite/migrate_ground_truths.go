package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/pressly/goose/v3"
)

// migrationGroundTruths is schema version 8 (mirrors PostgreSQL's
// 00008_ground_truths.sql): a ground truth is stored once per distinct
// content.
//
// The score worker records with every prediction the ground truth its
// score used (00004), and every model's prediction of one slot and scope
// gets the same one (the baseline pack: 190 bytes of JSON, the largest
// value of a prediction row once the input moved out, 00005). A newly
// scored prediction references it by ground_truth_id
// (store.GroundTruthID, a content hash) in table ground_truths and leaves
// ground_truth_jsonb NULL; rows scored before keep theirs inline and read
// back unchanged. Nothing is moved or dropped.
//
// A Go migration because SQLite has no ADD COLUMN IF NOT EXISTS and every
// step must be harmless on a schema whose version table was lost.
var migrationGroundTruths = goose.NewGoMigration(8, &goose.GoFunc{RunTx: func(ctx context.Context, tx *sql.Tx) error {
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS ground_truths (
    id          TEXT NOT NULL PRIMARY KEY,
    truth_jsonb TEXT NOT NULL
)`); err != nil {
		return fmt.Errorf("00008 ground truths: create table ground_truths: %w", err)
	}
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM pragma_table_info('predictions') WHERE name = 'ground_truth_id'`).Scan(&n); err != nil {
		return fmt.Errorf("00008 ground truths: read the columns of predictions: %w", err)
	}
	if n == 0 {
		if _, err := tx.ExecContext(ctx, `ALTER TABLE predictions ADD COLUMN ground_truth_id TEXT REFERENCES ground_truths (id)`); err != nil {
			return fmt.Errorf("00008 ground truths: add predictions.ground_truth_id: %w", err)
		}
	}
	return nil
}}, nil)
