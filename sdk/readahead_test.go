package sdk_test

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crunch-coordinator/coordinator/sdk"
	"github.com/crunch-coordinator/coordinator/sdk/sdktest"
)

// countingHostData counts the reads that reach the host.
type countingHostData struct {
	sdk.HostData
	reads atomic.Int64
}

func (c *countingHostData) ReadFeedRecords(ctx context.Context, q sdk.FeedQuery) ([]sdk.FeedRecord, error) {
	c.reads.Add(1)
	return c.HostData.ReadFeedRecords(ctx, q)
}

// TestReadAheadAnswersExactly compares, for many random ranges and
// queries (bounds inside, across and outside the range, both orders,
// limits 0..5 and larger than the range, other filters, gaps, two assets
// and two kinds at the same instants), the read-ahead's answer with the
// host's, and checks that contained queries never reach the host.
func TestReadAheadAnswersExactly(t *testing.T) {
	t0 := time.Date(2023, 3, 1, 0, 0, 0, 0, time.UTC)
	var recs []sdk.FeedRecord
	for m := 0; m < 200; m++ {
		if m%17 == 5 || (m >= 90 && m < 100) {
			continue // gaps
		}
		at := t0.Add(time.Duration(m) * time.Minute)
		v := json.RawMessage(`{"close":` + string(rune('0'+m%10)) + `}`)
		recs = append(recs,
			sdk.FeedRecord{Provider: "p", Asset: "BTC", Kind: "candle", Granularity: "1m", TsEvent: at, Values: v},
			sdk.FeedRecord{Provider: "p", Asset: "ETH", Kind: "candle", Granularity: "1m", TsEvent: at, Values: v})
		if m%3 == 0 {
			recs = append(recs, sdk.FeedRecord{Provider: "p", Asset: "BTC", Kind: "tick", Granularity: "1m", TsEvent: at, Values: v})
		}
	}
	host := sdktest.NewMemoryHostData(recs...)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	minute := func() time.Time {
		if rng.IntN(10) == 0 {
			return time.Time{} // unbounded
		}
		return t0.Add(time.Duration(rng.IntN(220)-10) * time.Minute)
	}
	assets := []string{"BTC", "ETH", ""}
	kinds := []string{"candle", "tick", ""}
	served := 0
	for i := range 3000 {
		rq := sdk.FeedQuery{Provider: "p", Asset: assets[rng.IntN(3)], Kind: kinds[rng.IntN(3)], Start: minute(), End: minute(), Limit: []int{0, 10, 50, sdk.MaxFeedLimit}[rng.IntN(4)]}
		if !rq.Start.IsZero() && !rq.End.IsZero() && rq.End.Before(rq.Start) {
			rq.Start, rq.End = rq.End, rq.Start
		}
		counting := &countingHostData{HostData: host}
		ra, err := sdk.ReadAhead(ctx, counting, rq)
		if err != nil {
			t.Fatal(err)
		}
		for range 20 {
			q := rq
			if rng.IntN(5) == 0 {
				q.Asset = assets[rng.IntN(3)]
			}
			q.Start, q.End, q.Limit, q.Descending = minute(), minute(), rng.IntN(7), rng.IntN(2) == 0
			if rng.IntN(4) == 0 {
				q.Limit = 0
			}
			if rng.IntN(20) == 0 {
				q.Start = q.Start.Add(time.Nanosecond)
			}
			before := counting.reads.Load()
			got, gotErr := ra.ReadFeedRecords(ctx, q)
			want, wantErr := host.ReadFeedRecords(ctx, q)
			if (gotErr != nil) != (wantErr != nil) {
				t.Fatalf("case %d: range %+v, query %+v: error %v, host error %v", i, rq, q, gotErr, wantErr)
			}
			if len(got) == 0 && len(want) == 0 {
				got, want = nil, nil
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("case %d: range %+v, query %+v:\n got %d rows %v\nwant %d rows %v", i, rq, q, len(got), got, len(want), want)
			}
			inside := q.Provider == rq.Provider && q.Asset == rq.Asset && q.Kind == rq.Kind &&
				(rq.Start.IsZero() || !q.Start.IsZero() && !q.Start.Before(rq.Start)) &&
				(rq.End.IsZero() || !q.End.IsZero() && !q.End.After(rq.End)) &&
				q.Start.Equal(q.Start.Truncate(time.Microsecond)) && (q.Start.IsZero() || q.End.IsZero() || !q.End.Before(q.Start))
			if counting.reads.Load() == before {
				served++
			} else if inside && rq.Limit == sdk.MaxFeedLimit {
				t.Fatalf("case %d: range %+v, query %+v inside it reached the host", i, rq, q)
			}
		}
	}
	if served < 2000 {
		t.Fatalf("only %d of 60000 queries were answered from the range", served)
	}
}

// TestReadAheadErrors: a negative limit is invalid input; a failing range
// read is returned; queries the range cannot answer reach the host.
func TestReadAheadErrors(t *testing.T) {
	ctx := context.Background()
	if _, err := sdk.ReadAhead(ctx, sdktest.NewMemoryHostData(), sdk.FeedQuery{Limit: -1}); !errors.Is(err, sdk.ErrInvalidInput) {
		t.Fatalf("negative limit: got %v, want ErrInvalidInput", err)
	}
	boom := errors.New("host unreachable")
	if _, err := sdk.ReadAhead(ctx, failingHostData{boom}, sdk.FeedQuery{}); !errors.Is(err, boom) {
		t.Fatalf("failing range read: got %v, want %v", err, boom)
	}
	ra, err := sdk.ReadAhead(ctx, sdktest.NewMemoryHostData(), sdk.FeedQuery{Asset: "BTC"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ra.ReadFeedRecords(ctx, sdk.FeedQuery{Asset: "BTC", Limit: -1}); !errors.Is(err, sdk.ErrInvalidInput) {
		t.Fatalf("negative query limit: got %v, want the host's ErrInvalidInput", err)
	}
	if _, ok := ra.(sdk.HostClock); !ok {
		t.Fatal("the read-ahead does not pass the host clock through")
	}
}

type failingHostData struct{ err error }

func (f failingHostData) ReadFeedRecords(context.Context, sdk.FeedQuery) ([]sdk.FeedRecord, error) {
	return nil, f.err
}
