package storetest

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/store"
)

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
		// BTC@3m was stored again at base+1h, the others at the wall clock.
		{"ingested by", store.MarketQuery{Asset: "BTC", IngestedBy: base.Add(time.Hour)}, []string{"BTC@3m0s"}},
		{"ingested by, descending", store.MarketQuery{Asset: "BTC", IngestedBy: base.Add(time.Hour), Limit: 1, Descending: true}, []string{"BTC@3m0s"}},
		{"ingested before any", store.MarketQuery{Asset: "BTC", IngestedBy: base.Add(time.Hour - time.Microsecond)}, nil},
		{"ingested by now", store.MarketQuery{Asset: "ETH", IngestedBy: time.Now().Add(time.Minute)}, []string{"ETH@0s", "ETH@1m0s"}},
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
	// Records read with every feed field filtered are the records read
	// without those filters, field for field.
	all, err := s.QueryMarketRecords(ctx, store.MarketQuery{Asset: "BTC"})
	must(t, err, "QueryMarketRecords unfiltered feed")
	fixed, err := s.QueryMarketRecords(ctx, store.MarketQuery{Provider: "binance", Asset: "BTC", Kind: "candle", Granularity: "1m"})
	must(t, err, "QueryMarketRecords filtered feed")
	if len(all) == 0 || !reflect.DeepEqual(all, fixed) {
		t.Fatalf("QueryMarketRecords with the feed filtered: expected %+v, got %+v", all, fixed)
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

func testMarketInvalid(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := ctxT(t)
	s := migrated(t, open)
	upsert := func(change func(r *store.MarketRecord)) func() error {
		return func() error {
			r := rec("BTC", base.Add(time.Minute), 1)
			change(&r)
			_, err := s.UpsertMarketRecords(ctx, []store.MarketRecord{rec("BTC", base, 1), r})
			return err
		}
	}
	runInvalid(t, []invalidCase{
		{"values NaN", upsert(func(r *store.MarketRecord) { r.Values = json.RawMessage(`{"price":NaN}`) })},
		{"values overflowing number", upsert(func(r *store.MarketRecord) { r.Values = json.RawMessage(`{"price":1e999}`) })},
		{"meta NUL escape", upsert(func(r *store.MarketRecord) { r.Meta = json.RawMessage(`{"v":"\u0000"}`) })},
		{"empty provider", upsert(func(r *store.MarketRecord) { r.Provider = "" })},
		{"empty asset", upsert(func(r *store.MarketRecord) { r.Asset = "" })},
		{"empty kind", upsert(func(r *store.MarketRecord) { r.Kind = "" })},
		{"empty granularity", upsert(func(r *store.MarketRecord) { r.Granularity = "" })},
		{"zero event time", upsert(func(r *store.MarketRecord) { r.TsEvent = time.Time{} })},
		{"query with negative limit", func() error { _, err := s.QueryMarketRecords(ctx, store.MarketQuery{Limit: -1}); return err }},
	})
	if recs, err := s.QueryMarketRecords(ctx, store.MarketQuery{}); err != nil || len(recs) != 0 {
		t.Errorf("refused market records must not be written: %d (%v)", len(recs), err)
	}
	if st, err := s.IngestionStates(ctx); err != nil || len(st) != 0 {
		t.Errorf("refused market records must not move a watermark: %+v (%v)", st, err)
	}
}

// testMarketConcurrentFirstWrites: several stores (several nodes polling
// one feed) upsert the first records of the same new feed at the same
// moment, for many feeds in turn; every upsert succeeds and each feed ends
// with its records and one watermark. On PostgreSQL an upsert whose ON
// CONFLICT target is not the table's only unique constraint fails here
// with a duplicate key on the other one (00014, 00018).
func testMarketConcurrentFirstWrites(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := ctxT(t)
	stores := []store.Store{migrated(t, open)}
	for range 3 {
		stores = append(stores, open(t))
	}
	const feeds = 40
	t0 := time.Date(2023, 3, 1, 0, 0, 0, 0, time.UTC)
	for f := range feeds {
		asset := fmt.Sprintf("RACE%d", f)
		start := make(chan struct{})
		errs := make(chan error, len(stores))
		var wg sync.WaitGroup
		for i, s := range stores {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_, err := s.UpsertMarketRecords(ctx, []store.MarketRecord{rec(asset, t0.Add(time.Duration(i)*time.Minute), 100+float64(i))})
				errs <- err
			}()
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("feed %s: concurrent first upsert: %v", asset, err)
			}
		}
	}
	states, err := stores[0].IngestionStates(ctx)
	must(t, err, "IngestionStates")
	n := 0
	for _, st := range states {
		if strings.HasPrefix(st.Asset, "RACE") {
			n++
			if st.LastEventTs == nil || !st.LastEventTs.Equal(t0.Add(time.Duration(len(stores)-1)*time.Minute)) {
				t.Fatalf("feed %s: watermark %v, want the newest of the %d records", st.Asset, st.LastEventTs, len(stores))
			}
		}
	}
	if n != feeds {
		t.Fatalf("%d watermarks of the raced feeds, want %d", n, feeds)
	}
}
