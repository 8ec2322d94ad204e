package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/crunch-coordinator/coordinator/internal/store"
)

// SaveLeaderboard stores a leaderboard snapshot and the per-model score
// points of the same rebuild in one transaction, after
// store.NormalizeLeaderboard (zero CreatedAt = now, zero ComputedAt =
// CreatedAt, nil Entries [] and nil Meta/Score {}). Both are
// upserts by id, so a retried rebuild is idempotent (a repeated score id in
// one call keeps the last). Empty ids, invalid
// JSON or an unknown model id fail with store.ErrInvalidValue and nothing
// is written.
func (s *Store) SaveLeaderboard(ctx context.Context, lb store.Leaderboard, scores []store.ModelScore) error {
	lb, scores, err := store.NormalizeLeaderboard(lb, scores)
	if err != nil {
		return fmt.Errorf("postgres store save leaderboard: %w", err)
	}
	index := make(map[string]int, len(scores))
	ids := make([]string, 0, len(scores))
	modelIDs := make([]string, 0, len(scores))
	payloads := make([]string, 0, len(scores))
	computed := make([]time.Time, 0, len(scores))
	for _, sc := range scores {
		if j, ok := index[sc.ID]; ok {
			modelIDs[j], payloads[j], computed[j] = sc.ModelID, string(sc.Score), sc.ComputedAt
			continue
		}
		index[sc.ID] = len(ids)
		ids = append(ids, sc.ID)
		modelIDs = append(modelIDs, sc.ModelID)
		payloads = append(payloads, string(sc.Score))
		computed = append(computed, sc.ComputedAt)
	}
	return s.inTx(ctx, fmt.Sprintf("save leaderboard %q", lb.ID), func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO leaderboards (id, created_at, entries_jsonb, meta_jsonb)
			VALUES ($1, $2, $3::jsonb, $4::jsonb)
			ON CONFLICT (id) DO UPDATE SET created_at = EXCLUDED.created_at, entries_jsonb = EXCLUDED.entries_jsonb, meta_jsonb = EXCLUDED.meta_jsonb`, lb.ID, lb.CreatedAt, string(lb.Entries), string(lb.Meta)); err != nil {
			return fmt.Errorf("insert leaderboard: %w", err)
		}
		if len(ids) == 0 {
			return nil
		}
		// A point saved again under its id may move to another model or
		// day: the day it leaves changes too.
		rows, err := tx.Query(ctx, `SELECT model_id, computed_at FROM model_scores WHERE id = ANY($1::text[])`, ids)
		if err != nil {
			return fmt.Errorf("read the points saved again: %w", err)
		}
		touched := make([]store.ModelScore, 0, len(ids))
		for i := range ids {
			touched = append(touched, store.ModelScore{ModelID: modelIDs[i], ComputedAt: computed[i]})
		}
		var ms store.ModelScore
		if _, err := pgx.ForEachRow(rows, []any{&ms.ModelID, &ms.ComputedAt}, func() error {
			touched = append(touched, ms)
			return nil
		}); err != nil {
			return fmt.Errorf("read the points saved again: %w", err)
		}
		if err := bumpChartRevisions(ctx, tx, store.ChartDaysOfModelScores(touched)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO model_scores (id, model_id, score_payload_jsonb, computed_at)
			SELECT u.id, u.model_id, u.payload::jsonb, u.computed_at
			FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[]) AS u(id, model_id, payload, computed_at)
			ON CONFLICT (id) DO UPDATE SET model_id = EXCLUDED.model_id,
			    score_payload_jsonb = EXCLUDED.score_payload_jsonb, computed_at = EXCLUDED.computed_at`, ids, modelIDs, payloads, computed); err != nil {
			return fmt.Errorf("insert %d model scores: %w", len(ids), err)
		}
		return nil
	})
}

// LatestLeaderboard returns the newest snapshot (greatest created_at, then
// id) or an error wrapping store.ErrNotFound when there is none.
func (s *Store) LatestLeaderboard(ctx context.Context) (store.Leaderboard, error) {
	var lb store.Leaderboard
	if err := s.ready(ctx); err != nil {
		return lb, err
	}
	var entries, meta []byte
	err := s.pool.QueryRow(ctx, `SELECT id, created_at, entries_jsonb, meta_jsonb FROM leaderboards
		ORDER BY created_at DESC, id DESC LIMIT 1`).Scan(&lb.ID, &lb.CreatedAt, &entries, &meta)
	if errors.Is(err, pgx.ErrNoRows) {
		return lb, fmt.Errorf("postgres store: latest leaderboard: no leaderboard yet: %w", store.ErrNotFound)
	}
	if err != nil {
		return lb, s.wrap("latest leaderboard", err)
	}
	lb.CreatedAt, lb.Entries, lb.Meta = utc(lb.CreatedAt), rawJSON(entries), rawJSON(meta)
	return lb, nil
}

// ModelScoreHistory returns score points of the given models (all when
// modelIDs is empty) with computed_at in [from, to] (zero = unbounded),
// ordered by computed_at, then model id, then id, at most limit (0 = 1000).
func (s *Store) ModelScoreHistory(ctx context.Context, modelIDs []string, from, to time.Time, limit int) ([]store.ModelScore, error) {
	limit, err := store.CheckLimit("limit", limit)
	if err != nil {
		return nil, fmt.Errorf("postgres store model score history: %w", err)
	}
	if err := s.ready(ctx); err != nil {
		return nil, err
	}
	var b query
	if len(modelIDs) > 0 {
		b.add("model_id = ANY(?::text[])", modelIDs)
	}
	if !from.IsZero() {
		b.add("computed_at >= ?", from.UTC())
	}
	if !to.IsZero() {
		b.add("computed_at <= ?", to.UTC())
	}
	sql := `SELECT id, model_id, score_payload_jsonb, computed_at FROM model_scores` + b.clause() +
		` ORDER BY computed_at, model_id, id LIMIT ` + b.arg(limit)
	rows, err := s.pool.Query(ctx, sql, b.args...)
	if err != nil {
		return nil, s.wrap("model score history", err)
	}
	out, err := pgx.CollectRows(rows, scanModelScore)
	if err != nil {
		return nil, s.wrap("model score history", err)
	}
	return out, nil
}

// scanModelScore reads a row of (id, model_id, score_payload_jsonb,
// computed_at) from model_scores.
func scanModelScore(r pgx.CollectableRow) (store.ModelScore, error) {
	var ms store.ModelScore
	var payload []byte
	err := r.Scan(&ms.ID, &ms.ModelID, &payload, &ms.ComputedAt)
	ms.Score, ms.ComputedAt = rawJSON(payload), utc(ms.ComputedAt)
	return ms, err
}
