package postgres

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestInBatchTx checks inBatchTx's transaction: the statements commit
// together, synchronous_commit is off inside an asyncCommit transaction
// only, and a failing statement, read or not, rolls everything back, also
// with COMMIT in the batch (commitInBatch), where a failing COMMIT fails
// the call.
func TestInBatchTx(t *testing.T) {
	s, _ := openMigrated(t)
	ctx := context.Background()
	// batch_d's key is checked at COMMIT in a deferred transaction: its
	// violation fails COMMIT itself.
	if _, err := s.pool.Exec(ctx, `CREATE TABLE batch_d (v int, UNIQUE (v) DEFERRABLE)`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, `CREATE TABLE batch_t (v int PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	count := func() int {
		var n int
		if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM batch_t`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	var outside string
	if err := s.pool.QueryRow(ctx, `SELECT current_setting('synchronous_commit')`).Scan(&outside); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		opts      txOptions
		stmts     []string // queued after reading synchronous_commit
		readAll   bool     // read every statement's result (else only the first)
		wantErr   string
		wantRows  int
		wantAsync string // synchronous_commit inside the transaction
	}{
		{"commit", txOptions{}, []string{"INSERT INTO batch_t VALUES (1)", "INSERT INTO batch_t VALUES (2)"}, true, "", 2, outside},
		{"async commit", txOptions{asyncCommit: true}, []string{"INSERT INTO batch_t VALUES (3)"}, true, "", 3, "off"},
		{"failing statement read", txOptions{}, []string{"INSERT INTO batch_t VALUES (4)", "INSERT INTO batch_t VALUES (1)"}, true, "duplicate key", 3, outside},
		{"failing statement not read", txOptions{asyncCommit: true}, []string{"INSERT INTO batch_t VALUES (5)", "INSERT INTO batch_t VALUES (2)"}, false, "duplicate key", 3, "off"},
		{"commit in batch", txOptions{asyncCommit: true, commitInBatch: true}, []string{"INSERT INTO batch_t VALUES (6)"}, true, "", 4, "off"},
		{"commit in batch, not read", txOptions{commitInBatch: true}, []string{"INSERT INTO batch_t VALUES (7)", "INSERT INTO batch_t VALUES (8)"}, false, "", 6, outside},
		{"commit in batch, failing statement read", txOptions{commitInBatch: true}, []string{"INSERT INTO batch_t VALUES (9)", "INSERT INTO batch_t VALUES (1)"}, true, "duplicate key", 6, outside},
		{"commit in batch, failing statement not read", txOptions{asyncCommit: true, commitInBatch: true}, []string{"INSERT INTO batch_t VALUES (10)", "INSERT INTO batch_t VALUES (2)"}, false, "duplicate key", 6, "off"},
		{"commit in batch, failing commit", txOptions{commitInBatch: true}, []string{"SET CONSTRAINTS ALL DEFERRED", "INSERT INTO batch_d VALUES (1)", "INSERT INTO batch_d VALUES (1)"}, true, "duplicate key", 6, outside},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var inside string
			err := s.inBatchTx(ctx, "test", tc.opts, func(b *pgx.Batch) {
				b.Queue(`SELECT current_setting('synchronous_commit')`)
				for _, q := range tc.stmts {
					b.Queue(q)
				}
			}, func(br pgx.BatchResults) error {
				if err := br.QueryRow().Scan(&inside); err != nil {
					return err
				}
				if !tc.readAll {
					return nil
				}
				for range tc.stmts {
					if _, err := br.Exec(); err != nil {
						return err
					}
				}
				return nil
			})
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("inBatchTx: expected error %q, found %v", tc.wantErr, err)
			}
			if inside != tc.wantAsync {
				t.Errorf("synchronous_commit inside: expected %q, found %q", tc.wantAsync, inside)
			}
			if n := count(); n != tc.wantRows {
				t.Errorf("rows after: expected %d, found %d", tc.wantRows, n)
			}
			var after string
			if err := s.pool.QueryRow(ctx, `SELECT current_setting('synchronous_commit')`).Scan(&after); err != nil || after != outside {
				t.Errorf("synchronous_commit after the transaction: expected %q, found %q (%v)", outside, after, err)
			}
		})
	}
}
