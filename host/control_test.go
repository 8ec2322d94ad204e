package host

import (
	"strings"
	"testing"
	"time"
)

// TestDisableEnable: a disabled model is stopped (reason DISABLED) and
// answers ABSENT, survives a Reload, and Enable starts it again; enabling
// a running model does not restart it. Its stderr is kept across
// generations: a panic's output is there after the restart, with a start
// line per generation.
func TestDisableEnable(t *testing.T) {
	t.Parallel()
	marker := testMarker(t)
	ms, err := StartModels(ctxT(t, 20*time.Second), []PluginSpec{
		mspec(marker, "ok", modelBin),
		mspec(marker, "p", modelBin, "-mode", "panic"),
	}, testOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ms.Close() })
	ctx := ctxT(t, 30*time.Second)

	if err := ms.Disable("ok"); err != nil {
		t.Fatal(err)
	}
	if st := stateOf(ms, "ok"); !st.Stopped || st.Reason != StopDisabled || st.Running {
		t.Fatalf("after Disable: %+v, want stopped with reason DISABLED", st)
	}
	if r := ms.Predict(ctx, nil, nil)["ok"]; r.Status != StatusAbsent {
		t.Fatalf("a disabled model answered %s, want ABSENT", r.Status)
	}
	if err := ms.Disable("ok"); err != nil {
		t.Fatalf("Disable twice: %v", err)
	}
	if err := ms.Reload("ok"); err != nil || stateOf(ms, "ok").Reason != StopDisabled {
		t.Fatalf("Reload of a disabled model: %v, state %+v; want it still disabled", err, stateOf(ms, "ok"))
	}
	if err := ms.Enable("ok"); err != nil {
		t.Fatal(err)
	}
	if err := ms.WaitReady(ctx, "ok"); err != nil {
		t.Fatal(err)
	}
	if r := ms.Predict(ctx, nil, nil)["ok"]; r.Status != StatusSuccess {
		t.Fatalf("an enabled model answered %s %v", r.Status, r.Err)
	}
	before := stateOf(ms, "ok").Restarts
	if err := ms.Enable("ok"); err != nil || stateOf(ms, "ok").Restarts != before || !stateOf(ms, "ok").Running {
		t.Fatalf("Enable of a running model: %v, state %+v; want it untouched", err, stateOf(ms, "ok"))
	}

	for _, f := range []func(string) error{ms.Disable, ms.Enable} {
		if err := f("nope"); err == nil || !strings.Contains(err.Error(), `unknown model id "nope"`) {
			t.Errorf("unknown id: %v", err)
		}
	}
	if _, err := ms.Stderr("nope"); err == nil {
		t.Error("Stderr of an unknown id: no error")
	}

	// The panicking model crashes on its first Predict above; wait for
	// its second generation, then read its stderr.
	deadline := time.Now().Add(20 * time.Second)
	for {
		log, err := ms.Stderr("p")
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(log, "model panics in Predict") && strings.Contains(log, "coordinator: generation 2 starting") {
			if strings.Index(log, "generation 1 starting") > strings.Index(log, "model panics in Predict") {
				t.Errorf("stderr out of order:\n%s", log)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stderr of the panicking model lacks the panic or the second generation's line:\n%s", log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
