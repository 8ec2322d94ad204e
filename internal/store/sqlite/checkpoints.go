package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/store"
)

// SaveCheckpoint upserts c by id and, when c.Emission is set, upserts its
// emission checkpoint (by emission id) in the same transaction. ID and Kind
// are required, IntervalSeconds must be >= 0; the emission's CheckpointID
// defaults to c.ID and must equal it; a zero EmittedAt becomes now; nil JSON
// is stored as {}. Invalid values are refused with store.ErrInvalidValue.
func (s *Store) SaveCheckpoint(ctx context.Context, c store.Checkpoint) error {
	c, err := c.Normalize(time.Now().UTC())
	if err != nil {
		return fmt.Errorf("sqlite save checkpoint (%s): %w", s.path, err)
	}
	return s.writeTx(ctx, "save checkpoint", func(tx *sql.Tx) error {
		if _, err := s.txExec(ctx, tx, `INSERT INTO checkpoints (id, checkpoint_kind, interval_seconds, last_run_at, next_run_at, meta_jsonb)
VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET checkpoint_kind = excluded.checkpoint_kind, interval_seconds = excluded.interval_seconds,
    last_run_at = excluded.last_run_at, next_run_at = excluded.next_run_at, meta_jsonb = excluded.meta_jsonb`,
			c.ID, c.Kind, c.IntervalSeconds, nullMicros(c.LastRunAt), nullMicros(c.NextRunAt), string(c.Meta)); err != nil {
			return s.wrap(fmt.Sprintf("save checkpoint %q", c.ID), err)
		}
		em := c.Emission
		if em == nil {
			return nil
		}
		if _, err := s.txExec(ctx, tx, `INSERT INTO emission_checkpoints (id, checkpoint_id, emitted_at, payload_jsonb) VALUES (?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET checkpoint_id = excluded.checkpoint_id, emitted_at = excluded.emitted_at, payload_jsonb = excluded.payload_jsonb`,
			em.ID, em.CheckpointID, micros(em.EmittedAt), string(em.Payload)); err != nil {
			return s.wrap(fmt.Sprintf("save checkpoint %q: emission %q", c.ID, em.ID), err)
		}
		return nil
	})
}

// LatestCheckpoint returns the newest checkpoint of kind (see
// ListCheckpoints for the order) or an error wrapping store.ErrNotFound.
func (s *Store) LatestCheckpoint(ctx context.Context, kind string) (store.Checkpoint, error) {
	cs, err := s.ListCheckpoints(ctx, kind, 1)
	if err != nil {
		return store.Checkpoint{}, err
	}
	if len(cs) == 0 {
		return store.Checkpoint{}, fmt.Errorf("sqlite latest checkpoint (%s): no checkpoint of kind %q: %w", s.path, kind, store.ErrNotFound)
	}
	return cs[0], nil
}

// ListCheckpoints returns the newest limit (0 = 1000; negative refused)
// checkpoints of kind (all kinds when empty), newest first: by last_run_at
// descending (checkpoints never run last), then id descending. Each carries
// its newest emission (by emitted_at), if any.
func (s *Store) ListCheckpoints(ctx context.Context, kind string, limit int) ([]store.Checkpoint, error) {
	if err := s.checkSchema(ctx); err != nil {
		return nil, err
	}
	limit, err := store.CheckLimit("limit", limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite list checkpoints (%s): %w", s.path, err)
	}
	q := `SELECT c.id, c.checkpoint_kind, c.interval_seconds, c.last_run_at, c.next_run_at, c.meta_jsonb,
       e.id, e.checkpoint_id, e.emitted_at, e.payload_jsonb
FROM checkpoints c
LEFT JOIN emission_checkpoints e ON e.id = (
    SELECT x.id FROM emission_checkpoints x WHERE x.checkpoint_id = c.id ORDER BY x.emitted_at DESC, x.id DESC LIMIT 1)`
	args := []any{}
	if kind != "" {
		q += ` WHERE c.checkpoint_kind = ?`
		args = append(args, kind)
	}
	q += ` ORDER BY c.last_run_at DESC NULLS LAST, c.id DESC LIMIT ?`
	args = append(args, limit)
	rows, err := s.query(ctx, q, args...)
	if err != nil {
		return nil, s.wrap("list checkpoints", err)
	}
	defer rows.Close()
	var out []store.Checkpoint
	for rows.Next() {
		var c store.Checkpoint
		var last, next, emittedAt sql.NullInt64
		var meta, eid, ecid, payload sql.NullString
		if err := rows.Scan(&c.ID, &c.Kind, &c.IntervalSeconds, &last, &next, &meta, &eid, &ecid, &emittedAt, &payload); err != nil {
			return nil, s.wrap("list checkpoints: scan", err)
		}
		c.LastRunAt, c.NextRunAt, c.Meta = ptrFromMicros(last), ptrFromMicros(next), rawJSON(meta, "{}")
		if eid.Valid {
			c.Emission = &store.EmissionCheckpoint{ID: eid.String, CheckpointID: ecid.String, EmittedAt: fromMicros(emittedAt.Int64), Payload: rawJSON(payload, "{}")}
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap("list checkpoints", err)
	}
	return out, nil
}
