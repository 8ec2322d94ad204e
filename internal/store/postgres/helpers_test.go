package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/testutil"
)

// newDatabase creates a scratch database on the TEST_DATABASE_URL server
// (dropped when the test ends) and returns its URL.
func newDatabase(tb testing.TB) string {
	tb.Helper()
	return testutil.ScratchDatabase(tb, "coordinator_test")
}

// newSchema creates a scratch schema in the TEST_DATABASE_URL database and
// returns a URL selecting it; tests that terminate backends use
// newDatabase instead.
func newSchema(tb testing.TB) string {
	tb.Helper()
	return testutil.ScratchSchema(tb, "coordinator_test")
}

// openDB opens a Store on dbURL and closes it when the test ends.
func openDB(tb testing.TB, dbURL string) *Store {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := Open(ctx, dbURL)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

// openMigrated creates a fresh database, opens a Store on it and migrates.
func openMigrated(tb testing.TB) (*Store, string) {
	tb.Helper()
	dbURL := newDatabase(tb)
	s := openDB(tb, dbURL)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := s.Migrate(ctx); err != nil {
		tb.Fatalf("Migrate: %v", err)
	}
	return s, dbURL
}
