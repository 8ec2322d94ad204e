package testutil

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/crunch-coordinator/coordinator/internal/redact"
)

// TestDatabaseURL returns TEST_DATABASE_URL, skipping the test with one
// line when it is unset.
func TestDatabaseURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv("TEST_DATABASE_URL")
	if base == "" {
		t.Skip("TEST_DATABASE_URL is unset: skipping the PostgreSQL case")
	}
	return base
}

// ScratchDatabase creates a uniquely named database (prefix_<12 hex>) on
// the server of TEST_DATABASE_URL, drops it (WITH FORCE) when the test
// ends and returns its URL. When TEST_DATABASE_URL is unset the test is
// skipped with one line; when the server is unreachable the test fails.
func ScratchDatabase(t testing.TB, prefix string) string {
	t.Helper()
	return ScratchDatabaseAt(t, TestDatabaseURL(t), prefix)
}

// ScratchDatabaseAt is ScratchDatabase on the server of base.
func ScratchDatabaseAt(t testing.TB, base, prefix string) string {
	t.Helper()
	u := parseBase(t, base)
	name := scratch(t, base, prefix, "DATABASE", " WITH (FORCE)")
	u.Path = "/" + name
	return u.String()
}

// ScratchSchema creates a uniquely named schema in the TEST_DATABASE_URL
// database, drops it (CASCADE) when the test ends, and returns a URL whose
// search_path selects it: much cheaper than a database per test.
func ScratchSchema(t testing.TB, prefix string) string {
	t.Helper()
	base := TestDatabaseURL(t)
	u := parseBase(t, base)
	name := scratch(t, base, prefix, "SCHEMA", " CASCADE")
	q := u.Query()
	q.Set("search_path", name)
	u.RawQuery = q.Encode()
	return u.String()
}

func parseBase(t testing.TB, base string) *url.URL {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("TEST_DATABASE_URL %s: expected a postgres:// URL: %v", redact.URL(base), err)
	}
	return u
}

// scratch creates object kind ("DATABASE" or "SCHEMA") named
// prefix_<12 hex> through base, registers its drop (DROP kind ... suffix)
// as test cleanup and returns the name.
func scratch(t testing.TB, base, prefix, kind, dropSuffix string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to TEST_DATABASE_URL %s: %v", redact.URL(base), err)
	}
	defer admin.Close(ctx)
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := prefix + "_" + hex.EncodeToString(b[:])
	ident := pgx.Identifier{name}.Sanitize()
	if _, err := admin.Exec(ctx, "CREATE "+kind+" "+ident); err != nil {
		t.Fatalf("create scratch %s %s: %v", kind, name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("drop scratch %s %s: connect: %v", kind, name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP "+kind+" IF EXISTS "+ident+dropSuffix); err != nil {
			t.Errorf("drop scratch %s %s: %v", kind, name, err)
		}
	})
	return name
}
