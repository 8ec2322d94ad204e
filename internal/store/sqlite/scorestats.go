package sqlite

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/store"
)

// ModelScoreStats aggregates answered and non-answered predictions per
// model (store.ModelScoreStat) with resolvable_at in [from, to] (zero = no
// bound), ordered by model id. Models with neither are absent. Sum is the
// exact sum of the scores rounded once (store.ExactSum).
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
//
// The scan (modelScoreStatsQuery) classifies each prediction once, in
// index order, and the aggregation happens here: the distinct window
// starts cut the widest window into disjoint bands, each prediction adds
// to its model's band, and window i is the bands from the latest start to
// its own. Counts and minimums combine exactly, and so do the sums
// (store.ExactSum), so each window's stats are those of that window alone.
// SQLite evaluating four CASE aggregates per window on every row and
// sorting the rows by model (the query before) took twice as long
// (BenchmarkModelScoreStatsWindows).
func (s *Store) ModelScoreStatsWindows(ctx context.Context, froms []time.Time, to time.Time) ([][]store.ModelScoreStat, error) {
	if err := store.CheckStatsWindows(froms); err != nil {
		return nil, err
	}
	if err := s.checkSchema(ctx); err != nil {
		return nil, err
	}
	// starts are the windows' distinct starts in µs, latest first: band b
	// holds the rows in [starts[b], starts[b-1]) ([starts[0], to] for 0).
	starts := make([]int64, len(froms))
	for i, from := range froms {
		starts[i], _ = bounds(from, to)
	}
	slices.Sort(starts)
	starts = slices.Compact(starts)
	slices.Reverse(starts)
	_, hi := bounds(time.Time{}, to)

	type band struct {
		count, nonAnswers int
		low               float64
		sum               store.ExactSum
	}
	bands := map[string][]band{}
	var (
		lastModel string
		last      []band // lastModel's bands
	)
	q, args := modelScoreStatsQuery(starts, hi)
	err := s.rawRows(ctx, q, args, 3, func(row []driver.Value) error {
		model, ok1 := row[0].(string)
		code, ok2 := row[1].(int64)
		if !ok1 || !ok2 {
			return fmt.Errorf("expected a model id and a class, found %T and %T", row[0], row[1])
		}
		class := code % classes
		if class == notCounted {
			return nil
		}
		if last == nil || model != lastModel {
			last = bands[model]
			if last == nil {
				last = make([]band, len(starts))
				bands[model] = last
			}
			lastModel = model
		}
		bd := &last[code/classes]
		if class == nonAnswer {
			bd.nonAnswers++
			return nil
		}
		var v float64
		switch x := row[2].(type) {
		case float64:
			v = x
		case int64: // an integral REAL, should SQLite hand it as stored
			v = float64(x)
		default:
			return fmt.Errorf("model %q, answered prediction: expected a score value, found %T", model, row[2])
		}
		if bd.count == 0 || v < bd.low {
			bd.low = v
		}
		bd.count++
		bd.sum.Add(v)
		return nil
	})
	if err != nil {
		return nil, s.wrap("model score stats", err)
	}

	ids := make([]string, 0, len(bands))
	for id := range bands {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	out := make([][]store.ModelScoreStat, len(froms))
	for _, id := range ids {
		// cum[b] is bands 0..b together.
		cum := make([]store.ModelScoreStat, len(starts))
		var c band
		for b, bd := range bands[id] {
			if bd.count > 0 && (c.count == 0 || bd.low < c.low) {
				c.low = bd.low
			}
			c.count += bd.count
			c.nonAnswers += bd.nonAnswers
			c.sum.AddSum(&bd.sum)
			cum[b] = store.NewModelScoreStat(id, c.count, c.sum.Float64(), c.low, c.nonAnswers)
		}
		for i, from := range froms {
			lo, _ := bounds(from, to)
			st := cum[slices.Index(starts, lo)]
			if st.Count == 0 && st.NonAnswers == 0 {
				continue
			}
			out[i] = append(out[i], st)
		}
	}
	return out, nil
}

// How modelScoreStatsQuery classifies a prediction (store.ModelScoreStat):
// answered (with its score), a non-answer, or in neither (not yet scored,
// UNRESOLVED).
const (
	notCounted = iota
	answered
	nonAnswer
	classes // how many
)

// modelScoreStatsQuery is ModelScoreStatsWindows' query and its arguments:
// it reads the predictions with resolvable_at in [starts[len-1], hi]
// (starts: distinct, latest first) from the covering index
// idx_predictions_window_stats (migration 00003), in its order, as
// (model_id, code, score_value): code is band × classes + class, band the
// index in starts of the latest start at or before the prediction's
// resolvable_at and class answered, nonAnswer or notCounted by
// store.ModelScoreStat's conditions (score_value is read for answered
// predictions only). Every expression is evaluated once per row, and
// nothing is sorted.
func modelScoreStatsQuery(starts []int64, hi int64) (string, []any) {
	args := []any{starts[len(starts)-1], hi}
	band := "0"
	if len(starts) > 1 {
		var b strings.Builder
		b.WriteString("CASE")
		for i, start := range starts[:len(starts)-1] {
			args = append(args, start)
			fmt.Fprintf(&b, " WHEN resolvable_at >= ?%d THEN %d", len(args), i*classes)
		}
		fmt.Fprintf(&b, " ELSE %d END", (len(starts)-1)*classes)
		band = b.String()
	}
	return fmt.Sprintf(`SELECT model_id, %[1]s +
 CASE WHEN status = 'SUCCESS' THEN
   CASE WHEN score_success = 1 AND score_value IS NOT NULL THEN %[2]d WHEN score_scored_at IS NOT NULL THEN %[3]d ELSE %[4]d END
 WHEN status IN %[5]s THEN %[3]d ELSE %[4]d END,
 score_value
FROM predictions WHERE resolvable_at >= ?1 AND resolvable_at <= ?2`, band, answered, nonAnswer, notCounted, nonAnswerStatuses), args
}

// rawRows runs the query q on a reader connection and calls each with
// every row's n column values as the driver gives them (int64, float64,
// string, []byte or nil; valid until each returns). It goes around
// database/sql's per-row locking and conversions (Rows.Next, Rows.Scan):
// for a read of tens of thousands of small rows, such as
// ModelScoreStatsWindows', they cost as much as SQLite's own work. The
// statement is prepared for this call (no statement cache).
func (s *Store) rawRows(ctx context.Context, q string, args []any, n int, each func(row []driver.Value) error) error {
	conn, err := s.r.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	named := make([]driver.NamedValue, len(args))
	for i, a := range args {
		named[i] = driver.NamedValue{Ordinal: i + 1, Value: a}
	}
	return conn.Raw(func(dc any) error {
		qc, ok := dc.(driver.QueryerContext)
		if !ok {
			return fmt.Errorf("sqlite driver connection %T: expected a driver.QueryerContext", dc)
		}
		rows, err := qc.QueryContext(ctx, q, named)
		if err != nil {
			return err
		}
		defer rows.Close()
		if got := len(rows.Columns()); got != n {
			return fmt.Errorf("query %q: expected %d columns, found %d", q, n, got)
		}
		row := make([]driver.Value, n)
		for {
			if err := rows.Next(row); err != nil {
				if errors.Is(err, io.EOF) {
					return nil
				}
				return err
			}
			if err := each(row); err != nil {
				return err
			}
		}
	})
}
