package store

import (
	"cmp"
	"slices"
	"strings"
	"time"
)

// ChartDayWidth is the width of one chart revision day (table
// chart_revisions, migration 00013): days are (end - 24 h, end] with end
// a whole multiple of 24 h since the Unix epoch, so a day holds exactly 24
// score rollup buckets (RollupWidth).
const ChartDayWidth = 24 * time.Hour

// Chart revision kinds (ChartRevision.Kind).
const (
	// ChartPredictions: the predictions of a series performed in the day,
	// their scores and so their score rollups. Bumped by every
	// transaction that inserts such a prediction or writes its score or
	// status (SavePredictCycle, ClaimAndScore).
	ChartPredictions = "predictions"
	// ChartModelScores: the score points (model_scores) of a model
	// computed in the day; ScopeKey is empty. Bumped by every
	// SaveLeaderboard that writes such a point (or moves one out of it).
	ChartModelScores = "model_scores"
)

// ChartDayEnd returns the end of the chart revision day holding t (see
// ChartDayWidth), UTC, microsecond precision.
func ChartDayEnd(t time.Time) time.Time {
	w := ChartDayWidth.Microseconds()
	us := t.UnixMicro()
	q := us / w
	if us%w > 0 {
		q++
	}
	return time.UnixMicro(q * w).UTC()
}

// ChartRevision is the revision of the chart data of one series
// (ModelID, ScopeKey) for one kind and day: Rev counts the write
// transactions that changed that data (at least 1 once any did). It only
// grows, so a reader that cached data read after it saw Rev knows the
// data is unchanged while Rev is the same: a write that commits later
// ends with a larger Rev (the drivers increment it under the row's lock
// in the writing transaction).
type ChartRevision struct {
	Kind     string
	ModelID  string
	ScopeKey string
	DayEnd   time.Time
	Rev      int64
}

// ChartRevisionQuery selects chart revisions of one Kind: ModelIDs empty =
// every model; days whose end is in [ChartDayEnd(From), ChartDayEnd(To)].
type ChartRevisionQuery struct {
	Kind     string
	ModelIDs []string
	From, To time.Time
}

// Normalize checks q (a known Kind, both bounds, To not before From, else
// ErrInvalidValue) and returns it with From and To replaced by the day
// ends they select (UTC).
func (q ChartRevisionQuery) Normalize() (ChartRevisionQuery, error) {
	if q.Kind != ChartPredictions && q.Kind != ChartModelScores {
		return q, invalid("ChartRevisionQuery.Kind", "expected %q or %q, found %q", ChartPredictions, ChartModelScores, q.Kind)
	}
	r, err := RollupQuery{From: q.From, To: q.To}.Normalize()
	if err != nil {
		return q, err
	}
	q.From, q.To = ChartDayEnd(r.From), ChartDayEnd(r.To)
	return q, nil
}

// CompareChartRevisions orders revisions by kind, model_id, scope_key,
// then day (the order ChartRevisions returns and the drivers lock them in).
func CompareChartRevisions(a, b ChartRevision) int {
	return cmp.Or(strings.Compare(a.Kind, b.Kind), strings.Compare(a.ModelID, b.ModelID), strings.Compare(a.ScopeKey, b.ScopeKey), a.DayEnd.Compare(b.DayEnd))
}

// ChartDaysOfPredictions returns the distinct (series, day) of preds as
// ChartPredictions revisions with Rev 1 (one increment each), in
// CompareChartRevisions order: what a transaction writing preds bumps.
//
// Invariant: every stored prediction has the ChartPredictions revision of
// its (model, scope key, day). The drivers' only insert of predictions is
// SavePredictCycle, which bumps ChartDaysOfPredictions of its cycle in the
// transaction that stores it, on each of its paths; revisions are never
// deleted, and PostgreSQL's migration 00013 backfilled older data. The
// PostgreSQL driver's SamplePredictions enumerates a model's series from
// these rows, so predictions written outside the store (a bulk load, a
// restore of predictions alone) must get their revisions too, or they are
// missing from the charts (storetest's SampleSeriesOfEveryInsert checks
// the insert paths).
func ChartDaysOfPredictions(preds []Prediction) []ChartRevision {
	out := make([]ChartRevision, 0, 8)
	seen := map[ChartRevision]bool{}
	for i := range preds {
		r := ChartRevision{Kind: ChartPredictions, ModelID: preds[i].ModelID, ScopeKey: preds[i].ScopeKey, DayEnd: ChartDayEnd(preds[i].PerformedAt), Rev: 1}
		if !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	slices.SortFunc(out, CompareChartRevisions)
	return out
}

// ChartDaysOfModelScores is ChartDaysOfPredictions for score points: the
// distinct (model, day of computed_at) as ChartModelScores revisions.
func ChartDaysOfModelScores(scores []ModelScore) []ChartRevision {
	out := make([]ChartRevision, 0, 8)
	seen := map[ChartRevision]bool{}
	for i := range scores {
		r := ChartRevision{Kind: ChartModelScores, ModelID: scores[i].ModelID, DayEnd: ChartDayEnd(scores[i].ComputedAt), Rev: 1}
		if !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	slices.SortFunc(out, CompareChartRevisions)
	return out
}

// CheckSampleKind checks the kind of a SampleStart query: ChartPredictions,
// or ChartModelScores with an empty Status; else ErrInvalidValue.
func CheckSampleKind(kind string, q SampleQuery) error {
	switch {
	case kind != ChartPredictions && kind != ChartModelScores:
		return invalid("SampleStart kind", "expected %q or %q, found %q", ChartPredictions, ChartModelScores, kind)
	case kind == ChartModelScores && q.Status != "":
		return invalid("SampleQuery.Status", "expected empty for score points, found %q", q.Status)
	}
	return nil
}
