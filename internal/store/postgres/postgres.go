// Package postgres implements store.Store on PostgreSQL with pgx/v5
// (pgxpool). JSON columns are JSONB and kept as bytes end to end (big
// integers stay exact), every time is timestamptz and comes back in UTC,
// batch writes are single set-based statements inside one transaction, score
// claims use FOR UPDATE SKIP LOCKED, and leader-only work runs under a
// PostgreSQL advisory lock. The schema is versioned with goose migrations
// embedded from migrations/*.sql.
//
// Errors wrap the store sentinels: a lost or refused connection wraps
// store.ErrUnavailable (retryable; the pool reconnects by itself), a missing
// schema wraps store.ErrNotMigrated, and an invalid value wraps
// store.ErrInvalidValue. Values are checked and normalised by the contract
// (internal/store, validate.go) before they are bound; this package only
// translates them to columns (and maps database errors to the sentinels).
package postgres

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/crunch-coordinator/coordinator/internal/redact"
	"github.com/crunch-coordinator/coordinator/internal/store"
	"github.com/crunch-coordinator/coordinator/internal/store/inputcodec"
)

// defaultMaxConns is the pool size when the URL has no pool_max_conns.
const defaultMaxConns = 10

// Store is the PostgreSQL implementation of store.Store. It is safe for
// concurrent use; each Store owns one connection pool.
type Store struct {
	pool     *pgxpool.Pool
	url      string      // database URL with the password redacted
	migrated atomic.Bool // schema checked to be at the expected version
	// How new inference inputs are encoded, and recently read or written
	// ones (inputs.go).
	inputWriter *inputcodec.Writer
	inputCache  *inputcodec.Cache
}

var _ store.Store = (*Store)(nil)

// Open parses url (a postgres:// URL or key=value DSN understood by pgx,
// including pool_max_conns (default 10) and runtime parameters such as
// search_path), creates a connection pool and pings the database within
// ctx (connect_timeout defaults to 10 s). Errors name
// the URL with its password redacted; a refused or lost connection wraps
// store.ErrUnavailable, a wrong password or unknown database does not (it
// will not fix itself). Open does not check or apply migrations: call
// Migrate, or expect store.ErrNotMigrated from the first query.
func Open(ctx context.Context, url string) (*Store, error) {
	red := redact.URL(url)
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres store: parse database URL %s: %w: %w", red, store.ErrInvalidValue, scrub(err, url))
	}
	if !strings.Contains(url, "pool_max_conns") {
		// pgxpool's default (max(4, NumCPU)) is tight once a leader lock
		// holds a connection while its work runs queries on others.
		cfg.MaxConns = defaultMaxConns
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = 10 * time.Second
	}
	// Check every connection taken from the pool: after a database restart
	// or pg_terminate_backend the idle connections are dead, and a ping
	// lets the pool drop them and dial fresh ones instead of failing the
	// caller's query. A recently used connection is pinged only when its
	// socket says it may be dead (shouldPing, conncheck.go).
	cfg.ShouldPing = shouldPing
	cfg.PingTimeout = 5 * time.Second
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres store: open %s: %w", red, classifyConnect(scrub(err, url)))
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres store: connect to %s: %w", red, classifyConnect(scrub(err, url)))
	}
	cache := inputcodec.NewCache(inputcodec.DefaultCacheBytes)
	return &Store{pool: pool, url: red, inputWriter: inputcodec.NewWriter(cache), inputCache: cache}, nil
}

// Pool exposes the underlying pgx pool (for diagnostics and tests).
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// URL returns the database URL with the password redacted.
func (s *Store) URL() string { return s.url }

// Backend returns "postgres".
func (s *Store) Backend() string { return "postgres" }

// Ping checks that a connection to the database works; a failure wraps
// store.ErrUnavailable.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return s.wrap("ping", err)
	}
	return nil
}

// Close releases every connection of the pool. It always returns nil.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}
