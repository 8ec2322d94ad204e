//go:build linux

package host

import (
	"context"
	"encoding/json"
	"fmt"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/status"

	"github.com/crunch-coordinator/coordinator/sdk"
)

// TestTickPredictLiveStream runs three live TickPredict cycles on one SDK
// model and checks that they go on one TickPredictBatch stream kept open
// across cycles (one stream opened), and that after an outcome or an
// event that ends the stream's generation (Predict's timeout, Predict's
// crash, a reload, the process killed between cycles) the next cycle on
// the new generation opens a new stream there and answers as a live call
// does. Every answer is checked against the cycle's own Tick (the model
// echoes the last Tick it saw). Once the set is closed, the stream's
// context has ended (no stream outlives its generation).
func TestTickPredictLiveStream(t *testing.T) {
	t.Parallel()
	const tickTO, predTO = 2 * time.Second, 1500 * time.Millisecond
	reload := func(t *testing.T, ms *ModelSet, s *supervisor) {
		if err := ms.Reload("m"); err != nil {
			t.Fatal(err)
		}
	}
	kill := func(t *testing.T, ms *ModelSet, s *supervisor) {
		in := s.serving()
		if in == nil {
			t.Fatal("no generation serving")
		}
		if err := syscall.Kill(in.run.processID(), syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name string
		args []string // the model's flags
		// between runs after cycle 0 and ends its generation (nil:
		// nothing happens between the cycles).
		between func(t *testing.T, ms *ModelSet, s *supervisor)
		// cycle 1's Tick and Predict; a failure ends the generation.
		tick1, pred1 Status
		opened       int64 // streams opened after the three cycles
	}{
		{name: "consecutive cycles", tick1: StatusSuccess, pred1: StatusSuccess, opened: 1},
		{name: "predict timeout", args: []string{"-mode", "sleep", "-after", "1", "-sleep", "30s"}, tick1: StatusSuccess, pred1: StatusTimeout, opened: 2},
		{name: "predict crash", args: []string{"-mode", "panic", "-after", "1"}, tick1: StatusSuccess, pred1: StatusCrashed, opened: 2},
		{name: "reload", between: reload, tick1: StatusSuccess, pred1: StatusSuccess, opened: 2},
		{name: "killed between cycles", between: kill, tick1: StatusSuccess, pred1: StatusSuccess, opened: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := ctxT(t, 60*time.Second)
			ms, started := startWatched(ctx, t, tickTO, predTO, tc.args...)
			s := ms.sup("m")
			gen := <-started
			// newGeneration waits until a generation after gen serves.
			newGeneration := func() {
				t.Helper()
				for {
					select {
					case g := <-started:
						if g > gen {
							gen = g
							return
						}
					case <-ctx.Done():
						t.Fatalf("no generation after %d started: %v", gen, ctx.Err())
					}
				}
			}
			cycle := func(k int, wantTick, wantPred Status) {
				t.Helper()
				input := json.RawMessage(fmt.Sprintf(`{"cycle":%d}`, k))
				ticks, preds := ms.TickPredict(ctx, input, []json.RawMessage{json.RawMessage(`"BTC"`)}, json.RawMessage(`{}`))
				tick, pred := ticks["m"], preds["m"]
				if tick.Status != wantTick || pred.Status != wantPred {
					t.Fatalf("cycle %d: Tick %s (%v), Predict %s (%v); want %s, %s", k, tick.Status, tick.Err, pred.Status, pred.Err, wantTick, wantPred)
				}
				if wantPred != StatusSuccess {
					return
				}
				var out struct {
					Tick json.RawMessage `json:"tick"`
				}
				if err := json.Unmarshal(pred.Output, &out); err != nil || string(out.Tick) != string(input) {
					t.Errorf("cycle %d: output %s does not echo the cycle's Tick %s", k, pred.Output, input)
				}
				// The cycle went on the live stream of the generation serving.
				s.live.mu.Lock()
				bs := s.live.bs
				s.live.mu.Unlock()
				if bs == nil || bs.dead || bs.in.gen != gen {
					t.Errorf("cycle %d: live stream %+v, want one open on generation %d", k, bs, gen)
				}
			}

			cycle(0, StatusSuccess, StatusSuccess)
			if n := s.live.opened.Load(); n != 1 {
				t.Fatalf("cycle 0 opened %d streams, want 1", n)
			}
			if tc.between != nil {
				tc.between(t, ms, s)
				newGeneration()
			}
			cycle(1, tc.tick1, tc.pred1)
			if tc.pred1 != StatusSuccess {
				newGeneration()
			}
			cycle(2, StatusSuccess, StatusSuccess)
			if n := s.live.opened.Load(); n != tc.opened {
				t.Errorf("%d streams opened in three cycles, want %d", n, tc.opened)
			}
			if s.twoCalls.Load() || s.noBatch.Load() {
				t.Errorf("two calls %v, no batch %v; want both false", s.twoCalls.Load(), s.noBatch.Load())
			}
			s.live.mu.Lock()
			streams := s.live.bs.in.streams
			s.live.mu.Unlock()
			if err := ms.Close(); err != nil {
				t.Fatal(err)
			}
			if streams.Err() == nil {
				t.Error("the live stream's context is still open after Close")
			}
		})
	}
}

// TestTickPredictOverlappingCycles runs a second TickPredict on the same
// models while the first is using a model's live stream (from the hook
// that runs after Tick's outcome arrived on it): the second cycle finds
// the stream busy and sends that model a TickPredict round trip of its
// own, both cycles answer SUCCESS, and no second stream is opened.
func TestTickPredictOverlappingCycles(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t, 60*time.Second)
	marker := testMarker(t)
	ms, err := StartModels(ctx, []PluginSpec{mspec(marker, "a", modelBin), mspec(marker, "b", modelBin)}, testOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ms.Close() })
	args, kwargs := []json.RawMessage{json.RawMessage(`"BTC"`)}, json.RawMessage(`{}`)
	type cycle struct{ ticks, preds map[string]CallResult }
	var inner cycle
	nested := false
	s := ms.sup("a")
	s.afterStreamTick = func(*instance) {
		if nested {
			return
		}
		nested = true
		inner.ticks, inner.preds = ms.TickPredict(ctx, json.RawMessage(`{"cycle":"inner"}`), args, kwargs)
	}
	var outer cycle
	outer.ticks, outer.preds = ms.TickPredict(ctx, json.RawMessage(`{"cycle":"outer"}`), args, kwargs)
	if !nested {
		t.Fatal("the outer cycle did not go on model a's live stream")
	}
	for name, c := range map[string]cycle{"outer": outer, "inner": inner} {
		for _, id := range []string{"a", "b"} {
			if c.ticks[id].Status != StatusSuccess || c.preds[id].Status != StatusSuccess {
				t.Errorf("%s cycle, model %s: Tick %s (%v), Predict %s (%v); want SUCCESS", name, id, c.ticks[id].Status, c.ticks[id].Err, c.preds[id].Status, c.preds[id].Err)
			}
		}
	}
	if n := s.live.opened.Load(); n != 1 {
		t.Errorf("model a: %d live streams opened, want 1", n)
	}
	// The next cycle reuses model a's stream.
	ticks, preds := ms.TickPredict(ctx, json.RawMessage(`{"cycle":"next"}`), args, kwargs)
	if ticks["a"].Status != StatusSuccess || preds["a"].Status != StatusSuccess || s.live.opened.Load() != 1 {
		t.Errorf("next cycle: Tick %s, Predict %s, %d streams opened; want SUCCESS on the one stream", ticks["a"].Status, preds["a"].Status, s.live.opened.Load())
	}
}

// TestTickPredictLiveStreamOpenBounded holds the opening of a model's live
// stream (the hook before the open waits until the stream's context ends,
// as grpc-go's NewStream does while a plugin allows no new stream: such a
// plugin needs a custom HTTP/2 server, so the hook stands in for it) and
// checks that the open is bounded as the per-cycle TickPredict bounded
// it: by Tick's deadline counted from the send (Tick TIMEOUT after about
// Tick's deadline, Predict ABSENT while the model restarts) and by the
// caller's ctx (an uncharged FAILED, the generation kept). Neither ends
// the generation's context, and the next cycle opens a stream and answers
// with its own Tick.
func TestTickPredictLiveStreamOpenBounded(t *testing.T) {
	t.Parallel()
	const tickTO, predTO = 800 * time.Millisecond, 1500 * time.Millisecond
	for _, tc := range []struct {
		name           string
		cancelCtx      bool // the hook cancels the caller's ctx
		tick, pred     Status
		sameGeneration bool // the next cycle runs on the same generation
	}{
		{name: "tick deadline", tick: StatusTimeout, pred: StatusAbsent},
		{name: "caller ctx", cancelCtx: true, tick: StatusFailed, pred: StatusFailed, sameGeneration: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := ctxT(t, 60*time.Second)
			ms, started := startWatched(ctx, t, tickTO, predTO)
			s := ms.sup("m")
			gen := <-started
			cctx, cancel := context.WithCancel(ctx)
			defer cancel()
			held := 0
			s.beforeStreamOpen = func(sctx context.Context) error {
				held++
				if held > 1 {
					return nil
				}
				if tc.cancelCtx {
					cancel()
				}
				<-sctx.Done()
				return status.FromContextError(sctx.Err()).Err()
			}
			args, kwargs := []json.RawMessage{json.RawMessage(`"BTC"`)}, json.RawMessage(`{}`)
			genCtx := s.serving().streams
			ticks, preds := ms.TickPredict(cctx, json.RawMessage(`{"cycle":0}`), args, kwargs)
			tick, pred := ticks["m"], preds["m"]
			if tick.Status != tc.tick || pred.Status != tc.pred {
				t.Fatalf("held open: Tick %s (%v), Predict %s (%v); want %s, %s", tick.Status, tick.Err, pred.Status, pred.Err, tc.tick, tc.pred)
			}
			if !tc.cancelCtx && (tick.Duration < tickTO || tick.Duration > tickTO+predTO/2) {
				t.Errorf("Tick timed out after %s, want about %s", tick.Duration, tickTO)
			}
			if tc.sameGeneration && genCtx.Err() != nil {
				t.Errorf("the generation's stream context ended with the open: %v", genCtx.Err())
			}
			if !tc.sameGeneration {
				for g := range started {
					if g > gen {
						break
					}
				}
			}
			input := json.RawMessage(`{"cycle":1}`)
			ticks, preds = ms.TickPredict(ctx, input, args, kwargs)
			tick, pred = ticks["m"], preds["m"]
			if tick.Status != StatusSuccess || pred.Status != StatusSuccess {
				t.Fatalf("next cycle: Tick %s (%v), Predict %s (%v); want SUCCESS", tick.Status, tick.Err, pred.Status, pred.Err)
			}
			checkEcho(t, pred.Output, input)
			if n := s.live.opened.Load(); n != 2 || held != 2 {
				t.Errorf("%d live streams started, %d opens; want 2, 2", n, held)
			}
		})
	}
}

// TestTickPredictLiveStreamCallerCancel cancels the caller's ctx while the
// answer of the Predict sent with Tick is arriving on the live stream (the
// hook after Tick's outcome waits a little so that the answer is usually
// in before the cancel; the checks hold either way): the stream is
// cancelled, so it must be marked ended, and the next cycle (a fresh ctx)
// opens a new stream and answers with its own Tick, not FAILED on the
// cancelled stream with the previous cycle's state.
func TestTickPredictLiveStreamCallerCancel(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t, 60*time.Second)
	ms, err := StartModels(ctx, []PluginSpec{mspec(testMarker(t), "a", modelBin)}, testOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ms.Close() })
	s := ms.sup("a")
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	hooked := false
	s.afterStreamTick = func(*instance) {
		if hooked {
			return
		}
		hooked = true
		time.Sleep(200 * time.Millisecond) // Predict's answer arrives meanwhile
		cancel()
	}
	args, kwargs := []json.RawMessage{json.RawMessage(`"BTC"`)}, json.RawMessage(`{}`)
	ticks, preds := ms.TickPredict(cctx, json.RawMessage(`{"cycle":0}`), args, kwargs)
	if !hooked || ticks["a"].Status != StatusSuccess {
		t.Fatalf("cycle 0 on the live stream: hook ran %v, Tick %s (%v)", hooked, ticks["a"].Status, ticks["a"].Err)
	}
	if st := preds["a"].Status; st != StatusSuccess && st != StatusFailed {
		t.Errorf("cycle 0: Predict %s (%v), want SUCCESS (the answer was in) or FAILED (cancelled)", st, preds["a"].Err)
	}
	s.live.mu.Lock()
	dead := s.live.bs == nil || s.live.bs.dead
	s.live.mu.Unlock()
	if !dead {
		t.Error("the live stream was cancelled with the caller's ctx but not marked ended")
	}
	input := json.RawMessage(`{"cycle":1}`)
	ticks, preds = ms.TickPredict(ctx, input, args, kwargs)
	if ticks["a"].Status != StatusSuccess || preds["a"].Status != StatusSuccess {
		t.Fatalf("cycle 1: Tick %s (%v), Predict %s (%v); want SUCCESS", ticks["a"].Status, ticks["a"].Err, preds["a"].Status, preds["a"].Err)
	}
	checkEcho(t, preds["a"].Output, input)
	if n := s.live.opened.Load(); n != 2 {
		t.Errorf("%d live streams opened, want 2", n)
	}
}

// checkEcho checks that a test model's Predict output echoes Tick input
// (the last Tick the model saw).
func checkEcho(t *testing.T, output, input json.RawMessage) {
	t.Helper()
	var out struct {
		Tick json.RawMessage `json:"tick"`
	}
	if err := json.Unmarshal(output, &out); err != nil || string(out.Tick) != string(input) {
		t.Errorf("output %s does not echo the cycle's Tick %s", output, input)
	}
}

// startWatched starts model "m" (modelBin with args) with Tick's and
// Predict's deadlines tickTO and predTO; started receives the generation
// of each start of it.
func startWatched(ctx context.Context, t *testing.T, tickTO, predTO time.Duration, args ...string) (*ModelSet, chan int) {
	t.Helper()
	opts := testOptions(t)
	opts.CallTimeouts = map[string]time.Duration{sdk.MethodTick: tickTO, sdk.MethodPredict: predTO}
	started := make(chan int, 8)
	opts.OnEvent = func(e Event) {
		if e.Kind == EventStarted {
			started <- e.Generation
		}
	}
	ms, err := StartModels(ctx, []PluginSpec{mspec(testMarker(t), "m", modelBin, args...)}, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ms.Close() })
	return ms, started
}
