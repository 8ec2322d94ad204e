package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crunch-coordinator/coordinator/internal/dbmigrate"
	"github.com/crunch-coordinator/coordinator/internal/testutil"
)

// expectedVersion is the schema version this binary's migrations reach
// for rawURL's backend (read from a freshly migrated database).
func expectedVersion(t *testing.T, rawURL string) int64 {
	t.Helper()
	s, err := dbmigrate.Check(context.Background(), rawURL)
	if err != nil {
		t.Fatalf("schema status: %v", err)
	}
	if s.Expected < 1 || s.Current != s.Expected {
		t.Fatalf("after migrate: current %d, expected %d", s.Current, s.Expected)
	}
	return s.Expected
}

// runMigrateLifecycle checks fresh → expected version, a no-op second run
// and the --status exit codes on the database at rawURL (passed with
// --db, or through DATABASE_URL when viaEnv).
func runMigrateLifecycle(t *testing.T, rawURL string, viaEnv bool) {
	run := func(extra ...string) (int, string, string) {
		env := map[string]string{}
		args := append([]string{"migrate"}, extra...)
		if viaEnv {
			env["DATABASE_URL"] = rawURL
		} else {
			args = append(args, "--db", rawURL)
		}
		f, out, errOut := newTestFactory(t, env)
		return Execute(f, args), out.String(), errOut.String()
	}
	code, out, errOut := run("--status")
	if code != 1 || !strings.Contains(out, "Schema version: ") || !strings.Contains(errOut, "coordinator migrate") {
		t.Fatalf("--status on a fresh database: exit %d (want 1)\n%s%s", code, out, errOut)
	}
	code, out, errOut = run()
	if code != 0 {
		t.Fatalf("first migrate: exit %d\n%s%s", code, out, errOut)
	}
	want := expectedVersion(t, rawURL)
	for _, line := range []string{"Schema version before: 0\n", fmt.Sprintf("Schema version after: %d (expected %d)\n", want, want), "Migrated.\n"} {
		if !strings.Contains(out, line) {
			t.Errorf("first migrate output lacks %q:\n%s", line, out)
		}
	}
	code, out, errOut = run()
	if code != 0 || !strings.Contains(out, fmt.Sprintf("Schema version before: %d\n", want)) || !strings.Contains(out, "Already up to date; nothing applied.") {
		t.Fatalf("second migrate: exit %d, want a no-op\n%s%s", code, out, errOut)
	}
	code, out, errOut = run("--status")
	if code != 0 || !strings.Contains(out, fmt.Sprintf("Schema version: current %d, expected %d\n", want, want)) {
		t.Fatalf("--status after migrate: exit %d (want 0)\n%s%s", code, out, errOut)
	}
}

func TestMigrateSQLite(t *testing.T) {
	dir := t.TempDir()
	t.Run("missing file: status exit 1 and nothing created", func(t *testing.T) {
		path := filepath.Join(dir, "missing.db")
		f, out, errOut := newTestFactory(t, nil)
		if code := Execute(f, []string{"migrate", "--status", "--db", "sqlite://" + path}); code != 1 {
			t.Fatalf("exit %d, want 1\n%s%s", code, out, errOut)
		}
		if !strings.Contains(out.String(), "the database file does not exist") {
			t.Errorf("output: %s", out)
		}
		if _, err := os.Stat(path); !os.IsNotExist(err) {
			t.Errorf("--status created %s (%v)", path, err)
		}
	})
	t.Run("lifecycle with --db", func(t *testing.T) {
		path := filepath.Join(dir, "a.db")
		if err := os.WriteFile(path, nil, 0o644); err != nil { // exists, no schema
			t.Fatal(err)
		}
		runMigrateLifecycle(t, "sqlite://"+path, false)
	})
	t.Run("lifecycle with DATABASE_URL and a missing folder", func(t *testing.T) {
		path := filepath.Join(dir, "sub", "dir", "b.db")
		f, out, errOut := newTestFactory(t, map[string]string{"DATABASE_URL": "sqlite://" + path})
		if code := Execute(f, []string{"migrate"}); code != 0 || !strings.Contains(out.String(), "from DATABASE_URL") {
			t.Fatalf("exit %d\n%s%s", code, out, errOut)
		}
		expectedVersion(t, "sqlite://"+path)
	})
	t.Run("--db wins over DATABASE_URL", func(t *testing.T) {
		path := filepath.Join(dir, "c.db")
		f, out, errOut := newTestFactory(t, map[string]string{"DATABASE_URL": "mysql://ignored"})
		if code := Execute(f, []string{"migrate", "--db", path}); code != 0 || !strings.Contains(out.String(), "from --db") {
			t.Fatalf("exit %d\n%s%s", code, out, errOut)
		}
	})
	t.Run("workspace default", func(t *testing.T) {
		node := renderedWorkspace(t)
		f, out, errOut := newTestFactory(t, nil)
		f.WorkDir = filepath.Join(node, "config") // found by walking up
		if code := Execute(f, []string{"migrate"}); code != 0 {
			t.Fatalf("exit %d\n%s%s", code, out, errOut)
		}
		db := filepath.Join(node, ".coordinator", "coordinator.db")
		if !strings.Contains(out.String(), "sqlite://"+db) || !strings.Contains(out.String(), "the workspace default") {
			t.Errorf("output: %s", out)
		}
		expectedVersion(t, "sqlite://"+db)
	})
}

func TestMigratePostgres(t *testing.T) {
	runMigrateLifecycle(t, testutil.ScratchDatabase(t, "coordinator_cli"), true)
}

func TestMigrateErrors(t *testing.T) {
	port := closedPort(t)
	unreachable := fmt.Sprintf("postgres://coord:s3cretpw@127.0.0.1:%d/coordinator?sslmode=disable", port)
	cases := []struct {
		name     string
		args     []string
		env      map[string]string
		code     int
		want     []string
		password string
	}{
		{"unknown scheme", []string{"migrate", "--db", "mysql://root:s3cretpw@db/x"}, nil, 2,
			[]string{"--db", `unknown scheme "mysql"`, "mysql://root:xxxxx@db/x"}, "s3cretpw"},
		{"unknown scheme in DATABASE_URL", []string{"migrate", "--status"}, map[string]string{"DATABASE_URL": "redis://h/0"}, 2,
			[]string{"DATABASE_URL", `unknown scheme "redis"`}, ""},
		{"unreachable server", []string{"migrate", "--db", unreachable}, nil, 1,
			[]string{fmt.Sprintf("postgres://coord:xxxxx@127.0.0.1:%d/coordinator", port), "database unavailable"}, "s3cretpw"},
		{"unreachable server, status", []string{"migrate", "--status"}, map[string]string{"DATABASE_URL": unreachable}, 1,
			[]string{fmt.Sprintf("postgres://coord:xxxxx@127.0.0.1:%d/coordinator", port)}, "s3cretpw"},
		{"no database and no workspace", []string{"migrate"}, nil, 2,
			[]string{"no database given", "--db", "DATABASE_URL"}, ""},
		{"arguments", []string{"migrate", "now"}, nil, 2, []string{"unknown command"}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, out, errOut := newTestFactory(t, c.env)
			code := Execute(f, c.args)
			all := out.String() + errOut.String()
			if code != c.code {
				t.Fatalf("exit %d, want %d\n%s", code, c.code, all)
			}
			for _, w := range c.want {
				if !strings.Contains(all, w) {
					t.Errorf("output lacks %q:\n%s", w, all)
				}
			}
			if c.password != "" && strings.Contains(all, c.password) {
				t.Errorf("output leaks the password:\n%s", all)
			}
		})
	}
}
