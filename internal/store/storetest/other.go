package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/store"
)

func testLeaderboards(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := ctxT(t)
	s := migrated(t, open)
	_, err := s.LatestLeaderboard(ctx)
	wantErrIs(t, err, store.ErrNotFound, "LatestLeaderboard on empty table")
	must(t, s.UpsertModels(ctx, []store.Model{model("m1"), model("m2")}), "UpsertModels")

	// Saved out of order: the newest created_at wins, not the last insert.
	for _, c := range []struct {
		id  string
		off int
	}{{"LBR_B", 2}, {"LBR_C", 3}, {"LBR_A", 1}} {
		at := base.Add(time.Duration(c.off) * time.Hour)
		entries := json.RawMessage(fmt.Sprintf(`[{"rank":1,"model_id":"m1","score":{"value":%d}}]`, c.off))
		scores := []store.ModelScore{
			{ID: "MS_" + c.id + "_m1", ModelID: "m1", Score: json.RawMessage(fmt.Sprintf(`{"value":%d}`, c.off)), ComputedAt: at},
			{ID: "MS_" + c.id + "_m2", ModelID: "m2", Score: json.RawMessage(`{"value":0}`), ComputedAt: at},
		}
		must(t, s.SaveLeaderboard(ctx, store.Leaderboard{ID: c.id, CreatedAt: at, Entries: entries, Meta: json.RawMessage(`{"generated_by":"test"}`)}, scores), "SaveLeaderboard "+c.id)
	}
	lb, err := s.LatestLeaderboard(ctx)
	must(t, err, "LatestLeaderboard")
	if lb.ID != "LBR_C" {
		t.Fatalf("LatestLeaderboard: expected the newest LBR_C, got %s", lb.ID)
	}
	wantTime(t, "leaderboard created_at", lb.CreatedAt, base.Add(3*time.Hour))
	wantJSON(t, "entries", lb.Entries, `[{"rank":1,"model_id":"m1","score":{"value":3}}]`)
	wantJSON(t, "meta", lb.Meta, `{"generated_by":"test"}`)
	// Saving the same id again (a retried rebuild) is idempotent.
	must(t, s.SaveLeaderboard(ctx, store.Leaderboard{ID: "LBR_C", CreatedAt: base.Add(3 * time.Hour), Entries: json.RawMessage(`[]`)}, nil), "SaveLeaderboard retry")

	hcases := []struct {
		name     string
		models   []string
		from, to time.Time
		limit    int
		want     []string
	}{
		{"all", nil, base, base.Add(5 * time.Hour), 0, []string{"MS_LBR_A_m1", "MS_LBR_A_m2", "MS_LBR_B_m1", "MS_LBR_B_m2", "MS_LBR_C_m1", "MS_LBR_C_m2"}},
		{"one model", []string{"m2"}, base, base.Add(5 * time.Hour), 0, []string{"MS_LBR_A_m2", "MS_LBR_B_m2", "MS_LBR_C_m2"}},
		{"inclusive window", nil, base.Add(2 * time.Hour), base.Add(3 * time.Hour), 0, []string{"MS_LBR_B_m1", "MS_LBR_B_m2", "MS_LBR_C_m1", "MS_LBR_C_m2"}},
		{"limit", []string{"m1"}, base, base.Add(5 * time.Hour), 2, []string{"MS_LBR_A_m1", "MS_LBR_B_m1"}},
		{"none", []string{"nobody"}, base, base.Add(5 * time.Hour), 0, nil},
	}
	for _, c := range hcases {
		t.Run(c.name, func(t *testing.T) {
			h, err := s.ModelScoreHistory(ctx, c.models, c.from, c.to, c.limit)
			must(t, err, "ModelScoreHistory")
			var got []string
			for _, p := range h {
				got = append(got, p.ID)
			}
			if !sameStrings(got, c.want) {
				t.Fatalf("ModelScoreHistory: expected %v, got %v", c.want, got)
			}
		})
	}
	// A score of an unknown model fails and the leaderboard of that call is not written.
	err = s.SaveLeaderboard(ctx, store.Leaderboard{ID: "LBR_Z", CreatedAt: base.Add(9 * time.Hour)}, []store.ModelScore{{ID: "MS_Z", ModelID: "nobody", ComputedAt: base}})
	if err == nil {
		t.Fatalf("SaveLeaderboard with a score of an unknown model: expected an error, got nil")
	}
	lb, err = s.LatestLeaderboard(ctx)
	must(t, err, "LatestLeaderboard after failed save")
	if lb.ID != "LBR_C" {
		t.Fatalf("failed SaveLeaderboard must not write the snapshot: latest is %s", lb.ID)
	}
}

func rec(asset string, ts time.Time, price float64) store.MarketRecord {
	return store.MarketRecord{Provider: "binance", Asset: asset, Kind: "candle", Granularity: "1m", TsEvent: ts,
		Values: json.RawMessage(fmt.Sprintf(`{"open":%g,"high":%g,"low":%g,"close":%g,"volume":1}`, price, price, price, price))}
}

func testMarket(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := ctxT(t)
	s := migrated(t, open)
	var recs []store.MarketRecord
	for i := range 10 {
		recs = append(recs, rec("BTC", base.Add(time.Duration(i)*time.Minute), float64(100+i)))
	}
	recs = append(recs, rec("ETH", base, 10), rec("ETH", base.Add(time.Minute), 11))
	n, err := s.UpsertMarketRecords(ctx, recs)
	must(t, err, "UpsertMarketRecords")
	if n != len(recs) {
		t.Fatalf("UpsertMarketRecords: expected %d written, got %d", len(recs), n)
	}
	// Upsert of an existing key: one row, newer values and ts_ingested.
	upd := rec("BTC", base.Add(3*time.Minute).In(otherZone), 999)
	upd.TsIngested = base.Add(time.Hour)
	upd.Meta = json.RawMessage(`{"src":"replay"}`)
	for range 2 {
		_, err = s.UpsertMarketRecords(ctx, []store.MarketRecord{upd})
		must(t, err, "UpsertMarketRecords update")
	}
	got, err := s.QueryMarketRecords(ctx, store.MarketQuery{Asset: "BTC", Start: base.Add(3 * time.Minute), End: base.Add(3 * time.Minute)})
	must(t, err, "QueryMarketRecords exact")
	if len(got) != 1 {
		t.Fatalf("upsert twice must leave one row, got %d", len(got))
	}
	wantJSON(t, "updated values", got[0].Values, `{"open":999,"high":999,"low":999,"close":999,"volume":1}`)
	wantJSON(t, "updated meta", got[0].Meta, `{"src":"replay"}`)
	wantTime(t, "updated ts_ingested", got[0].TsIngested, base.Add(time.Hour))
	if got[0].Provider != "binance" || got[0].Kind != "candle" || got[0].Granularity != "1m" {
		t.Errorf("market record fields not round-tripped: %+v", got[0])
	}

	ts := func(rs []store.MarketRecord) []string {
		var out []string
		for _, r := range rs {
			out = append(out, r.Asset+"@"+r.TsEvent.Sub(base).String())
		}
		return out
	}
	cases := []struct {
		name string
		q    store.MarketQuery
		want []string
	}{
		{"asset ascending", store.MarketQuery{Asset: "ETH"}, []string{"ETH@0s", "ETH@1m0s"}},
		{"window inclusive", store.MarketQuery{Asset: "BTC", Start: base.Add(2 * time.Minute), End: base.Add(4 * time.Minute)}, []string{"BTC@2m0s", "BTC@3m0s", "BTC@4m0s"}},
		{"latest 3 descending", store.MarketQuery{Provider: "binance", Asset: "BTC", Kind: "candle", Granularity: "1m", Limit: 3, Descending: true}, []string{"BTC@9m0s", "BTC@8m0s", "BTC@7m0s"}},
		{"oldest 2", store.MarketQuery{Asset: "BTC", Limit: 2}, []string{"BTC@0s", "BTC@1m0s"}},
		{"descending before end", store.MarketQuery{Asset: "BTC", End: base.Add(5 * time.Minute), Limit: 2, Descending: true}, []string{"BTC@5m0s", "BTC@4m0s"}},
		{"all feeds at one time", store.MarketQuery{Start: base.Add(time.Minute), End: base.Add(time.Minute)}, []string{"BTC@1m0s", "ETH@1m0s"}},
		{"no match", store.MarketQuery{Provider: "other"}, nil},
		{"kind filter", store.MarketQuery{Kind: "tick"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := s.QueryMarketRecords(ctx, c.q)
			must(t, err, "QueryMarketRecords")
			if !sameStrings(ts(got), c.want) {
				t.Fatalf("QueryMarketRecords(%+v): expected %v, got %v", c.q, c.want, ts(got))
			}
		})
	}
	_, err = s.QueryMarketRecords(ctx, store.MarketQuery{Limit: -1})
	wantErrIs(t, err, store.ErrInvalidValue, "QueryMarketRecords with negative limit")

	// Watermarks: advanced to the newest event, never backwards.
	_, err = s.UpsertMarketRecords(ctx, []store.MarketRecord{rec("BTC", base.Add(-time.Hour), 1)})
	must(t, err, "UpsertMarketRecords old record")
	states, err := s.IngestionStates(ctx)
	must(t, err, "IngestionStates")
	if len(states) != 2 || states[0].Asset != "BTC" || states[1].Asset != "ETH" {
		t.Fatalf("IngestionStates: expected BTC and ETH watermarks ordered, got %+v", states)
	}
	if states[0].LastEventTs == nil {
		t.Fatalf("BTC watermark missing")
	}
	wantTime(t, "BTC watermark (never backwards)", *states[0].LastEventTs, base.Add(9*time.Minute))
	wantTime(t, "ETH watermark", *states[1].LastEventTs, base.Add(time.Minute))
	if states[0].UpdatedAt.IsZero() || states[0].UpdatedAt.Location() != time.UTC {
		t.Errorf("watermark updated_at: expected a UTC time, got %v", states[0].UpdatedAt)
	}

	sums, err := s.FeedSummaries(ctx)
	must(t, err, "FeedSummaries")
	if len(sums) != 2 {
		t.Fatalf("FeedSummaries: expected 2 feeds, got %+v", sums)
	}
	b := sums[0]
	if b.Provider != "binance" || b.Asset != "BTC" || b.Kind != "candle" || b.Granularity != "1m" || b.RecordCount != 11 {
		t.Fatalf("FeedSummaries[0]: expected binance/BTC/candle/1m with 11 records, got %+v", b)
	}
	wantTime(t, "oldest", b.OldestTs, base.Add(-time.Hour))
	wantTime(t, "newest", b.NewestTs, base.Add(9*time.Minute))
	if b.WatermarkTs == nil || b.WatermarkUpdatedAt == nil {
		t.Fatalf("FeedSummaries: watermark missing: %+v", b)
	}
	wantTime(t, "summary watermark", *b.WatermarkTs, base.Add(9*time.Minute))
	if sums[1].Asset != "ETH" || sums[1].RecordCount != 2 {
		t.Fatalf("FeedSummaries[1]: expected ETH with 2 records, got %+v", sums[1])
	}

	// Sub-second event times of one feed stay distinct rows.
	t0 := base.Truncate(time.Second)
	_, err = s.UpsertMarketRecords(ctx, []store.MarketRecord{
		{Provider: "p", Asset: "x", Kind: "tick", Granularity: "tick", TsEvent: t0, Values: json.RawMessage(`{"price":1}`)},
		{Provider: "p", Asset: "x", Kind: "tick", Granularity: "tick", TsEvent: t0.Add(250 * time.Millisecond), Values: json.RawMessage(`{"price":2}`)},
	})
	must(t, err, "UpsertMarketRecords sub-second ticks")
	got, err = s.QueryMarketRecords(ctx, store.MarketQuery{Provider: "p"})
	must(t, err, "QueryMarketRecords ticks")
	if len(got) != 2 {
		t.Fatalf("sub-second ticks: expected 2 rows, got %d", len(got))
	}
	wantTime(t, "sub-second ts_event", got[1].TsEvent, t0.Add(250*time.Millisecond))

	_, err = s.UpsertMarketRecords(ctx, []store.MarketRecord{{Provider: "", Asset: "a", Kind: "tick", Granularity: "1s", TsEvent: base}})
	wantErrIs(t, err, store.ErrInvalidValue, "UpsertMarketRecords with empty provider")
}

func testCheckpoints(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := ctxT(t)
	s := migrated(t, open)
	_, err := s.LatestCheckpoint(ctx, "emission")
	wantErrIs(t, err, store.ErrNotFound, "LatestCheckpoint on empty table")
	at := func(h int) *time.Time { v := base.Add(time.Duration(h) * time.Hour); return &v }
	// Saved out of order; the newest is the greatest last_run_at.
	for _, c := range []struct {
		id string
		h  int
	}{{"CKP_2", 2}, {"CKP_4", 4}, {"CKP_1", 1}, {"CKP_3", 3}} {
		must(t, s.SaveCheckpoint(ctx, store.Checkpoint{ID: c.id, Kind: "emission", IntervalSeconds: 3600, LastRunAt: at(c.h), NextRunAt: at(c.h + 1),
			Meta:     json.RawMessage(fmt.Sprintf(`{"n":%d}`, c.h)),
			Emission: &store.EmissionCheckpoint{ID: "EMI_" + c.id, EmittedAt: *at(c.h), Payload: json.RawMessage(fmt.Sprintf(`[{"model_id":"m1","rank":1,"reward_pct":%d}]`, c.h))}}),
			"SaveCheckpoint "+c.id)
	}
	must(t, s.SaveCheckpoint(ctx, store.Checkpoint{ID: "OTHER", Kind: "other", IntervalSeconds: 60, LastRunAt: at(10)}), "SaveCheckpoint other kind")

	c, err := s.LatestCheckpoint(ctx, "emission")
	must(t, err, "LatestCheckpoint")
	if c.ID != "CKP_4" || c.Kind != "emission" || c.IntervalSeconds != 3600 {
		t.Fatalf("LatestCheckpoint: expected CKP_4, got %+v", c)
	}
	wantJSON(t, "checkpoint meta", c.Meta, `{"n":4}`)
	if c.Emission == nil || c.Emission.ID != "EMI_CKP_4" || c.Emission.CheckpointID != "CKP_4" {
		t.Fatalf("LatestCheckpoint emission: expected EMI_CKP_4 of CKP_4, got %+v", c.Emission)
	}
	wantJSON(t, "emission payload", c.Emission.Payload, `[{"model_id":"m1","rank":1,"reward_pct":4}]`)
	wantTime(t, "next_run_at", *c.NextRunAt, *at(5))

	list, err := s.ListCheckpoints(ctx, "emission", 3)
	must(t, err, "ListCheckpoints")
	var got []string
	for _, c := range list {
		got = append(got, c.ID)
	}
	if !sameStrings(got, []string{"CKP_4", "CKP_3", "CKP_2"}) {
		t.Fatalf("ListCheckpoints(limit 3): expected the newest 3 newest first [CKP_4 CKP_3 CKP_2], got %v", got)
	}
	other, err := s.LatestCheckpoint(ctx, "other")
	must(t, err, "LatestCheckpoint other")
	if other.ID != "OTHER" || other.Emission != nil || other.NextRunAt != nil {
		t.Fatalf("checkpoint without emission/next run: got %+v", other)
	}
	wantJSON(t, "nil checkpoint meta stored as {}", other.Meta, `{}`)
	// Re-saving an id updates it (idempotent retry).
	must(t, s.SaveCheckpoint(ctx, store.Checkpoint{ID: "OTHER", Kind: "other", IntervalSeconds: 120, LastRunAt: at(11)}), "SaveCheckpoint again")
	other, err = s.LatestCheckpoint(ctx, "other")
	must(t, err, "LatestCheckpoint other again")
	if other.IntervalSeconds != 120 {
		t.Fatalf("re-saved checkpoint: expected interval 120, got %d", other.IntervalSeconds)
	}
	wantErrIs(t, s.SaveCheckpoint(ctx, store.Checkpoint{Kind: "k"}), store.ErrInvalidValue, "SaveCheckpoint with empty id")
}

func testLeaderLock(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := ctxT(t)
	a := migrated(t, open)
	b := open(t)
	var innerSame, innerOther, innerDifferent bool
	ran, err := a.WithLeaderLock(ctx, "score-worker", func(ctx context.Context) error {
		var err error
		// A second concurrent holder (same Store, and another Store on the
		// same database) does not get the lock.
		done := make(chan struct{})
		go func() {
			defer close(done)
			innerSame, err = a.WithLeaderLock(ctx, "score-worker", func(context.Context) error { return nil })
		}()
		<-done
		if err != nil {
			return err
		}
		innerOther, err = b.WithLeaderLock(ctx, "score-worker", func(context.Context) error { return nil })
		if err != nil {
			return err
		}
		innerDifferent, err = b.WithLeaderLock(ctx, "other-lock", func(context.Context) error { return nil })
		return err
	})
	must(t, err, "WithLeaderLock")
	if !ran {
		t.Fatalf("WithLeaderLock: expected the first holder to run")
	}
	if innerSame || innerOther {
		t.Fatalf("WithLeaderLock: a second concurrent holder must get ran=false (same store %v, other store %v)", innerSame, innerOther)
	}
	if !innerDifferent {
		t.Fatalf("WithLeaderLock: a different lock name must be independent")
	}
	// Released after fn returns: another store can take it now.
	ran, err = b.WithLeaderLock(ctx, "score-worker", func(context.Context) error { return nil })
	must(t, err, "WithLeaderLock after release")
	if !ran {
		t.Fatalf("WithLeaderLock: expected the lock to be free after the first holder returned")
	}
	// fn's error comes back with ran=true, and the lock is released.
	boom := errors.New("leader work failed")
	ran, err = a.WithLeaderLock(ctx, "score-worker", func(context.Context) error { return boom })
	if !ran || !errors.Is(err, boom) {
		t.Fatalf("WithLeaderLock with failing fn: expected ran=true and the fn error, got %v %v", ran, err)
	}
	ran, err = a.WithLeaderLock(ctx, "score-worker", func(context.Context) error { return nil })
	if !ran || err != nil {
		t.Fatalf("WithLeaderLock after a failing fn: expected the lock to be free, got %v %v", ran, err)
	}
}

func testCancelled(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := ctxT(t)
	s := migrated(t, open)
	must(t, s.UpsertModels(ctx, []store.Model{model("m1")}), "UpsertModels")
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, err := s.SavePredictCycle(cancelled, nil, []store.Prediction{pred("X1", "m1", base, base)})
	if err == nil {
		t.Fatalf("SavePredictCycle with a cancelled context: expected an error, got nil")
	}
	if _, err := s.ListPredictions(cancelled, store.PredictionQuery{}); err == nil {
		t.Fatalf("ListPredictions with a cancelled context: expected an error, got nil")
	}
	_, err = s.UpsertMarketRecords(cancelled, []store.MarketRecord{rec("BTC", base, 1)})
	if err == nil {
		t.Fatalf("UpsertMarketRecords with a cancelled context: expected an error, got nil")
	}
	// Cancelled while the claim is open: the scores are not written.
	_, err = s.SavePredictCycle(ctx, nil, []store.Prediction{pred("X2", "m1", base, base)})
	must(t, err, "SavePredictCycle")
	claimCtx, cancelClaim := context.WithCancel(ctx)
	_, err = s.ClaimAndScore(claimCtx, base.Add(time.Hour), 10, func(ctx context.Context, claimed []store.Prediction) ([]store.ScoreUpdate, error) {
		cancelClaim()
		return scoreAll(1)(ctx, claimed)
	})
	if err == nil {
		t.Fatalf("ClaimAndScore cancelled during fn: expected an error, got nil")
	}
	n, err := s.CountPredictions(ctx, "")
	must(t, err, "CountPredictions")
	if n != 1 {
		t.Fatalf("cancelled SavePredictCycle must write nothing: expected 1 prediction, got %d", n)
	}
	if recs, err := s.QueryMarketRecords(ctx, store.MarketQuery{}); err != nil || len(recs) != 0 {
		t.Fatalf("cancelled UpsertMarketRecords must write nothing: %d (%v)", len(recs), err)
	}
	scoredPs, err := s.ListPredictions(ctx, store.PredictionQuery{ScoredOnly: true})
	must(t, err, "ListPredictions")
	if len(scoredPs) != 0 {
		t.Fatalf("ClaimAndScore cancelled during fn must write nothing, got scored %v", ids(scoredPs))
	}
	n2, err := s.ClaimAndScore(ctx, base.Add(time.Hour), 10, scoreAll(1))
	must(t, err, "ClaimAndScore after cancellation")
	if n2 != 1 {
		t.Fatalf("prediction must be claimable after a cancelled claim, got %d", n2)
	}
}
