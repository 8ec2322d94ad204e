package report

import (
	"cmp"
	"context"
	"encoding/json"
	"slices"
	"sync"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/store"
)

// fakeStore is an in-memory Store (plus the writer methods the fixture
// uses) with the ordering and limit rules of internal/store/store.go.
type fakeStore struct {
	mu          sync.Mutex
	models      map[string]store.Model
	preds       []store.Prediction
	lbs         []store.Leaderboard
	scores      []store.ModelScore
	market      []store.MarketRecord
	checkpoints []store.Checkpoint
	err         error // returned by every read when set
	pingErr     error
	writes      int64 // write calls so far: every chart revision (ChartRevisions)
}

func newFakeStore() *fakeStore { return &fakeStore{models: map[string]store.Model{}} }

func (f *fakeStore) Backend() string { return "fake" }

func (f *fakeStore) Ping(context.Context) error { return f.pingErr }

func (f *fakeStore) UpsertModels(_ context.Context, ms []store.Model) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, m := range ms {
		f.models[m.ID] = m
	}
	return nil
}

func (f *fakeStore) SavePredictCycle(ctx context.Context, ms []store.Model, ps []store.Prediction) (int, error) {
	if err := f.UpsertModels(ctx, ms); err != nil {
		return 0, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.writes++
	n := 0
	for _, p := range ps {
		if slices.ContainsFunc(f.preds, func(q store.Prediction) bool { return q.ID == p.ID }) {
			continue
		}
		f.preds = append(f.preds, p)
		n++
	}
	return n, nil
}

func (f *fakeStore) SaveLeaderboard(_ context.Context, lb store.Leaderboard, scores []store.ModelScore) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.writes++
	f.lbs = append(f.lbs, lb)
	f.scores = append(f.scores, scores...)
	return nil
}

func (f *fakeStore) UpsertMarketRecords(_ context.Context, recs []store.MarketRecord) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.market = append(f.market, recs...)
	return len(recs), nil
}

func (f *fakeStore) SaveCheckpoint(_ context.Context, c store.Checkpoint) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.checkpoints = append(f.checkpoints, c)
	return nil
}

func (f *fakeStore) ListModels(context.Context) ([]store.Model, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	var out []store.Model
	for _, m := range f.models {
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b store.Model) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

func (f *fakeStore) LatestLeaderboard(context.Context) (store.Leaderboard, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return store.Leaderboard{}, f.err
	}
	if len(f.lbs) == 0 {
		return store.Leaderboard{}, store.ErrNotFound
	}
	return slices.MaxFunc(f.lbs, func(a, b store.Leaderboard) int { return a.CreatedAt.Compare(b.CreatedAt) }), nil
}

func limitOr(n int) int {
	if n == 0 {
		return 1000
	}
	return n
}

func (f *fakeStore) ModelScoreHistory(_ context.Context, ids []string, from, to time.Time, limit int) ([]store.ModelScore, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	var out []store.ModelScore
	for _, s := range f.scores {
		if (len(ids) == 0 || slices.Contains(ids, s.ModelID)) && !s.ComputedAt.Before(from) && !s.ComputedAt.After(to) {
			out = append(out, s)
		}
	}
	slices.SortFunc(out, func(a, b store.ModelScore) int {
		return cmp.Or(a.ComputedAt.Compare(b.ComputedAt), cmp.Compare(a.ModelID, b.ModelID), cmp.Compare(a.ID, b.ID))
	})
	return out[:min(len(out), limitOr(limit))], nil
}

func (f *fakeStore) ListPredictions(_ context.Context, q store.PredictionQuery) ([]store.Prediction, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	var out []store.Prediction
	for _, p := range f.preds {
		switch {
		case len(q.ModelIDs) > 0 && !slices.Contains(q.ModelIDs, p.ModelID),
			!q.From.IsZero() && p.PerformedAt.Before(q.From),
			!q.To.IsZero() && p.PerformedAt.After(q.To),
			q.ScoredOnly && p.Score == nil,
			q.Status != "" && p.Status != q.Status:
			continue
		}
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b store.Prediction) int {
		return cmp.Or(a.PerformedAt.Compare(b.PerformedAt), cmp.Compare(a.ID, b.ID))
	})
	if q.Offset >= len(out) {
		return nil, nil
	}
	out = out[q.Offset:]
	return out[:min(len(out), limitOr(q.Limit))], nil
}

// SamplePredictions keeps the newest prediction of each (model, scope_key,
// bucket) as store.SampleQuery defines it.
func (f *fakeStore) SamplePredictions(ctx context.Context, q store.SampleQuery) ([]store.Prediction, error) {
	q, err := q.Normalize()
	if err != nil {
		return nil, err
	}
	all, err := f.ListPredictions(ctx, store.PredictionQuery{ModelIDs: q.ModelIDs, From: q.From, To: q.To, Status: q.Status, Limit: 1 << 30})
	if err != nil || len(all) == 0 {
		return nil, err
	}
	series := map[[2]string]bool{}
	for _, p := range all {
		series[[2]string{p.ModelID, p.ScopeKey}] = true
	}
	q = q.Grid(all[0].PerformedAt, len(series))
	type key struct {
		model, scope string
		bucket       int64
	}
	newest := map[key]int{}
	for i, p := range all { // ascending: the last one of a key wins
		b := min(p.PerformedAt.Sub(q.From).Microseconds()/q.BucketWidth(), int64(q.Buckets-1))
		newest[key{p.ModelID, p.ScopeKey, b}] = i
	}
	var out []store.Prediction
	for i, p := range all {
		b := min(p.PerformedAt.Sub(q.From).Microseconds()/q.BucketWidth(), int64(q.Buckets-1))
		if newest[key{p.ModelID, p.ScopeKey, b}] == i {
			p.InferenceInput = nil
			out = append(out, p)
		}
	}
	return out, nil
}

func (f *fakeStore) CountPredictions(_ context.Context, status string) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return 0, f.err
	}
	var n int64
	for _, p := range f.preds {
		if status == "" || p.Status == status {
			n++
		}
	}
	return n, nil
}

func (f *fakeStore) FeedSummaries(context.Context) ([]store.FeedSummary, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	idx := map[[4]string]*store.FeedSummary{}
	var out []*store.FeedSummary
	for _, r := range f.market {
		k := [4]string{r.Provider, r.Asset, r.Kind, r.Granularity}
		s, ok := idx[k]
		if !ok {
			s = &store.FeedSummary{Provider: r.Provider, Asset: r.Asset, Kind: r.Kind, Granularity: r.Granularity, OldestTs: r.TsEvent, NewestTs: r.TsEvent}
			idx[k] = s
			out = append(out, s)
		}
		s.RecordCount++
		if r.TsEvent.Before(s.OldestTs) {
			s.OldestTs = r.TsEvent
		}
		if r.TsEvent.After(s.NewestTs) {
			s.NewestTs = r.TsEvent
		}
		wm, up := s.NewestTs, r.TsIngested
		s.WatermarkTs, s.WatermarkUpdatedAt = &wm, &up
	}
	res := make([]store.FeedSummary, len(out))
	for i, s := range out {
		res[i] = *s
	}
	slices.SortFunc(res, func(a, b store.FeedSummary) int {
		return cmp.Or(cmp.Compare(a.Provider, b.Provider), cmp.Compare(a.Asset, b.Asset), cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Granularity, b.Granularity))
	})
	return res, nil
}

func (f *fakeStore) QueryMarketRecords(_ context.Context, q store.MarketQuery) ([]store.MarketRecord, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	var out []store.MarketRecord
	for _, r := range f.market {
		switch {
		case q.Provider != "" && r.Provider != q.Provider, q.Asset != "" && r.Asset != q.Asset,
			q.Kind != "" && r.Kind != q.Kind, q.Granularity != "" && r.Granularity != q.Granularity,
			!q.Start.IsZero() && r.TsEvent.Before(q.Start), !q.End.IsZero() && r.TsEvent.After(q.End):
			continue
		}
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b store.MarketRecord) int {
		if q.Descending {
			return b.TsEvent.Compare(a.TsEvent)
		}
		return a.TsEvent.Compare(b.TsEvent)
	})
	return out[:min(len(out), limitOr(q.Limit))], nil
}

func (f *fakeStore) ListCheckpoints(_ context.Context, kind string, limit int) ([]store.Checkpoint, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	var out []store.Checkpoint
	for _, c := range f.checkpoints {
		if kind == "" || c.Kind == kind {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b store.Checkpoint) int {
		switch {
		case a.LastRunAt == nil && b.LastRunAt != nil:
			return 1
		case a.LastRunAt != nil && b.LastRunAt == nil:
			return -1
		case a.LastRunAt != nil && b.LastRunAt != nil && !a.LastRunAt.Equal(*b.LastRunAt):
			return b.LastRunAt.Compare(*a.LastRunAt)
		}
		return cmp.Compare(b.ID, a.ID)
	})
	return out[:min(len(out), limitOr(limit))], nil
}

// mustJSON marshals v or panics (test fixtures only).
func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// ScoreRollups computes the rollups of q from the stored predictions with
// store.RollupsOf, the rule the drivers maintain.
func (f *fakeStore) ScoreRollups(ctx context.Context, q store.RollupQuery) ([]store.ScoreRollup, error) {
	q, err := q.Normalize()
	if err != nil {
		return nil, err
	}
	all, err := f.ListPredictions(ctx, store.PredictionQuery{ModelIDs: q.ModelIDs, ScoredOnly: true, Limit: 1 << 30})
	if err != nil {
		return nil, err
	}
	var out []store.ScoreRollup
	for _, r := range store.RollupsOf(all) {
		if !r.BucketEnd.Before(q.From) && !r.BucketEnd.After(q.To) {
			out = append(out, r)
		}
	}
	return out, nil
}

// SampleModelScores keeps the newest point of each (model, bucket) as
// store.SampleQuery defines it, the models being the series.
func (f *fakeStore) SampleModelScores(ctx context.Context, q store.SampleQuery) ([]store.ModelScore, error) {
	q, err := q.Normalize()
	if err != nil {
		return nil, err
	}
	all, err := f.ModelScoreHistory(ctx, q.ModelIDs, q.From, q.To, 1<<30)
	if err != nil || len(all) == 0 {
		return nil, err
	}
	models := map[string]bool{}
	for _, ms := range all {
		models[ms.ModelID] = true
	}
	q = q.Grid(all[0].ComputedAt, len(models))
	type key struct {
		model  string
		bucket int64
	}
	newest := map[key]int{}
	for i, ms := range all { // ascending by time then model, id: the last one of a key wins
		newest[key{ms.ModelID, min(ms.ComputedAt.Sub(q.From).Microseconds()/q.BucketWidth(), int64(q.Buckets-1))}] = i
	}
	var out []store.ModelScore
	for i, ms := range all {
		if newest[key{ms.ModelID, min(ms.ComputedAt.Sub(q.From).Microseconds()/q.BucketWidth(), int64(q.Buckets-1))}] == i {
			out = append(out, ms)
		}
	}
	return out, nil
}

// RollupPoints computes the points of q with store.RollupPointsOf over the
// fake's rollups.
func (f *fakeStore) RollupPoints(ctx context.Context, q store.RollupPointQuery) ([]store.RollupPoint, error) {
	q, err := q.Normalize()
	if err != nil {
		return nil, err
	}
	from, to := q.Range()
	rs, err := f.ScoreRollups(ctx, store.RollupQuery{ModelIDs: q.ModelIDs, From: from, To: to})
	if err != nil {
		return nil, err
	}
	return store.RollupPointsOf(rs, q), nil
}

// ChartRevisions gives every series and day holding data the number of
// writes so far: any write changes every revision (the contract's
// "changed data, larger revision", coarsely).
func (f *fakeStore) ChartRevisions(_ context.Context, q store.ChartRevisionQuery) ([]store.ChartRevision, error) {
	q, err := q.Normalize()
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	var days []store.ChartRevision
	if q.Kind == store.ChartPredictions {
		days = store.ChartDaysOfPredictions(f.preds)
	} else {
		days = store.ChartDaysOfModelScores(f.scores)
	}
	var out []store.ChartRevision
	for _, d := range days {
		if (len(q.ModelIDs) == 0 || slices.Contains(q.ModelIDs, d.ModelID)) && !d.DayEnd.Before(q.From) && !d.DayEnd.After(q.To) {
			d.Rev = f.writes
			out = append(out, d)
		}
	}
	return out, nil
}

// SampleStart is the oldest row of q's window among the fake's rows.
func (f *fakeStore) SampleStart(ctx context.Context, kind string, q store.SampleQuery) (time.Time, bool, error) {
	q.Buckets, q.MaxPoints, q.Width = 1, 0, 0
	var first time.Time
	if kind == store.ChartPredictions {
		ps, err := f.ListPredictions(ctx, store.PredictionQuery{ModelIDs: q.ModelIDs, From: q.From, To: q.To, Status: q.Status, Limit: 1})
		if err != nil || len(ps) == 0 {
			return first, false, err
		}
		return ps[0].PerformedAt, true, nil
	}
	ms, err := f.ModelScoreHistory(ctx, q.ModelIDs, q.From, q.To, 1)
	if err != nil || len(ms) == 0 {
		return first, false, err
	}
	return ms[0].ComputedAt, true, nil
}
