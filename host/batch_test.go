package host

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/crunch-coordinator/coordinator/sdk"
)

// TestModelBatchMatchesCycleByCycle runs the same three cycles (Tick and
// two Predict calls each) through a ModelBatch and, on a second set of
// the same models, cycle by cycle through TickPredict (each cycle on its
// own round trip, not on a live stream, which runs the batch's code) then
// Predict, and checks that every call gets the same result: statuses,
// outputs (which echo the Tick the model last saw, so the order is
// checked too), each failure attributed to its own cycle and call, and
// each call's own deadline counted from when the host sent the call.
// Models without the batch (an older SDK, a plugin that lists it without
// serving it) get the calls one by one. After a crash or a timeout, the model's later calls go one
// by one (it is restarting: ABSENT on both paths, compared up to there).
func TestModelBatchMatchesCycleByCycle(t *testing.T) {
	t.Parallel()
	const tickTO, predTO = 800 * time.Millisecond, 1200 * time.Millisecond
	specs := func(marker string) []PluginSpec {
		return []PluginSpec{
			mspec(marker, "ok", modelBin, "-name", "ok"),
			mspec(marker, "fail", modelBin, "-mode", "fail"),
			mspec(marker, "failafter3", modelBin, "-mode", "fail", "-after", "3"),
			mspec(marker, "panicafter2", modelBin, "-mode", "panic", "-after", "2"),
			mspec(marker, "sleepafter1", modelBin, "-mode", "sleep", "-after", "1", "-sleep", "30s"),
			mspec(marker, "ticksleep", modelBin, "-tick-mode", "sleep", "-sleep", "30s"),
			mspec(marker, "old", rawModelBin, "-mode", "ok"),
			mspec(marker, "batchliar", rawModelBin, "-mode", "batchliar"),
		}
	}
	// Per model and cycle: Tick's status, then each Predict's; "" = not
	// compared (after a crash or timeout the restart's timing decides).
	type row [3]Status
	wants := map[string][3]row{
		"ok":          {{StatusSuccess, StatusSuccess, StatusSuccess}, {StatusSuccess, StatusSuccess, StatusSuccess}, {StatusSuccess, StatusSuccess, StatusSuccess}},
		"fail":        {{StatusSuccess, StatusFailed, StatusFailed}, {StatusSuccess, StatusFailed, StatusFailed}, {StatusSuccess, StatusFailed, StatusFailed}},
		"failafter3":  {{StatusSuccess, StatusSuccess, StatusSuccess}, {StatusSuccess, StatusSuccess, StatusFailed}, {StatusSuccess, StatusFailed, StatusFailed}},
		"panicafter2": {{StatusSuccess, StatusSuccess, StatusSuccess}, {StatusSuccess, StatusCrashed, ""}, {}},
		"sleepafter1": {{StatusSuccess, StatusSuccess, StatusTimeout}, {}, {}},
		"ticksleep":   {{StatusTimeout, StatusAbsent, StatusAbsent}, {}, {}},
		"old":         {{StatusSuccess, StatusSuccess, StatusSuccess}, {StatusSuccess, StatusSuccess, StatusSuccess}, {StatusSuccess, StatusSuccess, StatusSuccess}},
		"batchliar":   {{StatusSuccess, StatusSuccess, StatusSuccess}, {StatusSuccess, StatusSuccess, StatusSuccess}, {StatusSuccess, StatusSuccess, StatusSuccess}},
	}
	start := func(noLive bool) *ModelSet {
		opts := testOptions(t)
		opts.CallTimeouts = map[string]time.Duration{sdk.MethodTick: tickTO, sdk.MethodPredict: predTO}
		opts.MaxConsecutiveFailures = 100 // compare classification, not cool-downs
		opts.noLiveStream = noLive
		ms, err := StartModels(ctxT(t, 60*time.Second), specs(testMarker(t)), opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = ms.Close() })
		return ms
	}
	var cycles []BatchCycle
	for k := range 3 {
		c := BatchCycle{Input: json.RawMessage(fmt.Sprintf(`{"cycle":%d}`, k))}
		for j := range 2 {
			c.Calls = append(c.Calls, PredictArgs{Args: []json.RawMessage{json.RawMessage(`"BTC"`)}, Kwargs: json.RawMessage(fmt.Sprintf(`{"call":%d}`, j))})
		}
		cycles = append(cycles, c)
	}
	// The cycle-by-cycle side sends each cycle on its own TickPredict
	// round trip (tickPredictOne), not on a live stream: a live stream
	// runs batchStream.cycle, the code under test on the batch side.
	one, batched := start(true), start(false)
	ctx := ctxT(t, 60*time.Second)

	type results struct {
		ticks map[string]CallResult
		preds []map[string]CallResult
	}
	var want [3]results
	done := make(chan struct{})
	go func() { // both sets at once: their deadlines overlap
		defer close(done)
		for k, c := range cycles {
			ticks, p0 := one.TickPredict(ctx, c.Input, c.Calls[0].Args, c.Calls[0].Kwargs)
			p1 := one.Predict(ctx, c.Calls[1].Args, c.Calls[1].Kwargs)
			want[k] = results{ticks, []map[string]CallResult{p0, p1}}
		}
	}()
	b := batched.StartBatch(ctx, cycles)
	var got [3]results
	var streamed [3]int
	for k := range cycles {
		got[k].ticks, got[k].preds = b.Next(ctx)
		streamed[k] = b.Streamed()
	}
	b.Close()
	<-done

	for id, w := range wants {
		for k := range cycles {
			for i, st := range w[k] {
				if st == "" {
					continue
				}
				a, g := want[k].ticks[id], got[k].ticks[id]
				method := sdk.MethodTick
				if i > 0 {
					a, g, method = want[k].preds[i-1][id], got[k].preds[i-1][id], fmt.Sprintf("Predict[%d]", i-1)
				}
				if a.Status != st || g.Status != st {
					t.Errorf("%s cycle %d %s: cycle by cycle %s (%v), batch %s (%v); want %s", id, k, method, a.Status, a.Err, g.Status, g.Err, st)
					continue
				}
				if string(a.Output) != string(g.Output) {
					t.Errorf("%s cycle %d %s output: cycle by cycle %s, batch %s", id, k, method, a.Output, g.Output)
				}
			}
		}
	}
	// Each call's deadline is its own, counted from when it was sent.
	if d := got[0].preds[1]["sleepafter1"].Duration; d < predTO-50*time.Millisecond || d > predTO+tickTO/2 {
		t.Errorf("sleepafter1: Predict[1] timed out after %s, want about %s", d, predTO)
	}
	if d := got[0].ticks["ticksleep"].Duration; d < tickTO-50*time.Millisecond || d > tickTO+predTO/2 {
		t.Errorf("ticksleep: Tick timed out after %s, want about %s", d, tickTO)
	}
	// The six SDK models answered cycle 0 from their streams; the older
	// plugin and the one that lists the batch without serving it did not
	// (the latter falls back once and for good).
	if streamed[0] != 6 {
		t.Errorf("cycle 0: %d models answered from a batch stream, want 6", streamed[0])
	}
	if !batched.sup("batchliar").noBatch.Load() || batched.sup("ok").noBatch.Load() {
		t.Errorf("no batch from now on: batchliar %v, ok %v; want true, false", batched.sup("batchliar").noBatch.Load(), batched.sup("ok").noBatch.Load())
	}
}

// TestModelBatchLockstep runs a hostile model plugin (rawmodel -mode
// peeker) that serves TickPredictBatch itself, reads its stream as fast as
// it can and lingers before each answer to catch later calls: every
// Predict answer it gives must show that it had received exactly the
// requests sent so far (Tick with the cycle's first Predict in one, then
// the cycle's further Predicts one each, cycle after cycle) and no later
// cycle's input.
func TestModelBatchLockstep(t *testing.T) {
	t.Parallel()
	opts := testOptions(t)
	ms, err := StartModels(ctxT(t, 60*time.Second), []PluginSpec{mspec(testMarker(t), "peeker", rawModelBin, "-mode", "peeker")}, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ms.Close() })
	const calls = 2
	var cycles []BatchCycle
	for k := range 4 {
		c := BatchCycle{Input: json.RawMessage(fmt.Sprintf(`{"cycle":%d}`, k))}
		for range calls {
			c.Calls = append(c.Calls, PredictArgs{Args: []json.RawMessage{json.RawMessage(`"BTC"`)}, Kwargs: json.RawMessage(`{}`)})
		}
		cycles = append(cycles, c)
	}
	ctx := ctxT(t, 60*time.Second)
	b := ms.StartBatch(ctx, cycles)
	defer b.Close()
	for k := range cycles {
		ticks, preds := b.Next(ctx)
		if r := ticks["peeker"]; r.Status != StatusSuccess || b.Streamed() != 1 {
			t.Fatalf("cycle %d Tick: %s (%v), streamed %d; want SUCCESS from the stream", k, r.Status, r.Err, b.Streamed())
		}
		for j, p := range preds {
			r := p["peeker"]
			want := fmt.Sprintf(`{"last_tick":{"cycle":%d},"received":%d}`, k, k*calls+j+1)
			if r.Status != StatusSuccess || string(r.Output) != want {
				t.Errorf("cycle %d Predict[%d]: %s %s (%v); want the calls sent so far only: %s", k, j, r.Status, r.Output, r.Err, want)
			}
		}
	}
}
