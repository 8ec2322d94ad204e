package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/crunch-coordinator/coordinator/internal/store"
)

// bumpChartRevisions increments the chart revisions revs (one per series
// and day, store.ChartDaysOfPredictions or ChartDaysOfModelScores) in the
// writing transaction tx.
func (s *Store) bumpChartRevisions(ctx context.Context, tx *sql.Tx, revs []store.ChartRevision) error {
	if len(revs) == 0 {
		return nil
	}
	_, err := s.execRows(ctx, tx, bumpRevisions, len(revs), func(i int, dst []any) []any {
		r := &revs[i]
		return append(dst, r.Kind, r.ModelID, r.ScopeKey, micros(r.DayEnd))
	}, func(i int, err error) error {
		r := revs[i]
		return s.wrap(fmt.Sprintf("chart revisions: bump %s %s/%s at %s", r.Kind, r.ModelID, r.ScopeKey, r.DayEnd), err)
	})
	return err
}

// bumpRevisions increments chart revisions (a new one starts at 1), a
// chunk of rows per statement (execRows). The revisions of one call are
// distinct, so no row is bumped twice by one statement.
var bumpRevisions = newRowsStmt(`INSERT INTO chart_revisions (kind, model_id, scope_key, day_end, rev)`,
	`(?, ?, ?, ?, 1)`, `ON CONFLICT (kind, model_id, scope_key, day_end) DO UPDATE SET rev = rev + 1`, 4, maxBatchRows)

// ChartRevisions returns the chart revisions of q (store.ChartRevisionQuery)
// ordered by kind, model_id, scope_key, day_end: a range of the primary
// key per model.
func (s *Store) ChartRevisions(ctx context.Context, q store.ChartRevisionQuery) ([]store.ChartRevision, error) {
	if err := s.checkSchema(ctx); err != nil {
		return nil, err
	}
	q, err := q.Normalize()
	if err != nil {
		return nil, fmt.Errorf("sqlite chart revisions (%s): %w", s.path, err)
	}
	sqlText := `SELECT model_id, scope_key, day_end, rev FROM chart_revisions WHERE kind = ?1 AND day_end >= ?2 AND day_end <= ?3`
	args := []any{q.Kind, micros(q.From), micros(q.To)}
	if len(q.ModelIDs) > 0 {
		sqlText += ` AND model_id IN (SELECT value FROM json_each(?4))`
		args = append(args, jsonArray(q.ModelIDs))
	}
	rows, err := s.query(ctx, sqlText+` ORDER BY model_id, scope_key, day_end`, args...)
	if err != nil {
		return nil, s.wrap("chart revisions", err)
	}
	defer rows.Close()
	var out []store.ChartRevision
	for rows.Next() {
		r := store.ChartRevision{Kind: q.Kind}
		var end int64
		if err := rows.Scan(&r.ModelID, &r.ScopeKey, &end, &r.Rev); err != nil {
			return nil, s.wrap("chart revisions: scan", err)
		}
		r.DayEnd = fromMicros(end)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap("chart revisions", err)
	}
	return out, nil
}
