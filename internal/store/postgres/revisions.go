package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/crunch-coordinator/coordinator/internal/store"
)

// bumpChartRevisions increments the chart revisions revs (one per series
// and day, in store.CompareChartRevisions order, which is also the order
// the rows are locked in, so concurrent writers cannot deadlock on them)
// in the writing transaction tx, in one statement.
func bumpChartRevisions(ctx context.Context, tx pgx.Tx, revs []store.ChartRevision) error {
	if len(revs) == 0 {
		return nil
	}
	if _, err := tx.Exec(ctx, bumpChartRevisionsSQL, chartRevisionArgs(revs)...); err != nil {
		return fmt.Errorf("bump %d chart revisions: %w", len(revs), err)
	}
	return nil
}

// bumpChartRevisionsSQL increments the chart revisions of the arrays
// chartRevisionArgs returns, in their order (an empty batch is a no-op).
const bumpChartRevisionsSQL = `INSERT INTO chart_revisions AS r (kind, model_id, scope_key, day_end, rev)
SELECT u.k, u.m, u.s, u.d, 1 FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[]) WITH ORDINALITY AS u(k, m, s, d, n) ORDER BY u.n
ON CONFLICT (kind, model_id, scope_key, day_end) DO UPDATE SET rev = r.rev + 1`

// chartRevisionArgs are the arguments of bumpChartRevisionsSQL.
func chartRevisionArgs(revs []store.ChartRevision) []any {
	kinds, models, scopes, days := make([]string, len(revs)), make([]string, len(revs)), make([]string, len(revs)), make([]time.Time, len(revs))
	for i, r := range revs {
		kinds[i], models[i], scopes[i], days[i] = r.Kind, r.ModelID, r.ScopeKey, r.DayEnd
	}
	return []any{kinds, models, scopes, days}
}

// ChartRevisions returns the chart revisions of q (store.ChartRevisionQuery)
// ordered by kind, model_id, scope_key (byte order), day_end.
func (s *Store) ChartRevisions(ctx context.Context, q store.ChartRevisionQuery) ([]store.ChartRevision, error) {
	q, err := q.Normalize()
	if err != nil {
		return nil, fmt.Errorf("postgres store chart revisions: %w", err)
	}
	if err := s.ready(ctx); err != nil {
		return nil, err
	}
	var f query
	f.add("kind = ?", q.Kind)
	f.add("day_end >= ?", q.From)
	f.add("day_end <= ?", q.To)
	if len(q.ModelIDs) > 0 {
		f.add("model_id = ANY(?::text[])", q.ModelIDs)
	}
	rows, err := s.pool.Query(ctx, `SELECT model_id, scope_key, day_end, rev FROM chart_revisions`+f.clause()+`
ORDER BY model_id COLLATE "C", scope_key COLLATE "C", day_end`, f.args...)
	if err != nil {
		return nil, s.wrap("chart revisions", err)
	}
	var out []store.ChartRevision
	r := store.ChartRevision{Kind: q.Kind}
	_, err = pgx.ForEachRow(rows, []any{&r.ModelID, &r.ScopeKey, &r.DayEnd, &r.Rev}, func() error {
		r.DayEnd = utc(r.DayEnd)
		out = append(out, r)
		return nil
	})
	if err != nil {
		return nil, s.wrap("chart revisions", err)
	}
	return out, nil
}
