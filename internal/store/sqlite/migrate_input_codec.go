package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/pressly/goose/v3"
)

// migrationInputCodec is schema version 6 (mirrors PostgreSQL's
// 00006_input_codec.sql, so both backends report the same version):
// inference inputs are stored compressed by internal/store/inputcodec.
//
// A predict cycle's input is usually a sliding window over the same feed
// (the baseline pack: the last 120 one-minute candles, 13 KB of JSON), so
// consecutive inputs share all but one record. A new row of inputs holds a
// zstd frame in data and says how to read it in codec: 1 = a keyframe,
// 2 = a delta compressed against the input base_id names as a raw
// dictionary (a keyframe every 32 inputs of a stream bounds the chain a
// read decodes); 0 = the JSON text itself in input_jsonb. Rows written
// before this migration get codec 0 and read back unchanged; nothing is
// moved. input_jsonb is ” for compressed rows (the column is NOT NULL and
// SQLite cannot relax that in place).
//
// It is a Go migration because SQLite has no ADD COLUMN IF NOT EXISTS and
// every step must be harmless on a schema whose version table was lost
// (TestMigratePartialSchema): each column is added only when missing.
var migrationInputCodec = goose.NewGoMigration(6, &goose.GoFunc{RunTx: func(ctx context.Context, tx *sql.Tx) error {
	for _, col := range []struct{ name, decl string }{
		{"codec", "codec INTEGER NOT NULL DEFAULT 0"},
		{"base_id", "base_id TEXT"},
		{"data", "data BLOB"},
	} {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM pragma_table_info('inputs') WHERE name = ?`, col.name).Scan(&n); err != nil {
			return fmt.Errorf("00006 input codec: read the columns of inputs: %w", err)
		}
		if n > 0 {
			continue
		}
		if _, err := tx.ExecContext(ctx, `ALTER TABLE inputs ADD COLUMN `+col.decl); err != nil {
			return fmt.Errorf("00006 input codec: add inputs.%s: %w", col.name, err)
		}
	}
	return nil
}}, nil)
