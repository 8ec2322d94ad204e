// Package storetest is the conformance suite of the storage contract
// (internal/store). Both backends run it from their own tests:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store { ... })
//	}
//
// The suite asserts every behaviour the contract promises: round-trip
// fidelity of JSON (nested, unicode, big integers kept exactly, floats),
// NaN/±Inf refused with store.ErrInvalidValue, times UTC in and out,
// ordering and pagination, idempotency, "latest N" returning the newest N,
// claim semantics and concurrent claimers, leader locks, migrations and
// cancellation.
package storetest

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/store"
)

// Run runs the conformance suite, one subtest per contract area.
//
// open(t) must return a Store on a fresh, EMPTY (not migrated) database
// belonging to t; calling open again with the same t must return a second,
// independent Store (its own connection pool) on the SAME database, which
// the concurrency and leader-lock tests need. open registers the Store's
// Close (and any database cleanup) with t.Cleanup. On failure open calls
// t.Fatal (or t.Skip when the backend is not configured).
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("Schema", func(t *testing.T) { testSchema(t, open) })
	t.Run("BackendAndPing", func(t *testing.T) { testBackendPing(t, open) })
	t.Run("Models", func(t *testing.T) { testModels(t, open) })
	t.Run("Schedules", func(t *testing.T) { testSchedules(t, open) })
	t.Run("SavePredictCycle", func(t *testing.T) { testSavePredictCycle(t, open) })
	t.Run("JSONFidelity", func(t *testing.T) { testJSONFidelity(t, open) })
	t.Run("InvalidValues", func(t *testing.T) { testInvalidValues(t, open) })
	t.Run("TimesUTC", func(t *testing.T) { testTimesUTC(t, open) })
	t.Run("ListPredictions", func(t *testing.T) { testListPredictions(t, open) })
	t.Run("ClaimAndScore", func(t *testing.T) { testClaimAndScore(t, open) })
	t.Run("ClaimAndScoreErrors", func(t *testing.T) { testClaimAndScoreErrors(t, open) })
	t.Run("ClaimAndScoreConcurrent", func(t *testing.T) { testClaimConcurrent(t, open) })
	t.Run("ScoredPredictionsAndStats", func(t *testing.T) { testScoredAndStats(t, open) })
	t.Run("LatestPerformedAtAndCount", func(t *testing.T) { testLatestPerformedAndCount(t, open) })
	t.Run("Leaderboards", func(t *testing.T) { testLeaderboards(t, open) })
	t.Run("Market", func(t *testing.T) { testMarket(t, open) })
	t.Run("Checkpoints", func(t *testing.T) { testCheckpoints(t, open) })
	t.Run("LeaderLock", func(t *testing.T) { testLeaderLock(t, open) })
	t.Run("CancelledContext", func(t *testing.T) { testCancelled(t, open) })
}

func testSchema(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := ctxT(t)
	s := open(t)
	cur, exp, err := s.SchemaVersion(ctx)
	must(t, err, "SchemaVersion on a fresh database")
	if cur != 0 {
		t.Fatalf("SchemaVersion on a fresh database: expected current 0, got %d", cur)
	}
	if exp <= 0 {
		t.Fatalf("SchemaVersion: expected a positive expected version, got %d", exp)
	}
	// Data methods on an unmigrated database must say so (Open never migrates).
	_, err = s.ListModels(ctx)
	wantErrIs(t, err, store.ErrNotMigrated, "ListModels before Migrate")
	_, err = s.SavePredictCycle(ctx, []store.Model{model("m1")}, nil)
	wantErrIs(t, err, store.ErrNotMigrated, "SavePredictCycle before Migrate")
	_, err = s.LatestLeaderboard(ctx)
	wantErrIs(t, err, store.ErrNotMigrated, "LatestLeaderboard before Migrate")
	_, err = s.QueryMarketRecords(ctx, store.MarketQuery{})
	wantErrIs(t, err, store.ErrNotMigrated, "QueryMarketRecords before Migrate")

	must(t, s.Migrate(ctx), "Migrate")
	cur, exp2, err := s.SchemaVersion(ctx)
	must(t, err, "SchemaVersion after Migrate")
	if cur != exp || exp2 != exp {
		t.Fatalf("SchemaVersion after Migrate: expected current == expected == %d, got current %d expected %d", exp, cur, exp2)
	}
	// Idempotent: a second Migrate (same or another Store) changes nothing
	// and keeps data.
	must(t, s.UpsertModels(ctx, []store.Model{model("m1")}), "UpsertModels")
	must(t, s.Migrate(ctx), "second Migrate")
	s2 := open(t)
	must(t, s2.Migrate(ctx), "Migrate from a second Store")
	cur, _, err = s2.SchemaVersion(ctx)
	must(t, err, "SchemaVersion from a second Store")
	if cur != exp {
		t.Fatalf("SchemaVersion after re-migrating: expected %d, got %d", exp, cur)
	}
	ms, err := s2.ListModels(ctx)
	must(t, err, "ListModels after re-migrating")
	if len(ms) != 1 || ms[0].ID != "m1" {
		t.Fatalf("re-migrating must keep data: expected model m1, got %+v", ms)
	}
}

func testBackendPing(t *testing.T, open func(t *testing.T) store.Store) {
	s := migrated(t, open)
	if b := s.Backend(); b != "postgres" && b != "sqlite" {
		t.Fatalf("Backend: expected postgres or sqlite, got %q", b)
	}
	must(t, s.Ping(ctxT(t)), "Ping")
}

func testModels(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := ctxT(t)
	s := migrated(t, open)
	created := base.Add(-time.Hour)
	m2 := model("m2")
	m2.Meta = json.RawMessage(`{"team":"β","n":12345678901234567890}`)
	m2.CreatedAt, m2.UpdatedAt = created, created
	m1 := model("m1")
	m1.CreatedAt, m1.UpdatedAt = created, created
	must(t, s.UpsertModels(ctx, []store.Model{m2, m1}), "UpsertModels")

	ms, err := s.ListModels(ctx)
	must(t, err, "ListModels")
	if got := []string{}; true {
		for _, m := range ms {
			got = append(got, m.ID)
		}
		if !sameStrings(got, []string{"m1", "m2"}) {
			t.Fatalf("ListModels: expected ids [m1 m2] ordered by id, got %v", got)
		}
	}
	if ms[0].Name != "name-m1" || ms[0].DeploymentID != "dep-m1" || ms[0].PlayerID != "player-m1" || ms[0].PlayerName != "Player m1" {
		t.Errorf("ListModels: fields not round-tripped: %+v", ms[0])
	}
	wantJSON(t, "model m1 nil meta", ms[0].Meta, `{}`)
	wantJSON(t, "model m2 meta", ms[1].Meta, `{"team":"β","n":12345678901234567890}`)
	wantTime(t, "model created_at", ms[1].CreatedAt, created)

	// Update: fields overwritten, created_at kept, meta kept when not given.
	upd := model("m2")
	upd.Name = "renamed"
	upd.PlayerName = "New Player"
	upd.CreatedAt = base // must be ignored on update
	upd.UpdatedAt = base
	must(t, s.UpsertModels(ctx, []store.Model{upd}), "UpsertModels update")
	ms, err = s.ListModels(ctx)
	must(t, err, "ListModels after update")
	if len(ms) != 2 {
		t.Fatalf("ListModels after update: expected 2 models, got %d", len(ms))
	}
	got := ms[1]
	if got.Name != "renamed" || got.PlayerName != "New Player" {
		t.Errorf("update: expected name renamed / player New Player, got %q / %q", got.Name, got.PlayerName)
	}
	wantTime(t, "created_at kept on update", got.CreatedAt, created)
	wantTime(t, "updated_at on update", got.UpdatedAt, base)
	wantJSON(t, "meta kept when update has nil Meta", got.Meta, `{"team":"β","n":12345678901234567890}`)

	// Empty id refused.
	wantErrIs(t, s.UpsertModels(ctx, []store.Model{{Name: "x"}}), store.ErrInvalidValue, "UpsertModels with empty id")
	// An empty batch is fine.
	must(t, s.UpsertModels(ctx, nil), "UpsertModels(nil)")
}

func testSchedules(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := ctxT(t)
	s := migrated(t, open)
	rows := []store.ScheduleRow{
		{ID: "CFG_002", ScopeKey: "ETH-60-60", ScopeTemplate: json.RawMessage(`{"asset":"ETH"}`), Schedule: json.RawMessage(`{"prediction_interval_seconds":60,"resolve_after_seconds":60}`), Active: true, Order: 2},
		{ID: "CFG_001", ScopeKey: "BTC-60-60", ScopeTemplate: json.RawMessage(`{"asset":"BTC","horizon":60,"step":60}`), Schedule: json.RawMessage(`{"prediction_interval_seconds":60,"resolve_after_seconds":60}`), Active: true, Order: 1},
		{ID: "CFG_000", ScopeKey: "SOL", Active: true, Order: 2},
	}
	must(t, s.ReplaceSchedules(ctx, rows), "ReplaceSchedules")
	got, err := s.ListSchedules(ctx, false)
	must(t, err, "ListSchedules")
	var gotIDs []string
	for _, r := range got {
		gotIDs = append(gotIDs, r.ID)
	}
	if !sameStrings(gotIDs, []string{"CFG_001", "CFG_000", "CFG_002"}) {
		t.Fatalf("ListSchedules: expected order by order then id [CFG_001 CFG_000 CFG_002], got %v", gotIDs)
	}
	wantJSON(t, "scope template", got[0].ScopeTemplate, `{"asset":"BTC","horizon":60,"step":60}`)
	wantJSON(t, "schedule", got[0].Schedule, `{"prediction_interval_seconds":60,"resolve_after_seconds":60}`)
	wantJSON(t, "nil template stored as {}", got[1].ScopeTemplate, `{}`)
	if got[0].ScopeKey != "BTC-60-60" || !got[0].Active || got[0].Order != 1 {
		t.Errorf("schedule row fields not round-tripped: %+v", got[0])
	}

	// Replace with a subset: missing rows are deactivated, never deleted.
	rows2 := []store.ScheduleRow{{ID: "CFG_001", ScopeKey: "BTC-60-60b", ScopeTemplate: json.RawMessage(`{"asset":"BTC"}`), Schedule: json.RawMessage(`{}`), Active: true, Order: 5}}
	must(t, s.ReplaceSchedules(ctx, rows2), "ReplaceSchedules subset")
	active, err := s.ListSchedules(ctx, true)
	must(t, err, "ListSchedules active")
	if len(active) != 1 || active[0].ID != "CFG_001" || active[0].ScopeKey != "BTC-60-60b" || active[0].Order != 5 {
		t.Fatalf("ListSchedules(active) after replace: expected only updated CFG_001, got %+v", active)
	}
	all, err := s.ListSchedules(ctx, false)
	must(t, err, "ListSchedules all")
	if len(all) != 3 {
		t.Fatalf("ReplaceSchedules must deactivate, not delete: expected 3 rows, got %d", len(all))
	}
	for _, r := range all {
		if r.ID != "CFG_001" && r.Active {
			t.Errorf("row %s should have been deactivated", r.ID)
		}
	}
	// Reactivation by listing it again.
	must(t, s.ReplaceSchedules(ctx, append(rows2, rows[0])), "ReplaceSchedules reactivate")
	active, err = s.ListSchedules(ctx, true)
	must(t, err, "ListSchedules active after reactivation")
	if len(active) != 2 {
		t.Fatalf("expected 2 active rows after reactivation, got %d", len(active))
	}
	wantErrIs(t, s.ReplaceSchedules(ctx, []store.ScheduleRow{{ScopeKey: "x"}}), store.ErrInvalidValue, "ReplaceSchedules with empty id")
	// The failed call changed nothing.
	active, err = s.ListSchedules(ctx, true)
	must(t, err, "ListSchedules after failed replace")
	if len(active) != 2 {
		t.Fatalf("failed ReplaceSchedules must not write: expected 2 active rows, got %d", len(active))
	}
	// Empty replacement deactivates everything.
	must(t, s.ReplaceSchedules(ctx, nil), "ReplaceSchedules(nil)")
	active, err = s.ListSchedules(ctx, true)
	must(t, err, "ListSchedules after empty replace")
	if len(active) != 0 {
		t.Fatalf("ReplaceSchedules(nil): expected no active rows, got %d", len(active))
	}
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
	if c, err := s.CountPredictions(ctx, ""); err != nil || c != 4 {
		t.Fatalf("failed SavePredictCycle must not write predictions: expected 4, got %d (%v)", c, err)
	}
	// A prediction of an unknown model fails (foreign key) and writes nothing.
	_, err = s.SavePredictCycle(ctx, nil, []store.Prediction{pred("ORPHAN", "nobody", base, base)})
	if err == nil {
		t.Fatalf("SavePredictCycle with a prediction of an unknown model: expected an error, got nil")
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

func testInvalidValues(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := ctxT(t)
	s := migrated(t, open)
	must(t, s.UpsertModels(ctx, []store.Model{model("m1")}), "UpsertModels")
	nan, inf := json.RawMessage(`{"x":NaN}`), json.RawMessage(`{"x":Infinity}`)
	negInf, garbage := json.RawMessage(`[-Infinity]`), json.RawMessage(`{"x":`)
	cases := []struct {
		name string
		call func() error
	}{
		{"exec_time NaN", func() error { p := pred("I1", "m1", base, base); p.ExecTimeMs = nan64(); return save(ctx, s, p) }},
		{"exec_time +Inf", func() error { p := pred("I2", "m1", base, base); p.ExecTimeMs = inf64(1); return save(ctx, s, p) }},
		{"exec_time -Inf", func() error { p := pred("I3", "m1", base, base); p.ExecTimeMs = inf64(-1); return save(ctx, s, p) }},
		{"score value NaN", func() error {
			p := pred("I4", "m1", base, base)
			p.Score = &store.Score{Value: f64(nan64()), Success: true}
			return save(ctx, s, p)
		}},
		{"scope NaN", func() error { p := pred("I5", "m1", base, base); p.Scope = nan; return save(ctx, s, p) }},
		{"output Infinity", func() error { p := pred("I6", "m1", base, base); p.InferenceOutput = inf; return save(ctx, s, p) }},
		{"input -Infinity", func() error { p := pred("I7", "m1", base, base); p.InferenceInput = negInf; return save(ctx, s, p) }},
		{"meta truncated", func() error { p := pred("I8", "m1", base, base); p.Meta = garbage; return save(ctx, s, p) }},
		{"empty prediction id", func() error { return save(ctx, s, pred("", "m1", base, base)) }},
		{"model meta NaN", func() error { m := model("m9"); m.Meta = nan; return s.UpsertModels(ctx, []store.Model{m}) }},
		{"schedule NaN", func() error {
			return s.ReplaceSchedules(ctx, []store.ScheduleRow{{ID: "CFG_X", ScopeKey: "k", Schedule: nan}})
		}},
		{"leaderboard entries NaN", func() error {
			return s.SaveLeaderboard(ctx, store.Leaderboard{ID: "LBR_X", CreatedAt: base, Entries: json.RawMessage(`[{"score":NaN}]`)}, nil)
		}},
		{"model score Infinity", func() error {
			return s.SaveLeaderboard(ctx, store.Leaderboard{ID: "LBR_Y", CreatedAt: base}, []store.ModelScore{{ID: "MS_Y", ModelID: "m1", Score: inf, ComputedAt: base}})
		}},
		{"market values NaN", func() error {
			_, err := s.UpsertMarketRecords(ctx, []store.MarketRecord{{Provider: "p", Asset: "a", Kind: "tick", Granularity: "1s", TsEvent: base, Values: nan}})
			return err
		}},
		{"checkpoint payload Infinity", func() error {
			return s.SaveCheckpoint(ctx, store.Checkpoint{ID: "CKP_X", Kind: "k", Emission: &store.EmissionCheckpoint{ID: "E", EmittedAt: base, Payload: inf}})
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantErrIs(t, c.call(), store.ErrInvalidValue, c.name)
		})
	}
	// Nothing of the refused writes is visible.
	if n, err := s.CountPredictions(ctx, ""); err != nil || n != 0 {
		t.Errorf("refused predictions must not be written: count %d (%v)", n, err)
	}
	if _, err := s.LatestLeaderboard(ctx); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("refused leaderboards must not be written: expected ErrNotFound, got %v", err)
	}
	if recs, err := s.QueryMarketRecords(ctx, store.MarketQuery{}); err != nil || len(recs) != 0 {
		t.Errorf("refused market records must not be written: %d (%v)", len(recs), err)
	}
	if cs, err := s.ListCheckpoints(ctx, "", 0); err != nil || len(cs) != 0 {
		t.Errorf("refused checkpoints must not be written: %d (%v)", len(cs), err)
	}
	if rows, err := s.ListSchedules(ctx, false); err != nil || len(rows) != 0 {
		t.Errorf("refused schedules must not be written: %d (%v)", len(rows), err)
	}
}

func testTimesUTC(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := ctxT(t)
	s := migrated(t, open)
	local := base.In(otherZone)
	m := model("m1")
	m.CreatedAt, m.UpdatedAt = local, local
	p := pred("T1", "m1", local, local.Add(time.Minute))
	_, err := s.SavePredictCycle(ctx, []store.Model{m}, []store.Prediction{p})
	must(t, err, "SavePredictCycle")
	ps, err := s.ListPredictions(ctx, store.PredictionQuery{From: local, To: local})
	must(t, err, "ListPredictions with non-UTC bounds")
	if len(ps) != 1 {
		t.Fatalf("ListPredictions with bounds in another zone: expected 1, got %d", len(ps))
	}
	wantTime(t, "performed_at", ps[0].PerformedAt, base)
	wantTime(t, "resolvable_at", ps[0].ResolvableAt, base.Add(time.Minute))
	ms, err := s.ListModels(ctx)
	must(t, err, "ListModels")
	wantTime(t, "model created_at", ms[0].CreatedAt, base)
	wantTime(t, "model updated_at", ms[0].UpdatedAt, base)

	must(t, s.SaveLeaderboard(ctx, store.Leaderboard{ID: "LBR_1", CreatedAt: local}, []store.ModelScore{{ID: "MS1", ModelID: "m1", ComputedAt: local}}), "SaveLeaderboard")
	lb, err := s.LatestLeaderboard(ctx)
	must(t, err, "LatestLeaderboard")
	wantTime(t, "leaderboard created_at", lb.CreatedAt, base)
	wantJSON(t, "nil entries stored as []", lb.Entries, `[]`)
	h, err := s.ModelScoreHistory(ctx, nil, local, local, 0)
	must(t, err, "ModelScoreHistory")
	if len(h) != 1 {
		t.Fatalf("ModelScoreHistory: expected 1, got %d", len(h))
	}
	wantTime(t, "computed_at", h[0].ComputedAt, base)

	ing := local.Add(time.Second)
	_, err = s.UpsertMarketRecords(ctx, []store.MarketRecord{{Provider: "p", Asset: "a", Kind: "tick", Granularity: "1s", TsEvent: local, TsIngested: ing, Values: json.RawMessage(`{"price":1}`)}})
	must(t, err, "UpsertMarketRecords")
	recs, err := s.QueryMarketRecords(ctx, store.MarketQuery{Start: local, End: local})
	must(t, err, "QueryMarketRecords")
	if len(recs) != 1 {
		t.Fatalf("QueryMarketRecords: expected 1, got %d", len(recs))
	}
	wantTime(t, "ts_event", recs[0].TsEvent, base)
	wantTime(t, "ts_ingested", recs[0].TsIngested, base.Add(time.Second))

	last, next := local, local.Add(time.Hour)
	must(t, s.SaveCheckpoint(ctx, store.Checkpoint{ID: "C1", Kind: "k", IntervalSeconds: 3600, LastRunAt: &last, NextRunAt: &next,
		Emission: &store.EmissionCheckpoint{ID: "E1", EmittedAt: local}}), "SaveCheckpoint")
	c, err := s.LatestCheckpoint(ctx, "k")
	must(t, err, "LatestCheckpoint")
	if c.LastRunAt == nil || c.NextRunAt == nil || c.Emission == nil {
		t.Fatalf("checkpoint times missing: %+v", c)
	}
	wantTime(t, "last_run_at", *c.LastRunAt, base)
	wantTime(t, "next_run_at", *c.NextRunAt, base.Add(time.Hour))
	wantTime(t, "emitted_at", c.Emission.EmittedAt, base)
}
