package dburl

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	cases := []struct {
		in, backend, dsn string
	}{
		{"postgres://u:p@127.0.0.1:5432/test?sslmode=disable", BackendPostgres, "postgres://u:p@127.0.0.1:5432/test?sslmode=disable"},
		{"postgresql://u@h/db", BackendPostgres, "postgresql://u@h/db"},
		{"POSTGRES://h/db", BackendPostgres, "POSTGRES://h/db"},
		{"sqlite:///var/lib/coordinator/c.db", BackendSQLite, "/var/lib/coordinator/c.db"},
		{"sqlite://data/c.db", BackendSQLite, "data/c.db"},
		{"sqlite://c.db", BackendSQLite, "c.db"},
		{"sqlite:///tmp/with%20space.db", BackendSQLite, "/tmp/with space.db"},
		{"./coordinator.db", BackendSQLite, "./coordinator.db"},
		{"/abs/coordinator.db", BackendSQLite, "/abs/coordinator.db"},
		{"coordinator.db", BackendSQLite, "coordinator.db"},
		{"host=db.internal user=u password=s3cret dbname=x sslmode=disable", BackendPostgres, "host=db.internal user=u password=s3cret dbname=x sslmode=disable"},
		{" dbname = x host=/run/postgresql", BackendPostgres, " dbname = x host=/run/postgresql"},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			got, err := Parse(c.in)
			if err != nil {
				t.Fatalf("Parse(%q): %v", c.in, err)
			}
			if got.Backend != c.backend || got.DSN != c.dsn {
				t.Fatalf("Parse(%q): expected %s %q, got %s %q", c.in, c.backend, c.dsn, got.Backend, got.DSN)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct{ in, mention string }{
		{"", "empty"},
		{"mysql://root:hunter2@h/db", "mysql://root:xxxxx@h/db"},
		{"file:///tmp/x.db", "file:///tmp/x.db"},
		{"sqlite://", "sqlite://"},
		{"sqlite:///x.db?mode=ro", "query"},
		{"sqlite://u:pw@x.db", "xxxxx"},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			_, err := Parse(c.in)
			if err == nil {
				t.Fatalf("Parse(%q): expected an error", c.in)
			}
			if !strings.Contains(err.Error(), c.mention) {
				t.Fatalf("Parse(%q): error %q does not mention %q", c.in, err, c.mention)
			}
			if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), ":pw@") {
				t.Fatalf("Parse(%q): error leaks a password: %q", c.in, err)
			}
		})
	}
}

func TestRedact(t *testing.T) {
	cases := []struct{ in, want string }{
		{"postgres://postgres:s3cret@127.0.0.1:5432/test?sslmode=disable", "postgres://postgres:xxxxx@127.0.0.1:5432/test?sslmode=disable"},
		{"postgres://postgres@127.0.0.1:5432/test", "postgres://postgres@127.0.0.1:5432/test"},
		{"postgres://h/db?password=s3cret&sslmode=disable", "postgres://h/db?password=xxxxx&sslmode=disable"},
		{"host=h user=u password=s3cret dbname=d", "host=h user=u password=xxxxx dbname=d"},
		{"host=h password='s3 cret' dbname=d", "host=h password=xxxxx dbname=d"},
		{"sqlite:///tmp/c.db", "sqlite:///tmp/c.db"},
		{"/tmp/c.db", "/tmp/c.db"},
		{"postgres://u:p%zz@h/db", "postgres://u:xxxxx@h/db"},
	}
	for _, c := range cases {
		if got := Redact(c.in); got != c.want {
			t.Errorf("Redact(%q): expected %q, got %q", c.in, c.want, got)
		}
		if strings.Contains(Redact(c.in), "s3cret") {
			t.Errorf("Redact(%q) leaks the password", c.in)
		}
	}
}

func TestOpenSQLite(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	for _, u := range []string{"sqlite://" + filepath.Join(dir, "a.db"), filepath.Join(dir, "b.db")} {
		s, err := Open(ctx, u)
		if err != nil {
			t.Fatalf("Open(%q): %v", u, err)
		}
		if s.Backend() != "sqlite" {
			t.Errorf("Open(%q): expected sqlite backend, got %q", u, s.Backend())
		}
		if err := s.Migrate(ctx); err != nil {
			t.Errorf("Migrate: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}
	// Relative sqlite:// URL resolves against the working directory.
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	s, err := Open(ctx, "sqlite://rel.db")
	if err != nil {
		t.Fatalf("Open(sqlite://rel.db): %v", err)
	}
	s.Close()
	if _, err := os.Stat(filepath.Join(dir, "rel.db")); err != nil {
		t.Fatalf("relative sqlite URL did not create %s (wd was %s): %v", filepath.Join(dir, "rel.db"), wd, err)
	}
	// Unwritable location: error names the path.
	bad := filepath.Join(dir, "missing", "c.db")
	if _, err := Open(ctx, "sqlite://"+bad); err == nil || !strings.Contains(err.Error(), bad) {
		t.Fatalf("Open in a missing directory: expected an error naming %q, got %v", bad, err)
	}
}

func TestOpenPostgres(t *testing.T) {
	u := os.Getenv("TEST_DATABASE_URL")
	if u == "" {
		t.Skip("TEST_DATABASE_URL not set; skipping PostgreSQL dburl test")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := Open(ctx, u)
	if err != nil {
		t.Fatalf("Open(%q): %v", Redact(u), err)
	}
	defer s.Close()
	if s.Backend() != "postgres" {
		t.Fatalf("expected postgres backend, got %q", s.Backend())
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}

	// The same database as a keyword/value DSN opens PostgreSQL, and no
	// file is created in the working directory.
	pu, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	kv := fmt.Sprintf("host=%s port=%s user=%s dbname=%s sslmode=disable password=kv-secret", pu.Hostname(), pu.Port(), pu.User.Username(), strings.TrimPrefix(pu.Path, "/"))
	t.Chdir(t.TempDir())
	s2, err := Open(ctx, kv)
	if err != nil {
		t.Fatalf("Open(keyword DSN %q): %v", Redact(kv), err)
	}
	defer s2.Close()
	if s2.Backend() != "postgres" {
		t.Fatalf("keyword DSN: expected postgres backend, got %q", s2.Backend())
	}
	if err := s2.Ping(ctx); err != nil {
		t.Fatalf("keyword DSN: Ping: %v", err)
	}
	if ents, _ := os.ReadDir("."); len(ents) != 0 {
		t.Fatalf("keyword DSN created files in the working directory: %v", ents)
	}
}
