package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/store"
)

// ModelScoreStats aggregates answered and non-answered predictions per
// model (store.ModelScoreStat) with resolvable_at in [from, to] (zero = no
// bound), ordered by model id. Models with neither are absent.
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
	if err := s.checkSchema(ctx); err != nil {
		return nil, err
	}
	q, args := modelScoreStatsQuery(froms, to)
	rows, err := s.query(ctx, q, args...)
	if err != nil {
		return nil, s.wrap("model score stats", err)
	}
	defer rows.Close()
	out := make([][]store.ModelScoreStat, len(froms))
	dest := make([]any, 1+4*len(froms))
	cols := make([]struct {
		count, nonAnswers int
		sum               float64
		low               sql.NullFloat64
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
			out[i] = append(out[i], store.NewModelScoreStat(model, c.count, c.sum, c.low.Float64, c.nonAnswers))
		}
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap("model score stats", err)
	}
	return out, nil
}

// modelScoreStatsQuery is ModelScoreStatsWindows' query and its
// arguments: one scan of the covering index idx_predictions_window_stats
// (migration 00003) over the widest window, with four aggregates per
// window (answered count, sum, min, non-answers) that each take only the
// rows from that window's start. The answered and non-answer conditions
// are store.ModelScoreStat's.
func modelScoreStatsQuery(froms []time.Time, to time.Time) (string, []any) {
	_, hi := bounds(time.Time{}, to)
	widest := int64(1<<63 - 1)
	args := make([]any, 0, len(froms)+2)
	var b strings.Builder
	b.WriteString("SELECT model_id")
	for i, from := range froms {
		lo, _ := bounds(from, to)
		widest = min(widest, lo)
		args = append(args, lo)
		in := fmt.Sprintf("resolvable_at >= ?%d AND ", i+1)
		fmt.Fprintf(&b, `,
 SUM(CASE WHEN %[1]sstatus = 'SUCCESS' AND score_success = 1 AND score_value IS NOT NULL THEN 1 ELSE 0 END),
 TOTAL(CASE WHEN %[1]sstatus = 'SUCCESS' AND score_success = 1 THEN score_value END),
 MIN(CASE WHEN %[1]sstatus = 'SUCCESS' AND score_success = 1 THEN score_value END),
 SUM(CASE WHEN %[1]s(status IN %[2]s
      OR (status = 'SUCCESS' AND score_scored_at IS NOT NULL AND (score_success IS NOT 1 OR score_value IS NULL))) THEN 1 ELSE 0 END)`, in, nonAnswerStatuses)
	}
	args = append(args, widest, hi)
	fmt.Fprintf(&b, "\nFROM predictions WHERE resolvable_at >= ?%d AND resolvable_at <= ?%d\nGROUP BY model_id ORDER BY model_id", len(froms)+1, len(froms)+2)
	return b.String(), args
}
