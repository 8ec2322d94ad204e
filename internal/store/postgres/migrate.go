package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/crunch-coordinator/coordinator/internal/store"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// versionTable is goose's bookkeeping table.
const versionTable = "goose_db_version"

// expectedVersion is the highest migration version embedded in this binary
// (the numeric prefix of the newest migrations/NNNNN_*.sql file).
var expectedVersion = func() int64 {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		panic(fmt.Sprintf("postgres store: read embedded migrations: %v", err))
	}
	var max int64
	for _, e := range entries {
		name := path.Base(e.Name())
		prefix, _, ok := strings.Cut(name, "_")
		if !ok {
			panic(fmt.Sprintf("postgres store: migration file %q: expected NNNNN_name.sql", name))
		}
		v, err := strconv.ParseInt(prefix, 10, 64)
		if err != nil {
			panic(fmt.Sprintf("postgres store: migration file %q: expected a numeric version prefix: %v", name, err))
		}
		if v > max {
			max = v
		}
	}
	return max
}()

// ExpectedVersion is the schema version this binary needs (the newest
// embedded migration).
func ExpectedVersion() int64 { return expectedVersion }

// Migrate applies every pending embedded migration with goose, holding a
// PostgreSQL session advisory lock so that concurrent Migrate calls from
// several processes apply each migration once. It is idempotent: a migrated
// database is left untouched. Nothing is ever dropped.
func (s *Store) Migrate(ctx context.Context) error {
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return fmt.Errorf("postgres store migrate (%s): open embedded migrations: %w", s.url, err)
	}
	locker, err := lock.NewPostgresSessionLocker(
		lock.WithLockTimeout(1, 300), // poll every second, up to 5 minutes
		lock.WithUnlockTimeout(1, 60),
	)
	if err != nil {
		return fmt.Errorf("postgres store migrate (%s): create migration lock: %w", s.url, err)
	}
	db := stdlib.OpenDBFromPool(s.pool)
	defer db.Close()
	provider, err := goose.NewProvider(goose.DialectPostgres, db, sub,
		goose.WithTableName(versionTable),
		goose.WithSessionLocker(locker),
		goose.WithDisableGlobalRegistry(true),
	)
	if err != nil {
		return fmt.Errorf("postgres store migrate (%s): load migrations: %w", s.url, err)
	}
	if _, err := provider.Up(ctx); err != nil {
		return s.wrap("migrate", err)
	}
	current, _, err := s.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	if current < expectedVersion {
		return fmt.Errorf("postgres store migrate (%s): schema version after migrating: expected %d, found %d: %w",
			s.url, expectedVersion, current, store.ErrNotMigrated)
	}
	s.migrated.Store(true)
	return nil
}

// SchemaVersion returns the highest applied migration version (0 when the
// goose version table does not exist) and the version this binary expects.
// It never creates anything.
func (s *Store) SchemaVersion(ctx context.Context) (current, expected int64, err error) {
	var exists bool
	if err := s.pool.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, versionTable).Scan(&exists); err != nil {
		return 0, expectedVersion, s.wrap("schema version", err)
	}
	if !exists {
		return 0, expectedVersion, nil
	}
	var v *int64
	err = s.pool.QueryRow(ctx, `SELECT max(version_id) FROM `+versionTable+` WHERE is_applied`).Scan(&v)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return 0, expectedVersion, s.wrap("schema version", err)
	}
	if v == nil {
		return 0, expectedVersion, nil
	}
	return *v, expectedVersion, nil
}

// ready returns store.ErrNotMigrated unless the schema is at (or above) the
// expected version. The check runs once per Store until it succeeds; a
// later "undefined table" error resets it (see wrap).
func (s *Store) ready(ctx context.Context) error {
	if s.migrated.Load() {
		return nil
	}
	current, expected, err := s.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	if current < expected {
		return fmt.Errorf("postgres store (%s): schema version: expected %d, found %d; run `coordinator migrate`: %w",
			s.url, expected, current, store.ErrNotMigrated)
	}
	s.migrated.Store(true)
	return nil
}

// now returns the current time in UTC truncated to microseconds (the
// resolution of timestamptz), used for defaults.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }
