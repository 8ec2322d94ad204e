package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/crunch-coordinator/coordinator/internal/store/dburl"
)

// DefaultDatabaseURL is used when TEST_DATABASE_URL is unset.
const DefaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// scratch creates and drops the harness's PostgreSQL databases. Every
// database it creates is named coordinator_bench_<random hex> and dropped
// (WITH FORCE) by dropAll, which main defers.
type scratch struct {
	base string

	mu      sync.Mutex
	created []string
}

// newScratch checks that base is reachable and returns the server version.
func newScratch(ctx context.Context, base string) (*scratch, string, error) {
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	c, err := pgx.Connect(cctx, base)
	if err != nil {
		return nil, "", fmt.Errorf("connect to PostgreSQL at %s (TEST_DATABASE_URL; pass -skip-pg to run without it): %w", dburl.Redact(base), err)
	}
	defer c.Close(context.Background())
	var version string
	if err := c.QueryRow(cctx, "SELECT version()").Scan(&version); err != nil {
		return nil, "", fmt.Errorf("SELECT version() on %s: %w", dburl.Redact(base), err)
	}
	if i := strings.Index(version, " on "); i > 0 {
		version = version[:i]
	}
	return &scratch{base: base}, version, nil
}

// create makes a new empty database and returns its URL.
func (s *scratch) create(ctx context.Context) (string, error) {
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(cctx, s.base)
	if err != nil {
		return "", fmt.Errorf("connect to %s: %w", dburl.Redact(s.base), err)
	}
	defer c.Close(context.Background())
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "coordinator_bench_" + hex.EncodeToString(b[:])
	if _, err := c.Exec(cctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", fmt.Errorf("create scratch database %s on %s: %w", name, dburl.Redact(s.base), err)
	}
	s.mu.Lock()
	s.created = append(s.created, name)
	s.mu.Unlock()
	u, err := url.Parse(s.base)
	if err != nil {
		return "", fmt.Errorf("TEST_DATABASE_URL %s: expected a postgres:// URL: %w", dburl.Redact(s.base), err)
	}
	u.Path = "/" + name
	return u.String(), nil
}

// dropAll drops every database create made. It uses its own context so it
// also runs after an interrupt.
func (s *scratch) dropAll() error {
	s.mu.Lock()
	names := s.created
	s.created = nil
	s.mu.Unlock()
	if len(names) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, s.base)
	if err != nil {
		return fmt.Errorf("drop scratch databases %v: connect to %s: %w", names, dburl.Redact(s.base), err)
	}
	defer c.Close(context.Background())
	var errs []string
	for _, n := range names {
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{n}.Sanitize()+" WITH (FORCE)"); err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", n, err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("drop scratch databases: %s", strings.Join(errs, "; "))
	}
	return nil
}
