// Package sqlite implements store.Store on an embedded SQLite file through
// modernc.org/sqlite (pure Go, no cgo). It is the zero-setup default for
// `coordinator dev`.
//
// Storage layout (see migrations/00001_init.sql): times are INTEGER unix
// microseconds UTC (so ordering and ranges are exact and values come back in
// UTC, truncated to the microsecond like PostgreSQL timestamptz), JSON is
// TEXT holding the exact text written, booleans are 0/1. Values are checked
// and normalised by the contract (internal/store, validate.go) before they
// are bound; this package only translates them to columns.
//
// Connections: the file is opened in WAL mode with foreign keys on and a busy
// timeout. Each Store has one writer connection whose transactions start with
// BEGIN IMMEDIATE (so writers queue on the busy timeout instead of failing
// with SQLITE_BUSY on a lock upgrade) and a small pool of query_only reader
// connections. Several Store values, even in several processes, may share
// one file: their writers serialise on SQLite's write lock.
//
// Migrations are embedded SQL files (and 00004, a Go migration: see
// migrate_ground_truth.go) applied with pressly/goose v3 by
// Migrate; Open never migrates. Until the schema is at the version this
// binary expects, every data method returns an error wrapping
// store.ErrNotMigrated.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pressly/goose/v3"
	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/crunch-coordinator/coordinator/internal/store"
	"github.com/crunch-coordinator/coordinator/internal/store/inputcodec"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// BusyTimeout is how long a writer waits for another connection's write
// lock before giving up with an error wrapping store.ErrUnavailable.
const BusyTimeout = 30 * time.Second

// mmapSize is the SQLite mmap_size (bytes) of the reader connections:
// pages of the database file are read through a memory map instead of one
// pread system call per page. Readers of a WAL database drop their page
// cache whenever another connection commits, so without it every query
// after a write re-reads its pages with system calls.
//
// The writer maps nothing (mmap_size 0): its page cache survives its own
// commits, and through a map every page it ever touched stays in the
// process's resident set. A predict cycle of 1,000 models updates about
// 1,000 leaves of the per-model prediction index, spread over the file,
// so over a few hundred cycles the map made ~95 MB of the database
// resident (issue 15: 1,000 remote models, host RSS) at the same CPU per
// cycle.
const mmapSize = "268435456"

// walAutocheckpointPages is the writer's wal_autocheckpoint (pages of 4
// KiB): the WAL is copied back into the database file once it holds this
// many pages (16 MiB) instead of SQLite's 1,000. A predict cycle of 1,000
// models writes ~1,100 pages, so with 1,000 every commit ran a checkpoint
// (pwrite and fsync of ~1,100 pages); with 4,000 one commit in ~4 does,
// and it copies each page once though the cycles before it rewrote it
// (CPU per SavePredictCycle of 1,000 rows 46 → 39 ms).
const walAutocheckpointPages = "4000"

// writerTempStore is the writer's temp_store: MEMORY (2), so the statement
// journal of a multi-row INSERT (execRows: SQLite journals the pages a
// statement that writes several rows changes, to undo it alone on a
// constraint error) stays in memory for the statement's life instead of
// spilling past 64 KiB into a temporary file, one pwrite per page (a
// predict cycle of 1,000 models: ~7,800 more write system calls). Migrate
// switches it to FILE (1) while it runs: an index build or a Go migration
// may sort a whole table, which belongs on disk.
const writerTempStore = "2"

// maxReaders is the size of the reader pool.
const maxReaders = 4

// Store is the SQLite implementation of store.Store. It is safe for
// concurrent use. Create it with Open; release it with Close.
type Store struct {
	path   string  // absolute path of the database file
	w      *sql.DB // one connection, BEGIN IMMEDIATE transactions
	r      *sql.DB // query_only readers
	goose  *goose.Provider
	shared *fileShared
	ready  atomic.Bool // schema known to be at (or past) the expected version
	// Prepared statements of the writer and reader pools (stmtcache.go).
	wstmts, rstmts *stmtCache
	// How new inference inputs are encoded, and recently read or written
	// ones (inputs.go).
	inputWriter *inputcodec.Writer
	inputCache  *inputcodec.Cache
}

var _ store.Store = (*Store)(nil)

// fileShared is process-wide state of one database file, shared by every
// Store opened on it: the leader locks and a mutex serialising Migrate.
type fileShared struct {
	migrateMu sync.Mutex
	mu        sync.Mutex
	leaders   map[string]bool
}

var (
	sharedMu sync.Mutex
	sharedBy = map[string]*fileShared{}
)

func sharedFor(path string) *fileShared {
	sharedMu.Lock()
	defer sharedMu.Unlock()
	s, ok := sharedBy[path]
	if !ok {
		s = &fileShared{leaders: map[string]bool{}}
		sharedBy[path] = s
	}
	return s
}

// Open opens (creating if needed) the SQLite database file at path, which
// must be a file path (not ":memory:" and without '?'); a relative path is
// resolved against the working directory. The parent directory must exist
// and the file must be writable; otherwise the error names the path. Open
// does not migrate: call Migrate (or check SchemaVersion) before use.
func Open(ctx context.Context, path string) (*Store, error) {
	if strings.TrimSpace(path) == "" {
		return nil, fmt.Errorf("sqlite: open: empty database path: %w", store.ErrInvalidValue)
	}
	if path == ":memory:" || strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("sqlite: open %q: expected a plain file path (no ':memory:', '?' or '#'): %w", path, store.ErrInvalidValue)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %q: resolving absolute path: %w", path, err)
	}
	dir := filepath.Dir(abs)
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %q: directory %q is not usable: %w", abs, dir, err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("sqlite: open %q: %q is not a directory", abs, dir)
	}
	// Probe writability with a plain OS open so the error is the OS's
	// (permission denied, read-only file system) and names the path; SQLite
	// would silently fall back to read-only.
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %q: database file is not writable: %w", abs, err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("sqlite: open %q: %w", abs, err)
	}

	busy := fmt.Sprintf("_pragma=busy_timeout(%d)", BusyTimeout.Milliseconds())
	wdsn := abs + "?" + busy + "&_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=mmap_size(0)&_pragma=wal_autocheckpoint(" + walAutocheckpointPages + ")&_pragma=temp_store(" + writerTempStore + ")&_txlock=immediate"
	rdsn := abs + "?" + busy + "&_pragma=foreign_keys(1)&_pragma=query_only(1)&_pragma=mmap_size(" + mmapSize + ")"

	w, err := sql.Open("sqlite", wdsn)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %q: %w", abs, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxIdleTime(0)
	w.SetConnMaxLifetime(0)
	if err := w.PingContext(ctx); err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("sqlite: open %q: %w", abs, err)
	}
	var mode string
	if err := w.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("sqlite: open %q: reading journal_mode: %w", abs, err)
	}
	if !strings.EqualFold(mode, "wal") {
		_ = w.Close()
		return nil, fmt.Errorf("sqlite: open %q: expected journal_mode wal, found %q (file system without shared memory support?)", abs, mode)
	}

	r, err := sql.Open("sqlite", rdsn)
	if err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("sqlite: open %q (readers): %w", abs, err)
	}
	r.SetMaxOpenConns(maxReaders)
	r.SetMaxIdleConns(maxReaders)
	if err := r.PingContext(ctx); err != nil {
		_ = w.Close()
		_ = r.Close()
		return nil, fmt.Errorf("sqlite: open %q (readers): %w", abs, err)
	}

	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		_ = w.Close()
		_ = r.Close()
		return nil, fmt.Errorf("sqlite: embedded migrations: %w", err)
	}
	prov, err := goose.NewProvider(goose.DialectSQLite3, w, sub, goose.WithGoMigrations(groundTruthMigration, migrationInputs, migrationInputCodec, migrationGroundTruths, migrationRollups, migrationScopes))
	if err != nil {
		_ = w.Close()
		_ = r.Close()
		return nil, fmt.Errorf("sqlite: open %q: loading migrations: %w", abs, err)
	}
	cache := inputcodec.NewCache(inputcodec.DefaultCacheBytes)
	return &Store{path: abs, w: w, r: r, goose: prov, shared: sharedFor(abs), wstmts: newStmtCache(w), rstmts: newStmtCache(r),
		inputWriter: inputcodec.NewWriter(cache), inputCache: cache}, nil
}

// Path returns the absolute path of the database file.
func (s *Store) Path() string { return s.path }

// Backend returns "sqlite".
func (s *Store) Backend() string { return "sqlite" }

// Close closes the writer and reader connections.
func (s *Store) Close() error {
	return errors.Join(s.wstmts.close(), s.rstmts.close(), s.w.Close(), s.r.Close())
}

// Ping checks that both connection pools can reach the file.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.w.PingContext(ctx); err != nil {
		return s.wrap("ping", err)
	}
	if err := s.r.PingContext(ctx); err != nil {
		return s.wrap("ping", err)
	}
	return nil
}

// Migrate applies pending embedded migrations with goose. It is idempotent
// and serialised with other Stores of this process on the same file.
func (s *Store) Migrate(ctx context.Context) error {
	s.shared.migrateMu.Lock()
	defer s.shared.migrateMu.Unlock()
	if _, err := s.w.ExecContext(ctx, "PRAGMA temp_store = FILE"); err != nil {
		return s.wrap("migrate: temp_store", err)
	}
	_, err := s.goose.Up(ctx)
	if _, perr := s.w.ExecContext(context.WithoutCancel(ctx), "PRAGMA temp_store = "+writerTempStore); perr != nil && err == nil {
		err = fmt.Errorf("temp_store: %w", perr)
	}
	if err != nil {
		return s.wrap("migrate", err)
	}
	cur, exp, err := s.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	if cur < exp {
		return fmt.Errorf("sqlite migrate (%s): schema version %d after migrating, expected %d: %w", s.path, cur, exp, store.ErrNotMigrated)
	}
	s.ready.Store(true)
	return nil
}

// SchemaVersion returns the applied goose version (0 on a fresh file; the
// version table is not created by this call) and the newest embedded
// migration version.
func (s *Store) SchemaVersion(ctx context.Context) (current, expected int64, err error) {
	srcs := s.goose.ListSources()
	if len(srcs) > 0 {
		expected = srcs[len(srcs)-1].Version
	}
	var n int
	if err := s.queryRow(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'goose_db_version'`).Scan(&n); err != nil {
		return 0, expected, s.wrap("schema version", err)
	}
	if n == 0 {
		return 0, expected, nil
	}
	if err := s.queryRow(ctx, `SELECT COALESCE(MAX(version_id), 0) FROM goose_db_version WHERE is_applied`).Scan(&current); err != nil {
		return 0, expected, s.wrap("schema version", err)
	}
	return current, expected, nil
}

// checkSchema returns an error wrapping store.ErrNotMigrated until the
// schema reaches the expected version. Once seen current it costs one
// atomic load.
func (s *Store) checkSchema(ctx context.Context) error {
	if s.ready.Load() {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("sqlite (%s): %w", s.path, err)
	}
	cur, exp, err := s.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	if cur < exp {
		return fmt.Errorf("sqlite (%s): schema version %d, expected %d; run `coordinator migrate`: %w", s.path, cur, exp, store.ErrNotMigrated)
	}
	s.ready.Store(true)
	return nil
}

// WithLeaderLock runs fn if no other holder (any Store of this process on
// the same file) holds the named lock; otherwise it returns ran=false
// without waiting. The lock is in-process only: separate processes sharing
// one SQLite file are not excluded from each other. fn's error is returned
// unchanged with ran=true.
func (s *Store) WithLeaderLock(ctx context.Context, name string, fn func(ctx context.Context) error) (bool, error) {
	if err := store.CheckLockName(name); err != nil {
		return false, fmt.Errorf("sqlite leader lock: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return false, fmt.Errorf("sqlite leader lock %q: %w", name, err)
	}
	sh := s.shared
	sh.mu.Lock()
	if sh.leaders[name] {
		sh.mu.Unlock()
		return false, nil
	}
	sh.leaders[name] = true
	sh.mu.Unlock()
	defer func() {
		sh.mu.Lock()
		delete(sh.leaders, name)
		sh.mu.Unlock()
	}()
	return true, fn(ctx)
}

// writeTx runs fn in one BEGIN IMMEDIATE transaction on the writer
// connection, rolling back on any error (including a cancelled ctx).
func (s *Store) writeTx(ctx context.Context, op string, fn func(tx *sql.Tx) error) error {
	if err := s.checkSchema(ctx); err != nil {
		return err
	}
	s.wstmts.prepareWanted(ctx)
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return s.wrap(op+": begin", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return s.wrap(op+": commit", err)
	}
	return nil
}

// wrap adds the operation and file to err and classifies it: lock timeouts
// and I/O errors wrap store.ErrUnavailable, constraint violations wrap
// store.ErrInvalidValue.
func (s *Store) wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("sqlite %s (%s): %w", op, s.path, err)
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_FULL, sqlite3.SQLITE_READONLY:
			return fmt.Errorf("sqlite %s (%s): %w: %w", op, s.path, store.ErrUnavailable, err)
		case sqlite3.SQLITE_CONSTRAINT:
			return fmt.Errorf("sqlite %s (%s): constraint violated: %w: %w", op, s.path, store.ErrInvalidValue, err)
		case sqlite3.SQLITE_ERROR:
			if strings.Contains(se.Error(), "no such table") {
				return fmt.Errorf("sqlite %s (%s): %w: %w", op, s.path, store.ErrNotMigrated, err)
			}
		}
	}
	if errors.Is(err, sql.ErrConnDone) {
		return fmt.Errorf("sqlite %s (%s): %w: %w", op, s.path, store.ErrUnavailable, err)
	}
	return fmt.Errorf("sqlite %s (%s): %w", op, s.path, err)
}

// ---- value helpers ----

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

func nullMicros(t *time.Time) sql.NullInt64 {
	if t == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMicro(), Valid: true}
}

func ptrFromMicros(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMicros(v.Int64)
	return &t
}

// rawJSON turns a stored TEXT column back into a RawMessage (NULL → def).
func rawJSON(v sql.NullString, def string) json.RawMessage {
	if !v.Valid {
		return json.RawMessage(def)
	}
	return json.RawMessage(v.String)
}

// jsonArray encodes ids for `IN (SELECT value FROM json_each(?))`.
func jsonArray(ids []string) string {
	b, _ := json.Marshal(ids) // []string always encodes
	return string(b)
}
