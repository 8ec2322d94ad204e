package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/crunch-coordinator/coordinator/internal/redact"
	"github.com/crunch-coordinator/coordinator/internal/store"
)

// scrubbedError hides a password in an error message while keeping the
// error chain for errors.Is / errors.As.
type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }

// scrub returns err with every occurrence of the URL's password replaced.
func scrub(err error, rawURL string) error {
	if err == nil {
		return nil
	}
	pw := redact.Password(rawURL)
	if pw == "" || !strings.Contains(err.Error(), pw) {
		return err
	}
	return &scrubbedError{msg: strings.ReplaceAll(err.Error(), pw, redact.Mask), err: err}
}

// classify maps a pgx/pgconn error to the store sentinel it means, or nil
// when none applies (the error is then returned wrapped as is).
func classify(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrUnavailable), errors.Is(err, store.ErrInvalidValue),
		errors.Is(err, store.ErrNotMigrated), errors.Is(err, store.ErrNotFound):
		return nil // already typed
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		code := pgErr.Code
		switch {
		case strings.HasPrefix(code, "08"), // connection exception
			code == "57P01", code == "57P02", code == "57P03", // admin/crash shutdown, cannot connect now
			strings.HasPrefix(code, "53"),    // insufficient resources (too many connections, disk full)
			code == "40001", code == "40P01": // serialization failure, deadlock: rolled back, retryable
			return store.ErrUnavailable
		case code == "42P01", code == "42703", code == "3F000", code == "42P07":
			// undefined table / column / schema: the schema is missing or old.
			return store.ErrNotMigrated
		case strings.HasPrefix(code, "22"), strings.HasPrefix(code, "23"):
			// data exception (e.g. \u0000 in JSONB), integrity violation (FK, not null)
			return store.ErrInvalidValue
		}
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return nil
	}
	var connErr *pgconn.ConnectError
	var netErr net.Error
	switch {
	case errors.As(err, &connErr),
		pgconn.SafeToRetry(err),
		errors.As(err, &netErr),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE), errors.Is(err, net.ErrClosed):
		return store.ErrUnavailable
	}
	msg := err.Error()
	if strings.Contains(msg, "conn closed") || strings.Contains(msg, "connection reset") ||
		strings.Contains(msg, "broken pipe") || strings.Contains(msg, "unexpected EOF") {
		return store.ErrUnavailable
	}
	return nil
}

// classifyConnect classifies an error from establishing the first
// connection: wrong credentials and an unknown database are permanent
// (no sentinel), everything else about reaching the server is
// store.ErrUnavailable.
func classifyConnect(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case strings.HasPrefix(pgErr.Code, "28"), pgErr.Code == "3D000":
			return err
		}
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	if s := classify(err); s != nil {
		return fmt.Errorf("%w: %w", s, err)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
	}
	return err
}

// wrap adds the operation and the redacted URL to err and the store
// sentinel it means.
func (s *Store) wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	if sentinel := classify(err); sentinel != nil {
		if sentinel == store.ErrNotMigrated {
			s.migrated.Store(false)
		}
		return fmt.Errorf("postgres store %s (%s): %w: %w", op, s.url, sentinel, err)
	}
	return fmt.Errorf("postgres store %s (%s): %w", op, s.url, err)
}
