package score_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/clock"
	"github.com/crunch-coordinator/coordinator/internal/score"
	"github.com/crunch-coordinator/coordinator/internal/store"
	"github.com/crunch-coordinator/coordinator/internal/store/dburl"
	"github.com/crunch-coordinator/coordinator/sdk"
)

var now0 = time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)

func openStore(t *testing.T) store.Store {
	t.Helper()
	ctx := context.Background()
	st, err := dburl.Open(ctx, "sqlite://"+t.TempDir()+"/x.db")
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	if err := st.ReplaceSchedules(ctx, []store.ScheduleRow{{ID: "btc", ScopeKey: "btc", Active: true,
		ScopeTemplate: json.RawMessage(`{}`), Schedule: json.RawMessage(`{"every_seconds":60,"resolve_after_seconds":60}`)}}); err != nil {
		t.Fatalf("seed schedule: %v", err)
	}
	return st
}

// brier is a baseline-like challenge: output {"p_up": p}, ground truth
// {"y_up": 0|1}, score 1 - (p - y)^2. truth decides the resolver's answer
// per prediction id (default: resolved with y_up 1).
type brier struct {
	sdk.Defaults
	mu    sync.Mutex
	truth map[string]sdk.GroundTruthResult
	drop  bool // RankLeaderboard drops the last entry
}

func (b *brier) ResolveGroundTruth(_ context.Context, _ time.Time, preds []sdk.PredictionRecord, _ sdk.HostData) ([]sdk.GroundTruthResult, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]sdk.GroundTruthResult, len(preds))
	for i, p := range preds {
		if p.Status != store.StatusSuccess {
			return nil, fmt.Errorf("resolver got a %s prediction %s", p.Status, p.ID)
		}
		if r, ok := b.truth[p.ID]; ok {
			out[i] = r
			continue
		}
		out[i] = sdk.GroundTruthResult{Resolved: true, GroundTruth: json.RawMessage(`{"y_up":1}`)}
	}
	return out, nil
}

func (b *brier) ScorePredictions(_ context.Context, items []sdk.ScoreItem) ([]sdk.ScoreResult, error) {
	out := make([]sdk.ScoreResult, len(items))
	for i, it := range items {
		var p struct {
			PUp float64 `json:"p_up"`
		}
		var g struct {
			YUp float64 `json:"y_up"`
		}
		if err := json.Unmarshal(it.Prediction, &p); err != nil {
			return nil, err
		}
		if err := json.Unmarshal(it.GroundTruth, &g); err != nil {
			return nil, err
		}
		v := 1 - (p.PUp-g.YUp)*(p.PUp-g.YUp)
		out[i] = sdk.ScoreResult{PredictionID: it.PredictionID, Value: &v, Success: true}
	}
	return out, nil
}

func (b *brier) RankLeaderboard(ctx context.Context, entries []sdk.LeaderboardEntry) ([]sdk.LeaderboardEntry, error) {
	out, err := b.Defaults.RankLeaderboard(ctx, entries)
	if b.drop && len(out) > 0 {
		out = out[:len(out)-1]
	}
	return out, err
}

func (b *brier) setTruth(id string, r sdk.GroundTruthResult) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.truth == nil {
		b.truth = map[string]sdk.GroundTruthResult{}
	}
	b.truth[id] = r
}

// pred builds a prediction of model with p_up resolvable at res.
func pred(model string, slot time.Time, status string, pUp float64, res time.Time) store.Prediction {
	return store.Prediction{
		ID: store.PredictionID("btc", model, slot), ModelID: model, PredictionConfigID: "btc", ScopeKey: "btc",
		Scope: json.RawMessage(`{}`), Status: status, InferenceInput: json.RawMessage(`{}`),
		InferenceOutput: json.RawMessage(fmt.Sprintf(`{"p_up":%v}`, pUp)), Meta: json.RawMessage(`{}`),
		PerformedAt: res.Add(-time.Minute), ResolvableAt: res,
	}
}

func save(t *testing.T, st store.Store, models []string, preds ...store.Prediction) {
	t.Helper()
	var ms []store.Model
	for _, m := range models {
		ms = append(ms, store.Model{ID: m, Name: m + "-name", PlayerName: m + "-player"})
	}
	if _, err := st.SavePredictCycle(context.Background(), ms, preds); err != nil {
		t.Fatalf("save predictions: %v", err)
	}
}

func byID(t *testing.T, st store.Store) map[string]store.Prediction {
	t.Helper()
	ps, err := st.ListPredictions(context.Background(), store.PredictionQuery{Limit: 10000})
	if err != nil {
		t.Fatalf("list predictions: %v", err)
	}
	out := map[string]store.Prediction{}
	for _, p := range ps {
		out[p.ID] = p
	}
	return out
}

func newWorker(t *testing.T, st store.Store, ch sdk.Challenge, clk clock.Clock, mod func(*score.Config)) *score.Worker {
	t.Helper()
	cfg := score.Config{Challenge: ch, Store: st, Clock: clk, UseDefaultAggregation: true, UseDefaultRanking: true}
	if mod != nil {
		mod(&cfg)
	}
	w, err := score.New(cfg)
	if err != nil {
		t.Fatalf("new worker: %v", err)
	}
	return w
}

func TestOnlySuccessPredictionsAreScored(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	slot := now0.Add(-10 * time.Minute)
	res := now0.Add(-5 * time.Minute)
	var preds []store.Prediction
	statuses := []string{store.StatusSuccess, store.StatusFailed, store.StatusTimeout, store.StatusCrashed, store.StatusAbsent, store.StatusBadImplementation}
	var models []string
	for i, s := range statuses {
		m := fmt.Sprintf("m%d", i)
		models = append(models, m)
		preds = append(preds, pred(m, slot, s, 0.75, res))
	}
	// A SUCCESS prediction not resolvable yet is not claimed.
	future := pred("m0", slot.Add(time.Minute), store.StatusSuccess, 0.5, now0.Add(time.Minute))
	save(t, st, models, append(preds, future)...)
	w := newWorker(t, st, &brier{}, clock.NewSimulated(now0), func(c *score.Config) { c.BatchSize = 2 })
	r, err := w.Score(ctx)
	if err != nil {
		t.Fatalf("Score: %v", err)
	}
	if r.Scored != 1 || r.Claimed != 1 {
		t.Fatalf("scored %d claimed %d, want 1 and 1", r.Scored, r.Claimed)
	}
	got := byID(t, st)
	for _, p := range preds {
		sc := got[p.ID].Score
		if p.Status == store.StatusSuccess {
			if sc == nil || sc.Value == nil || *sc.Value != 0.9375 || !sc.Success || !sc.ScoredAt.Equal(now0) {
				t.Errorf("SUCCESS prediction score = %+v, want 0.9375 at %s", sc, now0)
			}
		} else if sc != nil {
			t.Errorf("%s prediction was scored: %+v", p.Status, sc)
		}
	}
	if got[future.ID].Score != nil {
		t.Errorf("prediction resolvable in the future was scored")
	}
}

func TestBatchesRepeatUntilDrained(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	var preds []store.Prediction
	for i := 0; i < 5; i++ {
		at := now0.Add(-time.Duration(10+i) * time.Minute)
		preds = append(preds, pred("a", at, store.StatusSuccess, 0.5, at.Add(time.Minute)))
	}
	save(t, st, []string{"a"}, preds...)
	w := newWorker(t, st, &brier{}, clock.NewSimulated(now0), func(c *score.Config) { c.BatchSize = 2 })
	r, err := w.Score(ctx)
	if err != nil || r.Scored != 5 || r.Batches != 3 {
		t.Fatalf("Score = %+v, %v; want 5 scored in 3 batches", r, err)
	}
}

func TestUnresolvedAfterMaxWaitAndResolverError(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	waitP := pred("a", now0.Add(-20*time.Minute), store.StatusSuccess, 0.5, now0.Add(-10*time.Minute))
	errP := pred("a", now0.Add(-30*time.Minute), store.StatusSuccess, 0.5, now0.Add(-20*time.Minute))
	save(t, st, []string{"a"}, waitP, errP)
	ch := &brier{}
	ch.setTruth(waitP.ID, sdk.GroundTruthResult{}) // not yet
	ch.setTruth(errP.ID, sdk.GroundTruthResult{Error: "no feed record within 120s of resolvable_at"})
	clk := clock.NewSimulated(now0)
	var observed []score.ScoreResult
	w := newWorker(t, st, ch, clk, func(c *score.Config) {
		c.GroundTruthMaxWait = 30 * time.Minute
		c.Observe = func(r score.ScoreResult, _ error) { observed = append(observed, r) }
	})

	r, err := w.Score(ctx)
	if err != nil || r.Unresolved != 1 || r.Waiting != 1 {
		t.Fatalf("first cycle = %+v, %v; want 1 unresolved (resolver error) and 1 waiting", r, err)
	}
	// The waiting prediction is the oldest left unscored: the scoring lag
	// is measured from its resolvable_at; the observer saw the cycle.
	if !r.OldestWaiting.Equal(waitP.ResolvableAt) || len(observed) != 1 || !observed[0].OldestWaiting.Equal(waitP.ResolvableAt) {
		t.Fatalf("OldestWaiting %s (observed %+v), expected %s", r.OldestWaiting, observed, waitP.ResolvableAt)
	}
	got := byID(t, st)
	if p := got[errP.ID]; p.Status != store.StatusUnresolved || p.Score != nil {
		t.Fatalf("resolver error: status %s score %+v", p.Status, p.Score)
	}
	if got[waitP.ID].Status != store.StatusSuccess {
		t.Fatalf("waiting prediction status %s", got[waitP.ID].Status)
	}
	// Still within the wait: stays claimable.
	clk.Set(now0.Add(19 * time.Minute))
	if r, err := w.Score(ctx); err != nil || r.Waiting != 1 || r.Unresolved != 0 {
		t.Fatalf("within wait: %+v %v", r, err)
	}
	// Past the wait: terminal UNRESOLVED, never claimed again.
	clk.Set(now0.Add(21 * time.Minute))
	if r, err := w.Score(ctx); err != nil || r.Unresolved != 1 || !r.OldestWaiting.IsZero() {
		t.Fatalf("past wait: %+v %v (expected nothing left waiting)", r, err)
	}
	if p := byID(t, st)[waitP.ID]; p.Status != store.StatusUnresolved || p.Score != nil {
		t.Fatalf("after max wait: status %s score %+v", p.Status, p.Score)
	}
	if r, err := w.Score(ctx); err != nil || r.Claimed != 0 {
		t.Fatalf("UNRESOLVED predictions were claimed again: %+v %v", r, err)
	}
	n, err := st.CountPredictions(ctx, store.StatusUnresolved)
	if err != nil || n != 2 {
		t.Fatalf("UNRESOLVED count = %d (%v), want 2", n, err)
	}
}

// seedWindows stores and scores predictions so that the windows differ:
// model a scored 0.4375 four days ago and 0.9375 one hour ago; model b
// scored 0.75 two hours ago; model c has no score; model d only a FAILED
// prediction.
func seedWindows(t *testing.T, st store.Store) {
	t.Helper()
	old := now0.Add(-96 * time.Hour)
	recent := now0.Add(-time.Hour)
	save(t, st, []string{"a", "b", "c", "d"},
		pred("a", old.Add(-time.Minute), store.StatusSuccess, 0.25, old),
		pred("a", recent.Add(-time.Minute), store.StatusSuccess, 0.75, recent),
		pred("b", now0.Add(-2*time.Hour-time.Minute), store.StatusSuccess, 0.5, now0.Add(-2*time.Hour)),
		pred("d", recent.Add(-time.Minute), store.StatusFailed, 0.9, recent),
	)
	w := newWorker(t, st, &brier{}, clock.NewSimulated(now0), nil)
	if r, err := w.Score(context.Background()); err != nil || r.Scored != 3 {
		t.Fatalf("seed scoring: %+v %v", r, err)
	}
}

func metric(t *testing.T, e sdk.LeaderboardEntry, name string) *float64 {
	t.Helper()
	v, ok := e.Score.Metrics[name]
	if !ok {
		t.Fatalf("entry %s lacks metric %s", e.ModelID, name)
	}
	return v
}

func TestLeaderboardWindowsRanksAndUnscoredLast(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	seedWindows(t, st)
	clk := clock.NewSimulated(now0)
	w := newWorker(t, st, &brier{}, clk, nil)
	r, err := w.RebuildLeaderboard(ctx)
	if err != nil || !r.Ran {
		t.Fatalf("rebuild: %+v %v", r, err)
	}
	lb, err := st.LatestLeaderboard(ctx)
	if err != nil {
		t.Fatalf("latest leaderboard: %v", err)
	}
	var entries []sdk.LeaderboardEntry
	if err := json.Unmarshal(lb.Entries, &entries); err != nil {
		t.Fatalf("decode entries %s: %v", lb.Entries, err)
	}
	var order []string
	wantRanks := []int{1, 2, 0, 0} // no fake ranks: unscored models have none
	for i, e := range entries {
		order = append(order, e.ModelID)
		if e.Rank != wantRanks[i] {
			t.Errorf("entry %d (%s) rank %d, want %d", i, e.ModelID, e.Rank, wantRanks[i])
		}
	}
	if r.RankedModels != 2 {
		t.Errorf("RankedModels = %d, want 2", r.RankedModels)
	}
	// d only failed: an entry with coverage 0 and no score, so no rank.
	if d := entries[3]; metric(t, d, "anchor") != nil || metric(t, d, "coverage_anchor") == nil || *metric(t, d, "coverage_anchor") != 0 {
		t.Errorf("model d (only a FAILED prediction) = %+v, want anchor null and coverage_anchor 0", d.Score)
	}
	// a: anchor mean 0.6875; b: 0.75. Unscored c and d last, by id.
	if got := strings.Join(order, ","); got != "b,a,c,d" {
		t.Fatalf("order = %s, want b,a,c,d", got)
	}
	a := entries[1]
	if rec, anc := metric(t, a, "recent"), metric(t, a, "anchor"); rec == nil || anc == nil || *rec != 0.9375 || *anc != 0.6875 {
		t.Fatalf("model a recent %v anchor %v, want 0.9375 and 0.6875 (windows must differ)", rec, anc)
	}
	if st := metric(t, a, "steady"); st == nil || *st != 0.9375 {
		t.Fatalf("model a steady %v, want 0.9375 (the old score is outside 72 h)", st)
	}
	if a.ModelName != "a-name" || a.CruncherName != "a-player" {
		t.Errorf("model a names %q %q", a.ModelName, a.CruncherName)
	}
	hist, err := st.ModelScoreHistory(ctx, nil, now0.Add(-time.Hour), now0, 0)
	if err != nil || len(hist) != 2 {
		t.Fatalf("score history = %v (%v), want points for a and b", hist, err)
	}
	// Rebuilt later without anything new scored: a new snapshot, and the
	// 4-day-old score leaves the anchor window after 7 days.
	clk.Set(now0.Add(4 * 24 * time.Hour))
	r2, err := w.RebuildLeaderboard(ctx)
	if err != nil || r2.ID == r.ID {
		t.Fatalf("second rebuild: %+v %v", r2, err)
	}
	if got := r2.Entries[0]; got.ModelID != "a" || *metric(t, got, "anchor") != 0.9375 || metric(t, got, "recent") != nil {
		t.Fatalf("later rebuild first entry = %+v", got)
	}
}

func TestDefaultAggregationMatchesSDKDefaults(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	seedWindows(t, st)
	models, err := st.ListModels(ctx)
	if err != nil {
		t.Fatalf("list models: %v", err)
	}
	recs := map[string]sdk.ModelRecord{}
	var scored []sdk.PredictionRecord
	for _, m := range models {
		recs[m.ID] = sdk.ModelRecord{ID: m.ID, Name: m.Name, PlayerID: m.PlayerID, PlayerName: m.PlayerName}
		ps, err := st.WindowPredictions(ctx, m.ID, now0.Add(-7*24*time.Hour), now0, 1000)
		if err != nil {
			t.Fatalf("scored predictions: %v", err)
		}
		for _, p := range ps {
			scored = append(scored, score.Record(p))
		}
	}
	want, err := sdk.Defaults{}.AggregateModelScores(ctx, now0, scored, recs)
	if err != nil {
		t.Fatalf("sdk defaults: %v", err)
	}
	got, err := score.DefaultAggregate(ctx, st, now0, recs, sdk.Aggregation{})
	if err != nil {
		t.Fatalf("DefaultAggregate: %v", err)
	}
	wj, _ := json.Marshal(want)
	gj, _ := json.Marshal(got)
	if string(wj) != string(gj) {
		t.Fatalf("in-process default aggregation differs from sdk.Defaults:\n got %s\nwant %s", gj, wj)
	}
	if len(got) != 3 {
		t.Fatalf("entries = %d, want 3 (a, b, and d with only a non-answer)", len(got))
	}
	// The same with a fixed non-answer score and other ranking settings.
	zero := 0.0
	agg := sdk.Aggregation{NonAnswer: sdk.NonAnswerRule{Fixed: &zero}, RankingKey: "recent", TieBreakers: []string{"coverage_recent"}}
	want, err = agg.Aggregate(now0, scored, recs)
	if err != nil {
		t.Fatalf("sdk aggregation: %v", err)
	}
	got, err = score.DefaultAggregate(ctx, st, now0, recs, agg)
	if err != nil {
		t.Fatalf("DefaultAggregate: %v", err)
	}
	wj, _ = json.Marshal(want)
	gj, _ = json.Marshal(got)
	if string(wj) != string(gj) {
		t.Fatalf("in-process default aggregation (fixed 0) differs from sdk.Aggregation:\n got %s\nwant %s", gj, wj)
	}

	// The plugin path (challenge aggregation and ranking, here sdk.Defaults
	// through the challenge) produces the same leaderboard.
	clk := clock.NewSimulated(now0)
	def := newWorker(t, st, &brier{}, clk, nil)
	plug := newWorker(t, st, &brier{}, clk, func(c *score.Config) { c.UseDefaultAggregation, c.UseDefaultRanking = false, false })
	r1, err := def.RebuildLeaderboard(ctx)
	if err != nil {
		t.Fatalf("default rebuild: %v", err)
	}
	r2, err := plug.RebuildLeaderboard(ctx)
	if err != nil {
		t.Fatalf("plugin rebuild: %v", err)
	}
	e1, _ := json.Marshal(r1.Entries)
	e2, _ := json.Marshal(r2.Entries)
	if string(e1) != string(e2) {
		t.Fatalf("default and plugin leaderboards differ:\n%s\n%s", e1, e2)
	}
}

func TestRankerMustKeepEveryModel(t *testing.T) {
	st := openStore(t)
	seedWindows(t, st)
	w := newWorker(t, st, &brier{drop: true}, clock.NewSimulated(now0), func(c *score.Config) { c.UseDefaultRanking = false })
	if _, err := w.RebuildLeaderboard(context.Background()); err == nil || !strings.Contains(err.Error(), "exactly once") {
		t.Fatalf("rebuild with a dropping ranker: err = %v", err)
	}
	if _, err := st.LatestLeaderboard(context.Background()); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a failed rebuild stored a leaderboard (err %v)", err)
	}
}

func TestNonFiniteScoreIsStoredAsFailed(t *testing.T) {
	st := openStore(t)
	p := pred("a", now0.Add(-3*time.Minute), store.StatusSuccess, 0.5, now0.Add(-time.Minute))
	save(t, st, []string{"a"}, p)
	w := newWorker(t, st, nanScorer{}, clock.NewSimulated(now0), nil)
	if r, err := w.Score(context.Background()); err != nil || r.ScoreFailed != 1 {
		t.Fatalf("Score = %+v, %v", r, err)
	}
	sc := byID(t, st)[p.ID].Score
	if sc == nil || sc.Success || sc.Value != nil || !strings.Contains(sc.FailedReason, "finite") {
		t.Fatalf("score = %+v", sc)
	}
}

type nanScorer struct{ sdk.Defaults }

func (nanScorer) ScorePredictions(_ context.Context, items []sdk.ScoreItem) ([]sdk.ScoreResult, error) {
	out := make([]sdk.ScoreResult, len(items))
	for i, it := range items {
		v := math.NaN()
		out[i] = sdk.ScoreResult{PredictionID: it.PredictionID, Value: &v, Success: true}
	}
	return out, nil
}

type failingScorer struct{ brier }

func (*failingScorer) ScorePredictions(context.Context, []sdk.ScoreItem) ([]sdk.ScoreResult, error) {
	return nil, errors.New("scorer exploded")
}

func TestLeaderboardRebuiltWhenScoringFails(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	seedWindows(t, st)
	p := pred("b", now0.Add(-3*time.Minute), store.StatusSuccess, 0.5, now0.Add(-time.Minute))
	save(t, st, []string{"b"}, p)
	w := newWorker(t, st, &failingScorer{}, clock.NewSimulated(now0), nil)
	res, err := w.RunOnce(ctx)
	if err == nil || !strings.Contains(err.Error(), "scorer exploded") {
		t.Fatalf("RunOnce err = %v, want the scoring failure", err)
	}
	if !res.Leaderboard.Ran || len(res.Leaderboard.Entries) != 4 {
		t.Fatalf("leaderboard not rebuilt after a scoring failure: %+v", res.Leaderboard)
	}
	if sc := byID(t, st)[p.ID].Score; sc != nil {
		t.Fatalf("failed batch was written: %+v", sc)
	}
}

func TestRunScoresAndRebuildsUntilCancelled(t *testing.T) {
	st := openStore(t)
	p := pred("a", now0.Add(-3*time.Minute), store.StatusSuccess, 0.5, now0.Add(-time.Minute))
	save(t, st, []string{"a"}, p)
	w := newWorker(t, st, &brier{}, clock.NewSimulated(now0), nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	for i := 0; ; i++ {
		_, lbErr := st.LatestLeaderboard(context.Background())
		if byID(t, st)[p.ID].Score != nil && lbErr == nil {
			break
		}
		if i > 2000 {
			t.Fatalf("Run did not score and rebuild")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run returned %v", err)
	}
}

// countingBrier counts how often each prediction reaches ScorePredictions.
type countingBrier struct {
	brier
	mu   sync.Mutex
	seen map[string]int
}

func (c *countingBrier) ScorePredictions(ctx context.Context, items []sdk.ScoreItem) ([]sdk.ScoreResult, error) {
	c.mu.Lock()
	for _, it := range items {
		c.seen[it.PredictionID]++
	}
	c.mu.Unlock()
	return c.brier.ScorePredictions(ctx, items)
}

// TestConcurrentLanesScoreEachPredictionOnce scores 3 models x 40 slots in
// batches of 7 with up to 3 lanes: every prediction is scored exactly once
// with its own value, and the counts add up.
func TestConcurrentLanesScoreEachPredictionOnce(t *testing.T) {
	for _, conc := range []int{1, 3} {
		t.Run(fmt.Sprintf("concurrency=%d", conc), func(t *testing.T) {
			ctx := context.Background()
			st := openStore(t)
			models := []string{"a", "b", "c"}
			var preds []store.Prediction
			for i := range 40 {
				at := now0.Add(-time.Duration(100-i) * time.Minute)
				for j, m := range models {
					preds = append(preds, pred(m, at, store.StatusSuccess, float64((i+j)%5)/4, at.Add(time.Minute)))
				}
			}
			save(t, st, models, preds...)
			ch := &countingBrier{seen: map[string]int{}}
			w := newWorker(t, st, ch, clock.NewSimulated(now0), func(c *score.Config) { c.BatchSize, c.Concurrency = 7, conc })
			r, err := w.Score(ctx)
			if err != nil {
				t.Fatalf("Score: %v", err)
			}
			if r.Scored != 120 || r.Claimed != 120 || r.Batches != 18 || r.Waiting != 0 || r.ScoreFailed != 0 {
				t.Errorf("Score = %+v; want 120 scored and claimed in 18 batches", r)
			}
			got := byID(t, st)
			for _, p := range preds {
				if n := ch.seen[p.ID]; n != 1 {
					t.Errorf("prediction %s scored %d times, want once", p.ID, n)
				}
				var out struct {
					PUp float64 `json:"p_up"`
				}
				if err := json.Unmarshal(p.InferenceOutput, &out); err != nil {
					t.Fatal(err)
				}
				want := 1 - (out.PUp-1)*(out.PUp-1)
				if sc := got[p.ID].Score; sc == nil || sc.Value == nil || math.Abs(*sc.Value-want) > 1e-12 || !sc.Success {
					t.Errorf("prediction %s score = %+v, want %v", p.ID, sc, want)
				}
			}
		})
	}
}

// lockedClaimStore stands for PostgreSQL's concurrent claims on a store
// that serialises them: the second claim to start waits inside its batch
// until a claim made meanwhile has come back empty, as a claim does when
// every instant still holding pending predictions is locked by another
// lane (FOR UPDATE SKIP LOCKED), although the claim holding them leaves
// some of their predictions for its next batch.
type lockedClaimStore struct {
	store.Store
	mu       sync.Mutex
	started  int
	inFlight int
	shorted  chan struct{}
}

func (s *lockedClaimStore) ClaimAndScore(ctx context.Context, now time.Time, limit int, fn func(context.Context, []store.Prediction) ([]store.ScoreUpdate, error)) (int, error) {
	s.mu.Lock()
	s.started++
	call := s.started
	if s.inFlight > 0 && s.shorted != nil {
		close(s.shorted) // the concurrent claim: everything claimable is locked
		s.shorted = nil
		s.mu.Unlock()
		return 0, nil
	}
	s.inFlight++
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.inFlight--
		s.mu.Unlock()
	}()
	return s.Store.ClaimAndScore(ctx, now, limit, func(ctx context.Context, preds []store.Prediction) ([]store.ScoreUpdate, error) {
		s.mu.Lock()
		wait := s.shorted
		s.mu.Unlock()
		if call == 2 && wait != nil {
			select {
			case <-wait:
			case <-time.After(5 * time.Second):
			}
		}
		return fn(ctx, preds)
	})
}

// TestShortClaimStopsOnlyItsLane: a lane whose claim comes back short
// while another lane holds a full claim stops alone; the other lane claims
// again, so a cycle scores every due prediction (before, the short claim
// ended every lane and left the rest for the next cycle: on PostgreSQL,
// 400 of 20,000 predictions in the scoring benchmark).
func TestShortClaimStopsOnlyItsLane(t *testing.T) {
	ctx := context.Background()
	base := openStore(t)
	models := []string{"a", "b", "c"}
	var preds []store.Prediction
	for i := range 20 {
		at := now0.Add(-time.Duration(100-i) * time.Minute)
		for j, m := range models {
			preds = append(preds, pred(m, at, store.StatusSuccess, float64((i+j)%5)/4, at.Add(time.Minute)))
		}
	}
	save(t, base, models, preds...)
	st := &lockedClaimStore{Store: base, shorted: make(chan struct{})}
	w := newWorker(t, st, &brier{}, clock.NewSimulated(now0), func(c *score.Config) { c.BatchSize, c.Concurrency = 7, 2 })
	r, err := w.Score(ctx)
	if err != nil {
		t.Fatalf("Score: %v", err)
	}
	if st.shorted != nil {
		t.Fatal("no claim ran alongside another: the test did not exercise a short claim")
	}
	if r.Scored != len(preds) || r.Waiting != 0 {
		t.Errorf("Score = %+v; want all %d predictions scored in one cycle", r, len(preds))
	}
	for id, p := range byID(t, base) {
		if p.Score == nil || p.Score.Value == nil {
			t.Errorf("prediction %s left unscored", id)
		}
	}
}
