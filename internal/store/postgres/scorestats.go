package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/store"
)

// ModelScoreStats aggregates, per model, the answered and non-answered
// predictions (store.ModelScoreStat) with resolvable_at in [from, to] (zero
// = unbounded), ordered by model id. Models with neither are absent.
func (s *Store) ModelScoreStats(ctx context.Context, from, to time.Time) ([]store.ModelScoreStat, error) {
	w, err := s.ModelScoreStatsWindows(ctx, []time.Time{from}, to)
	if err != nil {
		return nil, err
	}
	return w[0], nil
}

// ModelScoreStatsWindows is ModelScoreStats for several windows sharing
// their end: element i of the result is ModelScoreStats(froms[i], to),
// computed by one scan of the widest window (store.Store). At most
// store.MaxStatsWindows windows, else store.ErrInvalidValue.
func (s *Store) ModelScoreStatsWindows(ctx context.Context, froms []time.Time, to time.Time) ([][]store.ModelScoreStat, error) {
	if err := store.CheckStatsWindows(froms); err != nil {
		return nil, err
	}
	if err := s.ready(ctx); err != nil {
		return nil, err
	}
	sql, args := modelScoreStatsQuery(froms, to)
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, s.wrap("model score stats", err)
	}
	defer rows.Close()
	out := make([][]store.ModelScoreStat, len(froms))
	dest := make([]any, 1+4*len(froms))
	cols := make([]struct {
		count, nonAnswers int64
		sum               float64
		low               *float64
	}, len(froms))
	var model string
	dest[0] = &model
	for i := range cols {
		dest[1+4*i], dest[2+4*i], dest[3+4*i], dest[4+4*i] = &cols[i].count, &cols[i].sum, &cols[i].low, &cols[i].nonAnswers
	}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return nil, s.wrap("model score stats: scan", err)
		}
		for i, c := range cols {
			if c.count == 0 && c.nonAnswers == 0 {
				continue
			}
			var low float64
			if c.low != nil {
				low = *c.low
			}
			out[i] = append(out[i], store.NewModelScoreStat(model, int(c.count), c.sum, low, int(c.nonAnswers)))
		}
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap("model score stats", err)
	}
	return out, nil
}

// modelScoreStatsQuery is ModelScoreStatsWindows' query and its
// arguments: one scan of the widest window with four aggregates per window
// (answered count, sum, min, non-answers) that each FILTER the rows from
// that window's start (a zero start = unbounded).
func modelScoreStatsQuery(froms []time.Time, to time.Time) (string, []any) {
	// Only counted predictions add to the aggregates (an unscored SUCCESS
	// one is in no FILTER below); the window's rows are read through
	// ix_predictions_resolvable_at with their scores (scoresJoin), and
	// filtered by countedPredicate.
	b := query{where: []string{countedPredicate}}
	widest := froms[0]
	for _, from := range froms {
		if from.IsZero() || (!widest.IsZero() && from.Before(widest)) {
			widest = from
		}
	}
	if !widest.IsZero() {
		b.add("resolvable_at >= ?", widest.UTC())
	}
	if !to.IsZero() {
		b.add("resolvable_at <= ?", to.UTC())
	}
	// The answered and non-answer conditions are store.ModelScoreStat's.
	// The sum is taken in numeric, exactly: a float8 sum depends on the
	// order PostgreSQL adds the rows in (which differs from model to model,
	// and from one window to another), so two models with identical scores
	// could get means differing in the last bit and not share their rank
	// (issue 13: ties share).
	var cols strings.Builder
	for _, from := range froms {
		in := ""
		if !from.IsZero() {
			in = "resolvable_at >= " + b.arg(from.UTC()) + " AND "
		}
		fmt.Fprintf(&cols, `,
 count(*) FILTER (WHERE %[1]sstatus = 'SUCCESS' AND ps.success AND ps.value IS NOT NULL),
 coalesce(sum(ps.value::numeric) FILTER (WHERE %[1]sstatus = 'SUCCESS' AND ps.success), 0)::float8,
 min(ps.value) FILTER (WHERE %[1]sstatus = 'SUCCESS' AND ps.success),
 count(*) FILTER (WHERE %[1]s(status IN %[2]s
   OR (status = 'SUCCESS' AND ps.scored_at IS NOT NULL AND (ps.success IS NOT TRUE OR ps.value IS NULL))))`, in, nonAnswerStatuses)
	}
	return `SELECT model_id` + cols.String() + `
FROM predictions` + scoresJoin + b.clause() + ` GROUP BY model_id ORDER BY model_id`, b.args
}
