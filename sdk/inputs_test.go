package sdk_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/crunch-coordinator/coordinator/sdk"
	"github.com/crunch-coordinator/coordinator/sdk/sdktest"
	"github.com/crunch-coordinator/coordinator/sdk/wire"
)

// recordingData is host data that records each query's IngestedBy and
// answers one record per query, stamped with it; its clock reads hostNow.
type recordingData struct {
	hostNow time.Time
	mu      sync.Mutex
	bounds  []time.Time
}

func (d *recordingData) ReadFeedRecords(_ context.Context, q sdk.FeedQuery) ([]sdk.FeedRecord, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.bounds = append(d.bounds, q.IngestedBy)
	return []sdk.FeedRecord{{Asset: q.Asset, TsEvent: q.IngestedBy, Values: json.RawMessage(`{}`)}}, nil
}

func (d *recordingData) Now(context.Context) (time.Time, error) { return d.hostNow, nil }

// inputsChallenge reads the feed and the host clock in ProvideRawInput
// and echoes both through BuildInferenceInput; it fails ProvideRawInput
// at failAt and answers a raw input that is not an object at listAt.
type inputsChallenge struct {
	sdk.Defaults
	failAt, listAt time.Time
}

func (c inputsChallenge) ProvideRawInput(ctx context.Context, now time.Time, data sdk.HostData) (json.RawMessage, error) {
	switch {
	case now.Equal(c.failAt):
		return nil, fmt.Errorf("no feed: %w", sdk.ErrNotReady)
	case now.Equal(c.listAt):
		return json.RawMessage(`[1]`), nil
	}
	recs, err := data.ReadFeedRecords(ctx, sdk.FeedQuery{Asset: "BTC", End: now})
	if err != nil {
		return nil, err
	}
	clock, err := data.(sdk.HostClock).Now(ctx)
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{"seen": recs[0].TsEvent, "clock": clock, "now": now})
}

func (c inputsChallenge) BuildInferenceInput(_ context.Context, raw json.RawMessage) (json.RawMessage, error) {
	return json.Marshal(map[string]json.RawMessage{"raw": raw})
}

// TestBuildInferenceInputs: the batched method answers, for each time,
// what ProvideRawInput then BuildInferenceInput answer at that time, with
// every feed read bounded to the records stored by then and the host
// clock reading then, and each failure attributed to its callable and
// cycle.
func TestBuildInferenceInputs(t *testing.T) {
	t0 := time.Date(2023, 3, 1, 0, 1, 0, 0, time.UTC)
	times := []time.Time{t0, t0.Add(time.Minute), t0.Add(2 * time.Minute), t0.Add(3 * time.Minute)}
	data := &recordingData{hostNow: t0.Add(time.Hour)}
	c := sdktest.StartChallenge(t, inputsChallenge{failAt: times[1], listAt: times[2]}, data)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	desc, err := c.Describe(ctx)
	if err != nil || !slices.Equal(desc.OptionalMethods, []string{sdk.MethodBuildInferenceInputs}) {
		t.Fatalf("Describe: optional methods %v, %v; want [%s]", desc.OptionalMethods, err, sdk.MethodBuildInferenceInputs)
	}
	call, err := c.OpenBuildInferenceInputs(ctx, times, time.Second, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var got []wire.InputAnswer
	for {
		a, err := call.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, a)
	}
	if len(got) != len(times) {
		t.Fatalf("%d answers, want %d", len(got), len(times))
	}
	for i, now := range []time.Time{times[0], times[3]} {
		a := got[i*3]
		want := fmt.Sprintf(`{"raw":{"clock":%q,"now":%q,"seen":%q}}`, now.Format(time.RFC3339), now.Format(time.RFC3339), now.Format(time.RFC3339))
		if a.Err != nil || string(a.Input) != want {
			t.Errorf("cycle %s: %s, %v; want %s", now, a.Input, a.Err, want)
		}
	}
	if a := got[1]; a.Callable != sdk.CallableProvideRawInput || status.Code(a.Err) != codes.FailedPrecondition {
		t.Errorf("failing ProvideRawInput: %s, %v; want its FailedPrecondition", a.Callable, a.Err)
	}
	if a := got[2]; a.Callable != sdk.CallableProvideRawInput || a.Err == nil {
		t.Errorf("raw input [1]: %s, %v; want ProvideRawInput's failure", a.Callable, a.Err)
	}
	data.mu.Lock()
	defer data.mu.Unlock()
	if !slices.EqualFunc(data.bounds, []time.Time{times[0], times[3]}, time.Time.Equal) {
		t.Errorf("feed reads bounded by %v, want %v", data.bounds, []time.Time{times[0], times[3]})
	}
}
