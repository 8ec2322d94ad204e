package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/store"
)

// SaveLeaderboard stores lb (upsert by id, so a retried rebuild is
// idempotent) and the score history points of the same rebuild (upsert by
// id) in one transaction, after store.NormalizeLeaderboard (ids required,
// zero CreatedAt = now, zero ComputedAt = CreatedAt, nil Entries [] and nil
// Meta/Score {}; invalid values refused with store.ErrInvalidValue). A
// score for an unknown model violates the foreign key (also
// store.ErrInvalidValue).
func (s *Store) SaveLeaderboard(ctx context.Context, lb store.Leaderboard, scores []store.ModelScore) error {
	lb, scores, err := store.NormalizeLeaderboard(lb, scores)
	if err != nil {
		return fmt.Errorf("sqlite save leaderboard (%s): %w", s.path, err)
	}
	return s.writeTx(ctx, "save leaderboard", func(tx *sql.Tx) error {
		if _, err := s.txExec(ctx, tx, `INSERT INTO leaderboards (id, created_at, entries_jsonb, meta_jsonb) VALUES (?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET created_at = excluded.created_at, entries_jsonb = excluded.entries_jsonb, meta_jsonb = excluded.meta_jsonb`,
			lb.ID, micros(lb.CreatedAt), string(lb.Entries), string(lb.Meta)); err != nil {
			return s.wrap(fmt.Sprintf("save leaderboard %q", lb.ID), err)
		}
		if len(scores) == 0 {
			return nil
		}
		// A point saved again under its id may move to another model or
		// day: the day it leaves changes too.
		ids := make([]string, len(scores))
		for i, ms := range scores {
			ids[i] = ms.ID
		}
		rows, err := tx.QueryContext(ctx, `SELECT model_id, computed_at FROM model_scores WHERE id IN (SELECT value FROM json_each(?))`, jsonArray(ids))
		if err != nil {
			return s.wrap("save leaderboard: read the points saved again", err)
		}
		touched := slices.Clone(scores)
		for rows.Next() {
			var ms store.ModelScore
			var at int64
			if err := rows.Scan(&ms.ModelID, &at); err != nil {
				rows.Close()
				return s.wrap("save leaderboard: read the points saved again", err)
			}
			ms.ComputedAt = fromMicros(at)
			touched = append(touched, ms)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return s.wrap("save leaderboard: read the points saved again", err)
		}
		if err := s.bumpChartRevisions(ctx, tx, store.ChartDaysOfModelScores(touched)); err != nil {
			return err
		}
		stmt, err := s.txStmt(ctx, tx, `INSERT INTO model_scores (id, model_id, score_payload_jsonb, computed_at) VALUES (?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET model_id = excluded.model_id, score_payload_jsonb = excluded.score_payload_jsonb, computed_at = excluded.computed_at`)
		if err != nil {
			return s.wrap("save leaderboard: prepare", err)
		}
		defer stmt.Close()
		for _, ms := range scores {
			if _, err := stmt.ExecContext(ctx, ms.ID, ms.ModelID, string(ms.Score), micros(ms.ComputedAt)); err != nil {
				return s.wrap(fmt.Sprintf("save leaderboard: model score %q of model %q", ms.ID, ms.ModelID), err)
			}
		}
		return nil
	})
}

// LatestLeaderboard returns the snapshot with the greatest created_at (then
// id), or an error wrapping store.ErrNotFound when there is none.
func (s *Store) LatestLeaderboard(ctx context.Context) (store.Leaderboard, error) {
	var lb store.Leaderboard
	if err := s.checkSchema(ctx); err != nil {
		return lb, err
	}
	var created int64
	var entries, meta sql.NullString
	err := s.queryRow(ctx, `SELECT id, created_at, entries_jsonb, meta_jsonb FROM leaderboards ORDER BY created_at DESC, id DESC LIMIT 1`).
		Scan(&lb.ID, &created, &entries, &meta)
	if err == sql.ErrNoRows {
		return lb, fmt.Errorf("sqlite latest leaderboard (%s): no leaderboard saved yet: %w", s.path, store.ErrNotFound)
	}
	if err != nil {
		return lb, s.wrap("latest leaderboard", err)
	}
	lb.CreatedAt = fromMicros(created)
	lb.Entries, lb.Meta = rawJSON(entries, "[]"), rawJSON(meta, "{}")
	return lb, nil
}

// ModelScoreHistory returns score points of modelIDs (all when empty) with
// computed_at in [from, to] (zero = no bound), ordered by computed_at,
// model id, id, at most limit (0 = 1000; negative refused).
func (s *Store) ModelScoreHistory(ctx context.Context, modelIDs []string, from, to time.Time, limit int) ([]store.ModelScore, error) {
	if err := s.checkSchema(ctx); err != nil {
		return nil, err
	}
	limit, err := store.CheckLimit("limit", limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite model score history (%s): %w", s.path, err)
	}
	lo, hi := bounds(from, to)
	q := `SELECT id, model_id, score_payload_jsonb, computed_at FROM model_scores WHERE computed_at >= ? AND computed_at <= ?`
	args := []any{lo, hi}
	if len(modelIDs) > 0 {
		q += ` AND model_id IN (SELECT value FROM json_each(?))`
		args = append(args, jsonArray(modelIDs))
	}
	q += ` ORDER BY computed_at, model_id, id LIMIT ?`
	args = append(args, limit)
	rows, err := s.query(ctx, q, args...)
	if err != nil {
		return nil, s.wrap("model score history", err)
	}
	defer rows.Close()
	var out []store.ModelScore
	for rows.Next() {
		var ms store.ModelScore
		var payload sql.NullString
		var at int64
		if err := rows.Scan(&ms.ID, &ms.ModelID, &payload, &at); err != nil {
			return nil, s.wrap("model score history: scan", err)
		}
		ms.Score, ms.ComputedAt = rawJSON(payload, "{}"), fromMicros(at)
		out = append(out, ms)
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap("model score history", err)
	}
	return out, nil
}
