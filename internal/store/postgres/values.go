package postgres

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/crunch-coordinator/coordinator/internal/store"
)

// jsonText validates one JSON value bound for a JSONB column and returns it
// as text. Empty input becomes def ("{}" or "[]"). Invalid JSON (which
// includes NaN and Infinity literals) and numbers that overflow float64 to
// ±Inf are refused with store.ErrInvalidValue naming field. The bytes are
// never decoded, so big integers reach PostgreSQL exactly.
func jsonText(field string, raw json.RawMessage, def string) (string, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return def, nil
	}
	if !json.Valid(raw) {
		return "", fmt.Errorf("%s: expected valid JSON, found %q: %w", field, truncate(raw, 80), store.ErrInvalidValue)
	}
	if num, ok := infiniteNumber(raw); ok {
		return "", fmt.Errorf("%s: number %s overflows to ±Inf: %w", field, truncate(num, 40), store.ErrInvalidValue)
	}
	return string(raw), nil
}

// infiniteNumber scans valid JSON for a number literal whose float64 value
// is ±Inf (e.g. 1e400) and returns it.
func infiniteNumber(b []byte) ([]byte, bool) {
	inString := false
	for i := 0; i < len(b); i++ {
		c := b[i]
		if inString {
			switch c {
			case '\\':
				i++
			case '"':
				inString = false
			}
			continue
		}
		switch {
		case c == '"':
			inString = true
		case c == '-' || (c >= '0' && c <= '9'):
			j := i
			exp := false
			for j < len(b) {
				d := b[j]
				if d == 'e' || d == 'E' {
					exp = true
				} else if !(d >= '0' && d <= '9') && d != '.' && d != '-' && d != '+' {
					break
				}
				j++
			}
			num := b[i:j]
			if exp || len(num) > 300 {
				if f, _ := strconv.ParseFloat(string(num), 64); math.IsInf(f, 0) {
					return num, true
				}
			}
			i = j - 1
		}
	}
	return nil, false
}

func truncate(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	return string(b[:n]) + "..."
}

// checkFloat refuses NaN and ±Inf with store.ErrInvalidValue naming field.
func checkFloat(field string, v float64) error {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return fmt.Errorf("%s: expected a finite number, found %v: %w", field, v, store.ErrInvalidValue)
	}
	return nil
}

// checkID refuses an empty identifier with store.ErrInvalidValue.
func checkID(field, id string) error {
	if id == "" {
		return fmt.Errorf("%s: expected a non-empty id, found \"\": %w", field, store.ErrInvalidValue)
	}
	return nil
}

// checkLimit validates a limit (0 = def) and returns the effective value.
func checkLimit(field string, limit, def int) (int, error) {
	if limit < 0 {
		return 0, fmt.Errorf("%s: expected >= 0, found %d: %w", field, limit, store.ErrInvalidValue)
	}
	if limit == 0 {
		return def, nil
	}
	return limit, nil
}

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
