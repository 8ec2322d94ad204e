package sdk_test

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/crunch-coordinator/coordinator/sdk"
	"github.com/crunch-coordinator/coordinator/sdk/sdktest"
)

// ingestedData is an in-memory host that knows when it stored each record
// (sdk.FeedIngestionReader) and counts the reads it answers; it filters,
// orders and limits as the host's store does.
type ingestedData struct {
	recs  []sdk.FeedRecord
	ing   []time.Time
	mu    sync.Mutex
	reads int
}

func (d *ingestedData) ReadFeedRecords(ctx context.Context, q sdk.FeedQuery) ([]sdk.FeedRecord, error) {
	recs, _, err := d.ReadFeedRecordsIngested(ctx, q)
	return recs, err
}

func (d *ingestedData) ReadFeedRecordsIngested(_ context.Context, q sdk.FeedQuery) ([]sdk.FeedRecord, []time.Time, error) {
	d.mu.Lock()
	d.reads++
	d.mu.Unlock()
	type row struct {
		r   sdk.FeedRecord
		ing time.Time
	}
	var rows []row
	for i, r := range d.recs {
		if q.Asset != "" && r.Asset != q.Asset || q.Kind != "" && r.Kind != q.Kind ||
			!q.Start.IsZero() && r.TsEvent.Before(q.Start) || !q.End.IsZero() && r.TsEvent.After(q.End) ||
			!q.IngestedBy.IsZero() && d.ing[i].After(q.IngestedBy) {
			continue
		}
		rows = append(rows, row{r, d.ing[i]})
	}
	slices.SortFunc(rows, func(a, b row) int {
		c := cmp.Or(a.r.TsEvent.Compare(b.r.TsEvent), cmp.Compare(a.r.Asset, b.r.Asset))
		if q.Descending {
			return -c
		}
		return c
	})
	rows = rows[:min(len(rows), q.EffectiveLimit())]
	recs, ing := make([]sdk.FeedRecord, len(rows)), make([]time.Time, len(rows))
	for i, r := range rows {
		recs[i], ing[i] = r.r, r.ing
		recs[i].Values = append(json.RawMessage(nil), r.r.Values...)
	}
	return recs, ing, nil
}

// windowsChallenge reads the feed in several shapes each cycle and answers
// all it read.
type windowsChallenge struct{ sdk.Defaults }

func (windowsChallenge) ProvideRawInput(ctx context.Context, now time.Time, data sdk.HostData) (json.RawMessage, error) {
	queries := []sdk.FeedQuery{
		{Asset: "BTC", Kind: "candle", End: now, Limit: 5, Descending: true},              // the newest rows up to now
		{Limit: 3, Descending: true},                                                      // newest of every asset, no bounds
		{Asset: "ETH", Start: now.Add(-10 * time.Minute), End: now},                       // a window
		{Asset: "BTC", Start: now.Add(-3 * time.Minute), Limit: 2},                        // oldest rows from a start
		{Asset: "BTC", IngestedBy: now.Add(-2 * time.Minute), Limit: 4, Descending: true}, // an earlier view
		{Asset: "ETH", Start: now.Add(-1000 * time.Hour), End: now.Add(-999 * time.Hour)}, // outside any range
		{Asset: "BTC", Limit: -1},                                                         // invalid
	}
	var out []any
	for _, q := range queries {
		recs, err := data.ReadFeedRecords(ctx, q)
		if err != nil {
			out = append(out, fmt.Sprintf("error (invalid input: %v)", errors.Is(err, sdk.ErrInvalidInput)))
			continue
		}
		out = append(out, recs)
	}
	return json.Marshal(map[string]any{"reads": out})
}

func (windowsChallenge) BuildInferenceInput(_ context.Context, raw json.RawMessage) (json.RawMessage, error) {
	return raw, nil
}

// atCycle is the host data a per-cycle ProvideRawInput at now reads: every
// read keeps the records stored by now.
type atCycle struct {
	d   *ingestedData
	now time.Time
}

func (a atCycle) ReadFeedRecords(ctx context.Context, q sdk.FeedQuery) ([]sdk.FeedRecord, error) {
	if q.Limit < 0 {
		return nil, fmt.Errorf("limit: expected >= 0, found %d: %w", q.Limit, sdk.ErrInvalidInput)
	}
	if q.IngestedBy.IsZero() || q.IngestedBy.After(a.now) {
		q.IngestedBy = a.now
	}
	return a.d.ReadFeedRecords(ctx, q)
}

// TestBuildInferenceInputsReadsAhead: with a host that sends ingestion
// times, each cycle of BuildInferenceInputs answers exactly what a
// per-cycle ProvideRawInput reading the feed as stored at that cycle's
// time answers (windows, unbounded newest rows over two assets, an earlier
// view, a read outside the block's ranges, an invalid read; candles stored
// late, after newer ones), with fewer host reads than cycles times reads.
func TestBuildInferenceInputsReadsAhead(t *testing.T) {
	t0 := time.Date(2023, 3, 1, 1, 0, 0, 0, time.UTC)
	data := &ingestedData{}
	for i := -90; i < 30; i++ {
		ts := t0.Add(time.Duration(i) * time.Minute)
		ing := ts.Add(time.Minute)
		if i%7 == 0 {
			ing = ing.Add(4 * time.Minute) // stored late
		}
		for _, asset := range []string{"BTC", "ETH"} {
			data.recs = append(data.recs, sdk.FeedRecord{Provider: "p", Asset: asset, Kind: "candle", Granularity: "1m", TsEvent: ts,
				Values: json.RawMessage(fmt.Sprintf(`{"close":%d}`, i))})
			data.ing = append(data.ing, ing)
		}
	}
	times := make([]time.Time, 15)
	for i := range times {
		times[i] = t0.Add(time.Duration(i) * time.Minute)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	want := make([]string, len(times))
	for i, now := range times {
		raw, err := windowsChallenge{}.ProvideRawInput(ctx, now, atCycle{d: data, now: now})
		if err != nil {
			t.Fatal(err)
		}
		want[i] = string(raw)
	}
	perCycle := data.reads
	data.reads = 0

	c := sdktest.StartChallenge(t, windowsChallenge{}, data)
	if _, err := c.Describe(ctx); err != nil {
		t.Fatal(err)
	}
	call, err := c.OpenBuildInferenceInputs(ctx, times, 5*time.Second, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		a, err := call.Next()
		if errors.Is(err, io.EOF) {
			if i != len(times) {
				t.Fatalf("%d answers, want %d", i, len(times))
			}
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if a.Err != nil || string(a.Input) != want[i] {
			t.Errorf("cycle %s:\n got %s, %v\nwant %s", times[i], a.Input, a.Err, want[i])
		}
	}
	data.mu.Lock()
	defer data.mu.Unlock()
	if data.reads >= perCycle/2 {
		t.Errorf("%d host reads for the block, want fewer than half of the %d per-cycle reads", data.reads, perCycle)
	}
	t.Logf("host reads: %d per cycle, %d read ahead", perCycle, data.reads)
}
