package store

import (
	"cmp"
	"encoding/json"
	"slices"
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
