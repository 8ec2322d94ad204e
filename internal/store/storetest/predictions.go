package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/store"
)

func nan64() float64 { return math.NaN() }

func inf64(sign int) float64 { return math.Inf(sign) }

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }

func save(ctx context.Context, s store.Store, ps ...store.Prediction) error {
	_, err := s.SavePredictCycle(ctx, nil, ps)
	return err
}

func testSavePredictCycle(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := ctxT(t)
	s := migrated(t, open)
	must(t, s.ReplaceSchedules(ctx, []store.ScheduleRow{{ID: "CFG_001", ScopeKey: "BTC-60-60", Active: true, Order: 1}}), "ReplaceSchedules")
	p1 := pred(store.PredictionID("CFG_001", "m1", base), "m1", base, base.Add(time.Minute))
	p1.PredictionConfigID = "CFG_001"
	p1.Meta = json.RawMessage(`{"k":"v"}`)
	p2 := pred(store.PredictionID("CFG_001", "m2", base), "m2", base, time.Time{}) // resolvable falls back to performed
	p2.PredictionConfigID = "CFG_001"
	p2.Status = store.StatusAbsent
	p2.ExecTimeMs = 0
	p2.InferenceOutput = nil
	p3 := pred("P3", "m1", base.Add(time.Second), base.Add(time.Minute))

	n, err := s.SavePredictCycle(ctx, []store.Model{model("m1"), model("m2")}, []store.Prediction{p1, p2, p3})
	must(t, err, "SavePredictCycle")
	if n != 3 {
		t.Fatalf("SavePredictCycle: expected 3 inserted, got %d", n)
	}
	// Retried cycle: nothing new, and the original rows are unchanged.
	p1b := p1
	p1b.Status = store.StatusFailed
	n, err = s.SavePredictCycle(ctx, []store.Model{model("m1"), model("m2")}, []store.Prediction{p1b, p2, p3})
	must(t, err, "SavePredictCycle retry")
	if n != 0 {
		t.Fatalf("SavePredictCycle retry: expected 0 inserted, got %d", n)
	}
	ms, err := s.ListModels(ctx)
	must(t, err, "ListModels")
	if len(ms) != 2 {
		t.Fatalf("SavePredictCycle must upsert models: expected 2, got %d", len(ms))
	}
	ps, err := s.ListPredictions(ctx, store.PredictionQuery{})
	must(t, err, "ListPredictions")
	if len(ps) != 3 {
		t.Fatalf("ListPredictions: expected 3, got %d", len(ps))
	}
	byID := map[string]store.Prediction{}
	for _, p := range ps {
		byID[p.ID] = p
	}
	g := byID[p1.ID]
	if g.Status != store.StatusSuccess {
		t.Errorf("insert-if-absent: retry must not overwrite status, got %q", g.Status)
	}
	if g.ModelID != "m1" || g.PredictionConfigID != "CFG_001" || g.ScopeKey != "BTC-60-60" || g.ExecTimeMs != 12.5 || g.Score != nil {
		t.Errorf("prediction fields not round-tripped: %+v", g)
	}
	wantJSON(t, "scope", g.Scope, `{"asset":"BTC","horizon":60}`)
	wantJSON(t, "inference input", g.InferenceInput, `{"close":[1,2,3]}`)
	wantJSON(t, "inference output", g.InferenceOutput, `{"value":1.5}`)
	wantJSON(t, "meta", g.Meta, `{"k":"v"}`)
	wantTime(t, "performed_at", g.PerformedAt, base)
	wantTime(t, "resolvable_at", g.ResolvableAt, base.Add(time.Minute))
	g2 := byID[p2.ID]
	wantTime(t, "resolvable_at falls back to performed_at", g2.ResolvableAt, base)
	wantJSON(t, "nil output stored as {}", g2.InferenceOutput, `{}`)
	if byID["P3"].PredictionConfigID != "" {
		t.Errorf("empty config id: expected empty, got %q", byID["P3"].PredictionConfigID)
	}

	// A prediction that already carries a score is stored scored.
	p4 := pred("P4", "m1", base.Add(2*time.Second), base.Add(time.Minute))
	p4.Score = &store.Score{Value: f64(0.25), Success: true, ScoredAt: base.Add(time.Hour)}
	n, err = s.SavePredictCycle(ctx, nil, []store.Prediction{p4})
	must(t, err, "SavePredictCycle with a scored prediction")
	if n != 1 {
		t.Fatalf("expected 1 inserted, got %d", n)
	}
	ps, err = s.ListPredictions(ctx, store.PredictionQuery{ScoredOnly: true})
	must(t, err, "ListPredictions scored")
	if len(ps) != 1 || ps[0].Score == nil || ps[0].Score.Value == nil || *ps[0].Score.Value != 0.25 || !ps[0].Score.Success {
		t.Fatalf("pre-scored prediction not round-tripped: %+v", ps)
	}
	wantTime(t, "score scored_at", ps[0].Score.ScoredAt, base.Add(time.Hour))

	// A repeat inside one batch of unscored predictions is skipped: the
	// first one wins and counts once.
	p5 := pred("P5", "m1", base.Add(3*time.Second), base.Add(time.Minute))
	p5b := p5
	p5b.Status = store.StatusFailed
	n, err = s.SavePredictCycle(ctx, nil, []store.Prediction{p5, p5b})
	must(t, err, "SavePredictCycle with a repeated id")
	if n != 1 {
		t.Fatalf("repeated id in a batch: expected 1 inserted, got %d", n)
	}
	ps, err = s.ListPredictions(ctx, store.PredictionQuery{})
	must(t, err, "ListPredictions after a repeated id")
	for _, p := range ps {
		if p.ID == "P5" && p.Status != store.StatusSuccess {
			t.Errorf("repeated id in a batch: the first must win, got status %q", p.Status)
		}
	}

	// Invalid prediction in a batch: nothing of the batch (models included) is written.
	bad := pred("BAD", "m3", base, base)
	bad.Status = ""
	_, err = s.SavePredictCycle(ctx, []store.Model{model("m3")}, []store.Prediction{pred("OK", "m3", base, base), bad})
	wantErrIs(t, err, store.ErrInvalidValue, "SavePredictCycle with an empty status")
	ms, err = s.ListModels(ctx)
	must(t, err, "ListModels after failed cycle")
	if len(ms) != 2 {
		t.Fatalf("failed SavePredictCycle must not write models: expected 2, got %d", len(ms))
	}
	if c, err := s.CountPredictions(ctx, ""); err != nil || c != 5 {
		t.Fatalf("failed SavePredictCycle must not write predictions: expected 5, got %d (%v)", c, err)
	}
	// A prediction of an unknown model fails (store.ErrInvalidValue) and
	// writes nothing, not even the cycle's models.
	_, err = s.SavePredictCycle(ctx, []store.Model{model("m9")}, []store.Prediction{pred("ORPHAN", "nobody", base, base)})
	wantErrIs(t, err, store.ErrInvalidValue, "SavePredictCycle with a prediction of an unknown model")
	if ms, err := s.ListModels(ctx); err != nil || len(ms) != 2 {
		t.Fatalf("failed SavePredictCycle must not write models: expected 2, got %d (%v)", len(ms), err)
	}
	if c, err := s.CountPredictions(ctx, ""); err != nil || c != 5 {
		t.Fatalf("failed SavePredictCycle must not write predictions: expected 5, got %d (%v)", c, err)
	}
}

func testJSONFidelity(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := ctxT(t)
	s := migrated(t, open)
	docs := []struct{ name, doc string }{
		{"nested", `{"a":{"b":{"c":[1,{"d":[true,false,null]}]}},"e":"x"}`},
		{"unicode", `{"name":"Zoë 東京 🚀","esc":"quote \" backslash \\ tab \t","k€y":"ok"}`},
		{"big integers", `{"big":12345678901234567890,"neg":-98765432109876543210,"arr":[18446744073709551615]}`},
		{"floats", `{"pi":3.141592653589793,"small":1.5e-7,"neg":-0.1,"huge":1e300,"half":0.5}`},
		{"array top level", `[1,"two",{"three":3.0}]`},
		{"empty", `{}`},
	}
	must(t, s.UpsertModels(ctx, []store.Model{model("m1")}), "UpsertModels")
	for i, d := range docs {
		t.Run(d.name, func(t *testing.T) {
			raw := json.RawMessage(d.doc)
			at := base.Add(time.Duration(i) * time.Minute)
			p := pred("J"+d.name, "m1", at, at)
			p.Scope, p.InferenceInput, p.InferenceOutput, p.Meta = raw, raw, raw, raw
			if _, err := s.SavePredictCycle(ctx, nil, []store.Prediction{p}); err != nil {
				t.Fatalf("SavePredictCycle: %v", err)
			}
			ps, err := s.ListPredictions(ctx, store.PredictionQuery{From: at, To: at})
			must(t, err, "ListPredictions")
			if len(ps) != 1 {
				t.Fatalf("expected 1 prediction, got %d", len(ps))
			}
			for _, f := range []struct {
				n string
				v json.RawMessage
			}{{"scope", ps[0].Scope}, {"input", ps[0].InferenceInput}, {"output", ps[0].InferenceOutput}, {"meta", ps[0].Meta}} {
				wantJSON(t, "prediction "+f.n, f.v, d.doc)
			}

			lb := store.Leaderboard{ID: "LBR_" + d.name, CreatedAt: base.Add(time.Duration(i) * time.Hour), Entries: raw, Meta: raw}
			must(t, s.SaveLeaderboard(ctx, lb, []store.ModelScore{{ID: "MS_" + d.name, ModelID: "m1", Score: raw, ComputedAt: at}}), "SaveLeaderboard")
			got, err := s.LatestLeaderboard(ctx)
			must(t, err, "LatestLeaderboard")
			wantJSON(t, "leaderboard entries", got.Entries, d.doc)
			wantJSON(t, "leaderboard meta", got.Meta, d.doc)
			hist, err := s.ModelScoreHistory(ctx, []string{"m1"}, at, at, 0)
			must(t, err, "ModelScoreHistory")
			if len(hist) != 1 {
				t.Fatalf("ModelScoreHistory: expected 1 point, got %d", len(hist))
			}
			wantJSON(t, "model score payload", hist[0].Score, d.doc)

			_, err = s.UpsertMarketRecords(ctx, []store.MarketRecord{{Provider: "p", Asset: d.name, Kind: "tick", Granularity: "1s", TsEvent: at, Values: raw, Meta: raw}})
			must(t, err, "UpsertMarketRecords")
			recs, err := s.QueryMarketRecords(ctx, store.MarketQuery{Asset: d.name})
			must(t, err, "QueryMarketRecords")
			if len(recs) != 1 {
				t.Fatalf("QueryMarketRecords: expected 1, got %d", len(recs))
			}
			wantJSON(t, "market values", recs[0].Values, d.doc)
			wantJSON(t, "market meta", recs[0].Meta, d.doc)

			must(t, s.SaveCheckpoint(ctx, store.Checkpoint{ID: "CKP_" + d.name, Kind: "json-" + d.name, IntervalSeconds: 60, Meta: raw,
				Emission: &store.EmissionCheckpoint{ID: "EMI_" + d.name, EmittedAt: at, Payload: raw}}), "SaveCheckpoint")
			ck, err := s.LatestCheckpoint(ctx, "json-"+d.name)
			must(t, err, "LatestCheckpoint")
			wantJSON(t, "checkpoint meta", ck.Meta, d.doc)
			if ck.Emission == nil {
				t.Fatalf("checkpoint emission missing")
			}
			wantJSON(t, "emission payload", ck.Emission.Payload, d.doc)

			must(t, s.ReplaceSchedules(ctx, []store.ScheduleRow{{ID: "CFG_J", ScopeKey: "k", ScopeTemplate: raw, Schedule: raw, Meta: raw, Active: true}}), "ReplaceSchedules")
			sch, err := s.ListSchedules(ctx, true)
			must(t, err, "ListSchedules")
			if len(sch) != 1 {
				t.Fatalf("ListSchedules: expected 1, got %d", len(sch))
			}
			wantJSON(t, "schedule template", sch[0].ScopeTemplate, d.doc)
			wantJSON(t, "schedule", sch[0].Schedule, d.doc)
			wantJSON(t, "schedule meta", sch[0].Meta, d.doc)
		})
	}
	// The exact big integer text survives (not rounded through float64).
	ps, err := s.ListPredictions(ctx, store.PredictionQuery{})
	must(t, err, "ListPredictions")
	for _, p := range ps {
		if p.ID != "Jbig integers" {
			continue
		}
		var v struct {
			Big json.Number `json:"big"`
		}
		dec := json.NewDecoder(bytesReader(p.Scope))
		dec.UseNumber()
		must(t, dec.Decode(&v), "decode big")
		if v.Big.String() != "12345678901234567890" {
			t.Fatalf("big integer: expected 12345678901234567890 exactly, got %s", v.Big)
		}
	}
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

func testPredictionsInvalid(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := ctxT(t)
	s := migrated(t, open)
	must(t, s.UpsertModels(ctx, []store.Model{model("m1")}), "UpsertModels")
	// Each case saves a valid prediction and an invalid one in one batch:
	// the whole batch must be refused.
	bad := func(id string, change func(p *store.Prediction)) func() error {
		return func() error {
			p := pred(id, "m1", base, base)
			change(&p)
			return save(ctx, s, pred("OK-"+id, "m1", base, base), p)
		}
	}
	raw := func(v string) json.RawMessage { return json.RawMessage(v) }
	runInvalid(t, []invalidCase{
		{"exec_time NaN", bad("I1", func(p *store.Prediction) { p.ExecTimeMs = nan64() })},
		{"exec_time +Inf", bad("I2", func(p *store.Prediction) { p.ExecTimeMs = inf64(1) })},
		{"exec_time -Inf", bad("I3", func(p *store.Prediction) { p.ExecTimeMs = inf64(-1) })},
		{"score value NaN", bad("I4", func(p *store.Prediction) { p.Score = &store.Score{Value: f64(nan64()), Success: true} })},
		{"scope NaN", bad("I5", func(p *store.Prediction) { p.Scope = raw(`{"x":NaN}`) })},
		{"output Infinity", bad("I6", func(p *store.Prediction) { p.InferenceOutput = raw(`{"x":Infinity}`) })},
		{"input -Infinity", bad("I7", func(p *store.Prediction) { p.InferenceInput = raw(`[-Infinity]`) })},
		{"meta truncated", bad("I8", func(p *store.Prediction) { p.Meta = raw(`{"x":`) })},
		{"scope overflowing number 1e999", bad("I9", func(p *store.Prediction) { p.Scope = raw(`{"v":1e999}`) })},
		{"output overflowing number", bad("I10", func(p *store.Prediction) { p.InferenceOutput = raw(`{"p":[-1E+309]}`) })},
		{"input overflowing long integer", bad("I11", func(p *store.Prediction) { p.InferenceInput = raw(`{"n":1` + strings.Repeat("0", 400) + `}`) })},
		{"meta NUL escape", bad("I12", func(p *store.Prediction) { p.Meta = raw(`{"v":"a\u0000b"}`) })},
		{"empty prediction id", bad("", func(*store.Prediction) {})},
		{"empty model id", bad("I13", func(p *store.Prediction) { p.ModelID = "" })},
		{"empty status", bad("I14", func(p *store.Prediction) { p.Status = "" })},
		{"unknown model", bad("I15", func(p *store.Prediction) { p.ModelID = "nobody" })},
		{"unknown schedule", bad("I16", func(p *store.Prediction) { p.PredictionConfigID = "CFG_NOBODY" })},
		{"list with negative limit", func() error { _, err := s.ListPredictions(ctx, store.PredictionQuery{Limit: -1}); return err }},
		{"list with negative offset", func() error { _, err := s.ListPredictions(ctx, store.PredictionQuery{Offset: -1}); return err }},
		{"window predictions with negative limit", func() error {
			_, err := s.WindowPredictions(ctx, "m1", time.Time{}, time.Time{}, -1)
			return err
		}},
	})
	if n, err := s.CountPredictions(ctx, ""); err != nil || n != 0 {
		t.Errorf("refused predictions must not be written: count %d (%v)", n, err)
	}
}
