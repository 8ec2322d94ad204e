package report

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/store"
)

// modelsParams serves GET /reports/models/params: rolling score means per
// model and scope_key (a series), read from the score rollups
// (store.ScoreRollup: per series and hour bucket (e - 1 h, e], written
// with the scores), never from the scored predictions one by one.
//
// A point is one rollup bucket of a series whose newest scored prediction
// was performed in [start, end]: the row of that prediction. Its window
// keys (Options.Windows, by default score_recent / score_steady /
// score_anchor over 24 h / 72 h / 7 days) are the mean of the successful
// non-null score values of the series with performed_at in (e - window, e]
// (whole buckets: a window that is not a whole number of hours is
// rounded up to one), e being the end of the point's bucket, and only
// predictions performed at or before end count (null when none). For the
// usual predictions on whole minutes the newest prediction of a bucket is
// performed at e, so a point equals the row the previous per-prediction
// endpoint gave that prediction.
//
// Point budget: the answer has at most Options.MaxChartPoints rows, each
// series at most min(MaxSeriesPoints, max(1, MaxChartPoints / series))
// (X-Point-Budget); a series with more points is cut, from its newest
// bucket back, into cells of equal whole hours, each keeping its newest
// point, so the newest point is always there (X-Downsampled-From gives the
// number of points before). Row: model_id, model_name, cruncher_name,
// scope_key, param (= scope_key, the UI's default groupByProperty), scope,
// the scope's keys flattened (asset, horizon, step, ... and subject =
// asset), performed_at, score_value (that prediction's score or null),
// score_metrics (window name without "score_" -> mean), the window keys,
// and count (successful scores in the longest window). Ordered by
// performed_at, then model_id and scope_key.
func (s *server) modelsParams(w http.ResponseWriter, r *http.Request) error {
	var p params
	cq := s.chartQuery(r, &p)
	if err := p.err(); err != nil {
		return err
	}
	idx, err := s.modelIndex(r.Context())
	if err != nil {
		return err
	}
	var longest time.Duration
	for _, win := range s.opts.Windows {
		longest = max(longest, win.Length)
	}
	ctx, cancel := s.ctx(r)
	defer cancel()
	last := store.RollupBucketEnd(cq.end)
	rollups, err := s.opts.Store.ScoreRollups(ctx, store.RollupQuery{ModelIDs: cq.ids, From: store.RollupBucketEnd(cq.start).Add(-longest), To: last})
	if err != nil {
		return fmt.Errorf("reading score rollups from %s to %s: %w", cq.start.Format(TimeLayout), cq.end.Format(TimeLayout), err)
	}
	series, err := s.paramSeries(ctx, rollups, cq)
	if err != nil {
		return err
	}
	withPoints := 0
	for _, sr := range series {
		if len(sr.points) > 0 {
			withPoints++
		}
	}
	budget := s.seriesBudget(withPoints)
	var rows []seriesRow
	total := 0
	for _, sr := range series {
		total += len(sr.points)
		for _, i := range thinBuckets(sr.buckets, sr.points, budget) {
			rows = append(rows, s.paramRow(sr, i, idx))
		}
	}
	slices.SortStableFunc(rows, func(a, b seriesRow) int {
		return cmp.Or(a.at.Compare(b.at), cmp.Compare(a.series, b.series))
	})
	w.Header().Set("X-Point-Budget", strconv.Itoa(budget))
	if len(rows) < total {
		w.Header().Set("X-Downsampled-From", strconv.Itoa(total))
	}
	out := make([]map[string]any, len(rows))
	for i, r := range rows {
		out[i] = r.row
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// seriesBudget is the point budget of one series of a chart answer with
// n series: min(MaxSeriesPoints, max(1, MaxChartPoints / n)).
func (s *server) seriesBudget(n int) int {
	return min(s.opts.MaxSeriesPoints, max(1, s.opts.MaxChartPoints/max(n, 1)))
}

// paramSeries is one series of /reports/models/params: its rollup buckets
// in time order, running sums over them, and the indexes of the buckets
// that are points (newest prediction in [start, end]).
type paramSeries struct {
	key               string
	buckets           []store.ScoreRollup
	answered          []int64   // answered[i] = answered of buckets[:i]
	sums              []float64 // sums[i] = sum of buckets[:i]
	points            []int
	modelID, scopeKey string
}

// paramSeries groups rollups (ordered by model, scope_key, bucket end)
// into series. A bucket ending after end that holds predictions performed
// after end is replaced by the rollup of its predictions up to end, read
// from the scored predictions themselves (only the bucket holding end can
// be such a bucket, so this reads at most one hour per series).
func (s *server) paramSeries(ctx context.Context, rollups []store.ScoreRollup, cq chartQuery) ([]*paramSeries, error) {
	var out []*paramSeries
	var partial []string // models with a bucket holding predictions after end
	for _, ru := range rollups {
		k := ru.ModelID + "\x00" + ru.ScopeKey
		if len(out) == 0 || out[len(out)-1].key != k {
			out = append(out, &paramSeries{key: k, modelID: ru.ModelID, scopeKey: ru.ScopeKey})
		}
		if ru.LastPerformedAt.After(cq.end) {
			if len(partial) == 0 || partial[len(partial)-1] != ru.ModelID {
				partial = append(partial, ru.ModelID)
			}
			continue // replaced below
		}
		sr := out[len(out)-1]
		sr.buckets = append(sr.buckets, ru)
	}
	if len(partial) > 0 {
		bucketStart := store.RollupBucketEnd(cq.end).Add(-store.RollupWidth).Add(time.Microsecond)
		preds, _, err := s.scanPredictions(ctx, store.PredictionQuery{ModelIDs: partial, From: bucketStart, To: cq.end, ScoredOnly: true, WithoutInput: true})
		if err != nil {
			return nil, err
		}
		byKey := map[string]*paramSeries{}
		for _, sr := range out {
			byKey[sr.key] = sr
		}
		for _, ru := range store.RollupsOf(preds) {
			if sr := byKey[ru.ModelID+"\x00"+ru.ScopeKey]; sr != nil {
				sr.buckets = append(sr.buckets, ru) // the newest bucket: order kept
			}
		}
	}
	for _, sr := range out {
		sr.answered = make([]int64, len(sr.buckets)+1)
		sr.sums = make([]float64, len(sr.buckets)+1)
		for i, b := range sr.buckets {
			sr.answered[i+1] = sr.answered[i] + b.Answered
			sr.sums[i+1] = sr.sums[i] + b.Sum
			if !b.LastPerformedAt.Before(cq.start) && !b.LastPerformedAt.After(cq.end) {
				sr.points = append(sr.points, i)
			}
		}
	}
	return out, nil
}

// thinBuckets keeps at most budget of points (indexes into buckets, in
// time order): from the newest bucket back, cells of c whole rollup
// buckets (c the smallest that gives at most budget cells), the newest
// point of each cell.
func thinBuckets(buckets []store.ScoreRollup, points []int, budget int) []int {
	if len(points) <= budget {
		return points
	}
	newest := buckets[points[len(points)-1]].BucketEnd
	span := int64(newest.Sub(buckets[points[0]].BucketEnd)/store.RollupWidth) + 1
	c := (span + int64(budget) - 1) / int64(budget)
	out := make([]int, 0, budget)
	lastCell := int64(-1)
	for j := len(points) - 1; j >= 0; j-- {
		cell := int64(newest.Sub(buckets[points[j]].BucketEnd)/store.RollupWidth) / c
		if cell != lastCell {
			out = append(out, points[j])
			lastCell = cell
		}
	}
	slices.Reverse(out)
	return out
}

// paramRow is the row of point i of sr.
func (s *server) paramRow(sr *paramSeries, i int, idx map[string]modelInfo) seriesRow {
	b := sr.buckets[i]
	info := idx[sr.modelID]
	scope := scopeObject(b.LastScope)
	metrics := map[string]any{}
	row := map[string]any{
		"model_id":      sr.modelID,
		"model_name":    info.name,
		"cruncher_name": info.cruncher,
		"scope_key":     sr.scopeKey,
		"param":         sr.scopeKey,
		"scope":         scope,
		"performed_at":  ts(b.LastPerformedAt),
		"score_value":   nil,
		"score_metrics": metrics,
		"count":         0,
	}
	if b.LastValue != nil {
		row["score_value"] = *b.LastValue
	}
	var longest time.Duration
	for _, win := range s.opts.Windows {
		longest = max(longest, win.Length)
	}
	for _, win := range s.opts.Windows {
		// First bucket of the window: the first whose end is after e - window.
		lo := b.BucketEnd.Add(-win.Length)
		j := sort.Search(i+1, func(k int) bool { return sr.buckets[k].BucketEnd.After(lo) })
		n, sum := sr.answered[i+1]-sr.answered[j], sr.sums[i+1]-sr.sums[j]
		var mean any
		if n > 0 {
			mean = sum / float64(n)
		}
		metrics[strings.TrimPrefix(win.Name, "score_")] = mean
		if _, taken := row[win.Name]; !taken {
			row[win.Name] = mean
		}
		if win.Length == longest {
			row["count"] = int(n)
		}
	}
	flattenScope(row, scope)
	return seriesRow{series: sr.key, at: b.LastPerformedAt, row: row}
}
