package host

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/crunch-coordinator/coordinator/sdk"
)

// TestTickPredictMatchesTickThenPredict runs the same models through Tick
// then Predict (two fan-outs) and through TickPredict (one round trip per
// SDK model) and checks that every model gets the same Tick and Predict
// results: the same statuses, callables, error classes and outputs, with
// each call's own deadline (a hanging Tick is Tick's timeout, a hanging
// Predict is Predict's, counted from Tick's answer). Plugins without
// TickPredict (an older SDK, a plugin that lists it but does not serve it)
// get the two calls. A process that exits at once in Predict may be seen
// as Tick's crash on the combined call; the model then gets two calls and
// the next crash is Predict's. The table runs on both ways TickPredict
// sends a cycle: a model's live stream (kept across cycles) and a
// TickPredict round trip per cycle (tickPredictOne: a cycle that overlaps
// another, a replay's cycle after its stream ended), which a test option
// (Options.noLiveStream) makes every cycle take.
func TestTickPredictMatchesTickThenPredict(t *testing.T) {
	t.Parallel()
	onBothPaths(t, testTickPredictMatchesTickThenPredict)
}

// testTickPredictMatchesTickThenPredict is TestTickPredictMatchesTickThenPredict
// with TickPredict's cycles on the live stream or, when noLive, one by one.
func testTickPredictMatchesTickThenPredict(t *testing.T, noLive bool) {
	const tickTO, predTO = 800 * time.Millisecond, 1500 * time.Millisecond
	specs := func(marker string) []PluginSpec {
		return []PluginSpec{
			mspec(marker, "ok", modelBin, "-name", "ok"),
			mspec(marker, "tickfail", modelBin, "-name", "tickfail", "-tick-mode", "fail"),
			mspec(marker, "tickpanic", modelBin, "-tick-mode", "panic"),
			mspec(marker, "tickexit", modelBin, "-tick-mode", "exit"),
			mspec(marker, "ticksleep", modelBin, "-tick-mode", "sleep", "-sleep", "30s"),
			mspec(marker, "fail", modelBin, "-mode", "fail"),
			mspec(marker, "panic", modelBin, "-mode", "panic"),
			mspec(marker, "exit", modelBin, "-mode", "exit"),
			mspec(marker, "sleep", modelBin, "-mode", "sleep", "-sleep", "30s"),
			mspec(marker, "bigout", modelBin, "-mode", "bigout", "-size", "200000"),
			mspec(marker, "old", rawModelBin, "-mode", "ok"),
			mspec(marker, "oldbadjson", rawModelBin, "-mode", "badjson"),
			mspec(marker, "liar", rawModelBin, "-mode", "tickpredictliar"),
		}
	}
	type want struct{ tick, pred Status }
	wants := map[string]want{
		"ok": {StatusSuccess, StatusSuccess}, "tickfail": {StatusFailed, StatusSuccess},
		"tickpanic": {StatusCrashed, StatusAbsent}, "tickexit": {StatusCrashed, StatusAbsent},
		"ticksleep": {StatusTimeout, StatusAbsent},
		"fail":      {StatusSuccess, StatusFailed}, "panic": {StatusSuccess, StatusCrashed},
		"sleep":  {StatusSuccess, StatusTimeout},
		"bigout": {StatusSuccess, StatusFailed}, "old": {StatusSuccess, StatusSuccess},
		"oldbadjson": {StatusSuccess, StatusFailed}, "liar": {StatusSuccess, StatusSuccess},
	}
	input := json.RawMessage(`{"price":42}`)
	args := []json.RawMessage{json.RawMessage(`"BTC"`), json.RawMessage(`60`)}
	kwargs := json.RawMessage(`{"horizon":60}`)
	start := func(noLive bool) *ModelSet {
		opts := testOptions(t)
		opts.CallTimeouts = map[string]time.Duration{sdk.MethodTick: tickTO, sdk.MethodPredict: predTO}
		opts.noLiveStream = noLive
		ms, err := StartModels(ctxT(t, 60*time.Second), specs(testMarker(t)), opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = ms.Close() })
		return ms
	}
	two, one := start(false), start(noLive)
	// The SDK's models offer TickPredict; the raw (older) ones do not.
	for _, id := range []string{"ok", "sleep", "old", "liar"} {
		in := one.sup(id).cur
		if in == nil {
			t.Fatalf("%s is not running", id)
		}
		offers := slices.Contains(in.mdesc.OptionalMethods, sdk.MethodTickPredict)
		if offers != (id != "old") {
			t.Errorf("%s: optional methods %v", id, in.mdesc.OptionalMethods)
		}
	}

	ctx := ctxT(t, 30*time.Second)
	var ticksA, predsA map[string]CallResult
	var ticksB, predsB map[string]CallResult
	done := make(chan struct{})
	go func() { // both sets at once: their deadlines overlap
		defer close(done)
		ticksA = two.Tick(ctx, input)
		predsA = two.Predict(ctx, args, kwargs)
	}()
	ticksB, predsB = one.TickPredict(ctx, input, args, kwargs)
	<-done

	if len(ticksB) != len(wants)+1 || len(predsB) != len(wants)+1 {
		t.Fatalf("TickPredict answered %d ticks and %d predictions, want %d each", len(ticksB), len(predsB), len(wants)+1)
	}
	// os.Exit in Predict: exact on two calls; on the combined call either
	// exact or Tick's crash, and then the model is sent two calls. Exact
	// also when the host sees the exit before it reads Predict's answer
	// (TestTickPredictExitSeenBeforePredictAnswer forces that order).
	if ticksA["exit"].Status != StatusSuccess || predsA["exit"].Status != StatusCrashed {
		t.Errorf("exit on two calls: Tick %s, Predict %s; want SUCCESS, CRASHED", ticksA["exit"].Status, predsA["exit"].Status)
	}
	exitUnattributed := ticksB["exit"].Status == StatusCrashed && predsB["exit"].Status == StatusAbsent
	if !exitUnattributed && (ticksB["exit"].Status != StatusSuccess || predsB["exit"].Status != StatusCrashed) {
		t.Errorf("exit on TickPredict: Tick %s (%v), Predict %s (%v); want SUCCESS, CRASHED or CRASHED, ABSENT",
			ticksB["exit"].Status, ticksB["exit"].Err, predsB["exit"].Status, predsB["exit"].Err)
	}
	if got := one.sup("exit").twoCalls.Load(); got != exitUnattributed {
		t.Errorf("exit: two calls from now on = %v, want %v", got, exitUnattributed)
	}
	for id, w := range wants {
		for _, c := range []struct {
			method     string
			a, b       CallResult
			wantStatus Status
		}{{sdk.MethodTick, ticksA[id], ticksB[id], w.tick}, {sdk.MethodPredict, predsA[id], predsB[id], w.pred}} {
			if c.a.Status != c.wantStatus || c.b.Status != c.wantStatus {
				t.Errorf("%s %s: two calls %s (%v), TickPredict %s (%v); want %s", id, c.method, c.a.Status, c.a.Err, c.b.Status, c.b.Err, c.wantStatus)
				continue
			}
			if c.wantStatus == StatusSuccess {
				if string(c.a.Output) != string(c.b.Output) {
					t.Errorf("%s %s output: two calls %s, TickPredict %s", id, c.method, c.a.Output, c.b.Output)
				}
				continue
			}
			var ce *CallError
			if !errors.As(c.b.Err, &ce) || ce.Plugin != id || ce.Callable != c.method || ce.Status != c.wantStatus {
				t.Errorf("%s %s: error %v is not a matching *CallError", id, c.method, c.b.Err)
			}
			if errors.Is(c.a.Err, ErrInvalidOutput) != errors.Is(c.b.Err, ErrInvalidOutput) ||
				errors.Is(c.a.Err, ErrRestarting) != errors.Is(c.b.Err, ErrRestarting) {
				t.Errorf("%s %s: error classes differ: two calls %v, TickPredict %v", id, c.method, c.a.Err, c.b.Err)
			}
		}
	}
	// Each call had its own deadline: Tick's timeout came after Tick's
	// deadline, not Tick's + Predict's; Predict's after Predict's.
	if d := ticksB["ticksleep"].Duration; d < tickTO || d > tickTO+predTO/2 {
		t.Errorf("ticksleep: Tick timed out after %s, want about %s", d, tickTO)
	}
	if d := predsB["sleep"].Duration; d < predTO-50*time.Millisecond || d > predTO+tickTO/2 {
		t.Errorf("sleep: Predict timed out after %s, want about %s", d, predTO)
	}
	// The models received the Tick before the Predict.
	var out struct {
		Tick json.RawMessage `json:"tick"`
	}
	if err := json.Unmarshal(predsB["ok"].Output, &out); err != nil || string(out.Tick) != string(input) {
		t.Errorf("ok output %s: the model did not see the tick %s", predsB["ok"].Output, input)
	}
	// The plugin that lists TickPredict without serving it fell back once
	// and for good.
	if !one.sup("liar").twoCalls.Load() || one.sup("ok").twoCalls.Load() {
		t.Errorf("two calls from now on: liar %v, ok %v; want true, false", one.sup("liar").twoCalls.Load(), one.sup("ok").twoCalls.Load())
	}

	// Crashed and timed-out models come back and answer the combined call
	// again; the next generation is warmed up with the last Tick.
	for _, id := range []string{"panic", "exit", "sleep"} {
		if err := one.WaitReady(ctx, id); err != nil {
			t.Fatalf("%s not restarted: %v", id, err)
		}
	}
	ticks, preds := one.TickPredict(ctx, json.RawMessage(`{"price":43}`), nil, json.RawMessage(`{}`))
	for _, id := range []string{"ok", "old", "liar", "tickfail"} {
		if preds[id].Status != StatusSuccess {
			t.Errorf("second round %s: Predict %s (%v)", id, preds[id].Status, preds[id].Err)
		}
	}
	if exitUnattributed && (ticks["exit"].Status != StatusSuccess || preds["exit"].Status != StatusCrashed) {
		t.Errorf("second round exit (two calls): Tick %s, Predict %s (%v); want SUCCESS, CRASHED", ticks["exit"].Status, preds["exit"].Status, preds["exit"].Err)
	}
	if ticks["tickfail"].Status != StatusFailed || ticks["ok"].Status != StatusSuccess {
		t.Errorf("second round ticks: tickfail %s, ok %s", ticks["tickfail"].Status, ticks["ok"].Status)
	}
	if err := json.Unmarshal(preds["ok"].Output, &out); err != nil || string(out.Tick) != `{"price":43}` {
		t.Errorf("second round ok output %s", preds["ok"].Output)
	}
}
