package host

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/crunch-coordinator/coordinator/sdk"
	"github.com/crunch-coordinator/coordinator/sdk/wire"
)

func TestCheckBinaryRejectsBadPaths(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	plain := filepath.Join(dir, "plain")
	if err := os.WriteFile(plain, []byte("not executable"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		path string
		pin  string
		want error
	}{
		{"missing", filepath.Join(dir, "does-not-exist"), "", ErrNotFound},
		{"empty", "", "", ErrNotFound},
		{"directory", dir, "", ErrNotRegularFile},
		{"not executable", plain, "", ErrNotExecutable},
		{"malformed pin", modelBin, "abc", ErrChecksumPin},
		{"wrong pin", modelBin, strings.Repeat("0", 64), ErrChecksumPin},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckBinary(tc.path, tc.pin)
			if !errors.Is(err, tc.want) {
				t.Fatalf("CheckBinary(%q): got %v, want %v", tc.path, err, tc.want)
			}
			if tc.path != "" && !strings.Contains(err.Error(), tc.path) {
				t.Errorf("error %q does not name the path %q", err, tc.path)
			}
			// The same through StartChallenge: a StartError at StageCheck, at once.
			start := time.Now()
			_, err = StartChallenge(ctxT(t, 10*time.Second), PluginSpec{Path: tc.path, SHA256: tc.pin}, nil, testOptions(t))
			var se *StartError
			if !errors.As(err, &se) || se.Stage != StageCheck || se.Status != StatusBadImplementation || !errors.Is(err, tc.want) {
				t.Fatalf("StartChallenge: got %v, want a BAD_IMPLEMENTATION StartError at stage check wrapping %v", err, tc.want)
			}
			if time.Since(start) > 5*time.Second {
				t.Errorf("bad input took %v: must fail before exec", time.Since(start))
			}
		})
	}
}

func TestChecksumPinAccepted(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(modelBin)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	pin := hex.EncodeToString(sum[:])
	// Twice: SecureConfig's hash must be fresh on every start.
	for i := 0; i < 2; i++ {
		if err := CheckBinary(modelBin, pin); err != nil {
			t.Fatalf("check %d: %v", i, err)
		}
	}
}

func TestStartNotAPlugin(t *testing.T) {
	t.Parallel()
	marker := testMarker(t)
	cases := []struct {
		name       string
		spec       PluginSpec
		want       Status
		firstLine  string
		stderrHint string
	}{
		{"prints and exits", mspec(marker, "echo", writeScript(t, "echo hello i am not a plugin")), StatusBadImplementation, "hello i am not a plugin", ""},
		{"garbage before handshake", mspec(marker, "garbage", modelBin, "-mode", "garbage"), StatusBadImplementation, "hello from a model", ""},
		{"wrong cookie", mspec(marker, "cookie", rawModelBin, "-mode", "wrongcookie"), StatusBadImplementation, "", "This binary is a plugin"},
		{"panic at start", mspec(marker, "panicstart", modelBin, "-mode", "panicstart"), StatusCrashed, "", "panic: model panics at start"},
		{"hangs (start timeout), grandchild too", PluginSpec{ID: "hang", Path: writeScript(t, "sleep 60 &\nsleep 60"), Env: []string{marker}, StartTimeout: 700 * time.Millisecond}, StatusTimeout, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := StartChallenge(ctxT(t, 20*time.Second), tc.spec, nil, testOptions(t))
			var se *StartError
			if !errors.As(err, &se) {
				t.Fatalf("got %v, want a *StartError", err)
			}
			if se.Status != tc.want || se.Stage != StageHandshake {
				t.Fatalf("got %s at %s (%v), want %s at handshake", se.Status, se.Stage, err, tc.want)
			}
			if !strings.Contains(se.FirstStdoutLine, tc.firstLine) || (tc.firstLine == "" && se.FirstStdoutLine != "") {
				t.Errorf("first stdout line %q, want %q", se.FirstStdoutLine, tc.firstLine)
			}
			if !strings.Contains(se.StderrTail, tc.stderrHint) {
				t.Errorf("stderr tail %q does not contain %q", se.StderrTail, tc.stderrHint)
			}
			if !strings.Contains(err.Error(), tc.spec.Path) {
				t.Errorf("error %q does not name the path", err)
			}
		})
	}
}

func TestModelStartFailuresAreRecorded(t *testing.T) {
	t.Parallel()
	marker := testMarker(t)
	opts := testOptions(t)
	opts.MaxConsecutiveFailures = 1
	specs := []PluginSpec{
		mspec(marker, "good", modelBin, "-name", "good"),
		mspec(marker, "missing", filepath.Join(t.TempDir(), "nope")),
		mspec(marker, "wrongversion", rawModelBin, "-mode", "wrongversion"),
		mspec(marker, "missingmethod", rawModelBin, "-mode", "missingmethod"),
		mspec(marker, "cookie", rawModelBin, "-mode", "wrongcookie"),
		mspec(marker, "garbage", modelBin, "-mode", "garbage"),
		mspec(marker, "panicstart", modelBin, "-mode", "panicstart"),
	}
	pinned := mspec(marker, "pinned", modelBin)
	pinned.SHA256 = strings.Repeat("ab", 32)
	specs = append(specs, pinned)
	ms, err := StartModels(ctxT(t, 30*time.Second), specs, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ms.Close() })
	// panicstart crashes at every start: >1 consecutive CRASHED takes it
	// out for a cool-down (MULTIPLE_FAILED), not for good.
	if err := ms.WaitReady(ctxT(t, 20*time.Second), "panicstart"); !errors.Is(err, ErrCoolingDown) {
		t.Fatalf("panicstart WaitReady: %v, want ErrCoolingDown", err)
	}
	want := map[string]StopReason{
		"missing": StopBadImplementation, "wrongversion": StopBadImplementation, "missingmethod": StopBadImplementation,
		"cookie": StopBadImplementation, "garbage": StopBadImplementation, "pinned": StopBadImplementation,
		"panicstart": StopMultipleFailed,
	}
	for _, st := range ms.States() {
		if st.ID == "good" {
			if st.Stopped || !st.Running || st.Name != "good" {
				t.Errorf("good model state %+v", st)
			}
			continue
		}
		if st.ID == "panicstart" {
			if st.Stopped || !st.CoolingDown || st.Reason != want[st.ID] || st.NextRetry.IsZero() {
				t.Errorf("%s: state %+v, want cooling down after %s", st.ID, st, want[st.ID])
			}
		} else if !st.Stopped || st.Reason != want[st.ID] {
			t.Errorf("%s: state %+v, want stopped with %s", st.ID, st, want[st.ID])
		}
		if st.LastError == "" {
			t.Errorf("%s: no LastError", st.ID)
		}
	}
	for _, st := range ms.States() {
		if st.ID == "missingmethod" && !strings.Contains(st.LastError, sdk.MethodPredict) {
			t.Errorf("missingmethod LastError %q does not name Predict", st.LastError)
		}
		if st.ID == "wrongversion" && !strings.Contains(st.LastError, ProblemContractVersion) {
			t.Errorf("wrongversion LastError %q does not name the contract version", st.LastError)
		}
	}
	res := ms.Predict(ctxT(t, 10*time.Second), []json.RawMessage{json.RawMessage(`1`)}, json.RawMessage(`{}`))
	if len(res) != len(specs) {
		t.Fatalf("got %d results, want %d", len(res), len(specs))
	}
	for id, r := range res {
		if id == "good" {
			if r.Status != StatusSuccess {
				t.Errorf("good: %s %v", r.Status, r.Err)
			}
			continue
		}
		wantErr := ErrStopped
		if id == "panicstart" {
			wantErr = ErrCoolingDown
		}
		if r.Status != StatusAbsent || !errors.Is(r.Err, wantErr) {
			t.Errorf("%s: %s %v, want ABSENT/%v", id, r.Status, r.Err, wantErr)
		}
	}
}

func TestFanOutClassifiesEachModel(t *testing.T) {
	t.Parallel()
	marker := testMarker(t)
	opts := testOptions(t)
	opts.CallTimeout = 1500 * time.Millisecond
	specs := []PluginSpec{
		mspec(marker, "ok1", modelBin, "-name", "ok1"),
		mspec(marker, "ok2", modelBin, "-name", "ok2"),
		mspec(marker, "fail", modelBin, "-mode", "fail"),
		mspec(marker, "panic", modelBin, "-mode", "panic"),
		mspec(marker, "exit", modelBin, "-mode", "exit"),
		mspec(marker, "sleep", modelBin, "-mode", "sleep"),
		mspec(marker, "badjson", rawModelBin, "-mode", "badjson"),
		mspec(marker, "unimpl", rawModelBin, "-mode", "unimplemented"),
	}
	var mu sync.Mutex
	var events []Event
	opts.OnEvent = func(e Event) {
		mu.Lock()
		events = append(events, e)
		mu.Unlock()
	}
	ms, err := StartModels(ctxT(t, 30*time.Second), specs, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ms.Close() })
	ctx := ctxT(t, 20*time.Second)
	tick := ms.Tick(ctx, json.RawMessage(`{"price":42}`))
	for _, sp := range specs {
		if r, ok := tick[sp.ID]; !ok || r.Status != StatusSuccess {
			t.Errorf("tick %s: %+v", sp.ID, r)
		}
	}
	res := ms.Predict(ctx, []json.RawMessage{json.RawMessage(`"BTC"`), json.RawMessage(`60`)}, json.RawMessage(`{"horizon":60}`))
	want := map[string]Status{
		"ok1": StatusSuccess, "ok2": StatusSuccess, "fail": StatusFailed, "panic": StatusCrashed,
		"exit": StatusCrashed, "sleep": StatusTimeout, "badjson": StatusFailed, "unimpl": StatusBadImplementation,
	}
	if len(res) != len(want) {
		t.Fatalf("got %d results, want %d", len(res), len(want))
	}
	for id, st := range want {
		r := res[id]
		if r.Status != st {
			t.Errorf("%s: got %s (%v), want %s", id, r.Status, r.Err, st)
			continue
		}
		if st != StatusSuccess {
			var ce *CallError
			if !errors.As(r.Err, &ce) || ce.Plugin != id || ce.Callable != sdk.MethodPredict || ce.Status != st {
				t.Errorf("%s: error %v is not a matching *CallError", id, r.Err)
			}
		}
	}
	// An answer that is not JSON (NaN from Python's json.dumps) is a FAILED
	// result like any invalid output, never BAD_IMPLEMENTATION.
	if !errors.Is(res["badjson"].Err, wire.ErrBadOutput) || !errors.Is(res["badjson"].Err, ErrInvalidOutput) {
		t.Errorf("badjson error %v does not wrap wire.ErrBadOutput and ErrInvalidOutput", res["badjson"].Err)
	}
	for _, id := range []string{"ok1", "ok2"} {
		var out struct {
			Model  string          `json:"model"`
			N      int             `json:"n"`
			Tick   json.RawMessage `json:"tick"`
			Kwargs json.RawMessage `json:"kwargs"`
		}
		if err := json.Unmarshal(res[id].Output, &out); err != nil {
			t.Fatalf("%s output %s: %v", id, res[id].Output, err)
		}
		if out.Model != id || out.N != 2 || string(out.Tick) != `{"price":42}` || string(out.Kwargs) != `{"horizon":60}` {
			t.Errorf("%s output %s", id, res[id].Output)
		}
	}
	// BAD_IMPLEMENTATION stops at once; the others are still alive.
	states := map[string]ModelState{}
	for _, st := range ms.States() {
		states[st.ID] = st
	}
	for _, id := range []string{"unimpl"} {
		if !states[id].Stopped || states[id].Reason != StopBadImplementation {
			t.Errorf("%s state %+v, want stopped BAD_IMPLEMENTATION", id, states[id])
		}
	}
	for _, id := range []string{"fail", "panic", "exit", "sleep", "badjson"} {
		if states[id].Stopped {
			t.Errorf("%s stopped after one bad call: %+v", id, states[id])
		}
	}
	// Crashed and timed-out models come back (restart), and answer again.
	for _, id := range []string{"panic", "exit", "sleep"} {
		if err := ms.WaitReady(ctx, id); err != nil {
			t.Fatalf("%s not restarted: %v", id, err)
		}
	}
	res2 := ms.Predict(ctx, nil, json.RawMessage(`{}`))
	if res2["ok1"].Status != StatusSuccess || res2["badjson"].Status != StatusFailed || !errors.Is(res2["unimpl"].Err, ErrStopped) {
		t.Errorf("second fan-out: ok1 %s, badjson %s, unimpl %v", res2["ok1"].Status, res2["badjson"].Status, res2["unimpl"].Err)
	}
	mu.Lock()
	defer mu.Unlock()
	seen := map[string]bool{}
	for _, e := range events {
		if e.Kind == EventRestart && e.PluginID == "exit" && e.Status == StatusCrashed && e.Err != nil {
			seen["restart-exit"] = true
		}
		if e.Kind == EventRestart && e.PluginID == "sleep" && e.Status == StatusTimeout {
			seen["restart-sleep"] = true
		}
		if e.Kind == EventStopped && e.PluginID == "unimpl" && e.Reason == StopBadImplementation && e.Err != nil {
			seen["stop-unimpl"] = true
		}
	}
	for _, k := range []string{"restart-exit", "restart-sleep", "stop-unimpl"} {
		if !seen[k] {
			t.Errorf("missing event %s in %d events", k, len(events))
		}
	}
}

func TestCrashedModelAnswersAfterRestart(t *testing.T) {
	t.Parallel()
	marker := testMarker(t)
	bin, err := os.ReadFile(modelBin)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(bin)
	for _, mode := range []string{"exit", "panic"} {
		t.Run(mode, func(t *testing.T) {
			opts := testOptions(t)
			// The crash-once marker must outlive the generation, so it lives
			// outside any scratch directory: no sandbox for this test
			// (sandboxed crashes and restarts: sandbox_attack_test.go).
			opts.Sandbox.Disabled = true
			logs := &syncBuffer{}
			opts.Logger = hclog.New(&hclog.LoggerOptions{Name: "host", Level: hclog.Debug, Output: logs, JSONFormat: true})
			spec := mspec(marker, "m", modelBin, "-mode", mode, "-crash-once", filepath.Join(t.TempDir(), "marker"))
			spec.SHA256 = hex.EncodeToString(sum[:]) // the pin must hold on every restart (fresh hash)
			ms, err := StartModels(ctxT(t, 20*time.Second), []PluginSpec{spec}, opts)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = ms.Close() })
			ctx := ctxT(t, 20*time.Second)
			if r := ms.Predict(ctx, nil, nil)["m"]; r.Status != StatusCrashed {
				t.Fatalf("first call: %s %v, want CRASHED", r.Status, r.Err)
			}
			if st := ms.States()[0]; st.ConsecutiveFailures != 1 {
				t.Errorf("after crash: %+v", st)
			}
			if err := ms.WaitReady(ctx, "m"); err != nil {
				t.Fatal(err)
			}
			if r := ms.Predict(ctx, nil, nil)["m"]; r.Status != StatusSuccess {
				t.Fatalf("after restart: %s %v, want SUCCESS", r.Status, r.Err)
			}
			st := ms.States()[0]
			if st.Restarts != 1 || st.ConsecutiveFailures != 0 || !st.Running {
				t.Errorf("state after recovery %+v", st)
			}
			_ = ms.Close()
			// Structured host log lines: the restart event, and for a panic
			// the plugin's stderr trace, tagged with the plugin id.
			var restart, trace bool
			for _, line := range strings.Split(logs.String(), "\n") {
				var m map[string]any
				if json.Unmarshal([]byte(line), &m) != nil || m["plugin_id"] != "m" {
					continue
				}
				if m["@message"] == "plugin restart scheduled" && m["failure_code"] == string(StatusCrashed) && m["reason"] != nil {
					restart = true
				}
				if msg, _ := m["@message"].(string); strings.Contains(msg, "panic: model panics in Predict") {
					trace = true
				}
			}
			if !restart || (mode == "panic" && !trace) {
				t.Errorf("logs lack the restart event (%v) or the panic trace (%v):\n%s", restart, trace, logs.String())
			}
		})
	}
}

func TestStopRules(t *testing.T) {
	t.Parallel()
	marker := testMarker(t)
	t.Run("failures", func(t *testing.T) {
		opts := testOptions(t)
		opts.MaxConsecutiveFailures = 2
		ms, err := StartModels(ctxT(t, 20*time.Second), []PluginSpec{mspec(marker, "f", modelBin, "-mode", "fail")}, opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = ms.Close() })
		ctx := ctxT(t, 20*time.Second)
		for i := 1; i <= 3; i++ {
			if r := ms.Predict(ctx, nil, nil)["f"]; r.Status != StatusFailed {
				t.Fatalf("call %d: %s %v", i, r.Status, r.Err)
			}
			st := ms.States()[0]
			if st.CoolingDown != (i == 3) || st.Stopped || st.ConsecutiveFailures != i {
				t.Fatalf("after call %d: %+v", i, st)
			}
		}
		if st := ms.States()[0]; st.Reason != StopMultipleFailed || st.Running || st.Cooldowns != 1 || st.NextRetry.Before(st.StateSince) {
			t.Fatalf("state %+v, want cooling down after MULTIPLE_FAILED", st)
		}
		if r := ms.Predict(ctx, nil, nil)["f"]; r.Status != StatusAbsent || !strings.Contains(r.Err.Error(), string(StopMultipleFailed)) {
			t.Fatalf("after stop: %s %v", r.Status, r.Err)
		}
	})
	t.Run("timeouts", func(t *testing.T) {
		opts := testOptions(t)
		opts.MaxConsecutiveTimeouts = 1
		opts.CallTimeout = 300 * time.Millisecond
		ms, err := StartModels(ctxT(t, 20*time.Second), []PluginSpec{mspec(marker, "s", modelBin, "-mode", "sleep")}, opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = ms.Close() })
		ctx := ctxT(t, 20*time.Second)
		if r := ms.Predict(ctx, nil, nil)["s"]; r.Status != StatusTimeout {
			t.Fatalf("call 1: %s %v", r.Status, r.Err)
		}
		if err := ms.WaitReady(ctx, "s"); err != nil {
			t.Fatal(err)
		}
		if r := ms.Predict(ctx, nil, nil)["s"]; r.Status != StatusTimeout {
			t.Fatalf("call 2: %s %v", r.Status, r.Err)
		}
		st := ms.States()[0]
		if !st.CoolingDown || st.Stopped || st.Reason != StopMultipleTimeout || st.ConsecutiveTimeouts != 2 || st.Restarts < 1 {
			t.Fatalf("state %+v, want cooling down after MULTIPLE_TIMEOUT", st)
		}
	})
	t.Run("successful ticks do not reset", func(t *testing.T) {
		// Every Tick succeeds and every Predict fails: the Tick successes
		// between the Predict failures must not keep the model alive.
		opts := testOptions(t)
		opts.MaxConsecutiveFailures = 2
		ms, err := StartModels(ctxT(t, 20*time.Second), []PluginSpec{mspec(marker, "t", modelBin, "-mode", "fail")}, opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = ms.Close() })
		ctx := ctxT(t, 20*time.Second)
		for i := 1; i <= 3; i++ {
			if r := ms.Tick(ctx, []byte(`{}`))["t"]; r.Status != StatusSuccess {
				t.Fatalf("tick %d: %s %v", i, r.Status, r.Err)
			}
			if r := ms.Predict(ctx, nil, nil)["t"]; r.Status != StatusFailed {
				t.Fatalf("predict %d: %s %v", i, r.Status, r.Err)
			}
		}
		if st := ms.States()[0]; !st.CoolingDown || st.Reason != StopMultipleFailed {
			t.Fatalf("state %+v, want MULTIPLE_FAILED after 3 failed predicts between successful ticks", st)
		}
	})
	t.Run("invalid outputs count, cool-down, re-admission with a warm-up tick", func(t *testing.T) {
		var mu sync.Mutex
		var kinds []EventKind
		opts := testOptions(t)
		opts.MaxConsecutiveFailures = 1
		opts.ConfirmOutputs = true
		opts.CooldownMin, opts.CooldownMax = 300*time.Millisecond, 600*time.Millisecond
		opts.OnEvent = func(e Event) {
			mu.Lock()
			kinds = append(kinds, e.Kind)
			mu.Unlock()
		}
		ms, err := StartModels(ctxT(t, 20*time.Second), []PluginSpec{mspec(marker, "v", modelBin)}, opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = ms.Close() })
		ctx := ctxT(t, 20*time.Second)
		ms.Tick(ctx, json.RawMessage(`{"price":7}`))
		for i := 1; i <= 2; i++ {
			if r := ms.Predict(ctx, nil, nil)["v"]; r.Status != StatusSuccess {
				t.Fatalf("call %d: %s %v", i, r.Status, r.Err)
			}
			// The caller's validator rejects the answer ({"p_up": 7}).
			ms.ConfirmOutput("v", errors.New("p_up: expected a number in [0,1], found 7"))
		}
		st := ms.States()[0]
		if !st.CoolingDown || st.Reason != StopMultipleFailed || !strings.Contains(st.LastError, "p_up") {
			t.Fatalf("state %+v, want cooling down after two invalid outputs", st)
		}
		if r := ms.Predict(ctx, nil, nil)["v"]; r.Status != StatusAbsent || !errors.Is(r.Err, ErrCoolingDown) {
			t.Fatalf("during the cool-down: %s %v, want ABSENT/ErrCoolingDown", r.Status, r.Err)
		}
		for st := ms.States()[0]; st.CoolingDown || !st.Running; st = ms.States()[0] {
			if ctx.Err() != nil {
				t.Fatalf("not re-admitted: %+v", st)
			}
			time.Sleep(20 * time.Millisecond)
		}
		r := ms.Predict(ctx, nil, nil)["v"]
		var out struct {
			N    int             `json:"n"`
			Tick json.RawMessage `json:"tick"`
		}
		if st := ms.States()[0]; st.Restarts < 1 {
			t.Fatalf("state after re-admission %+v, want a new process", st)
		}
		// The new process was sent the last tick before its first Predict.
		if r.Status != StatusSuccess || json.Unmarshal(r.Output, &out) != nil || string(out.Tick) != `{"price":7}` {
			t.Fatalf("after re-admission: %s %s, want an answer warmed up with the last tick", r.Status, r.Output)
		}
		ms.ConfirmOutput("v", nil)
		if st := ms.States()[0]; st.CoolingDown || st.ConsecutiveFailures != 0 || st.Reason != "" || st.Cooldowns != 1 {
			t.Fatalf("state after a valid answer %+v", st)
		}
		mu.Lock()
		defer mu.Unlock()
		if !slices.Contains(kinds, EventCooldown) || !slices.Contains(kinds, EventReadmitted) {
			t.Fatalf("events %v lack cooldown and readmitted", kinds)
		}
	})
	t.Run("success resets", func(t *testing.T) {
		opts := testOptions(t)
		opts.MaxConsecutiveFailures = 1
		opts.Sandbox.Disabled = true // the crash-once marker outlives the generation
		ms, err := StartModels(ctxT(t, 20*time.Second), []PluginSpec{
			mspec(marker, "c", modelBin, "-mode", "exit", "-crash-once", filepath.Join(t.TempDir(), "m1")),
		}, opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = ms.Close() })
		ctx := ctxT(t, 20*time.Second)
		_ = ms.Predict(ctx, nil, nil)
		if err := ms.WaitReady(ctx, "c"); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 3; i++ {
			if r := ms.Predict(ctx, nil, nil)["c"]; r.Status != StatusSuccess {
				t.Fatalf("call %d: %s %v", i, r.Status, r.Err)
			}
		}
		if st := ms.States()[0]; st.Stopped || st.ConsecutiveFailures != 0 {
			t.Fatalf("state %+v", st)
		}
	})
}

func TestMessageSizeLimits(t *testing.T) {
	t.Parallel()
	marker := testMarker(t)
	opts := testOptions(t)
	opts.CallTimeout = 10 * time.Second
	ms, err := StartModels(ctxT(t, 20*time.Second), []PluginSpec{
		mspec(marker, "ok", modelBin),
		mspec(marker, "big", modelBin, "-mode", "bigout", "-size", "17000000"),
	}, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ms.Close() })
	ctx := ctxT(t, 30*time.Second)
	huge := json.RawMessage(`"` + strings.Repeat("y", wire.MaxMessageBytes) + `"`)
	res := ms.Predict(ctx, []json.RawMessage{huge}, nil)
	for id, r := range res {
		if r.Status != StatusFailed || !errors.Is(r.Err, ErrRequestTooLarge) {
			t.Errorf("%s: oversized request: %s %v", id, r.Status, r.Err)
		}
	}
	res = ms.Predict(ctx, nil, nil)
	// An answer over Options.MaxOutputBytes (issue 12): FAILED, never read.
	if r := res["big"]; r.Status != StatusFailed || !errors.Is(r.Err, ErrInvalidOutput) || !strings.Contains(r.Err.Error(), "exceeds limit") {
		t.Errorf("oversized answer: %s %v", r.Status, r.Err)
	}
	if r := res["ok"]; r.Status != StatusSuccess {
		t.Errorf("ok: %s %v", r.Status, r.Err)
	}
	if st := ms.States()[0]; st.ConsecutiveFailures != 0 {
		t.Errorf("host-side oversize was charged to the model: %+v", st)
	}
}

func TestCloseKillsProcessGroup(t *testing.T) {
	t.Parallel()
	marker := testMarker(t) // its cleanup checks the grandchild is gone too
	ms, err := StartModels(ctxT(t, 20*time.Second), []PluginSpec{mspec(marker, "spawner", modelBin, "-spawn")}, testOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, p := range listProcs() {
		if p.hasEnv(marker) {
			n++
		}
	}
	if n < 2 {
		t.Fatalf("expected the plugin and its grandchild, found %d processes", n)
	}
	done := make(chan struct{})
	go func() { _ = ms.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("Close hung with a grandchild holding the pipes")
	}
	if r := ms.Predict(context.Background(), nil, nil)["spawner"]; r.Status != StatusAbsent {
		t.Errorf("after Close: %s", r.Status)
	}
}

func TestInvalidSpecs(t *testing.T) {
	t.Parallel()
	if _, err := StartModels(context.Background(), []PluginSpec{{Path: modelBin}}, Options{}); !errors.Is(err, ErrInvalidSpec) {
		t.Errorf("empty id: %v", err)
	}
	if _, err := StartModels(context.Background(), []PluginSpec{{ID: "a", Path: modelBin}, {ID: "a", Path: modelBin}}, Options{}); !errors.Is(err, ErrInvalidSpec) {
		t.Errorf("duplicate id: %v", err)
	}
	if _, err := Probe(context.Background(), PluginSpec{Path: modelBin}, "database", Options{}); !errors.Is(err, ErrUnsupportedKind) {
		t.Errorf("bad kind: %v", err)
	}
}

func TestBackoffIsCappedExponential(t *testing.T) {
	t.Parallel()
	min, max := 100*time.Millisecond, time.Second
	for n, want := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 3: 400 * time.Millisecond, 5: time.Second, 30: time.Second} {
		for i := 0; i < 20; i++ {
			d := backoff(n, min, max)
			if d < want/2 || d > want {
				t.Fatalf("backoff(%d) = %v, want in [%v, %v]", n, d, want/2, want)
			}
		}
	}
}

// TestReloadRevivesStoppedModel: a model stopped by the stop rules is
// started again from a rebuilt binary by Reload, with fresh counters; the
// other model keeps answering throughout.
func TestReloadRevivesStoppedModel(t *testing.T) {
	t.Parallel()
	marker := testMarker(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "model")
	copyFile := func(src string) {
		t.Helper()
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		tmp := bin + ".tmp"
		if err := os.WriteFile(tmp, b, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, bin); err != nil { // as go build -o does
			t.Fatal(err)
		}
	}
	copyFile(modelBin)
	opts := testOptions(t)
	opts.MaxConsecutiveFailures = 1
	ms, err := StartModels(ctxT(t, 20*time.Second), []PluginSpec{
		mspec(marker, "r", bin, "-mode", "fail"),
		mspec(marker, "ok", modelBin),
	}, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ms.Close() })
	ctx := ctxT(t, 20*time.Second)
	for i := 0; i < 2; i++ {
		ms.Predict(ctx, nil, nil)
	}
	if st := stateOf(ms, "r"); !st.CoolingDown || st.Reason != StopMultipleFailed {
		t.Fatalf("state %+v, want cooling down", st)
	}
	if err := ms.Reload("r"); err != nil {
		t.Fatal(err)
	}
	if err := ms.WaitReady(ctx, "r"); err != nil {
		t.Fatal(err)
	}
	st := stateOf(ms, "r")
	if st.Stopped || st.ConsecutiveFailures != 0 || st.Reason != "" {
		t.Fatalf("after reload %+v, want running with fresh counters", st)
	}
	res := ms.Predict(ctx, nil, nil)
	if res["ok"].Status != StatusSuccess {
		t.Fatalf("other model: %s %v", res["ok"].Status, res["ok"].Err)
	}
	if res["r"].Status != StatusFailed {
		t.Fatalf("reloaded model answers %s %v, want FAILED (same -mode fail args)", res["r"].Status, res["r"].Err)
	}
	// Reloading a running model relaunches it (a new generation) and it
	// answers again.
	before := stateOf(ms, "ok").Restarts
	if err := ms.Reload("ok"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for stateOf(ms, "ok").Restarts == before && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if err := ms.WaitReady(ctx, "ok"); err != nil {
		t.Fatal(err)
	}
	if r := ms.Predict(ctx, nil, nil)["ok"]; r.Status != StatusSuccess || stateOf(ms, "ok").Restarts != before+1 {
		t.Fatalf("after reloading a running model: %s %v, restarts %d (before %d)", r.Status, r.Err, stateOf(ms, "ok").Restarts, before)
	}
	if err := ms.Reload("nope"); err == nil {
		t.Fatal("Reload of an unknown id succeeded")
	}
}

func stateOf(ms *ModelSet, id string) ModelState {
	for _, s := range ms.States() {
		if s.ID == id {
			return s
		}
	}
	return ModelState{}
}

// syncBuffer is a goroutine-safe log sink. (internal/testutil has one, but
// it imports internal/config, which imports extend, which imports host: a
// test import cycle.)
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
