//go:build linux

package host

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/crunch-coordinator/coordinator/sdk"
)

// TestTickPredictExitSeenBeforePredictAnswer forces the ordering that
// used to race on TickPredict: the model process exits after Tick's
// outcome reached the host and before the host reads Predict's answer off
// the stream, and the supervisor has seen the exit (retired the
// generation) before Predict's outcome is classified. Predict's request
// went out with Tick's, so its outcome is the stream's: CRASHED with the
// exit named, charged to the stop rules as on Tick then Predict; it used
// to be refused admission (ABSENT "plugin restarting", not charged, so a
// model crashing there never reached MULTIPLE_FAILED). The test hook
// after Tick's outcome makes the model exit (-mode exitsignal: SIGUSR1)
// and waits for the supervisor's restart event of that generation; the
// long restart backoff keeps a new generation out of the way.
func TestTickPredictExitSeenBeforePredictAnswer(t *testing.T) {
	t.Parallel()
	opts, restarted := restartWatchOptions(t)
	ctx := ctxT(t, 60*time.Second)
	ms, err := StartModels(ctx, []PluginSpec{mspec(testMarker(t), "exit", modelBin, "-mode", "exitsignal")}, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ms.Close() })

	s := ms.sup("exit")
	hooked := false
	s.afterStreamTick = func(in *instance) {
		hooked = true
		if err := syscall.Kill(in.run.processID(), syscall.SIGUSR1); err != nil {
			t.Errorf("signal the model: %v", err)
			return
		}
		select {
		case gen := <-restarted:
			if gen != in.gen {
				t.Errorf("the supervisor restarted generation %d, want %d", gen, in.gen)
			}
		case <-ctx.Done():
			t.Errorf("the supervisor did not see the model exit: %v", ctx.Err())
		}
		if !in.exited() || !in.retired.Load() {
			t.Errorf("generation %d: exited %v, retired %v; want both", in.gen, in.exited(), in.retired.Load())
		}
	}
	ticks, preds := ms.TickPredict(ctx, json.RawMessage(`{"price":42}`), []json.RawMessage{json.RawMessage(`"BTC"`)}, json.RawMessage(`{}`))
	if !hooked {
		t.Fatalf("Tick %s (%v) did not go on a TickPredict stream", ticks["exit"].Status, ticks["exit"].Err)
	}
	if ticks["exit"].Status != StatusSuccess {
		t.Errorf("Tick %s (%v), want SUCCESS", ticks["exit"].Status, ticks["exit"].Err)
	}
	pred := preds["exit"]
	var ce *CallError
	if pred.Status != StatusCrashed || !errors.As(pred.Err, &ce) || ce.Callable != sdk.MethodPredict || ce.Status != StatusCrashed {
		t.Fatalf("Predict %s (%v), want a CRASHED *CallError of Predict", pred.Status, pred.Err)
	}
	if !errors.Is(pred.Err, ErrPluginExited) || !strings.Contains(pred.Err.Error(), "exit status 3") || errors.Is(pred.Err, ErrRestarting) {
		t.Errorf("Predict error %v does not name the exit (exit status 3)", pred.Err)
	}
	// Charged as a crash of Predict on two calls is; the crash was
	// attributed, so the model keeps the combined call.
	st := ms.States()[0]
	if st.ConsecutiveFailures != 1 || !strings.Contains(st.LastError, "Predict: CRASHED") {
		t.Errorf("state after the crash: %d consecutive failures, last error %q; want 1, Predict's crash", st.ConsecutiveFailures, st.LastError)
	}
	if s.twoCalls.Load() {
		t.Error("the model was switched to two calls, want the combined call kept")
	}
}

// TestModelBatchGenerationGoneBetweenCycles: a model whose process dies
// between two cycles of a ModelBatch (here killed while idle) gets the
// next cycle's calls as it would live: the cycle's Tick and Predicts are
// new calls, admitted anew, so they answer ABSENT while the model
// restarts, and nothing is charged to it. They used to go on the dead
// generation's stream and come back CRASHED, counted toward
// MULTIPLE_FAILED for calls never sent. The test waits for the
// supervisor's restart event of that generation (the long backoff keeps
// the next generation away).
func TestModelBatchGenerationGoneBetweenCycles(t *testing.T) {
	t.Parallel()
	opts, restarted := restartWatchOptions(t)
	ctx := ctxT(t, 60*time.Second)
	ms, err := StartModels(ctx, []PluginSpec{mspec(testMarker(t), "ok", modelBin)}, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ms.Close() })
	var cycles []BatchCycle
	for k := range 2 {
		cycles = append(cycles, BatchCycle{Input: json.RawMessage(fmt.Sprintf(`{"cycle":%d}`, k)), Calls: []PredictArgs{
			{Args: []json.RawMessage{json.RawMessage(`"BTC"`)}, Kwargs: json.RawMessage(`{}`)},
			{Args: []json.RawMessage{json.RawMessage(`"ETH"`)}, Kwargs: json.RawMessage(`{}`)},
		}})
	}
	b := ms.StartBatch(ctx, cycles)
	defer b.Close()
	ticks, preds := b.Next(ctx)
	if ticks["ok"].Status != StatusSuccess || preds[0]["ok"].Status != StatusSuccess || preds[1]["ok"].Status != StatusSuccess || b.Streamed() != 1 {
		t.Fatalf("cycle 0: Tick %s, Predicts %s %s, streamed %d; want SUCCESS from the stream", ticks["ok"].Status, preds[0]["ok"].Status, preds[1]["ok"].Status, b.Streamed())
	}
	in := ms.sup("ok").serving()
	if in == nil {
		t.Fatal("no generation serving after cycle 0")
	}
	if err := syscall.Kill(in.run.processID(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case gen := <-restarted:
		if gen != in.gen {
			t.Fatalf("the supervisor restarted generation %d, want %d", gen, in.gen)
		}
	case <-ctx.Done():
		t.Fatalf("the supervisor did not see the model die: %v", ctx.Err())
	}
	ticks, preds = b.Next(ctx)
	for i, r := range []CallResult{ticks["ok"], preds[0]["ok"], preds[1]["ok"]} {
		if r.Status != StatusAbsent || !errors.Is(r.Err, ErrRestarting) {
			t.Errorf("cycle 1 call %d: %s (%v); want ABSENT, restarting", i, r.Status, r.Err)
		}
	}
	if b.Streamed() != 0 {
		t.Errorf("cycle 1: %d models answered from a stream, want 0", b.Streamed())
	}
	if st := ms.States()[0]; st.ConsecutiveFailures != 0 {
		t.Errorf("%d consecutive failures charged for calls never sent (last error %q), want 0", st.ConsecutiveFailures, st.LastError)
	}
}

// restartWatchOptions returns test options whose restart backoff is a
// minute (no next generation gets in the way) and a channel receiving the
// generation of every restart the supervisor schedules.
func restartWatchOptions(t *testing.T) (Options, <-chan int) {
	t.Helper()
	opts := testOptions(t)
	opts.RestartBackoffMin, opts.RestartBackoffMax = time.Minute, time.Minute
	restarted := make(chan int, 4)
	opts.OnEvent = func(e Event) {
		if e.Kind == EventRestart {
			select {
			case restarted <- e.Generation:
			default:
			}
		}
	}
	return opts, restarted
}

// TestTickPredictExitSeenBeforeFailedTickClassified forces the other
// order on the combined request (review L1, L2): Tick's outcome arrives
// as the model's error, then the Predict sent with it makes the process
// exit (-tick-mode fail -mode exitsignal), and the supervisor has seen
// the exit before Tick's outcome is classified (the hook before the
// classification signals the model and waits for the restart). The exit
// is counted as Tick's crash (one round trip cannot tell), so on both
// paths (the live stream and the per-cycle TickPredict) Tick is CRASHED,
// Predict ABSENT (asked anew: the stream ended with Tick's outcome),
// one failure is charged, and the model gets Tick and Predict as two
// calls from now on.
func TestTickPredictExitSeenBeforeFailedTickClassified(t *testing.T) {
	t.Parallel()
	onBothPaths(t, func(t *testing.T, noLive bool) {
		ms, s, ticks, preds := exitBeforeClassified(t, noLive, sdk.MethodTick, syscall.SIGUSR1, "-tick-mode", "fail", "-mode", "exitsignal")
		if ticks["m"].Status != StatusCrashed || preds["m"].Status != StatusAbsent {
			t.Errorf("Tick %s (%v), Predict %s (%v); want CRASHED, ABSENT", ticks["m"].Status, ticks["m"].Err, preds["m"].Status, preds["m"].Err)
		}
		if st := ms.States()[0]; st.ConsecutiveFailures != 1 {
			t.Errorf("%d consecutive failures, want 1", st.ConsecutiveFailures)
		}
		if !s.twoCalls.Load() {
			t.Error("the model keeps the combined request after an unattributed crash")
		}
		if !noLive {
			s.live.mu.Lock()
			dead := s.live.bs == nil || s.live.bs.dead
			s.live.mu.Unlock()
			if !dead {
				t.Error("the live stream is still open after Tick's crash")
			}
		}
	})
}

// TestTickPredictExitSeenBeforePredictFailureClassified: Predict's answer
// arrives on the stream as the model's error (-mode fail), then the
// process is killed and the supervisor sees the exit before that answer
// is classified (the hook before the classification kills it and waits
// for the restart). As on any call, an exit seen by the time an outcome
// is classified is that call's crash: Predict CRASHED (charged once),
// Tick SUCCESS, and the model keeps the combined request (the crash is
// attributed). Runs on the live stream and on the per-cycle TickPredict.
func TestTickPredictExitSeenBeforePredictFailureClassified(t *testing.T) {
	t.Parallel()
	onBothPaths(t, func(t *testing.T, noLive bool) {
		ms, s, ticks, preds := exitBeforeClassified(t, noLive, sdk.MethodPredict, syscall.SIGKILL, "-mode", "fail")
		if ticks["m"].Status != StatusSuccess || preds["m"].Status != StatusCrashed {
			t.Errorf("Tick %s (%v), Predict %s (%v); want SUCCESS, CRASHED", ticks["m"].Status, ticks["m"].Err, preds["m"].Status, preds["m"].Err)
		}
		if st := ms.States()[0]; st.ConsecutiveFailures != 1 {
			t.Errorf("%d consecutive failures, want 1", st.ConsecutiveFailures)
		}
		if s.twoCalls.Load() {
			t.Error("the model was switched to two calls after an attributed crash")
		}
	})
}

// onBothPaths runs test on both ways TickPredict sends a model's cycle:
// its live stream and a TickPredict round trip per cycle
// (Options.noLiveStream), each as a parallel subtest.
func onBothPaths(t *testing.T, test func(t *testing.T, noLive bool)) {
	for _, path := range []struct {
		name   string
		noLive bool
	}{{"live stream", false}, {"per cycle", true}} {
		t.Run(path.name, func(t *testing.T) {
			t.Parallel()
			test(t, path.noLive)
		})
	}
}

// exitBeforeClassified starts model "m" (modelBin with args), sends it one
// TickPredict cycle, and when the outcome of method arrives on the stream,
// before it is classified, sends the process sig and waits until the
// supervisor has seen the exit (its restart). It fails the test when the
// outcome did not come on a stream.
func exitBeforeClassified(t *testing.T, noLive bool, method string, sig syscall.Signal, args ...string) (ms *ModelSet, s *supervisor, ticks, preds map[string]CallResult) {
	t.Helper()
	opts, restarted := restartWatchOptions(t)
	opts.noLiveStream = noLive
	ctx := ctxT(t, 60*time.Second)
	ms, err := StartModels(ctx, []PluginSpec{mspec(testMarker(t), "m", modelBin, args...)}, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ms.Close() })
	s = ms.sup("m")
	hooked := false
	s.beforeStreamClassified = func(in *instance, name string) {
		if name != method {
			return
		}
		hooked = true
		if err := syscall.Kill(in.run.processID(), sig); err != nil {
			t.Errorf("signal the model: %v", err)
			return
		}
		select {
		case <-restarted:
		case <-ctx.Done():
			t.Errorf("the supervisor did not see the model exit: %v", ctx.Err())
		}
	}
	ticks, preds = ms.TickPredict(ctx, json.RawMessage(`{"price":42}`), []json.RawMessage{json.RawMessage(`"BTC"`)}, json.RawMessage(`{}`))
	if !hooked {
		t.Fatalf("Tick %s (%v), Predict %s (%v): %s's outcome did not come on a stream", ticks["m"].Status, ticks["m"].Err, preds["m"].Status, preds["m"].Err, method)
	}
	return ms, s, ticks, preds
}
