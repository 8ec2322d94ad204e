package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/crunch-coordinator/coordinator/internal/store"
)

// modelArrays is a batch of models as column arrays for unnest.
type modelArrays struct {
	ids, names, deployments, playerIDs, playerNames []string
	metas                                           []*string // nil: keep the stored meta ({} for a new model)
	createdAt, updatedAt                            []time.Time
}

// buildModels turns normalised models (store.NormalizeModels) into column
// arrays. A repeated id keeps the last occurrence.
func buildModels(models []store.Model) modelArrays {
	var a modelArrays
	index := make(map[string]int, len(models))
	for _, m := range models {
		var meta *string
		if m.Meta != nil {
			text := string(m.Meta)
			meta = &text
		}
		if j, ok := index[m.ID]; ok {
			a.names[j], a.deployments[j], a.playerIDs[j], a.playerNames[j], a.metas[j] = m.Name, m.DeploymentID, m.PlayerID, m.PlayerName, meta
			a.createdAt[j], a.updatedAt[j] = m.CreatedAt, m.UpdatedAt
			continue
		}
		index[m.ID] = len(a.ids)
		a.ids = append(a.ids, m.ID)
		a.names = append(a.names, m.Name)
		a.deployments = append(a.deployments, m.DeploymentID)
		a.playerIDs = append(a.playerIDs, m.PlayerID)
		a.playerNames = append(a.playerNames, m.PlayerName)
		a.metas = append(a.metas, meta)
		a.createdAt = append(a.createdAt, m.CreatedAt)
		a.updatedAt = append(a.updatedAt, m.UpdatedAt)
	}
	return a
}

// upsertModelsSQL inserts new models and updates changed ones; an unchanged
// model is not rewritten (no churn on every cycle), created_at is kept.
const upsertModelsSQL = `
INSERT INTO models (id, name, deployment_identifier, player_id, player_name, meta_jsonb, created_at, updated_at)
SELECT u.id, u.name, u.dep, u.pid, u.pname, COALESCE(u.meta::jsonb, m.meta_jsonb, '{}'::jsonb), u.ca, u.ua
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::timestamptz[], $8::timestamptz[])
     AS u(id, name, dep, pid, pname, meta, ca, ua)
LEFT JOIN models AS m ON m.id = u.id
ON CONFLICT (id) DO UPDATE SET
    name = EXCLUDED.name,
    deployment_identifier = EXCLUDED.deployment_identifier,
    player_id = EXCLUDED.player_id,
    player_name = EXCLUDED.player_name,
    meta_jsonb = EXCLUDED.meta_jsonb,
    updated_at = EXCLUDED.updated_at
WHERE (models.name, models.deployment_identifier, models.player_id, models.player_name, models.meta_jsonb)
      IS DISTINCT FROM
      (EXCLUDED.name, EXCLUDED.deployment_identifier, EXCLUDED.player_id, EXCLUDED.player_name, EXCLUDED.meta_jsonb)`

// modelArgs returns the arguments of upsertModelsSQL.
func modelArgs(a modelArrays) []any {
	return []any{a.ids, a.names, a.deployments, a.playerIDs, a.playerNames, a.metas, a.createdAt, a.updatedAt}
}

func execUpsertModels(ctx context.Context, tx pgx.Tx, a modelArrays) error {
	if len(a.ids) == 0 {
		return nil
	}
	_, err := tx.Exec(ctx, upsertModelsSQL, modelArgs(a)...)
	if err != nil {
		return fmt.Errorf("upsert %d models: %w", len(a.ids), err)
	}
	return nil
}

// UpsertModels inserts or updates models by id in one transaction: name,
// deployment and player fields are replaced, Meta too unless it is nil (a
// new model with nil Meta gets {}), CreatedAt is kept on update, and an
// unchanged model is not rewritten (UpdatedAt changes only when a field
// did). Zero CreatedAt/UpdatedAt mean now. An empty id or invalid Meta fails
// with store.ErrInvalidValue and nothing is written.
func (s *Store) UpsertModels(ctx context.Context, models []store.Model) error {
	models, err := store.NormalizeModels(models)
	if err != nil {
		return fmt.Errorf("postgres store upsert models: %w", err)
	}
	a := buildModels(models)
	if len(a.ids) == 0 {
		return s.ready(ctx)
	}
	return s.inTx(ctx, "upsert models", func(tx pgx.Tx) error { return execUpsertModels(ctx, tx, a) })
}

// ListModels returns every model ordered by id, times in UTC.
func (s *Store) ListModels(ctx context.Context) ([]store.Model, error) {
	if err := s.ready(ctx); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT id, name, deployment_identifier, player_id, player_name, meta_jsonb, created_at, updated_at
		FROM models ORDER BY id`)
	if err != nil {
		return nil, s.wrap("list models", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Model, error) {
		var m store.Model
		var meta []byte
		if err := r.Scan(&m.ID, &m.Name, &m.DeploymentID, &m.PlayerID, &m.PlayerName, &meta, &m.CreatedAt, &m.UpdatedAt); err != nil {
			return m, err
		}
		m.Meta = rawJSON(meta)
		m.CreatedAt, m.UpdatedAt = utc(m.CreatedAt), utc(m.UpdatedAt)
		return m, nil
	})
	if err != nil {
		return nil, s.wrap("list models", err)
	}
	return out, nil
}

// ReplaceSchedules seeds the schedule rows in one transaction: rows with the
// given ids are upserted (all columns replaced), every other row is
// deactivated, never deleted (predictions keep their foreign key). An empty
// id or invalid JSON fails with store.ErrInvalidValue and nothing changes.
func (s *Store) ReplaceSchedules(ctx context.Context, rows []store.ScheduleRow) error {
	var ids, keys, templates, schedules, metas []string
	var active []bool
	var orders []int32
	index := make(map[string]int, len(rows))
	rows, err := store.NormalizeSchedules(rows)
	if err != nil {
		return fmt.Errorf("postgres store replace schedules: %w", err)
	}
	for _, r := range rows {
		tpl, sch, meta := string(r.ScopeTemplate), string(r.Schedule), string(r.Meta)
		if j, ok := index[r.ID]; ok {
			keys[j], templates[j], schedules[j], active[j], orders[j], metas[j] = r.ScopeKey, tpl, sch, r.Active, int32(r.Order), meta
			continue
		}
		index[r.ID] = len(ids)
		ids = append(ids, r.ID)
		keys = append(keys, r.ScopeKey)
		templates = append(templates, tpl)
		schedules = append(schedules, sch)
		active = append(active, r.Active)
		orders = append(orders, int32(r.Order))
		metas = append(metas, meta)
	}
	if ids == nil {
		ids = []string{}
	}
	return s.inTx(ctx, "replace schedules", func(tx pgx.Tx) error {
		if len(ids) > 0 {
			_, err := tx.Exec(ctx, `
INSERT INTO scheduled_prediction_configs (id, scope_key, scope_template_jsonb, schedule_jsonb, active, "order", meta_jsonb)
SELECT u.id, u.key, u.tpl::jsonb, u.sch::jsonb, u.active, u.ord, u.meta::jsonb
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bool[], $6::int4[], $7::text[])
     AS u(id, key, tpl, sch, active, ord, meta)
ON CONFLICT (id) DO UPDATE SET
    scope_key = EXCLUDED.scope_key,
    scope_template_jsonb = EXCLUDED.scope_template_jsonb,
    schedule_jsonb = EXCLUDED.schedule_jsonb,
    active = EXCLUDED.active,
    "order" = EXCLUDED."order",
    meta_jsonb = EXCLUDED.meta_jsonb`, ids, keys, templates, schedules, active, orders, metas)
			if err != nil {
				return fmt.Errorf("upsert %d schedules: %w", len(ids), err)
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE scheduled_prediction_configs SET active = false
			WHERE active AND NOT (id = ANY($1::text[]))`, ids); err != nil {
			return fmt.Errorf("deactivate schedules not in the new set: %w", err)
		}
		return nil
	})
}

// ListSchedules returns all schedule rows (activeOnly: the active ones)
// ordered by "order", then id.
func (s *Store) ListSchedules(ctx context.Context, activeOnly bool) ([]store.ScheduleRow, error) {
	if err := s.ready(ctx); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT id, scope_key, scope_template_jsonb, schedule_jsonb, active, "order", meta_jsonb
		FROM scheduled_prediction_configs WHERE active OR NOT $1 ORDER BY "order", id`, activeOnly)
	if err != nil {
		return nil, s.wrap("list schedules", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.ScheduleRow, error) {
		var row store.ScheduleRow
		var tpl, sch, meta []byte
		var ord int32
		if err := r.Scan(&row.ID, &row.ScopeKey, &tpl, &sch, &row.Active, &ord, &meta); err != nil {
			return row, err
		}
		row.ScopeTemplate, row.Schedule, row.Meta, row.Order = rawJSON(tpl), rawJSON(sch), rawJSON(meta), int(ord)
		return row, nil
	})
	if err != nil {
		return nil, s.wrap("list schedules", err)
	}
	return out, nil
}
