package store

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// RollupWidth is the width of one score rollup bucket (table score_rollups,
// migration 00009).
const RollupWidth = time.Hour

// RollupBucketEnd returns the end of the rollup bucket holding a
// prediction performed at t: buckets are (end - RollupWidth, end] with end
// a whole multiple of RollupWidth since the Unix epoch (UTC, microsecond
// precision). The bucket is closed on the right so that a rolling window
// (e - W, e] ending at a bucket end e, with W a whole number of buckets,
// is exactly a run of whole buckets.
func RollupBucketEnd(t time.Time) time.Time {
	w := RollupWidth.Microseconds()
	us := t.UnixMicro()
	q := us / w
	if us%w > 0 {
		q++
	}
	return time.UnixMicro(q * w).UTC()
}

// ScoreRollup summarises the scored predictions of one series (model_id,
// scope_key) whose performed_at lies in one rollup bucket (RollupBucketEnd
// = BucketEnd). A prediction counts once it has a score (Prediction.Score
// set, whatever its outcome):
//   - Scored counts them;
//   - Answered counts those scored successfully with a value
//     (Score.Success and Score.Value set) and Sum adds their values: the
//     values a rolling mean of /reports/models/params averages;
//   - LastID, LastPerformedAt, LastScope and LastValue describe the
//     newest of them (largest performed_at, then largest id): LastValue is
//     its value when it is answered, else nil.
//
// The rollups are written by the drivers in the transaction that scores
// the predictions (SavePredictCycle for predictions stored with a score,
// ClaimAndScore), from the deltas RollupsOf computes, merged as Add does.
type ScoreRollup struct {
	ModelID         string
	ScopeKey        string
	BucketEnd       time.Time
	Scored          int64
	Answered        int64
	Sum             float64
	LastID          string
	LastPerformedAt time.Time
	LastScope       json.RawMessage
	LastValue       *float64
}

// Newer reports whether the newest prediction of o is newer than that of
// r: larger LastPerformedAt, then larger LastID (byte order).
func (r ScoreRollup) Newer(o ScoreRollup) bool {
	if c := o.LastPerformedAt.Compare(r.LastPerformedAt); c != 0 {
		return c > 0
	}
	return o.LastID > r.LastID
}

// Add merges o (same series and bucket) into r: counts and sums add up,
// the newest prediction of the two is kept (Newer). It is the rule every
// driver's upsert translates.
func (r ScoreRollup) Add(o ScoreRollup) ScoreRollup {
	r.Scored += o.Scored
	r.Answered += o.Answered
	r.Sum += o.Sum
	if r.Newer(o) {
		r.LastID, r.LastPerformedAt, r.LastScope, r.LastValue = o.LastID, o.LastPerformedAt, o.LastScope, o.LastValue
	}
	return r
}

// RollupsOf returns the rollup deltas of predictions that have just been
// scored (those with Score nil are skipped), one per series and bucket,
// ordered by model_id, scope_key, bucket end. A driver passes exactly the
// predictions its transaction scored (new rows stored with a score, score
// updates applied), never one already counted.
func RollupsOf(preds []Prediction) []ScoreRollup {
	type key struct {
		model, scope string
		end          int64
	}
	idx := map[key]int{}
	var out []ScoreRollup
	for i := range preds {
		p := &preds[i]
		if p.Score == nil {
			continue
		}
		end := RollupBucketEnd(p.PerformedAt)
		d := ScoreRollup{ModelID: p.ModelID, ScopeKey: p.ScopeKey, BucketEnd: end, Scored: 1,
			LastID: p.ID, LastPerformedAt: p.PerformedAt.UTC(), LastScope: p.Scope}
		if len(d.LastScope) == 0 {
			d.LastScope = json.RawMessage(`{}`)
		}
		if p.Score.Success && p.Score.Value != nil {
			v := *p.Score.Value
			d.Answered, d.Sum, d.LastValue = 1, v, &v
		}
		k := key{p.ModelID, p.ScopeKey, end.UnixMicro()}
		if j, ok := idx[k]; ok {
			out[j] = out[j].Add(d)
			continue
		}
		idx[k] = len(out)
		out = append(out, d)
	}
	slices.SortFunc(out, CompareRollups)
	return out
}

// CompareRollups orders rollups by model_id, scope_key, then bucket end
// (the order ScoreRollups returns).
func CompareRollups(a, b ScoreRollup) int {
	return cmp.Or(strings.Compare(a.ModelID, b.ModelID), strings.Compare(a.ScopeKey, b.ScopeKey), a.BucketEnd.Compare(b.BucketEnd))
}

// RollupQuery selects score rollups: ModelIDs empty = all models; the
// bucket end in [From, To] (both required, inclusive).
type RollupQuery struct {
	ModelIDs []string
	From, To time.Time
}

// Normalize checks q: From and To set, To not before From, else
// ErrInvalidValue; times become UTC.
func (q RollupQuery) Normalize() (RollupQuery, error) {
	switch {
	case q.From.IsZero() || q.To.IsZero():
		return q, invalid("RollupQuery.From/To", "expected both bounds, found from %v to %v", q.From, q.To)
	case q.To.Before(q.From):
		return q, invalid("RollupQuery.To", "expected a time not before From %s, found %s", q.From.Format(time.RFC3339Nano), q.To.Format(time.RFC3339Nano))
	}
	q.From, q.To = q.From.UTC(), q.To.UTC()
	return q, nil
}

// ScoredPrediction returns claimed as a normalised score update u
// (NormalizeScoreUpdates) leaves it: u.Score set and, when u.Status is
// set, that status. Drivers pass the updates they applied to RollupsOf
// through it.
func ScoredPrediction(claimed Prediction, u ScoreUpdate) Prediction {
	claimed.Score = u.Score
	if u.Status != "" {
		claimed.Status = u.Status
	}
	return claimed
}

// RollupPointQuery asks for the chart points of the score rollups
// (/reports/models/params): ModelIDs empty = all models.
//
// A point is one rollup bucket of a series whose newest scored prediction
// (LastPerformedAt) lies in [From, To] (both required). For each of
// Windows (each > 0) it carries the answered count and sum of the series'
// buckets ending in (e - window, e], e its bucket end: whole buckets, a
// window that is not a whole number of RollupWidth counting as the next
// whole number.
//
// Point budget: with n series having a point, each keeps at most
// PerSeries = max(1, min(MaxSeriesPoints, MaxPoints / n)) points (both
// limits > 0). The buckets ending from RollupBucketEnd(From) to
// RollupBucketEnd(To) (S of them) are cut, from the last one back, into
// cells of C = ceil(S / PerSeries) buckets, and a series keeps the newest
// point of each cell; so its newest point is always kept.
type RollupPointQuery struct {
	ModelIDs        []string
	From, To        time.Time
	Windows         []time.Duration
	MaxPoints       int
	MaxSeriesPoints int
}

// RollupPoint is one point of RollupPointQuery: the bucket's rollup and,
// per window (in query order), the answered count and sum.
type RollupPoint struct {
	ScoreRollup
	Answered []int64
	Sums     []float64
	// PerSeries is the point budget of a series in this answer.
	PerSeries int
}

// Normalize checks q (bounds set and ordered, windows > 0, limits > 0,
// else ErrInvalidValue); times become UTC.
func (q RollupPointQuery) Normalize() (RollupPointQuery, error) {
	r, err := RollupQuery{ModelIDs: q.ModelIDs, From: q.From, To: q.To}.Normalize()
	if err != nil {
		return q, err
	}
	q.From, q.To = r.From, r.To
	if len(q.Windows) == 0 {
		return q, invalid("RollupPointQuery.Windows", "expected at least one window")
	}
	for i, w := range q.Windows {
		if w <= 0 {
			return q, invalid(fmt.Sprintf("RollupPointQuery.Windows[%d]", i), "expected > 0, found %s", w)
		}
	}
	if q.MaxPoints <= 0 || q.MaxSeriesPoints <= 0 {
		return q, invalid("RollupPointQuery.MaxPoints/MaxSeriesPoints", "expected both > 0, found %d and %d", q.MaxPoints, q.MaxSeriesPoints)
	}
	return q, nil
}

// WindowBuckets is the number of whole rollup buckets of a window.
func WindowBuckets(window time.Duration) int64 {
	w := int64(RollupWidth)
	return (int64(window) + w - 1) / w
}

// Range returns the bucket ends of the rollups a point query reads:
// the windows of its first possible point back to its last bucket.
func (q RollupPointQuery) Range() (from, to time.Time) {
	var longest int64
	for _, w := range q.Windows {
		longest = max(longest, WindowBuckets(w))
	}
	return RollupBucketEnd(q.From).Add(-time.Duration(longest-1) * RollupWidth), RollupBucketEnd(q.To)
}

// PerSeries is the point budget of one of n series (see RollupPointQuery).
func (q RollupPointQuery) PerSeries(n int) int {
	return max(1, min(q.MaxSeriesPoints, q.MaxPoints/max(n, 1)))
}

// CellBuckets is the width, in buckets, of the cells of a series with
// budget perSeries when the answer's points span [first, q.To]: first is
// the bucket end of the oldest point in the window (not q.From), so a
// window that holds data only in its last days, such as the UI's 30 days
// over a competition two days old, spends its budget on those days.
func (q RollupPointQuery) CellBuckets(perSeries int, first time.Time) int64 {
	if first.Before(q.From) {
		first = q.From
	}
	s := int64(RollupBucketEnd(q.To).Sub(RollupBucketEnd(first))/RollupWidth) + 1
	return (max(s, 1) + int64(perSeries) - 1) / int64(perSeries)
}

// RollupPointsOf computes the points of q from rollups (ordered as
// ScoreRollups returns them: by model, scope_key, bucket end, covering
// q.Range()): the rule the drivers translate to SQL. Ordered by
// LastPerformedAt, then model_id and scope_key.
func RollupPointsOf(rollups []ScoreRollup, q RollupPointQuery) []RollupPoint {
	type series struct{ all, points []int }
	var list []*series
	// Running totals over all rollups: answered[i] and sums[i] cover
	// rollups[:i], so a run k..i of one series is answered[i+1]-answered[k].
	answered := make([]int64, len(rollups)+1)
	sums := make([]float64, len(rollups)+1)
	for i, r := range rollups {
		if i == 0 || r.ModelID != rollups[i-1].ModelID || r.ScopeKey != rollups[i-1].ScopeKey {
			list = append(list, &series{})
		}
		answered[i+1], sums[i+1] = answered[i]+r.Answered, sums[i]+r.Sum
		sr := list[len(list)-1]
		sr.all = append(sr.all, i)
		if !r.LastPerformedAt.Before(q.From) && !r.LastPerformedAt.After(q.To) {
			sr.points = append(sr.points, i)
		}
	}
	n := 0
	var first time.Time
	for _, sr := range list {
		if len(sr.points) > 0 {
			n++
			if b := rollups[sr.points[0]].BucketEnd; first.IsZero() || b.Before(first) {
				first = b
			}
		}
	}
	per := q.PerSeries(n)
	cell := q.CellBuckets(per, first)
	last := RollupBucketEnd(q.To)
	var out []RollupPoint
	for _, sr := range list {
		lastCell := int64(-1)
		for j := len(sr.points) - 1; j >= 0; j-- {
			r := rollups[sr.points[j]]
			c := int64(last.Sub(r.BucketEnd)/RollupWidth) / cell
			if c == lastCell {
				continue
			}
			lastCell = c
			p := RollupPoint{ScoreRollup: r, PerSeries: per}
			i := sr.points[j]
			for _, w := range q.Windows {
				// The window's first rollup: the first whose end is after lo.
				lo := r.BucketEnd.Add(-time.Duration(WindowBuckets(w)) * RollupWidth)
				k := sr.all[0] + sort.Search(i-sr.all[0], func(k int) bool { return rollups[sr.all[0]+k].BucketEnd.After(lo) })
				p.Answered, p.Sums = append(p.Answered, answered[i+1]-answered[k]), append(p.Sums, sums[i+1]-sums[k])
			}
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b RollupPoint) int {
		return cmp.Or(a.LastPerformedAt.Compare(b.LastPerformedAt), strings.Compare(a.ModelID, b.ModelID), strings.Compare(a.ScopeKey, b.ScopeKey))
	})
	return out
}
