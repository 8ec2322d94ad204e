package storetest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/store"
)

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
