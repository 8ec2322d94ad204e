package doctor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/store"
	"github.com/crunch-coordinator/coordinator/internal/store/dburl"
)

func checkStorage(ctx context.Context, w *WorkspaceInfo) []Result {
	url := w.DatabaseURL
	where := dburl.Redact(url)
	if path, ok := sqlitePath(url); ok {
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			dir := filepath.Dir(path)
			if err := writableDir(dir); err != nil {
				return []Result{{Group: "storage", Check: "database", Status: Fail, Where: path,
					Message: fmt.Sprintf("SQLite file cannot be created: %v", err),
					Fix:     "make " + dir + " writable or set DATABASE_URL in .local.env"}}
			}
			return []Result{{Group: "storage", Check: "database", Status: Warn, Where: path,
				Message: "SQLite file does not exist yet", Fix: "`coordinator dev` creates and migrates it (or run `coordinator migrate`)"}}
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	st, err := dburl.Open(ctx, url)
	if err != nil {
		return []Result{{Group: "storage", Check: "database", Status: Fail, Where: where, Message: err.Error(),
			Fix: "check DATABASE_URL in .local.env and that the server is running"}}
	}
	defer st.Close()
	if err := st.Ping(ctx); err != nil {
		return []Result{{Group: "storage", Check: "database", Status: Fail, Where: where, Message: "unreachable: " + err.Error(),
			Fix: "start the database server or correct DATABASE_URL"}}
	}
	out := []Result{{Group: "storage", Check: "database", Status: Pass, Where: where, Message: st.Backend() + " reachable"}}
	cur, want, err := st.SchemaVersion(ctx)
	switch {
	case err != nil && !errors.Is(err, store.ErrNotMigrated):
		out = append(out, Result{Group: "storage", Check: "schema", Status: Fail, Where: where, Message: err.Error(), Fix: "run `coordinator migrate`"})
	case cur < want:
		out = append(out, Result{Group: "storage", Check: "schema", Status: Fail, Where: where,
			Message: fmt.Sprintf("not migrated: schema version %d, this coordinator needs %d", cur, want),
			Fix:     "run `coordinator migrate` (dev migrates automatically)"})
	case cur > want:
		out = append(out, Result{Group: "storage", Check: "schema", Status: Fail, Where: where,
			Message: fmt.Sprintf("schema version %d is newer than this coordinator (%d)", cur, want),
			Fix:     "upgrade the coordinator binary"})
	default:
		out = append(out, Result{Group: "storage", Check: "schema", Status: Pass, Where: where, Message: fmt.Sprintf("schema version %d (up to date)", cur)})
	}
	return out
}

// sqlitePath is the SQLite file of url, false for PostgreSQL (including
// a keyword/value DSN) or an unparsable URL: dburl.Parse decides.
func sqlitePath(url string) (string, bool) {
	t, err := dburl.Parse(url)
	if err != nil || t.Backend != dburl.BackendSQLite {
		return "", false
	}
	return t.DSN, true
}

func writableDir(dir string) error {
	for d := dir; ; d = filepath.Dir(d) {
		st, err := os.Stat(d)
		if err == nil {
			if !st.IsDir() {
				return fmt.Errorf("%s is not a directory", d)
			}
			f, err := os.CreateTemp(d, ".doctor-*")
			if err != nil {
				return fmt.Errorf("%s is not writable: %w", d, err)
			}
			f.Close()
			os.Remove(f.Name())
			return nil
		}
		if filepath.Dir(d) == d {
			return err
		}
	}
}
