package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

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

// rollupSeries is the SQL of the series (model_id, scope_key) of
// score_rollups of the models in the JSON array bound to it (every model
// when it is empty), ordered by model_id then scope_key, each found by one
// seek in the primary key.
const rollupSeries = `WITH RECURSIVE
every(m) AS (SELECT (SELECT model_id FROM score_rollups ORDER BY model_id LIMIT 1) WHERE json_array_length(?1) = 0
    UNION ALL SELECT (SELECT model_id FROM score_rollups WHERE model_id > every.m ORDER BY model_id LIMIT 1) FROM every WHERE every.m IS NOT NULL),
ids(m) AS (SELECT value FROM json_each(?1) WHERE json_array_length(?1) > 0 UNION SELECT m FROM every WHERE m IS NOT NULL),
s(m, k) AS (SELECT m, (SELECT scope_key FROM score_rollups WHERE model_id = ids.m ORDER BY scope_key LIMIT 1) FROM ids
    UNION ALL SELECT m, (SELECT scope_key FROM score_rollups WHERE model_id = s.m AND scope_key > s.k ORDER BY scope_key LIMIT 1) FROM s WHERE s.k IS NOT NULL)
SELECT m, k FROM s WHERE k IS NOT NULL ORDER BY m, k`

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

// RollupPoints returns the chart points of q (store.RollupPointQuery), in
// one read transaction: the series with rollups in q.Range() are listed,
// the counts and sums of each series' rollups are read by a range of the
// primary key (numbers only), the points are chosen and summed by
// store.RollupPointsOf, and the newest prediction of each kept point (id,
// scope, value) is then read by primary key.
// (SQLite's RANGE window frames were measured 4x slower than this on a
// month of rollups.)
func (s *Store) RollupPoints(ctx context.Context, q store.RollupPointQuery) ([]store.RollupPoint, error) {
	if err := s.checkSchema(ctx); err != nil {
		return nil, err
	}
	q, err := q.Normalize()
	if err != nil {
		return nil, fmt.Errorf("sqlite rollup points (%s): %w", s.path, err)
	}
	from, to := q.Range()
	// One read transaction: the series and their rollups are one snapshot.
	tx, err := s.r.BeginTx(ctx, nil)
	if err != nil {
		return nil, s.wrap("rollup points: begin", err)
	}
	defer func() { _ = tx.Rollback() }()
	txQuery := func(sqlText string, args ...any) (*sql.Rows, error) {
		if st, _ := s.rstmts.get(ctx, sqlText); st != nil {
			return tx.StmtContext(ctx, st).QueryContext(ctx, args...)
		}
		return tx.QueryContext(ctx, sqlText, args...)
	}
	// The series first (by skipping through the primary key), then each
	// series' rollups by a range of the primary key: a rollup row then
	// holds numbers only (reading the two text columns of every one of
	// ~13,000 rows of a month was most of the cost on modernc.org/sqlite).
	// A series without rollups in the range reads no row.
	rows, err := txQuery(rollupSeries, jsonArray(q.ModelIDs))
	if err != nil {
		return nil, s.wrap("rollup points: series", err)
	}
	var series [][2]string
	for rows.Next() {
		var m, k string
		if err := rows.Scan(&m, &k); err != nil {
			rows.Close()
			return nil, s.wrap("rollup points: series", err)
		}
		series = append(series, [2]string{m, k})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, s.wrap("rollup points: series", err)
	}
	hours := int(to.Sub(from)/store.RollupWidth) + 1
	all := make([]store.ScoreRollup, 0, min(len(series)*hours, 1<<15))
	for _, sr := range series {
		rows, err := txQuery(`SELECT bucket_end, answered, total, last_performed_at FROM score_rollups
WHERE model_id = ? AND scope_key = ? AND bucket_end >= ? AND bucket_end <= ? ORDER BY bucket_end`, sr[0], sr[1], micros(from), micros(to))
		if err != nil {
			return nil, s.wrap("rollup points", err)
		}
		for rows.Next() {
			var end, last int64
			r := store.ScoreRollup{ModelID: sr[0], ScopeKey: sr[1]}
			if err := rows.Scan(&end, &r.Answered, &r.Sum, &last); err != nil {
				rows.Close()
				return nil, s.wrap("rollup points: scan", err)
			}
			r.BucketEnd, r.LastPerformedAt = fromMicros(end), fromMicros(last)
			all = append(all, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, s.wrap("rollup points", err)
		}
	}
	points := store.RollupPointsOf(all, q)
	if len(points) == 0 {
		return nil, nil
	}
	keys := make([][3]any, len(points))
	at := make(map[[3]any]int, len(points))
	for i, p := range points {
		keys[i] = [3]any{p.ModelID, p.ScopeKey, micros(p.BucketEnd)}
		at[keys[i]] = i
	}
	keysJSON, err := json.Marshal(keys)
	if err != nil {
		return nil, fmt.Errorf("sqlite rollup points (%s): encode keys: %w", s.path, err)
	}
	rows, err = txQuery(`SELECT r.model_id, r.scope_key, r.bucket_end, r.scored, r.last_id, r.last_scope_jsonb, r.last_value
FROM json_each(?) AS j JOIN score_rollups AS r ON r.model_id = j.value ->> 0 AND r.scope_key = j.value ->> 1 AND r.bucket_end = j.value ->> 2`, string(keysJSON))
	if err != nil {
		return nil, s.wrap("rollup points: newest predictions", err)
	}
	defer rows.Close()
	for rows.Next() {
		var m, k, id, sc string
		var end int64
		var scored int64
		var value sql.NullFloat64
		if err := rows.Scan(&m, &k, &end, &scored, &id, &sc, &value); err != nil {
			return nil, s.wrap("rollup points: newest predictions", err)
		}
		i, ok := at[[3]any{m, k, end}]
		if !ok {
			continue
		}
		p := &points[i]
		p.Scored, p.LastID, p.LastScope = scored, id, json.RawMessage(sc)
		if value.Valid {
			v := value.Float64
			p.LastValue = &v
		}
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap("rollup points: newest predictions", err)
	}
	return points, nil
}
