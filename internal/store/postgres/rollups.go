package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/crunch-coordinator/coordinator/internal/store"
)

// anyScored reports whether a batch holds a prediction stored with its
// score.
func anyScored(preds []store.Prediction) bool {
	for i := range preds {
		if preds[i].Score != nil {
			return true
		}
	}
	return false
}

// insertScoredPredictions inserts a batch holding predictions stored with
// their score (insertPredictions with RETURNING id) and adds the new ones
// among them to the score rollups in the same transaction. It returns how
// many predictions were new.
func insertScoredPredictions(ctx context.Context, tx pgx.Tx, pa predictionArrays, predictions []store.Prediction) (int, error) {
	if err := insertScopes(ctx, tx, pa); err != nil {
		return 0, err
	}
	rows, err := tx.Query(ctx, insertPredictionsSQL, predictionArgs(pa)...)
	if err != nil {
		return 0, fmt.Errorf("insert %d predictions: %w", len(pa.ids), err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return 0, fmt.Errorf("insert %d predictions: %w", len(pa.ids), err)
	}
	isNew := make(map[string]bool, len(ids))
	for _, id := range ids {
		isNew[id] = true
	}
	var scoredNew []store.Prediction
	for _, p := range predictions {
		if p.Score != nil && isNew[p.ID] {
			isNew[p.ID] = false // a repeat inside the batch was not inserted
			scoredNew = append(scoredNew, p)
		}
	}
	return len(ids), upsertRollups(ctx, tx, store.RollupsOf(scoredNew))
}

// upsertRollupsSQL merges rollup deltas into score_rollups as
// store.ScoreRollup.Add does (every SET expression reads the row as it was
// before the update). Ids compare in byte order (COLLATE "C"), as in Go.
const upsertRollupsSQL = `
INSERT INTO score_rollups AS r (model_id, scope_key, bucket_end, scored, answered, total,
    last_id, last_performed_at, last_scope_jsonb, last_value)
SELECT u.m, u.s, u.e, u.sc, u.an, u.t, u.li, u.lp, u.ls::jsonb, u.lv FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::bigint[], $5::bigint[], $6::float8[],
    $7::text[], $8::timestamptz[], $9::text[], $10::float8[]) AS u(m, s, e, sc, an, t, li, lp, ls, lv)
ON CONFLICT (model_id, scope_key, bucket_end) DO UPDATE SET
    scored = r.scored + excluded.scored, answered = r.answered + excluded.answered, total = r.total + excluded.total,
    last_id = CASE WHEN (excluded.last_performed_at, excluded.last_id COLLATE "C") > (r.last_performed_at, r.last_id COLLATE "C") THEN excluded.last_id ELSE r.last_id END,
    last_scope_jsonb = CASE WHEN (excluded.last_performed_at, excluded.last_id COLLATE "C") > (r.last_performed_at, r.last_id COLLATE "C") THEN excluded.last_scope_jsonb ELSE r.last_scope_jsonb END,
    last_value = CASE WHEN (excluded.last_performed_at, excluded.last_id COLLATE "C") > (r.last_performed_at, r.last_id COLLATE "C") THEN excluded.last_value ELSE r.last_value END,
    last_performed_at = GREATEST(r.last_performed_at, excluded.last_performed_at)`

// upsertRollups merges the deltas (store.RollupsOf of the predictions this
// transaction scored) into score_rollups in one statement.
func upsertRollups(ctx context.Context, tx pgx.Tx, deltas []store.ScoreRollup) error {
	if len(deltas) == 0 {
		return nil
	}
	n := len(deltas)
	models, scopes, lastIDs := make([]string, n), make([]string, n), make([]string, n)
	ends, lasts := make([]time.Time, n), make([]time.Time, n)
	scored, answered := make([]int64, n), make([]int64, n)
	sums := make([]float64, n)
	lastScopes := make([]string, n)
	lastValues := make([]*float64, n)
	for i, d := range deltas {
		models[i], scopes[i], ends[i], scored[i], answered[i], sums[i] = d.ModelID, d.ScopeKey, d.BucketEnd, d.Scored, d.Answered, d.Sum
		lastIDs[i], lasts[i], lastScopes[i], lastValues[i] = d.LastID, d.LastPerformedAt, string(d.LastScope), d.LastValue
	}
	if _, err := tx.Exec(ctx, upsertRollupsSQL, models, scopes, ends, scored, answered, sums, lastIDs, lasts, lastScopes, lastValues); err != nil {
		return fmt.Errorf("upsert %d score rollups: %w", n, err)
	}
	return nil
}

// ScoreRollups returns the rollups of q (store.RollupQuery) ordered by
// model_id, scope_key, bucket_end: a range of the primary key per model.
func (s *Store) ScoreRollups(ctx context.Context, q store.RollupQuery) ([]store.ScoreRollup, error) {
	q, err := q.Normalize()
	if err != nil {
		return nil, fmt.Errorf("postgres store score rollups: %w", err)
	}
	if err := s.ready(ctx); err != nil {
		return nil, err
	}
	var f query
	f.add("bucket_end >= ?", q.From)
	f.add("bucket_end <= ?", q.To)
	if len(q.ModelIDs) > 0 {
		f.add("model_id = ANY(?::text[])", q.ModelIDs)
	}
	rows, err := s.pool.Query(ctx, `SELECT model_id, scope_key, bucket_end, scored, answered, total, last_id, last_performed_at, last_scope_jsonb, last_value
FROM score_rollups`+f.clause()+` ORDER BY model_id COLLATE "C", scope_key COLLATE "C", bucket_end`, f.args...)
	if err != nil {
		return nil, s.wrap("score rollups", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.ScoreRollup, error) {
		var x store.ScoreRollup
		var scope []byte
		err := r.Scan(&x.ModelID, &x.ScopeKey, &x.BucketEnd, &x.Scored, &x.Answered, &x.Sum, &x.LastID, &x.LastPerformedAt, &scope, &x.LastValue)
		x.BucketEnd, x.LastPerformedAt, x.LastScope = utc(x.BucketEnd), utc(x.LastPerformedAt), rawJSON(scope)
		return x, err
	})
	if err != nil {
		return nil, s.wrap("score rollups", err)
	}
	return out, nil
}

// RollupPoints returns the chart points of q (store.RollupPointQuery):
// the counts and sums of the rollups of q.Range() are read in primary key
// order, the points are chosen and summed by store.RollupPointsOf, and the
// newest prediction of each kept point (id, scope, value) is then read by
// primary key. (RANGE window frames were measured slower than this on a
// month of rollups: SUM(float8) has no inverse transition, so every frame
// is summed again.)
func (s *Store) RollupPoints(ctx context.Context, q store.RollupPointQuery) ([]store.RollupPoint, error) {
	q, err := q.Normalize()
	if err != nil {
		return nil, fmt.Errorf("postgres store rollup points: %w", err)
	}
	if err := s.ready(ctx); err != nil {
		return nil, err
	}
	from, to := q.Range()
	var f query
	f.add("bucket_end >= ?", from)
	f.add("bucket_end <= ?", to)
	if len(q.ModelIDs) > 0 {
		f.add("model_id = ANY(?::text[])", q.ModelIDs)
	}
	rows, err := s.pool.Query(ctx, `SELECT model_id, scope_key, bucket_end, answered, total, last_performed_at FROM score_rollups`+f.clause()+`
ORDER BY model_id COLLATE "C", scope_key COLLATE "C", bucket_end`, f.args...)
	if err != nil {
		return nil, s.wrap("rollup points", err)
	}
	var all []store.ScoreRollup
	var model, scope string
	var r store.ScoreRollup
	var m, k []byte
	_, err = pgx.ForEachRow(rows, []any{&m, &k, &r.BucketEnd, &r.Answered, &r.Sum, &r.LastPerformedAt}, func() error {
		if string(m) != model || string(k) != scope {
			model, scope = string(m), string(k)
		}
		r.ModelID, r.ScopeKey, r.BucketEnd, r.LastPerformedAt = model, scope, utc(r.BucketEnd), utc(r.LastPerformedAt)
		all = append(all, r)
		return nil
	})
	if err != nil {
		return nil, s.wrap("rollup points", err)
	}
	points := store.RollupPointsOf(all, q)
	if len(points) == 0 {
		return nil, nil
	}
	models, scopes, ends := make([]string, len(points)), make([]string, len(points)), make([]time.Time, len(points))
	type key struct {
		model, scope string
		end          int64
	}
	at := make(map[key]int, len(points))
	for i, p := range points {
		models[i], scopes[i], ends[i] = p.ModelID, p.ScopeKey, p.BucketEnd
		at[key{p.ModelID, p.ScopeKey, p.BucketEnd.UnixMicro()}] = i
	}
	rows, err = s.pool.Query(ctx, `SELECT r.model_id, r.scope_key, r.bucket_end, r.scored, r.last_id, r.last_scope_jsonb, r.last_value
FROM unnest($1::text[], $2::text[], $3::timestamptz[]) AS k(m, s, e)
JOIN score_rollups AS r ON r.model_id = k.m AND r.scope_key = k.s AND r.bucket_end = k.e`, models, scopes, ends)
	if err != nil {
		return nil, s.wrap("rollup points: newest predictions", err)
	}
	var pm, ps, id string
	var end time.Time
	var scored int64
	var sc []byte
	var value *float64
	_, err = pgx.ForEachRow(rows, []any{&pm, &ps, &end, &scored, &id, &sc, &value}, func() error {
		if i, ok := at[key{pm, ps, end.UnixMicro()}]; ok {
			p := &points[i]
			p.Scored, p.LastID, p.LastScope = scored, id, append(json.RawMessage(nil), sc...)
			if value != nil {
				v := *value
				p.LastValue = &v
			}
		}
		return nil
	})
	if err != nil {
		return nil, s.wrap("rollup points: newest predictions", err)
	}
	return points, nil
}
