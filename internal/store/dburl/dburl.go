// Package dburl opens the store.Store named by a database URL and redacts
// passwords from URLs for logs and error messages.
//
// Accepted forms:
//
//	postgres://user:pass@host:5432/db?sslmode=disable   → internal/store/postgres
//	postgresql://...                                    → internal/store/postgres
//	host=db user=u password=p dbname=x sslmode=disable  → internal/store/postgres (keyword/value DSN)
//	sqlite:///abs/path/coordinator.db                   → internal/store/sqlite (absolute path)
//	sqlite://rel/path/coordinator.db                    → internal/store/sqlite (relative to the working directory)
//	./coordinator.db, /abs/coordinator.db               → internal/store/sqlite (plain file path, no "://")
//
// Any other scheme is an error naming the (redacted) URL. Text without
// "://" whose first word is key=value is a PostgreSQL keyword/value DSN,
// never a file name: a password in it can never end up in a path.
// Parse is the one place that decides the backend of a database URL.
package dburl

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/crunch-coordinator/coordinator/internal/redact"
	"github.com/crunch-coordinator/coordinator/internal/store"
	"github.com/crunch-coordinator/coordinator/internal/store/postgres"
	"github.com/crunch-coordinator/coordinator/internal/store/sqlite"
)

// Backend names returned by Parse.
const (
	BackendPostgres = "postgres"
	BackendSQLite   = "sqlite"
)

// Target is a parsed database URL: the backend and what to hand it (the
// URL itself for PostgreSQL, the file path for SQLite).
type Target struct {
	Backend string // BackendPostgres or BackendSQLite
	// DSN is the PostgreSQL URL (unchanged) or the SQLite file path
	// (absolute, or relative to the working directory).
	DSN string
}

// keywordDSN matches the start of a libpq keyword/value connection string
// ("host=…", " dbname = …").
var keywordDSN = regexp.MustCompile(`^\s*[A-Za-z_]+\s*=`)

// Parse classifies rawURL without opening anything. It returns an error
// naming the redacted URL when rawURL is empty, has an unknown scheme, or
// is an sqlite URL without a path or with query parameters.
func Parse(rawURL string) (Target, error) {
	if strings.TrimSpace(rawURL) == "" {
		return Target{}, fmt.Errorf("database URL is empty: expected postgres://..., sqlite:///path.db or a file path")
	}
	i := strings.Index(rawURL, "://")
	if i < 0 && keywordDSN.MatchString(rawURL) {
		return Target{Backend: BackendPostgres, DSN: rawURL}, nil
	}
	if i < 0 {
		return Target{Backend: BackendSQLite, DSN: rawURL}, nil
	}
	scheme := strings.ToLower(rawURL[:i])
	switch scheme {
	case "postgres", "postgresql":
		return Target{Backend: BackendPostgres, DSN: rawURL}, nil
	case "sqlite":
		u, err := url.Parse(rawURL)
		if err != nil {
			return Target{}, fmt.Errorf("database URL %q: %w", Redact(rawURL), err)
		}
		if u.RawQuery != "" || u.Fragment != "" {
			return Target{}, fmt.Errorf("database URL %q: sqlite URLs take no query parameters or fragment", Redact(rawURL))
		}
		if u.User != nil {
			return Target{}, fmt.Errorf("database URL %q: sqlite URLs take no user or password", Redact(rawURL))
		}
		// sqlite:///abs/x.db → host "", path "/abs/x.db";
		// sqlite://rel/x.db  → host "rel", path "/x.db" → "rel/x.db".
		p := u.Path
		if u.Host != "" {
			p = u.Host + u.Path
		}
		if p == "" || p == "/" {
			return Target{}, fmt.Errorf("database URL %q: expected a database file path after sqlite://", Redact(rawURL))
		}
		return Target{Backend: BackendSQLite, DSN: p}, nil
	default:
		return Target{}, fmt.Errorf("database URL %q: unknown scheme %q: expected postgres://, postgresql://, sqlite:// or a file path", Redact(rawURL), scheme)
	}
}

// Open opens the store named by rawURL (see the package comment). It does
// not migrate. Errors name the redacted URL or the SQLite path.
func Open(ctx context.Context, rawURL string) (store.Store, error) {
	t, err := Parse(rawURL)
	if err != nil {
		return nil, err
	}
	switch t.Backend {
	case BackendPostgres:
		s, err := postgres.Open(ctx, t.DSN)
		if err != nil {
			return nil, fmt.Errorf("open database %q: %w", Redact(rawURL), err)
		}
		return s, nil
	default:
		s, err := sqlite.Open(ctx, t.DSN)
		if err != nil {
			return nil, err // already names the path
		}
		return s, nil
	}
}

// Redact returns rawURL with any password replaced by "xxxxx" (see
// internal/redact).
func Redact(rawURL string) string { return redact.URL(rawURL) }
