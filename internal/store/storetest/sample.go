package storetest

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/store"
)

// testSamplePredictions: a chart's window is cut into equal buckets and
// each series (model, scope_key) keeps its newest prediction per bucket,
// so the window's newest prediction is always there.
func testSamplePredictions(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := ctxT(t)
	s := migrated(t, open)
	var ps []store.Prediction
	for i := range 60 {
		at := base.Add(time.Duration(i) * time.Minute)
		ps = append(ps, pred(fmt.Sprintf("A%02d", i), "m1", at, at.Add(time.Minute)))
		b := pred(fmt.Sprintf("B%02d", i), "m2", at, at.Add(time.Minute))
		if i%2 == 1 {
			b.ScopeKey, b.Scope = "ETH-60-60", json.RawMessage(`{"asset":"ETH"}`)
		}
		if i == 59 {
			b.Status = store.StatusTimeout
		}
		ps = append(ps, b)
	}
	_, err := s.SavePredictCycle(ctx, []store.Model{model("m1"), model("m2")}, ps)
	must(t, err, "SavePredictCycle")
	end := base.Add(59 * time.Minute)
	for _, tc := range []struct {
		name string
		q    store.SampleQuery
		want string
	}{
		{"six buckets of ten minutes, newest of each", store.SampleQuery{ModelIDs: []string{"m1"}, From: base, To: end, Buckets: 6},
			"[A09 A19 A29 A39 A49 A59]"},
		// Width ceil(59 min / 6) = 9 min 50 s: the last bucket also holds To.
		{"one bucket: the newest of each series", store.SampleQuery{From: base, To: end, Buckets: 1},
			"[B58 A59 B59]"},
		{"two series of one model", store.SampleQuery{ModelIDs: []string{"m2"}, From: base, To: end, Buckets: 2},
			"[B28 B29 B58 B59]"},
		{"status filter", store.SampleQuery{ModelIDs: []string{"m2"}, From: base, To: end, Status: store.StatusTimeout, Buckets: 3},
			"[B59]"},
		{"more buckets than points keeps every point", store.SampleQuery{ModelIDs: []string{"m1"}, From: base.Add(55 * time.Minute), To: end, Buckets: 1000},
			"[A55 A56 A57 A58 A59]"},
		{"a window longer than the data is cut from the oldest prediction", store.SampleQuery{ModelIDs: []string{"m1"}, From: base.Add(-50 * time.Minute), To: end, Buckets: 6},
			"[A09 A19 A29 A39 A49 A59]"},
		{"no prediction in the window", store.SampleQuery{From: end.Add(time.Minute), To: end.Add(time.Hour), Buckets: 6}, "[]"},
		{"window bounds inclusive", store.SampleQuery{ModelIDs: []string{"m1"}, From: base.Add(10 * time.Minute), To: base.Add(12 * time.Minute), Buckets: 1},
			"[A12]"},
		// Three series with a prediction in the window: 7 / 3 = 2 buckets
		// each, of 29.5 minutes.
		{"MaxPoints shared by the series", store.SampleQuery{From: base, To: end, Buckets: 6, MaxPoints: 7},
			"[B28 A29 B29 B58 A59 B59]"},
		{"MaxPoints below the series count keeps one each", store.SampleQuery{From: base, To: end, Buckets: 6, MaxPoints: 1},
			"[B58 A59 B59]"},
		{"all models when none is named", store.SampleQuery{From: base.Add(58 * time.Minute), To: end, Buckets: 2},
			"[A58 B58 A59 B59]"},
		{"unknown model", store.SampleQuery{ModelIDs: []string{"nope"}, From: base, To: end, Buckets: 2}, "[]"},
		// A fixed grid: buckets of 25 minutes from 5 minutes before the
		// oldest prediction (neither the data nor MaxPoints moves it); the
		// last one holds up to To.
		{"fixed grid", store.SampleQuery{ModelIDs: []string{"m1"}, From: base.Add(-5 * time.Minute), To: end, Buckets: 3, Width: 25 * time.Minute, MaxPoints: 1},
			"[A19 A44 A59]"},
		{"fixed grid shorter than the window: the last bucket holds up to To", store.SampleQuery{ModelIDs: []string{"m2"}, From: base, To: end, Buckets: 2, Width: 10 * time.Minute},
			"[B08 B09 B58 B59]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.SamplePredictions(ctx, tc.q)
			must(t, err, "SamplePredictions")
			if g := fmt.Sprint(ids(got)); g != tc.want {
				t.Fatalf("got %s, want %s", g, tc.want)
			}
			for _, p := range got {
				if p.InferenceInput != nil || p.InputID != store.InputID([]byte(`{"close":[1,2,3]}`)) || p.Scope == nil {
					t.Errorf("%s: input %s, input id %q, scope %s", p.ID, p.InferenceInput, p.InputID, p.Scope)
				}
				if p.InferenceOutput != nil || p.Meta != nil || p.GroundTruth != nil {
					t.Errorf("%s: output %s, meta %s, ground truth %s: a chart reads none of them", p.ID, p.InferenceOutput, p.Meta, p.GroundTruth)
				}
			}
		})
	}
	// SampleStart: the oldest prediction of the window (with the status).
	for _, tc := range []struct {
		q    store.SampleQuery
		want time.Time
		ok   bool
	}{
		{store.SampleQuery{ModelIDs: []string{"m2"}, From: base.Add(-time.Hour), To: end, Buckets: 1}, base, true},
		{store.SampleQuery{From: base.Add(90 * time.Second), To: end, Buckets: 1}, base.Add(2 * time.Minute), true},
		{store.SampleQuery{From: base, To: end, Status: store.StatusTimeout, Buckets: 1}, end, true},
		{store.SampleQuery{ModelIDs: []string{"nope"}, From: base, To: end, Buckets: 1}, time.Time{}, false},
		{store.SampleQuery{From: end.Add(time.Second), To: end.Add(time.Hour), Buckets: 1}, time.Time{}, false},
	} {
		got, ok, err := s.SampleStart(ctx, store.ChartPredictions, tc.q)
		must(t, err, "SampleStart")
		if ok != tc.ok || !got.Equal(tc.want) || (ok && got.Location() != time.UTC) {
			t.Errorf("SampleStart(%+v) = %v, %v; want %v, %v (UTC)", tc.q, got, ok, tc.want, tc.ok)
		}
	}
	_, _, err = s.SampleStart(ctx, "nope", store.SampleQuery{From: base, To: end, Buckets: 1})
	wantErrIs(t, err, store.ErrInvalidValue, "SampleStart(unknown kind)")
	for _, q := range []store.SampleQuery{{From: base, To: end}, {From: base, To: end, Buckets: store.MaxSampleBuckets + 1}, {To: end, Buckets: 1}, {From: end, To: base, Buckets: 1},
		{From: base, To: end, Buckets: 1, MaxPoints: -1}, {From: base, To: end, Buckets: 1, Width: -time.Minute}, {From: base, To: end, Buckets: 1, Width: time.Nanosecond}} {
		_, err := s.SamplePredictions(ctx, q)
		wantErrIs(t, err, store.ErrInvalidValue, fmt.Sprintf("SamplePredictions(%+v)", q))
	}
}

// testSampleModelScores: the score history is sampled with the same rule,
// the models being the series.
func testSampleModelScores(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := ctxT(t)
	s := migrated(t, open)
	must(t, s.UpsertModels(ctx, []store.Model{model("m1"), model("m2"), model("m3")}), "UpsertModels")
	for i := range 60 {
		at := base.Add(time.Duration(i) * time.Minute)
		var pts []store.ModelScore
		for _, m := range []string{"m1", "m2"} {
			if m == "m2" && i%2 == 1 {
				continue
			}
			pts = append(pts, store.ModelScore{ID: fmt.Sprintf("%s-%02d", m, i), ModelID: m, Score: json.RawMessage(fmt.Sprintf(`{"metrics":{"v":%d}}`, i)), ComputedAt: at})
		}
		must(t, s.SaveLeaderboard(ctx, store.Leaderboard{ID: fmt.Sprintf("L%02d", i), CreatedAt: at, Entries: json.RawMessage(`[]`)}, pts), "SaveLeaderboard")
	}
	// A tie at the last instant: the larger id is kept.
	must(t, s.SaveLeaderboard(ctx, store.Leaderboard{ID: "Ltie", CreatedAt: base.Add(59 * time.Minute), Entries: json.RawMessage(`[]`)},
		[]store.ModelScore{{ID: "m1-99", ModelID: "m1", Score: json.RawMessage(`{}`), ComputedAt: base.Add(59 * time.Minute)}}), "SaveLeaderboard")
	end := base.Add(59 * time.Minute)
	for _, tc := range []struct {
		name string
		q    store.SampleQuery
		want string
	}{
		{"six buckets, newest of each", store.SampleQuery{ModelIDs: []string{"m1"}, From: base, To: end, Buckets: 6},
			"[m1-09 m1-19 m1-29 m1-39 m1-49 m1-99]"},
		{"every model with points when none is named", store.SampleQuery{From: base, To: end, Buckets: 2},
			"[m2-28 m1-29 m2-58 m1-99]"},
		{"MaxPoints shared by the models", store.SampleQuery{From: base, To: end, Buckets: 6, MaxPoints: 4},
			"[m2-28 m1-29 m2-58 m1-99]"},
		{"window cut from the oldest point", store.SampleQuery{ModelIDs: []string{"m2", "m3"}, From: base.Add(-time.Hour), To: end, Buckets: 3},
			"[m2-18 m2-38 m2-58]"},
		{"no point in the window", store.SampleQuery{From: end.Add(time.Minute), To: end.Add(time.Hour), Buckets: 3}, "[]"},
		{"fixed grid", store.SampleQuery{ModelIDs: []string{"m1", "m2"}, From: base.Add(-10 * time.Minute), To: end, Buckets: 2, Width: 40 * time.Minute, MaxPoints: 1},
			"[m2-28 m1-29 m2-58 m1-99]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.SampleModelScores(ctx, tc.q)
			must(t, err, "SampleModelScores")
			var gotIDs []string
			for _, p := range got {
				gotIDs = append(gotIDs, p.ID)
				if p.ComputedAt.Location() != time.UTC || len(p.Score) == 0 {
					t.Errorf("%s: computed_at %v score %s", p.ID, p.ComputedAt, p.Score)
				}
			}
			if g := fmt.Sprint(gotIDs); g != tc.want {
				t.Fatalf("got %s, want %s", g, tc.want)
			}
		})
	}
	first, ok, err := s.SampleStart(ctx, store.ChartModelScores, store.SampleQuery{ModelIDs: []string{"m2", "m3"}, From: base.Add(time.Second), To: end, Buckets: 1})
	must(t, err, "SampleStart")
	if !ok || !first.Equal(base.Add(2*time.Minute)) {
		t.Errorf("SampleStart(score points of m2, m3 from 00:00:01) = %v, %v; want %v", first, ok, base.Add(2*time.Minute))
	}
	_, _, err = s.SampleStart(ctx, store.ChartModelScores, store.SampleQuery{From: base, To: end, Buckets: 1, Status: store.StatusSuccess})
	wantErrIs(t, err, store.ErrInvalidValue, "SampleStart(score points with a status)")
	for _, q := range []store.SampleQuery{{From: base, To: end}, {From: base, To: end, Buckets: 1, Status: store.StatusSuccess}} {
		_, err := s.SampleModelScores(ctx, q)
		wantErrIs(t, err, store.ErrInvalidValue, fmt.Sprintf("SampleModelScores(%+v)", q))
	}
}

// testSampleSeriesOfEveryInsert: every series (model, scope_key) stored
// through any insert path of SavePredictCycle (a cycle of unscored
// predictions, one with a scored prediction, a later cycle adding a scope
// to a model already stored, predictions on two days) is found by
// SamplePredictions, status "" and SUCCESS: store.ChartDaysOfPredictions'
// invariant, which the PostgreSQL driver's series enumeration relies on.
func testSampleSeriesOfEveryInsert(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := ctxT(t)
	s := migrated(t, open)
	scoped := func(p store.Prediction, key string) store.Prediction {
		p.ScopeKey, p.Scope = key, json.RawMessage(`{"asset":"`+key+`"}`)
		return p
	}
	day2 := base.Add(24 * time.Hour)
	cycles := [][]store.Prediction{
		// Unscored: the PostgreSQL driver's batch path.
		{pred("U1", "m1", base, base.Add(time.Minute)), scoped(pred("U2", "m2", base, base.Add(time.Minute)), "ETH")},
		// A scored prediction: the driver's transaction path.
		{scoped(pred("S1", "m3", base.Add(time.Minute), base.Add(2*time.Minute)), "SOL")},
		// A new scope of a stored model, on the next day.
		{scoped(pred("N1", "m1", day2, day2.Add(time.Minute)), "XRP")},
	}
	cycles[1][0].Score = &store.Score{Value: f64(1), Success: true, ScoredAt: base.Add(2 * time.Minute)}
	want := map[string]bool{}
	for i, c := range cycles {
		_, err := s.SavePredictCycle(ctx, []store.Model{model("m1"), model("m2"), model("m3")}, c)
		must(t, err, fmt.Sprintf("SavePredictCycle %d", i))
		for _, p := range c {
			want[p.ModelID+"/"+p.ScopeKey] = true
		}
	}
	for _, status := range []string{"", store.StatusSuccess} {
		got, err := s.SamplePredictions(ctx, store.SampleQuery{From: base, To: day2.Add(time.Hour), Status: status, Buckets: 1})
		must(t, err, "SamplePredictions")
		seen := map[string]bool{}
		for _, p := range got {
			seen[p.ModelID+"/"+p.ScopeKey] = true
		}
		if !reflect.DeepEqual(seen, want) {
			t.Errorf("SamplePredictions (status %q): expected the series %v, found %v", status, want, seen)
		}
	}
}
