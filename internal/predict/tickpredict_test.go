package predict_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/crunch-coordinator/coordinator/host"
	"github.com/crunch-coordinator/coordinator/internal/predict"
	"github.com/crunch-coordinator/coordinator/internal/store"
	"github.com/crunch-coordinator/coordinator/sdk"
)

// combinedModels is fakeModels with the combined Tick + Predict round trip
// (predict.TickPredicter): it answers like Tick then Predict and records
// the args of each combined call.
type combinedModels struct {
	*fakeModels
	combined [][]json.RawMessage // args of each TickPredict
	predicts [][]json.RawMessage // args of each plain Predict
}

func (c *combinedModels) TickPredict(ctx context.Context, input json.RawMessage, args []json.RawMessage, kwargs json.RawMessage) (map[string]host.CallResult, map[string]host.CallResult) {
	c.combined = append(c.combined, args)
	ticks := c.fakeModels.Tick(ctx, input)
	c.fakeModels.mu.Lock()
	c.fakeModels.ticks-- // counted as combined, not as a Tick fan-out
	c.fakeModels.mu.Unlock()
	return ticks, c.fakeModels.Predict(ctx, args, kwargs)
}

func (c *combinedModels) Predict(ctx context.Context, args []json.RawMessage, kwargs json.RawMessage) map[string]host.CallResult {
	c.predicts = append(c.predicts, args)
	return c.fakeModels.Predict(ctx, args, kwargs)
}

var _ predict.TickPredicter = (*combinedModels)(nil)

// TestTickPredictFirstRow: with a TickPredicter model set, the first due
// row's Predict carries the Tick (no separate Tick fan-out), later rows get
// a plain Predict fan-out, and the stored predictions are those of the
// two-fan-out path.
func TestTickPredictFirstRow(t *testing.T) {
	ctx := context.Background()
	answers := map[string]host.CallResult{
		"a":    success(`{"p_up":0.5}`, 2*time.Millisecond),
		"late": {Status: host.StatusTimeout, Err: errors.New("no answer before the call deadline"), Duration: time.Second},
	}
	states := append(running("a", "late"), host.ModelState{ID: "down", Stopped: true, Reason: host.StopMultipleFailed})
	run := func(combine bool) (map[string]store.Prediction, predict.Result, *combinedModels) {
		f := newFixture(t)
		seedSchedules(t, f.st, scheduleRow("btc-60", 60, 300), scheduleRow("btc-1h", 60, 3600))
		f.models.set(states, answers)
		cm := &combinedModels{fakeModels: f.models}
		w := f.worker(t, func(c *predict.Config) {
			if combine {
				c.Models = cm
			}
		})
		res, err := w.RunOnce(ctx)
		if err != nil {
			t.Fatalf("RunOnce (combined %v): %v", combine, err)
		}
		return listPredictions(t, f.st), res, cm
	}
	plain, plainRes, _ := run(false)
	got, res, cm := run(true)
	if len(res.Due) != 2 || res.Inserted != 6 {
		t.Fatalf("combined cycle: due %v inserted %d, want 2 rows and 6 predictions", res.Due, res.Inserted)
	}
	if len(cm.combined) != 1 || len(cm.predicts) != 1 || cm.fakeModels.ticks != 0 {
		t.Fatalf("calls: %d TickPredict, %d Predict, %d Tick fan-outs; want 1, 1, 0", len(cm.combined), len(cm.predicts), cm.fakeModels.ticks)
	}
	// The combined call is the first due row's (its horizon is in args[1]).
	first := map[string]string{"btc-60": "300", "btc-1h": "3600"}[res.Due[0]]
	if string(cm.combined[0][1]) != first {
		t.Errorf("TickPredict args %s, want the first due row %s (horizon %s)", cm.combined[0], res.Due[0], first)
	}
	if res.Timing.Tick != 0 || res.Timing.Predict <= 0 || plainRes.Timing.Tick <= 0 {
		t.Errorf("timing: combined Tick %s Predict %s, plain Tick %s; want 0, > 0, > 0", res.Timing.Tick, res.Timing.Predict, plainRes.Timing.Tick)
	}
	if len(got) != len(plain) {
		t.Fatalf("combined stored %d predictions, plain %d", len(got), len(plain))
	}
	for id, p := range plain {
		g, ok := got[id]
		if !ok {
			t.Errorf("prediction %s missing from the combined cycle", id)
			continue
		}
		if g.Status != p.Status || string(g.InferenceOutput) != string(p.InferenceOutput) || g.ExecTimeMs != p.ExecTimeMs ||
			string(g.Meta) != string(p.Meta) || string(g.InferenceInput) != string(p.InferenceInput) {
			t.Errorf("prediction %s: combined %s %s %v %s, plain %s %s %v %s", id, g.Status, g.InferenceOutput, g.ExecTimeMs, g.Meta,
				p.Status, p.InferenceOutput, p.ExecTimeMs, p.Meta)
		}
	}
}

// TestTickPredictCallFailureStillTicks: when the first due row's predict
// call cannot be built, the models still get the Tick before the cycle
// aborts, as with separate fan-outs.
func TestTickPredictCallFailureStillTicks(t *testing.T) {
	f := newFixture(t)
	f.ch.kwargs = json.RawMessage(`[1]`)
	f.models.set(running("a"), map[string]host.CallResult{"a": success(`{"p_up":0.5}`, 0)})
	cm := &combinedModels{fakeModels: f.models}
	_, err := f.worker(t, func(c *predict.Config) { c.Models = cm }).RunOnce(context.Background())
	var ce *predict.CycleError
	if !errors.As(err, &ce) || ce.Callable != sdk.CallableBuildPredictCall {
		t.Fatalf("err = %v, want a CycleError of %s", err, sdk.CallableBuildPredictCall)
	}
	if cm.fakeModels.ticks != 1 || len(cm.combined) != 0 || len(cm.predicts) != 0 {
		t.Fatalf("calls: %d Tick fan-outs, %d TickPredict, %d Predict; want 1, 0, 0", cm.fakeModels.ticks, len(cm.combined), len(cm.predicts))
	}
	if n := len(listPredictions(t, f.st)); n != 0 {
		t.Fatalf("aborted cycle stored %d predictions", n)
	}
}
