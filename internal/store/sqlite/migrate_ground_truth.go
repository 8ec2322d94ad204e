package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/pressly/goose/v3"
)

// groundTruthMigration is migration 00004 (the PostgreSQL driver's
// 00004_ground_truth.sql): the resolved ground truth is stored with the
// prediction it scored (issue 13). ground_truth_jsonb holds what the
// challenge's ground-truth resolver returned (for the baseline pack: entry
// and resolved price with the instants they were observed, the move and
// the y used), so every score can be recomputed from the database alone.
// The score worker writes it with the score, or with the UNRESOLVED status
// when the resolver explained why a prediction cannot be scored; it is NULL
// for predictions not resolved yet and rows scored before this migration.
//
// It is a Go migration because SQLite has no ADD COLUMN IF NOT EXISTS and
// every migration must be safe to re-run on a schema whose version table
// was lost (TestMigratePartialSchema): the column is added only when
// missing.
var groundTruthMigration = goose.NewGoMigration(4,
	&goose.GoFunc{RunTx: func(ctx context.Context, tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM pragma_table_info('predictions') WHERE name = 'ground_truth_jsonb'`).Scan(&n); err != nil {
			return fmt.Errorf("00004 ground truth: read the columns of predictions: %w", err)
		}
		if n > 0 {
			return nil
		}
		if _, err := tx.ExecContext(ctx, `ALTER TABLE predictions ADD COLUMN ground_truth_jsonb TEXT`); err != nil {
			return fmt.Errorf("00004 ground truth: add predictions.ground_truth_jsonb: %w", err)
		}
		return nil
	}},
	&goose.GoFunc{RunTx: func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `ALTER TABLE predictions DROP COLUMN ground_truth_jsonb`); err != nil {
			return fmt.Errorf("00004 ground truth down: drop predictions.ground_truth_jsonb: %w", err)
		}
		return nil
	}},
)
