package postgres

import (
	"context"
	"encoding/json"
	"time"

	"github.com/jackc/pgx/v5"
)

// utc converts a time read from PostgreSQL to UTC.
func utc(t time.Time) time.Time { return t.UTC() }

// utcPtr converts a nullable time to UTC.
func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// orNow returns t, or the current time when t is zero.
func orNow(t time.Time) time.Time {
	if t.IsZero() {
		return now()
	}
	return t.UTC()
}

// rawJSON turns bytes read from a JSONB column into a RawMessage (nil stays
// nil).
func rawJSON(b []byte) json.RawMessage {
	if b == nil {
		return nil
	}
	return json.RawMessage(b)
}

// deref returns *p or the zero value.
func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// nullString maps "" to NULL.
func nullString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// inTx runs fn in one transaction after checking the schema; the
// transaction is rolled back on any error (nothing is half written).
func (s *Store) inTx(ctx context.Context, op string, fn func(tx pgx.Tx) error) error {
	if err := s.ready(ctx); err != nil {
		return err
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return s.wrap(op+": begin", err)
	}
	defer func() {
		// A no-op after Commit; bounded so a dead network cannot hang us.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = tx.Rollback(rctx)
	}()
	if err := fn(tx); err != nil {
		return s.wrap(op, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return s.wrap(op+": commit", err)
	}
	return nil
}
