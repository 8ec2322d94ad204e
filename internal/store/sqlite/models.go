package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/crunch-coordinator/coordinator/internal/store"
)

// UpsertModels inserts or updates models by id in one transaction. On update
// name, deployment and player fields and updated_at (UpdatedAt, or now when
// zero) are overwritten, created_at is kept, and meta is replaced only when
// Meta is non-nil (an upsert never wipes data it was not given). Empty ids
// and invalid JSON are refused with store.ErrInvalidValue.
func (s *Store) UpsertModels(ctx context.Context, models []store.Model) error {
	if len(models) == 0 {
		return s.checkSchema(ctx)
	}
	models, err := store.NormalizeModels(models)
	if err != nil {
		return fmt.Errorf("sqlite upsert models (%s): %w", s.path, err)
	}
	return s.writeTx(ctx, "upsert models", func(tx *sql.Tx) error {
		return upsertModelsTx(ctx, s, tx, models)
	})
}

// upsertModelsTx binds normalised models (store.NormalizeModels); a nil
// Meta keeps the stored meta ({} for a new model).
func upsertModelsTx(ctx context.Context, s *Store, tx *sql.Tx, models []store.Model) error {
	stmt, err := s.txStmt(ctx, tx, `
INSERT INTO models (id, name, deployment_identifier, player_id, player_name, meta_jsonb, created_at, updated_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
ON CONFLICT (id) DO UPDATE SET
    name = excluded.name,
    deployment_identifier = excluded.deployment_identifier,
    player_id = excluded.player_id,
    player_name = excluded.player_name,
    meta_jsonb = CASE WHEN ?9 THEN excluded.meta_jsonb ELSE models.meta_jsonb END,
    updated_at = excluded.updated_at`)
	if err != nil {
		return s.wrap("upsert models: prepare", err)
	}
	defer stmt.Close()
	for _, m := range models {
		meta := "{}"
		if m.Meta != nil {
			meta = string(m.Meta)
		}
		if _, err := stmt.ExecContext(ctx, m.ID, m.Name, m.DeploymentID, m.PlayerID, m.PlayerName, meta, micros(m.CreatedAt), micros(m.UpdatedAt), m.Meta != nil); err != nil {
			return s.wrap(fmt.Sprintf("upsert model %q", m.ID), err)
		}
	}
	return nil
}

// ListModels returns every model ordered by id.
func (s *Store) ListModels(ctx context.Context) ([]store.Model, error) {
	if err := s.checkSchema(ctx); err != nil {
		return nil, err
	}
	rows, err := s.query(ctx, `SELECT id, name, deployment_identifier, player_id, player_name, meta_jsonb, created_at, updated_at FROM models ORDER BY id`)
	if err != nil {
		return nil, s.wrap("list models", err)
	}
	defer rows.Close()
	var out []store.Model
	for rows.Next() {
		var m store.Model
		var meta sql.NullString
		var c, u int64
		if err := rows.Scan(&m.ID, &m.Name, &m.DeploymentID, &m.PlayerID, &m.PlayerName, &meta, &c, &u); err != nil {
			return nil, s.wrap("list models: scan", err)
		}
		m.Meta = rawJSON(meta, "{}")
		m.CreatedAt, m.UpdatedAt = fromMicros(c), fromMicros(u)
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap("list models", err)
	}
	return out, nil
}

// ReplaceSchedules upserts the given schedule rows by id and deactivates
// every other row, in one transaction (rows are never deleted, so
// predictions keep their foreign key). Nil JSON fields are stored as {}.
// Empty ids and invalid JSON are refused with store.ErrInvalidValue.
func (s *Store) ReplaceSchedules(ctx context.Context, rows []store.ScheduleRow) error {
	rows, err := store.NormalizeSchedules(rows)
	if err != nil {
		return fmt.Errorf("sqlite replace schedules (%s): %w", s.path, err)
	}
	ids := make([]string, 0, len(rows))
	for _, r := range rows {
		ids = append(ids, r.ID)
	}
	return s.writeTx(ctx, "replace schedules", func(tx *sql.Tx) error {
		stmt, err := s.txStmt(ctx, tx, `
INSERT INTO scheduled_prediction_configs (id, scope_key, scope_template_jsonb, schedule_jsonb, active, "order", meta_jsonb)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET
    scope_key = excluded.scope_key,
    scope_template_jsonb = excluded.scope_template_jsonb,
    schedule_jsonb = excluded.schedule_jsonb,
    active = excluded.active,
    "order" = excluded."order",
    meta_jsonb = excluded.meta_jsonb`)
		if err != nil {
			return s.wrap("replace schedules: prepare", err)
		}
		defer stmt.Close()
		for _, r := range rows {
			if _, err := stmt.ExecContext(ctx, r.ID, r.ScopeKey, string(r.ScopeTemplate), string(r.Schedule), r.Active, r.Order, string(r.Meta)); err != nil {
				return s.wrap(fmt.Sprintf("replace schedules: upsert %q", r.ID), err)
			}
		}
		if _, err := s.txExec(ctx, tx, `UPDATE scheduled_prediction_configs SET active = 0 WHERE active <> 0 AND id NOT IN (SELECT value FROM json_each(?))`, jsonArray(ids)); err != nil {
			return s.wrap("replace schedules: deactivate", err)
		}
		return nil
	})
}

// ListSchedules returns schedule rows (only active ones when activeOnly)
// ordered by order, then id.
func (s *Store) ListSchedules(ctx context.Context, activeOnly bool) ([]store.ScheduleRow, error) {
	if err := s.checkSchema(ctx); err != nil {
		return nil, err
	}
	q := `SELECT id, scope_key, scope_template_jsonb, schedule_jsonb, active, "order", meta_jsonb FROM scheduled_prediction_configs`
	if activeOnly {
		q += ` WHERE active <> 0`
	}
	q += ` ORDER BY "order", id`
	rows, err := s.query(ctx, q)
	if err != nil {
		return nil, s.wrap("list schedules", err)
	}
	defer rows.Close()
	var out []store.ScheduleRow
	for rows.Next() {
		var r store.ScheduleRow
		var tmpl, sched, meta sql.NullString
		if err := rows.Scan(&r.ID, &r.ScopeKey, &tmpl, &sched, &r.Active, &r.Order, &meta); err != nil {
			return nil, s.wrap("list schedules: scan", err)
		}
		r.ScopeTemplate, r.Schedule, r.Meta = rawJSON(tmpl, "{}"), rawJSON(sched, "{}"), rawJSON(meta, "{}")
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap("list schedules", err)
	}
	return out, nil
}
