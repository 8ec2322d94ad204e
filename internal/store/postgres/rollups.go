package postgres

import (
	"context"
	"fmt"
	"strings"
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

// RollupPoints returns the chart points of q (store.RollupPointQuery, the
// rule of store.RollupPointsOf) computed by PostgreSQL in one statement:
// the window sums are RANGE window functions over the primary key order
// of score_rollups, the budget and cells are computed from the points, and
// only the kept points are returned.
func (s *Store) RollupPoints(ctx context.Context, q store.RollupPointQuery) ([]store.RollupPoint, error) {
	q, err := q.Normalize()
	if err != nil {
		return nil, fmt.Errorf("postgres store rollup points: %w", err)
	}
	if err := s.ready(ctx); err != nil {
		return nil, err
	}
	from, to := q.Range()
	w := store.RollupWidth.Microseconds()
	var sums, defs, outCols []string
	for i, win := range q.Windows {
		sums = append(sums, fmt.Sprintf(`SUM(answered) OVER w%d AS a%d, SUM(total) OVER w%d AS s%d`, i, i, i, i))
		defs = append(defs, fmt.Sprintf(`w%d AS (PARTITION BY model_id, scope_key ORDER BY bucket_end RANGE BETWEEN '%d microseconds'::interval PRECEDING AND CURRENT ROW)`,
			i, (store.WindowBuckets(win)-1)*w))
		outCols = append(outCols, fmt.Sprintf("a%d, s%d", i, i))
	}
	args := []any{from, to, q.From, q.To, q.MaxSeriesPoints, q.MaxPoints,
		int64(store.RollupBucketEnd(q.To).Sub(store.RollupBucketEnd(q.From))/store.RollupWidth) + 1, store.RollupBucketEnd(q.To), w}
	filter := ``
	if len(q.ModelIDs) > 0 {
		filter = ` AND model_id = ANY($10::text[])`
		args = append(args, q.ModelIDs)
	}
	sql := `WITH r AS (SELECT model_id, scope_key, bucket_end, scored, answered, total, last_id, last_performed_at, last_scope_jsonb, last_value,
    ` + strings.Join(sums, ", ") + `
  FROM score_rollups WHERE bucket_end >= $1 AND bucket_end <= $2` + filter + `
  WINDOW ` + strings.Join(defs, ", ") + `),
p AS (SELECT * FROM r WHERE last_performed_at >= $3 AND last_performed_at <= $4),
n AS (SELECT GREATEST(1, LEAST($5::bigint, $6::bigint / GREATEST(1, COUNT(*)))) AS per FROM (SELECT DISTINCT model_id, scope_key FROM p) AS d),
k AS (SELECT p.*, n.per, ROW_NUMBER() OVER (PARTITION BY model_id, scope_key,
        (EXTRACT(EPOCH FROM $8::timestamptz - bucket_end) * 1000000)::bigint / $9::bigint / (($7::bigint + n.per - 1) / n.per) ORDER BY bucket_end DESC) AS rn
    FROM p, n)
SELECT model_id, scope_key, bucket_end, scored, answered, total, last_id, last_performed_at, last_scope_jsonb, last_value, per, ` + strings.Join(outCols, ", ") + `
FROM k WHERE rn = 1 ORDER BY last_performed_at, model_id COLLATE "C", scope_key COLLATE "C"`
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, s.wrap("rollup points", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.RollupPoint, error) {
		var p store.RollupPoint
		var scope []byte
		var per int64
		p.Answered, p.Sums = make([]int64, len(q.Windows)), make([]float64, len(q.Windows))
		dest := []any{&p.ModelID, &p.ScopeKey, &p.BucketEnd, &p.Scored, &p.ScoreRollup.Answered, &p.Sum, &p.LastID, &p.LastPerformedAt, &scope, &p.LastValue, &per}
		for i := range q.Windows {
			dest = append(dest, &p.Answered[i], &p.Sums[i])
		}
		err := r.Scan(dest...)
		p.BucketEnd, p.LastPerformedAt, p.LastScope, p.PerSeries = utc(p.BucketEnd), utc(p.LastPerformedAt), rawJSON(scope), int(per)
		return p, err
	})
	if err != nil {
		return nil, s.wrap("rollup points", err)
	}
	return out, nil
}
