package sqlite

import (
	"context"
	"path/filepath"
	"testing"
)

// TestConnectionPragmas: the writer maps no database pages and checkpoints
// every walAutocheckpointPages pages and keeps temporary files (statement
// journals) in memory, also after Migrate; readers map up to mmapSize.
func TestConnectionPragmas(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "p.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		conn, pragma, want string
	}{
		{"writer", "mmap_size", "0"},
		{"writer", "wal_autocheckpoint", walAutocheckpointPages},
		{"writer", "journal_mode", "wal"},
		{"writer", "temp_store", writerTempStore},
		{"reader", "mmap_size", mmapSize},
	} {
		db := s.w
		if c.conn == "reader" {
			db = s.r
		}
		var got string
		if err := db.QueryRowContext(ctx, "PRAGMA "+c.pragma).Scan(&got); err != nil {
			t.Fatalf("%s: PRAGMA %s: %v", c.conn, c.pragma, err)
		}
		if got != c.want {
			t.Errorf("%s: PRAGMA %s: expected %s, found %s", c.conn, c.pragma, c.want, got)
		}
	}
}
