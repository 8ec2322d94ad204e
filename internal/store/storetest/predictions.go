package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/store"
)

func nan64() float64                     { return math.NaN() }
func inf64(sign int) float64             { return math.Inf(sign) }
func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }

func save(ctx context.Context, s store.Store, ps ...store.Prediction) error {
	_, err := s.SavePredictCycle(ctx, nil, ps)
	return err
}

func testListPredictions(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := ctxT(t)
	s := migrated(t, open)
	var ps []store.Prediction
	// 10 predictions, alternating models, two share a performed_at (tie broken by id).
	for i := range 10 {
		m := "m1"
		if i%2 == 1 {
			m = "m2"
		}
		at := base.Add(time.Duration(i) * time.Minute)
		if i == 9 {
			at = base.Add(8 * time.Minute)
		}
		p := pred(fmt.Sprintf("P%02d", i), m, at, at)
		if i == 3 {
			p.Status = store.StatusTimeout
		}
		if i == 4 {
			p.Score = &store.Score{Value: f64(1), Success: true, ScoredAt: at}
		}
		ps = append(ps, p)
	}
	// Insert in reverse order: ordering must come from performed_at, id.
	rev := make([]store.Prediction, len(ps))
	for i := range ps {
		rev[len(ps)-1-i] = ps[i]
	}
	_, err := s.SavePredictCycle(ctx, []store.Model{model("m1"), model("m2")}, rev)
	must(t, err, "SavePredictCycle")

	all := []string{"P00", "P01", "P02", "P03", "P04", "P05", "P06", "P07", "P08", "P09"}
	cases := []struct {
		name string
		q    store.PredictionQuery
		want []string
	}{
		{"all", store.PredictionQuery{}, all},
		{"model m2", store.PredictionQuery{ModelIDs: []string{"m2"}}, []string{"P01", "P03", "P05", "P07", "P09"}},
		{"both models", store.PredictionQuery{ModelIDs: []string{"m2", "m1"}}, all},
		{"unknown model", store.PredictionQuery{ModelIDs: []string{"zz"}}, nil},
		{"from inclusive", store.PredictionQuery{From: base.Add(7 * time.Minute)}, []string{"P07", "P08", "P09"}},
		{"to inclusive", store.PredictionQuery{To: base.Add(time.Minute)}, []string{"P00", "P01"}},
		{"window", store.PredictionQuery{From: base.Add(2 * time.Minute), To: base.Add(4 * time.Minute)}, []string{"P02", "P03", "P04"}},
		{"status", store.PredictionQuery{Status: store.StatusTimeout}, []string{"P03"}},
		{"scored only", store.PredictionQuery{ScoredOnly: true}, []string{"P04"}},
		{"page 1", store.PredictionQuery{Limit: 4}, all[:4]},
		{"page 2", store.PredictionQuery{Limit: 4, Offset: 4}, all[4:8]},
		{"page 3", store.PredictionQuery{Limit: 4, Offset: 8}, all[8:]},
		{"past the end", store.PredictionQuery{Limit: 4, Offset: 12}, nil},
		{"combined", store.PredictionQuery{ModelIDs: []string{"m1"}, From: base.Add(time.Minute), Limit: 2, Offset: 1}, []string{"P04", "P06"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := s.ListPredictions(ctx, c.q)
			must(t, err, "ListPredictions")
			if !sameStrings(ids(got), c.want) {
				t.Fatalf("ListPredictions(%+v): expected %v, got %v", c.q, c.want, ids(got))
			}
		})
	}
	_, err = s.ListPredictions(ctx, store.PredictionQuery{Limit: -1})
	wantErrIs(t, err, store.ErrInvalidValue, "ListPredictions with negative limit")
	_, err = s.ListPredictions(ctx, store.PredictionQuery{Offset: -1})
	wantErrIs(t, err, store.ErrInvalidValue, "ListPredictions with negative offset")
}

// scoreAll returns updates scoring every claimed prediction with value v.
func scoreAll(v float64) func(context.Context, []store.Prediction) ([]store.ScoreUpdate, error) {
	return func(_ context.Context, claimed []store.Prediction) ([]store.ScoreUpdate, error) {
		out := make([]store.ScoreUpdate, len(claimed))
		for i, p := range claimed {
			out[i] = store.ScoreUpdate{PredictionID: p.ID, Score: &store.Score{Value: f64(v), Success: true}}
		}
		return out, nil
	}
}

func testClaimAndScore(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := ctxT(t)
	s := migrated(t, open)
	now := base.Add(time.Hour)
	var ps []store.Prediction
	// Due SUCCESS predictions with resolvable_at inserted out of order.
	for i, off := range []int{30, 10, 50, 20, 40} {
		at := now.Add(-time.Duration(off) * time.Minute)
		ps = append(ps, pred(fmt.Sprintf("D%d", i), "m1", at.Add(-time.Minute), at))
	}
	exact := pred("EXACT", "m1", now.Add(-time.Minute), now) // resolvable_at == now is due
	future := pred("FUTURE", "m1", now, now.Add(time.Second))
	failed := pred("FAILED", "m1", base, base)
	failed.Status = store.StatusFailed
	absent := pred("ABSENT", "m1", base, base)
	absent.Status = store.StatusAbsent
	already := pred("ALREADY", "m1", base, base)
	already.Score = &store.Score{Value: f64(9), Success: true, ScoredAt: base}
	ps = append(ps, exact, future, failed, absent, already)
	_, err := s.SavePredictCycle(ctx, []store.Model{model("m1")}, ps)
	must(t, err, "SavePredictCycle")

	// Limit respected, oldest resolvable_at first.
	var got []string
	n, err := s.ClaimAndScore(ctx, now, 2, func(_ context.Context, claimed []store.Prediction) ([]store.ScoreUpdate, error) {
		for _, p := range claimed {
			if p.Score != nil || p.Status != store.StatusSuccess {
				return nil, fmt.Errorf("claimed a scored or non-SUCCESS prediction %+v", p)
			}
		}
		got = ids(claimed)
		return scoreAll(0.5)(ctx, claimed)
	})
	must(t, err, "ClaimAndScore")
	if n != 2 || !sameStrings(got, []string{"D2", "D4"}) {
		t.Fatalf("ClaimAndScore(limit 2): expected [D2 D4] (oldest resolvable_at first), got %d %v", n, got)
	}

	// Next claim: one terminal UNRESOLVED, one scored failure, one left without an update.
	n, err = s.ClaimAndScore(ctx, now, 3, func(_ context.Context, claimed []store.Prediction) ([]store.ScoreUpdate, error) {
		got = ids(claimed)
		return []store.ScoreUpdate{
			{PredictionID: claimed[0].ID, Status: store.StatusUnresolved, Reason: "no ground truth after 24h"},
			{PredictionID: claimed[1].ID, Score: &store.Score{Success: false, FailedReason: "bad output", ScoredAt: now}},
		}, nil
	})
	must(t, err, "ClaimAndScore with mixed updates")
	if n != 3 || !sameStrings(got, []string{"D0", "D3", "D1"}) {
		t.Fatalf("second claim: expected [D0 D3 D1], got %d %v", n, got)
	}

	// D1 (no update) and EXACT are claimable again; nothing else.
	n, err = s.ClaimAndScore(ctx, now, 100, func(_ context.Context, claimed []store.Prediction) ([]store.ScoreUpdate, error) {
		got = ids(claimed)
		return scoreAll(2)(ctx, claimed)
	})
	must(t, err, "ClaimAndScore remaining")
	if n != 2 || !sameStrings(got, []string{"D1", "EXACT"}) {
		t.Fatalf("third claim: expected [D1 EXACT], got %d %v", n, got)
	}
	// Nothing due any more: no claim.
	n, err = s.ClaimAndScore(ctx, now, 100, func(_ context.Context, claimed []store.Prediction) ([]store.ScoreUpdate, error) {
		if len(claimed) > 0 {
			return nil, fmt.Errorf("claimed %v although nothing is due", ids(claimed))
		}
		return nil, nil
	})
	must(t, err, "ClaimAndScore with nothing due")
	if n != 0 {
		t.Fatalf("expected 0 claimed when nothing is due, got %d", n)
	}
	// Later, FUTURE becomes due.
	n, err = s.ClaimAndScore(ctx, now.Add(time.Second), 100, scoreAll(3))
	must(t, err, "ClaimAndScore later")
	if n != 1 {
		t.Fatalf("expected FUTURE to be claimed once due, got %d", n)
	}

	// Check what was written.
	all, err := s.ListPredictions(ctx, store.PredictionQuery{})
	must(t, err, "ListPredictions")
	byID := map[string]store.Prediction{}
	for _, p := range all {
		byID[p.ID] = p
	}
	if p := byID["D2"]; p.Score == nil || p.Score.Value == nil || *p.Score.Value != 0.5 || !p.Score.Success {
		t.Errorf("D2: expected score 0.5 success, got %+v", p.Score)
	} else {
		wantTime(t, "zero ScoredAt defaults to the claim time", p.Score.ScoredAt, now)
	}
	if p := byID["D0"]; p.Status != store.StatusUnresolved || p.Score != nil {
		t.Errorf("D0: expected terminal UNRESOLVED without score, got status %q score %+v", p.Status, p.Score)
	}
	if p := byID["D3"]; p.Score == nil || p.Score.Success || p.Score.Value != nil || p.Score.FailedReason != "bad output" {
		t.Errorf("D3: expected failed score with reason, got %+v", p.Score)
	}
	if p := byID["ALREADY"]; p.Score == nil || *p.Score.Value != 9 {
		t.Errorf("ALREADY: pre-existing score must not change, got %+v", p.Score)
	}
	for _, id := range []string{"FAILED", "ABSENT"} {
		if byID[id].Score != nil {
			t.Errorf("%s: non-SUCCESS predictions must never be claimed/scored, got %+v", id, byID[id].Score)
		}
	}
	if c, err := s.CountPredictions(ctx, store.StatusUnresolved); err != nil || c != 1 {
		t.Errorf("CountPredictions(UNRESOLVED): expected 1, got %d (%v)", c, err)
	}
	_, err = s.ClaimAndScore(ctx, now, 0, scoreAll(1))
	if err == nil {
		t.Errorf("ClaimAndScore with limit 0: expected an error, got nil")
	}
}

func testClaimAndScoreErrors(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := ctxT(t)
	s := migrated(t, open)
	now := base.Add(time.Hour)
	_, err := s.SavePredictCycle(ctx, []store.Model{model("m1")}, []store.Prediction{pred("A", "m1", base, base), pred("B", "m1", base, base.Add(time.Second))})
	must(t, err, "SavePredictCycle")

	boom := errors.New("scoring exploded")
	n, err := s.ClaimAndScore(ctx, now, 10, func(context.Context, []store.Prediction) ([]store.ScoreUpdate, error) {
		return []store.ScoreUpdate{{PredictionID: "A", Score: &store.Score{Value: f64(1), Success: true}}}, boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("ClaimAndScore with failing fn: expected the fn error, got %v", err)
	}
	if n != 0 {
		t.Errorf("ClaimAndScore with failing fn: expected 0 claimed, got %d", n)
	}
	if c, _ := s.ListPredictions(ctx, store.PredictionQuery{ScoredOnly: true}); len(c) != 0 {
		t.Fatalf("fn error: nothing may be written, got scored %v", ids(c))
	}
	bad := []struct {
		name string
		u    []store.ScoreUpdate
	}{
		{"NaN score", []store.ScoreUpdate{{PredictionID: "A", Score: &store.Score{Value: f64(nan64()), Success: true}}}},
		{"Inf score", []store.ScoreUpdate{{PredictionID: "B", Score: &store.Score{Value: f64(inf64(1)), Success: true}}}},
		{"unclaimed id", []store.ScoreUpdate{{PredictionID: "A", Score: &store.Score{Value: f64(1), Success: true}}, {PredictionID: "NOT-CLAIMED", Score: &store.Score{Value: f64(1), Success: true}}}},
	}
	for _, b := range bad {
		_, err := s.ClaimAndScore(ctx, now, 10, func(context.Context, []store.Prediction) ([]store.ScoreUpdate, error) { return b.u, nil })
		wantErrIs(t, err, store.ErrInvalidValue, "ClaimAndScore with "+b.name)
		if c, _ := s.ListPredictions(ctx, store.PredictionQuery{ScoredOnly: true}); len(c) != 0 {
			t.Fatalf("%s: nothing may be written, got scored %v", b.name, ids(c))
		}
	}
	// Everything is still claimable and gets scored exactly once.
	n, err = s.ClaimAndScore(ctx, now, 10, scoreAll(1))
	must(t, err, "ClaimAndScore after errors")
	if n != 2 {
		t.Fatalf("expected both predictions claimable after failed attempts, got %d", n)
	}
	// Scoring twice is a no-op: nothing left to claim.
	n, err = s.ClaimAndScore(ctx, now, 10, scoreAll(5))
	must(t, err, "ClaimAndScore again")
	if n != 0 {
		t.Fatalf("already-scored predictions must not be claimed again, got %d", n)
	}
	ps, err := s.ListPredictions(ctx, store.PredictionQuery{ScoredOnly: true})
	must(t, err, "ListPredictions")
	for _, p := range ps {
		if *p.Score.Value != 1 {
			t.Errorf("%s: score changed by a second scoring to %v", p.ID, *p.Score.Value)
		}
	}
}

func testClaimConcurrent(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := ctxT(t)
	a := migrated(t, open)
	b := open(t) // second Store, own pool, same database
	const total = 300
	ps := make([]store.Prediction, total)
	for i := range ps {
		at := base.Add(time.Duration(i) * time.Second)
		ps[i] = pred(fmt.Sprintf("C%04d", i), "m1", at, at)
	}
	_, err := a.SavePredictCycle(ctx, []store.Model{model("m1")}, ps)
	must(t, err, "SavePredictCycle")
	now := base.Add(time.Hour)

	var mu sync.Mutex
	seen := map[string]int{}
	perStore := make([]int, 2)
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for w, s := range []store.Store{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				n, err := s.ClaimAndScore(ctx, now, 7, func(ctx context.Context, claimed []store.Prediction) ([]store.ScoreUpdate, error) {
					mu.Lock()
					for _, p := range claimed {
						seen[p.ID]++
					}
					mu.Unlock()
					return scoreAll(float64(w))(ctx, claimed)
				})
				if err != nil {
					errs <- fmt.Errorf("worker %d: %w", w, err)
					return
				}
				if n == 0 {
					return
				}
				perStore[w] += n
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if len(seen) != total {
		t.Fatalf("concurrent claimers: expected all %d predictions claimed, got %d", total, len(seen))
	}
	for id, c := range seen {
		if c != 1 {
			t.Fatalf("prediction %s was claimed %d times", id, c)
		}
	}
	if perStore[0]+perStore[1] != total {
		t.Fatalf("claimed counts %v do not add up to %d", perStore, total)
	}
	scored, err := b.ListPredictions(ctx, store.PredictionQuery{ScoredOnly: true, Limit: total + 1})
	must(t, err, "ListPredictions")
	if len(scored) != total {
		t.Fatalf("expected %d scored predictions, got %d", total, len(scored))
	}
}

func testScoredAndStats(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := ctxT(t)
	s := migrated(t, open)
	var ps []store.Prediction
	add := func(id, m string, minute int, sc *store.Score) {
		at := base.Add(time.Duration(minute) * time.Minute)
		p := pred(id, m, at.Add(-time.Minute), at)
		p.Score = sc
		ps = append(ps, p)
	}
	ok := func(v float64) *store.Score { return &store.Score{Value: f64(v), Success: true, ScoredAt: base} }
	add("a1", "m1", 0, ok(1))
	add("a2", "m1", 10, ok(2))
	add("a3", "m1", 20, ok(6))
	add("a4", "m1", 30, &store.Score{Success: false, FailedReason: "x", ScoredAt: base}) // failed: not in stats
	add("a5", "m1", 40, &store.Score{Value: nil, Success: true, ScoredAt: base})         // null value: not in stats
	add("a6", "m1", 50, nil)                                                             // unscored
	add("b1", "m2", 10, ok(-4))
	add("b2", "m2", 60, ok(10))
	add("c1", "m3", 15, nil)
	ps[len(ps)-1].Status = store.StatusFailed // a non-answer
	add("c2", "m3", 25, nil)
	ps[len(ps)-1].Status = store.StatusUnresolved // neither answer nor non-answer
	_, err := s.SavePredictCycle(ctx, []store.Model{model("m1"), model("m2"), model("m3")}, ps)
	must(t, err, "SavePredictCycle")

	sp, err := s.WindowPredictions(ctx, "m3", base, base.Add(time.Hour), 0)
	must(t, err, "WindowPredictions")
	if !sameStrings(ids(sp), []string{"c1"}) {
		t.Fatalf("WindowPredictions: expected m3's FAILED c1 (a non-answer; UNRESOLVED c2 does not count), got %v", ids(sp))
	}
	sp, err = s.WindowPredictions(ctx, "m1", base, base.Add(time.Hour), 0)
	must(t, err, "WindowPredictions")
	if !sameStrings(ids(sp), []string{"a1", "a2", "a3", "a4", "a5"}) {
		t.Fatalf("WindowPredictions: expected scored a1..a5 by resolvable_at, got %v", ids(sp))
	}
	sp, err = s.WindowPredictions(ctx, "m1", base.Add(10*time.Minute), base.Add(20*time.Minute), 0)
	must(t, err, "WindowPredictions window")
	if !sameStrings(ids(sp), []string{"a2", "a3"}) {
		t.Fatalf("WindowPredictions inclusive window: expected [a2 a3], got %v", ids(sp))
	}
	sp, err = s.WindowPredictions(ctx, "m1", base, base.Add(time.Hour), 2)
	must(t, err, "WindowPredictions limit")
	if !sameStrings(ids(sp), []string{"a1", "a2"}) {
		t.Fatalf("WindowPredictions limit 2: expected [a1 a2], got %v", ids(sp))
	}

	cases := []struct {
		name     string
		from, to time.Time
		want     []store.ModelScoreStat
	}{
		// m1's failed and null-valued scores are non-answers, its unscored a6
		// is pending; m3 has one FAILED (non-answer) and one UNRESOLVED.
		{"everything", base, base.Add(2 * time.Hour), []store.ModelScoreStat{
			{ModelID: "m1", Count: 3, Sum: 9, Mean: 3, Min: 1, NonAnswers: 2}, {ModelID: "m2", Count: 2, Sum: 6, Mean: 3, Min: -4}, {ModelID: "m3", NonAnswers: 1}}},
		{"inclusive window", base.Add(10 * time.Minute), base.Add(20 * time.Minute), []store.ModelScoreStat{
			{ModelID: "m1", Count: 2, Sum: 8, Mean: 4, Min: 2}, {ModelID: "m2", Count: 1, Sum: -4, Mean: -4, Min: -4}, {ModelID: "m3", NonAnswers: 1}}},
		{"only m2", base.Add(55 * time.Minute), base.Add(2 * time.Hour), []store.ModelScoreStat{{ModelID: "m2", Count: 1, Sum: 10, Mean: 10, Min: 10}}},
		{"empty", base.Add(3 * time.Hour), base.Add(4 * time.Hour), nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := s.ModelScoreStats(ctx, c.from, c.to)
			must(t, err, "ModelScoreStats")
			if len(got) != len(c.want) {
				t.Fatalf("ModelScoreStats: expected %+v, got %+v", c.want, got)
			}
			for i := range got {
				g, w := got[i], c.want[i]
				if g.ModelID != w.ModelID || g.Count != w.Count || math.Abs(g.Sum-w.Sum) > 1e-9 || math.Abs(g.Mean-w.Mean) > 1e-9 ||
					math.Abs(g.Min-w.Min) > 1e-9 || g.NonAnswers != w.NonAnswers {
					t.Fatalf("ModelScoreStats[%d]: expected %+v, got %+v", i, w, g)
				}
			}
		})
	}
}

func testLatestPerformedAndCount(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := ctxT(t)
	s := migrated(t, open)
	must(t, s.ReplaceSchedules(ctx, []store.ScheduleRow{{ID: "CFG_001", ScopeKey: "a", Active: true}, {ID: "CFG_002", ScopeKey: "b", Active: true}}), "ReplaceSchedules")
	_, err := s.LatestPerformedAt(ctx, "CFG_001")
	wantErrIs(t, err, store.ErrNotFound, "LatestPerformedAt without predictions")
	if n, err := s.CountPredictions(ctx, ""); err != nil || n != 0 {
		t.Fatalf("CountPredictions on empty table: expected 0, got %d (%v)", n, err)
	}
	var ps []store.Prediction
	for i, off := range []int{5, 1, 9, 3} {
		at := base.Add(time.Duration(off) * time.Minute)
		p := pred(fmt.Sprintf("L%d", i), "m1", at, at)
		p.PredictionConfigID = "CFG_001"
		if i == 0 {
			p.Status = store.StatusAbsent
		}
		ps = append(ps, p)
	}
	other := pred("OTHER", "m1", base.Add(time.Hour), base.Add(time.Hour))
	other.PredictionConfigID = "CFG_002"
	ps = append(ps, other)
	_, err = s.SavePredictCycle(ctx, []store.Model{model("m1")}, ps)
	must(t, err, "SavePredictCycle")
	got, err := s.LatestPerformedAt(ctx, "CFG_001")
	must(t, err, "LatestPerformedAt")
	wantTime(t, "LatestPerformedAt", got, base.Add(9*time.Minute))
	for _, c := range []struct {
		status string
		want   int64
	}{{"", 5}, {store.StatusSuccess, 4}, {store.StatusAbsent, 1}, {store.StatusTimeout, 0}} {
		n, err := s.CountPredictions(ctx, c.status)
		must(t, err, "CountPredictions")
		if n != c.want {
			t.Errorf("CountPredictions(%q): expected %d, got %d", c.status, c.want, n)
		}
	}
}
