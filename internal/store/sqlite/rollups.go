package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/pressly/goose/v3"

	"github.com/crunch-coordinator/coordinator/internal/store"
)

// migrationRollups is schema version 9 (mirrors PostgreSQL's
// 00009_score_rollups.sql): table score_rollups holds one store.ScoreRollup
// per (model_id, scope_key, bucket_end), bucket_end in unix microseconds
// (store.RollupBucketEnd). It is filled from the predictions already
// scored, with the same rule as store.RollupsOf (bucket (end - 1 h, end],
// newest by performed_at then id), so an upgraded database answers
// /reports/models/params at once. Re-running it recomputes the table.
//
// It is a Go migration because every migration must be harmless on a
// schema whose version table was lost (TestMigratePartialSchema).
var migrationRollups = goose.NewGoMigration(9, &goose.GoFunc{RunTx: func(ctx context.Context, tx *sql.Tx) error {
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS score_rollups (
    model_id          TEXT    NOT NULL,
    scope_key         TEXT    NOT NULL,
    bucket_end        INTEGER NOT NULL,
    scored            INTEGER NOT NULL,
    answered          INTEGER NOT NULL,
    total             REAL    NOT NULL,
    last_id           TEXT    NOT NULL,
    last_performed_at INTEGER NOT NULL,
    last_scope_jsonb  TEXT    NOT NULL,
    last_value        REAL,
    PRIMARY KEY (model_id, scope_key, bucket_end)
) WITHOUT ROWID`); err != nil {
		return fmt.Errorf("create table score_rollups: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM score_rollups`); err != nil {
		return fmt.Errorf("clear score_rollups: %w", err)
	}
	w := store.RollupWidth.Microseconds()
	if _, err := tx.ExecContext(ctx, `INSERT INTO score_rollups
SELECT model_id, scope_key, bucket_end, COUNT(*),
    SUM(CASE WHEN score_success = 1 AND score_value IS NOT NULL THEN 1 ELSE 0 END),
    TOTAL(CASE WHEN score_success = 1 THEN score_value END),
    MAX(CASE WHEN rn = 1 THEN id END), MAX(CASE WHEN rn = 1 THEN performed_at END),
    MAX(CASE WHEN rn = 1 THEN COALESCE(scope_jsonb, '{}') END),
    MAX(CASE WHEN rn = 1 AND score_success = 1 THEN score_value END)
FROM (SELECT id, model_id, scope_key, scope_jsonb, performed_at, score_value, score_success, bucket_end,
        ROW_NUMBER() OVER (PARTITION BY model_id, scope_key, bucket_end ORDER BY performed_at DESC, id DESC) AS rn
    FROM (SELECT *, (CASE WHEN performed_at % ?1 > 0 THEN performed_at / ?1 + 1 ELSE performed_at / ?1 END) * ?1 AS bucket_end
        FROM predictions WHERE `+scored+`))
GROUP BY model_id, scope_key, bucket_end`, w); err != nil {
		return fmt.Errorf("fill score_rollups from the scored predictions: %w", err)
	}
	return nil
}}, nil)

// upsertRollups merges the deltas (store.RollupsOf of the predictions this
// transaction scored) into score_rollups, as store.ScoreRollup.Add does.
func (s *Store) upsertRollups(ctx context.Context, tx *sql.Tx, deltas []store.ScoreRollup) error {
	if len(deltas) == 0 {
		return nil
	}
	stmt, err := s.txStmt(ctx, tx, `INSERT INTO score_rollups (model_id, scope_key, bucket_end, scored, answered, total,
    last_id, last_performed_at, last_scope_jsonb, last_value) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (model_id, scope_key, bucket_end) DO UPDATE SET
    scored = scored + excluded.scored, answered = answered + excluded.answered, total = total + excluded.total,
    last_id = CASE WHEN (excluded.last_performed_at, excluded.last_id) > (last_performed_at, last_id) THEN excluded.last_id ELSE last_id END,
    last_scope_jsonb = CASE WHEN (excluded.last_performed_at, excluded.last_id) > (last_performed_at, last_id) THEN excluded.last_scope_jsonb ELSE last_scope_jsonb END,
    last_value = CASE WHEN (excluded.last_performed_at, excluded.last_id) > (last_performed_at, last_id) THEN excluded.last_value ELSE last_value END,
    last_performed_at = MAX(last_performed_at, excluded.last_performed_at)`)
	if err != nil {
		return s.wrap("score rollups: prepare", err)
	}
	defer stmt.Close()
	texts := textMemo{}
	for _, d := range deltas {
		var last sql.NullFloat64
		if d.LastValue != nil {
			last = sql.NullFloat64{Float64: *d.LastValue, Valid: true}
		}
		if _, err := stmt.ExecContext(ctx, d.ModelID, d.ScopeKey, micros(d.BucketEnd), d.Scored, d.Answered, d.Sum,
			d.LastID, micros(d.LastPerformedAt), texts.text(d.LastScope), last); err != nil {
			return s.wrap(fmt.Sprintf("score rollups: upsert %s/%s at %s", d.ModelID, d.ScopeKey, d.BucketEnd), err)
		}
	}
	return nil
}

// ScoreRollups returns the rollups of q (store.RollupQuery) ordered by
// model_id, scope_key, bucket_end: a range of the primary key per model.
func (s *Store) ScoreRollups(ctx context.Context, q store.RollupQuery) ([]store.ScoreRollup, error) {
	if err := s.checkSchema(ctx); err != nil {
		return nil, err
	}
	q, err := q.Normalize()
	if err != nil {
		return nil, fmt.Errorf("sqlite score rollups (%s): %w", s.path, err)
	}
	sqlText := `SELECT model_id, scope_key, bucket_end, scored, answered, total, last_id, last_performed_at, last_scope_jsonb, last_value
FROM score_rollups WHERE bucket_end >= ? AND bucket_end <= ?`
	args := []any{micros(q.From), micros(q.To)}
	if len(q.ModelIDs) > 0 {
		sqlText += ` AND model_id IN (SELECT value FROM json_each(?))`
		args = append(args, jsonArray(q.ModelIDs))
	}
	rows, err := s.query(ctx, sqlText+` ORDER BY model_id, scope_key, bucket_end`, args...)
	if err != nil {
		return nil, s.wrap("score rollups", err)
	}
	defer rows.Close()
	var out []store.ScoreRollup
	for rows.Next() {
		var r store.ScoreRollup
		var end, last int64
		var scope string
		var value sql.NullFloat64
		if err := rows.Scan(&r.ModelID, &r.ScopeKey, &end, &r.Scored, &r.Answered, &r.Sum, &r.LastID, &last, &scope, &value); err != nil {
			return nil, s.wrap("score rollups: scan", err)
		}
		r.BucketEnd, r.LastPerformedAt, r.LastScope = fromMicros(end), fromMicros(last), []byte(scope)
		if value.Valid {
			v := value.Float64
			r.LastValue = &v
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap("score rollups", err)
	}
	return out, nil
}

// RollupPoints returns the chart points of q (store.RollupPointQuery, the
// rule of store.RollupPointsOf) computed by SQLite in one statement: the
// window sums are RANGE window functions over the primary key order of
// score_rollups, the budget and cells are computed from the points, and
// only the kept points are returned.
func (s *Store) RollupPoints(ctx context.Context, q store.RollupPointQuery) ([]store.RollupPoint, error) {
	if err := s.checkSchema(ctx); err != nil {
		return nil, err
	}
	q, err := q.Normalize()
	if err != nil {
		return nil, fmt.Errorf("sqlite rollup points (%s): %w", s.path, err)
	}
	from, to := q.Range()
	w := store.RollupWidth.Microseconds()
	var sums, defs []string
	for i, win := range q.Windows {
		sums = append(sums, fmt.Sprintf(`SUM(answered) OVER w%d AS a%d, SUM(total) OVER w%d AS s%d`, i, i, i, i))
		defs = append(defs, fmt.Sprintf(`w%d AS (PARTITION BY model_id, scope_key ORDER BY bucket_end RANGE BETWEEN %d PRECEDING AND CURRENT ROW)`,
			i, (store.WindowBuckets(win)-1)*w))
	}
	filter := ``
	args := []any{micros(from), micros(to), micros(q.From), micros(q.To), q.MaxSeriesPoints, q.MaxPoints,
		int64(store.RollupBucketEnd(q.To).Sub(store.RollupBucketEnd(q.From))/store.RollupWidth) + 1, micros(store.RollupBucketEnd(q.To)), w}
	if len(q.ModelIDs) > 0 {
		filter = ` AND model_id IN (SELECT value FROM json_each(?10))`
		args = append(args, jsonArray(q.ModelIDs))
	}
	var outCols []string
	for i := range q.Windows {
		outCols = append(outCols, fmt.Sprintf("a%d, s%d", i, i))
	}
	sqlText := `WITH r AS (SELECT model_id, scope_key, bucket_end, scored, answered, total, last_id, last_performed_at, last_scope_jsonb, last_value,
    ` + strings.Join(sums, ", ") + `
  FROM score_rollups WHERE bucket_end >= ?1 AND bucket_end <= ?2` + filter + `
  WINDOW ` + strings.Join(defs, ", ") + `),
p AS (SELECT * FROM r WHERE last_performed_at >= ?3 AND last_performed_at <= ?4),
n AS (SELECT MAX(1, MIN(?5, ?6 / MAX(1, COUNT(*)))) AS per FROM (SELECT DISTINCT model_id, scope_key FROM p)),
k AS (SELECT p.*, n.per, ROW_NUMBER() OVER (PARTITION BY model_id, scope_key, (?8 - bucket_end) / ?9 / ((?7 + n.per - 1) / n.per) ORDER BY bucket_end DESC) AS rn FROM p, n)
SELECT model_id, scope_key, bucket_end, scored, answered, total, last_id, last_performed_at, last_scope_jsonb, last_value, per, ` + strings.Join(outCols, ", ") + `
FROM k WHERE rn = 1 ORDER BY last_performed_at, model_id, scope_key`
	rows, err := s.query(ctx, sqlText, args...)
	if err != nil {
		return nil, s.wrap("rollup points", err)
	}
	defer rows.Close()
	var out []store.RollupPoint
	for rows.Next() {
		var p store.RollupPoint
		var end, last int64
		var scope string
		var value sql.NullFloat64
		p.Answered, p.Sums = make([]int64, len(q.Windows)), make([]float64, len(q.Windows))
		dest := []any{&p.ModelID, &p.ScopeKey, &end, &p.Scored, &p.ScoreRollup.Answered, &p.Sum, &p.LastID, &last, &scope, &value, &p.PerSeries}
		for i := range q.Windows {
			dest = append(dest, &p.Answered[i], &p.Sums[i])
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, s.wrap("rollup points: scan", err)
		}
		p.BucketEnd, p.LastPerformedAt, p.LastScope = fromMicros(end), fromMicros(last), []byte(scope)
		if value.Valid {
			v := value.Float64
			p.LastValue = &v
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap("rollup points", err)
	}
	return out, nil
}
