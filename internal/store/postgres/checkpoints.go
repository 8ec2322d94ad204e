package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/crunch-coordinator/coordinator/internal/store"
)

// SaveCheckpoint upserts the checkpoint by id and, when c.Emission is set,
// its emission checkpoint (by emission id; an empty Emission.CheckpointID
// means c.ID) in one transaction. Zero EmittedAt means now; nil Meta and
// Payload are stored as {}. Empty ids, a negative interval or invalid JSON
// fail with store.ErrInvalidValue and nothing is written.
func (s *Store) SaveCheckpoint(ctx context.Context, c store.Checkpoint) error {
	c, err := c.Normalize(now())
	if err != nil {
		return fmt.Errorf("postgres store save checkpoint: %w", err)
	}
	return s.inTx(ctx, fmt.Sprintf("save checkpoint %q", c.ID), func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `
INSERT INTO checkpoints (id, checkpoint_kind, interval_seconds, last_run_at, next_run_at, meta_jsonb)
VALUES ($1, $2, $3, $4, $5, $6::jsonb)
ON CONFLICT (id) DO UPDATE SET
    checkpoint_kind = EXCLUDED.checkpoint_kind,
    interval_seconds = EXCLUDED.interval_seconds,
    last_run_at = EXCLUDED.last_run_at,
    next_run_at = EXCLUDED.next_run_at,
    meta_jsonb = EXCLUDED.meta_jsonb`,
			c.ID, c.Kind, int32(c.IntervalSeconds), c.LastRunAt, c.NextRunAt, string(c.Meta)); err != nil {
			return fmt.Errorf("upsert checkpoint: %w", err)
		}
		em := c.Emission
		if em == nil {
			return nil
		}
		if _, err := tx.Exec(ctx, `
INSERT INTO emission_checkpoints (id, checkpoint_id, emitted_at, payload_jsonb)
VALUES ($1, $2, $3, $4::jsonb)
ON CONFLICT (id) DO UPDATE SET
    checkpoint_id = EXCLUDED.checkpoint_id,
    emitted_at = EXCLUDED.emitted_at,
    payload_jsonb = EXCLUDED.payload_jsonb`, em.ID, em.CheckpointID, em.EmittedAt, string(em.Payload)); err != nil {
			return fmt.Errorf("upsert emission checkpoint %q: %w", em.ID, err)
		}
		return nil
	})
}

// checkpointSQL selects checkpoints of one kind, newest first
// (last_run_at DESC NULLS LAST, then id DESC), each with its newest
// emission checkpoint if any.
const checkpointSQL = `
SELECT c.id, c.checkpoint_kind, c.interval_seconds, c.last_run_at, c.next_run_at, c.meta_jsonb,
       e.id, e.checkpoint_id, e.emitted_at, e.payload_jsonb
FROM checkpoints AS c
LEFT JOIN LATERAL (
    SELECT id, checkpoint_id, emitted_at, payload_jsonb FROM emission_checkpoints
    WHERE checkpoint_id = c.id ORDER BY emitted_at DESC, id DESC LIMIT 1
) AS e ON true
WHERE c.checkpoint_kind = $1
ORDER BY c.last_run_at DESC NULLS LAST, c.id DESC
LIMIT $2`

func scanCheckpoint(r pgx.CollectableRow) (store.Checkpoint, error) {
	var c store.Checkpoint
	var interval int32
	var last, next, emittedAt *time.Time
	var meta, payload []byte
	var eID, eCheckpoint *string
	if err := r.Scan(&c.ID, &c.Kind, &interval, &last, &next, &meta, &eID, &eCheckpoint, &emittedAt, &payload); err != nil {
		return c, err
	}
	c.IntervalSeconds, c.LastRunAt, c.NextRunAt, c.Meta = int(interval), utcPtr(last), utcPtr(next), rawJSON(meta)
	if eID != nil {
		c.Emission = &store.EmissionCheckpoint{ID: *eID, CheckpointID: deref(eCheckpoint), EmittedAt: deref(utcPtr(emittedAt)), Payload: rawJSON(payload)}
	}
	return c, nil
}

// LatestCheckpoint returns the newest checkpoint of kind (by last_run_at,
// unset last; then id) with its newest emission, or an error wrapping
// store.ErrNotFound.
func (s *Store) LatestCheckpoint(ctx context.Context, kind string) (store.Checkpoint, error) {
	list, err := s.ListCheckpoints(ctx, kind, 1)
	if err != nil {
		return store.Checkpoint{}, err
	}
	if len(list) == 0 {
		return store.Checkpoint{}, fmt.Errorf("postgres store: latest checkpoint of kind %q: none: %w", kind, store.ErrNotFound)
	}
	return list[0], nil
}

// ListCheckpoints returns the newest limit (0 = 1000) checkpoints of kind,
// newest first, each with its newest emission.
func (s *Store) ListCheckpoints(ctx context.Context, kind string, limit int) ([]store.Checkpoint, error) {
	limit, err := store.CheckLimit("limit", limit)
	if err != nil {
		return nil, fmt.Errorf("postgres store list checkpoints: %w", err)
	}
	if err := s.ready(ctx); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, checkpointSQL, kind, limit)
	if err != nil {
		return nil, s.wrap(fmt.Sprintf("list checkpoints of kind %q", kind), err)
	}
	out, err := pgx.CollectRows(rows, scanCheckpoint)
	if err != nil {
		return nil, s.wrap(fmt.Sprintf("list checkpoints of kind %q", kind), err)
	}
	return out, nil
}

// WithLeaderLock runs fn only if this Store obtains the PostgreSQL session
// advisory lock derived from name (pg_try_advisory_lock on a dedicated
// pooled connection; the key hashes the current schema and name, so the
// lock is scoped to database and schema). ran is false, with a nil
// error, when another holder (another process, Store or goroutine) has
// it. The lock is released when fn returns; if releasing fails the
// connection is closed, which releases it server-side. If the connection
// is lost while fn runs the server drops the lock, so another process may
// become leader before fn notices; leader work must stay idempotent. fn's
// error is
// returned wrapped. Failing to reach the database wraps
// store.ErrUnavailable.
func (s *Store) WithLeaderLock(ctx context.Context, name string, fn func(ctx context.Context) error) (ran bool, err error) {
	if err := store.CheckLockName(name); err != nil {
		return false, fmt.Errorf("postgres store leader lock: %w", err)
	}
	op := fmt.Sprintf("leader lock %q", name)
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return false, s.wrap(op+": acquire connection", err)
	}
	// The key is scoped to the current schema, so deployments sharing one
	// database in different schemas do not share leaders.
	var key int64
	var got bool
	if err := conn.QueryRow(ctx, `SELECT k, pg_try_advisory_lock(k)
		FROM (SELECT hashtextextended('coordinator/leader/' || current_schema() || '/' || $1, 0) AS k) AS lock`, name).Scan(&key, &got); err != nil {
		conn.Release()
		return false, s.wrap(op+": try lock", err)
	}
	if !got {
		conn.Release()
		return false, nil
	}
	defer func() {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		var released bool
		if uerr := conn.QueryRow(uctx, `SELECT pg_advisory_unlock($1)`, key).Scan(&released); uerr != nil || !released {
			// Closing the session is the only sure way to drop the lock.
			// If the connection was lost the server already dropped the lock.
			_ = conn.Hijack().Close(uctx)
			return
		}
		conn.Release()
	}()
	if ferr := fn(ctx); ferr != nil {
		return true, fmt.Errorf("postgres store %s: %w", op, ferr)
	}
	return true, nil
}
