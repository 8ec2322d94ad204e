package predict_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crunch-coordinator/coordinator/host"
	"github.com/crunch-coordinator/coordinator/internal/predict"
	"github.com/crunch-coordinator/coordinator/sdk"
	"github.com/crunch-coordinator/coordinator/sdk/wire"
)

// countingChallenge counts its ProvideRawInput calls.
type countingChallenge struct {
	*challenge
	raw atomic.Int32
}

func (c *countingChallenge) ProvideRawInput(ctx context.Context, now time.Time, d sdk.HostData) (json.RawMessage, error) {
	c.raw.Add(1)
	return c.challenge.ProvideRawInput(ctx, now, d)
}

// noBatchModels is a model set that says it can batch but must not be
// asked to: every cycle of the test fails before calling a model.
type noBatchModels struct {
	*fakeModels
	t *testing.T
}

func (m noBatchModels) StartBatch(context.Context, []host.BatchCycle) *host.ModelBatch {
	m.t.Errorf("StartBatch called for cycles that failed to plan")
	return nil
}

// TestBlockPlanFailureEndsTheCycleOnce: a cycle of a Block whose
// ProvideRawInput fails ends, in its turn in Run, with the error Plan got,
// and the failing callable was called once per cycle (as RunOnce calls it
// live), not again.
func TestBlockPlanFailureEndsTheCycleOnce(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.ch.rawErr = &host.CallError{Plugin: "challenge", Callable: sdk.CallableProvideRawInput, Status: host.StatusCrashed, Err: errors.New("exit 2")}
	f.models.set(running("a"), map[string]host.CallResult{"a": success(`{"p_up":0.5}`, 0)})
	ch := &countingChallenge{challenge: f.ch}
	w := f.worker(t, func(c *predict.Config) {
		c.Challenge = wire.Checked(ch)
		c.Models = noBatchModels{fakeModels: f.models, t: t}
	})
	b := w.NewBlock()
	if b == nil {
		t.Fatal("NewBlock = nil for a Batcher")
	}
	var planned []error
	for range 2 {
		planned = append(planned, b.Plan(ctx))
		f.clk.Set(f.clk.Now().Add(time.Minute))
	}
	var ended []error
	var nows []time.Time
	b.Run(ctx, func(res predict.Result, err error) {
		ended = append(ended, err)
		nows = append(nows, res.Now)
	})
	if n := ch.raw.Load(); n != 2 {
		t.Errorf("ProvideRawInput called %d times for 2 cycles, want 2", n)
	}
	if len(ended) != 2 || !nows[0].Before(nows[1]) {
		t.Fatalf("Run ended %d cycles at %v, want 2 in order", len(ended), nows)
	}
	for i := range ended {
		var ce *predict.CycleError
		if !errors.As(ended[i], &ce) || ce.Callable != sdk.CallableProvideRawInput || ended[i] != planned[i] {
			t.Errorf("cycle %d: Plan %v, Run ended with %v; want the same CycleError of %s", i, planned[i], ended[i], sdk.CallableProvideRawInput)
		}
	}
	if n := len(listPredictions(t, f.st)); n != 0 {
		t.Errorf("failed cycles stored %d predictions", n)
	}
}
