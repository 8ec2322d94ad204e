// Package dbmigrate is `coordinator migrate` and the schema gate of
// `coordinator serve`: it applies the store's embedded migrations to the
// database named by a URL (PostgreSQL or SQLite, see internal/store/dburl)
// and reports the schema version, never creating anything when only asked
// for the status. Every error names the URL with its password redacted.
package dbmigrate

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/crunch-coordinator/coordinator/internal/store"
	"github.com/crunch-coordinator/coordinator/internal/store/dburl"
)

// ErrBadURL is wrapped by every error about the URL itself (empty, unknown
// scheme, malformed): bad input rather than a database problem.
var ErrBadURL = errors.New("bad database URL")

// ErrBehind is wrapped by Require when the schema is older than this
// binary needs (or missing).
var ErrBehind = errors.New("database schema behind")

// Status is the schema state of one database.
type Status struct {
	// Backend is dburl.BackendPostgres or dburl.BackendSQLite.
	Backend string
	// URL is the database URL with the password redacted.
	URL string
	// Current is the applied schema version (0 = none); Expected the
	// version this binary's migrations reach (0 when unknown: an SQLite file
	// that does not exist is not opened).
	Current, Expected int64
	// Missing is true for an SQLite URL whose file does not exist.
	Missing bool
}

// Behind reports whether the database needs `coordinator migrate`.
func (s Status) Behind() bool { return s.Missing || s.Current < s.Expected }

// Result describes one Apply.
type Result struct {
	Backend string
	// URL is redacted.
	URL string
	// Before and After are the schema versions around the migration;
	// Expected the version of this binary (After == Expected on success).
	Before, After, Expected int64
}

// Changed reports whether Apply applied anything.
func (r Result) Changed() bool { return r.After != r.Before }

// parse classifies rawURL, wrapping ErrBadURL.
func parse(rawURL string) (dburl.Target, error) {
	t, err := dburl.Parse(rawURL)
	if err != nil {
		return t, fmt.Errorf("%w: %w", ErrBadURL, err)
	}
	return t, nil
}

// Apply opens the database named by rawURL and applies the pending
// embedded migrations (idempotent; concurrent runs on PostgreSQL serialise
// on goose's advisory lock). For SQLite the file's folder is created when
// missing. Errors: ErrBadURL for a bad URL; otherwise the store's error
// (store.ErrUnavailable when the server cannot be reached), prefixed with
// the redacted URL.
func Apply(ctx context.Context, rawURL string) (Result, error) {
	t, err := parse(rawURL)
	if err != nil {
		return Result{}, err
	}
	red := dburl.Redact(rawURL)
	res := Result{Backend: t.Backend, URL: red}
	if t.Backend == dburl.BackendSQLite {
		if err := os.MkdirAll(filepath.Dir(t.DSN), 0o755); err != nil {
			return res, fmt.Errorf("migrate %s: create the database folder: %w", red, err)
		}
	}
	st, err := dburl.Open(ctx, rawURL) // its errors name the (redacted) URL or file
	if err != nil {
		return res, fmt.Errorf("migrate: %w", err)
	}
	defer st.Close()
	if res.Before, res.Expected, err = st.SchemaVersion(ctx); err != nil {
		return res, fmt.Errorf("migrate %s: read the schema version: %w", red, err)
	}
	if err := st.Migrate(ctx); err != nil {
		return res, fmt.Errorf("migrate %s: %w", red, err)
	}
	if res.After, _, err = st.SchemaVersion(ctx); err != nil {
		return res, fmt.Errorf("migrate %s: read the schema version after migrating: %w", red, err)
	}
	return res, nil
}

// Check reports the schema state of the database named by rawURL without
// changing it: a missing SQLite file is reported as Missing (and not
// created). Errors: ErrBadURL for a bad URL; otherwise the store's error
// prefixed with the redacted URL.
func Check(ctx context.Context, rawURL string) (Status, error) {
	t, err := parse(rawURL)
	if err != nil {
		return Status{}, err
	}
	s := Status{Backend: t.Backend, URL: dburl.Redact(rawURL)}
	if t.Backend == dburl.BackendSQLite {
		if _, err := os.Stat(t.DSN); errors.Is(err, os.ErrNotExist) {
			s.Missing = true
			return s, nil
		}
	}
	st, err := dburl.Open(ctx, rawURL)
	if err != nil {
		return s, fmt.Errorf("schema status: %w", err)
	}
	defer st.Close()
	s.Current, s.Expected, err = st.SchemaVersion(ctx)
	if err != nil {
		return s, fmt.Errorf("schema status of %s: %w", s.URL, err)
	}
	return s, nil
}

// OpenMigrated opens the database named by rawURL for a worker and
// returns it only when its schema is at the version this binary expects:
// a missing SQLite file (not created) or an older schema is an error
// wrapping ErrBehind (see Require); the store is closed then. Other errors
// are ErrBadURL or the store's, prefixed with the redacted URL.
func OpenMigrated(ctx context.Context, rawURL string) (store.Store, Status, error) {
	t, err := parse(rawURL)
	if err != nil {
		return nil, Status{}, err
	}
	s := Status{Backend: t.Backend, URL: dburl.Redact(rawURL)}
	if t.Backend == dburl.BackendSQLite {
		if _, err := os.Stat(t.DSN); errors.Is(err, os.ErrNotExist) {
			s.Missing = true
			return nil, s, Require(s)
		}
	}
	st, err := dburl.Open(ctx, rawURL)
	if err != nil {
		return nil, s, err // names the (redacted) URL or file
	}
	if s.Current, s.Expected, err = st.SchemaVersion(ctx); err != nil {
		st.Close()
		return nil, s, fmt.Errorf("read the schema version of %s: %w", s.URL, err)
	}
	if err := Require(s); err != nil {
		st.Close()
		return nil, s, err
	}
	return st, s, nil
}

// Require returns nil when s is migrated, else an error wrapping ErrBehind
// that says which version was found and expected and tells the operator to
// run `coordinator migrate` with the same database URL.
func Require(s Status) error {
	switch {
	case s.Missing:
		return fmt.Errorf("%w: database %s does not exist yet: run `coordinator migrate` (with the same DATABASE_URL or --db) first; serve never migrates by itself", ErrBehind, s.URL)
	case s.Current < s.Expected:
		return fmt.Errorf("%w: database %s is at schema version %d, this coordinator needs %d: run `coordinator migrate` (with the same DATABASE_URL or --db) first; serve never migrates by itself",
			ErrBehind, s.URL, s.Current, s.Expected)
	}
	return nil
}
