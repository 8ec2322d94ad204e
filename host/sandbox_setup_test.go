package host

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/sandbox"
)

// TestSandboxSetupFailureIsNodeSide: a sandbox the node cannot set up
// (here its box root does not exist, sandbox.ErrSetup, the path a refused
// cgroup limit takes too) fails the launch as the node's error: FAILED,
// NodeSide, not charged (MaxConsecutiveFailures 0 would cool the model down
// at the first charged failure), retried with backoff, never stopped as
// BAD_IMPLEMENTATION; and the model never runs unsandboxed under
// REQUIRE_SANDBOX.
func TestSandboxSetupFailureIsNodeSide(t *testing.T) {
	t.Parallel()
	for _, require := range []bool{true, false} {
		opts := testOptions(t)
		opts.MaxConsecutiveFailures = 0
		opts.Sandbox = sandbox.Config{Require: require, Root: filepath.Join(t.TempDir(), "missing")}
		events := make(chan Event, 256)
		opts.OnEvent = func(e Event) {
			select {
			case events <- e:
			default:
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		ms, err := StartModels(ctx, []PluginSpec{mspec(testMarker(t), "m", modelBin)}, opts)
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		failed, restarts := 0, 0
		for failed < 3 || restarts < 3 {
			select {
			case e := <-events:
				switch e.Kind {
				case EventStartFailed:
					var se *StartError
					if !errors.As(e.Err, &se) || !se.NodeSide() || se.Status != StatusFailed || !errors.Is(se, sandbox.ErrSetup) {
						t.Fatalf("require=%v: start failure %v, want a node-side FAILED wrapping sandbox.ErrSetup", require, e.Err)
					}
					failed++
				case EventRestart:
					restarts++
				case EventStarted:
					t.Fatalf("require=%v: the model started without its sandbox", require)
				case EventStopped, EventCooldown:
					t.Fatalf("require=%v: model taken out (%s %s) for the node's failure", require, e.Kind, e.Reason)
				}
			case <-ctx.Done():
				t.Fatalf("require=%v: %d start failures and %d restarts seen, want 3 each", require, failed, restarts)
			}
		}
		for _, st := range ms.States() {
			if st.Stopped || st.CoolingDown {
				t.Errorf("require=%v: state %+v, want neither stopped nor cooling down", require, st)
			}
		}
		ms.Close()
		cancel()
	}
}

// TestStartStatus: the one rule for a failure before the exec.
func TestStartStatus(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want Status
	}{
		{ErrChecksumPin, StatusBadImplementation},
		{ErrNotFound, StatusBadImplementation},
		{errors.Join(ErrNodeSide, sandbox.ErrSetup), StatusFailed},
	} {
		if got := startStatus(tc.err); got != tc.want {
			t.Errorf("startStatus(%v) = %s, want %s", tc.err, got, tc.want)
		}
	}
}
