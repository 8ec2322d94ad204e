package host

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/modelrunner"
	"github.com/crunch-coordinator/coordinator/sdk"
)

const trackerBase = `class TrackerBase:
    def tick(self, data):
        pass

    def predict(self, asset, horizon, step):
        raise NotImplementedError
`

// pyModel writes a base module and one Python model folder (files: name →
// source) and returns the spec of a model-runner model. It skips the test
// when no interpreter with grpcio and protobuf exists (CI installs one).
func pyModel(t testing.TB, marker, id string, files map[string]string) PluginSpec {
	t.Helper()
	py, err := modelrunner.FindPython(context.Background(), os.Getenv(modelrunner.EnvPython))
	if err != nil {
		t.Skipf("Python model tests need %v", err)
	}
	root := t.TempDir()
	base := filepath.Join(root, "challenge")
	code := filepath.Join(root, "models", id)
	for _, d := range []string{base, code} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(base, "tracker.py"), []byte(trackerBase), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, src := range files {
		if err := os.WriteFile(filepath.Join(code, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	runner, err := filepath.Abs(filepath.Join("..", "sdk", "python"))
	if err != nil {
		t.Fatal(err)
	}
	return PluginSpec{ID: id, Env: []string{marker}, StartTimeout: 20 * time.Second, Runner: &RunnerSpec{
		Python: py.Path, RunnerDir: runner, CodeDir: code, BaseClass: "tracker.TrackerBase", Paths: []string{base},
	}}
}

const goodModel = `import sys
from tracker import TrackerBase

print("noise on stdout at import")
sys.stderr.write("a line on stderr\n")

class Mine(TrackerBase):
    def __init__(self):
        self.last = None

    def tick(self, data):
        self.last = data
        print("tick noise")

    def predict(self, asset, horizon, step):
        price = self.last["candles"][-1]["close"]
        return {"value": price / 100.0, "asset": asset, "horizon": horizon, "step": step}
`

func TestPythonModelTickPredict(t *testing.T) {
	t.Parallel()
	m := testMarker(t)
	spec := pyModel(t, m, "py-good", map[string]string{"model.py": goodModel})
	ms, err := StartModels(ctxT(t, 30*time.Second), []PluginSpec{spec}, testOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ms.Close() })
	ctx := ctxT(t, 20*time.Second)
	if err := ms.WaitReady(ctx, "py-good"); err != nil {
		t.Fatalf("WaitReady: %v (state %+v)", err, ms.States())
	}
	tick := ms.Tick(ctx, json.RawMessage(`{"candles":[{"close":50}]}`))
	if r := tick["py-good"]; r.Status != StatusSuccess {
		t.Fatalf("tick: %s %v", r.Status, r.Err)
	}
	for i := 0; i < 3; i++ {
		res := ms.Predict(ctx, []json.RawMessage{json.RawMessage(`"BTC"`), json.RawMessage(`60`), json.RawMessage(`60`)}, json.RawMessage(`{}`))
		r := res["py-good"]
		if r.Status != StatusSuccess {
			t.Fatalf("predict: %s %v", r.Status, r.Err)
		}
		var out map[string]any
		if err := json.Unmarshal(r.Output, &out); err != nil {
			t.Fatal(err)
		}
		if out["value"] != 0.5 || out["asset"] != "BTC" || out["horizon"] != 60.0 {
			t.Fatalf("predict output %s", r.Output)
		}
	}
}

func TestPythonModelStartErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		files map[string]string
		want  []string
	}{
		{"no subclass", map[string]string{"model.py": "class Other:\n    pass\n"}, []string{"no subclass of tracker.TrackerBase", "model.py"}},
		{"two subclasses", map[string]string{
			"a.py": "from tracker import TrackerBase\nclass A(TrackerBase):\n    pass\n",
			"b.py": "from tracker import TrackerBase\nclass B(TrackerBase):\n    pass\n",
		}, []string{"several subclasses", "A (a.py)", "B (b.py)"}},
		{"import error", map[string]string{"model.py": "from tracker import TrackerBase\nimport numpyy_not_installed\n"},
			[]string{"importing", "model.py", "ModuleNotFoundError", "numpyy_not_installed"}},
		{"syntax error", map[string]string{"model.py": "def broken(:\n"}, []string{"model.py", "SyntaxError"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			m := testMarker(t)
			spec := pyModel(t, m, "py-bad", c.files)
			ms, err := StartModels(ctxT(t, 30*time.Second), []PluginSpec{spec}, testOptions(t))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = ms.Close() })
			var st ModelState
			for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
				if st = ms.States()[0]; st.Stopped {
					break
				}
			}
			if !st.Stopped || st.Reason != StopBadImplementation {
				t.Fatalf("state %+v, want stopped with BAD_IMPLEMENTATION", st)
			}
			for _, w := range c.want {
				if !strings.Contains(st.LastError, w) {
					t.Errorf("LastError lacks %q:\n%s", w, st.LastError)
				}
			}
			r := ms.Predict(ctxT(t, 5*time.Second), nil, nil)["py-bad"]
			if r.Status != StatusAbsent {
				t.Errorf("predict on a stopped model: %s, want ABSENT", r.Status)
			}
		})
	}
}

const callErrorModel = `import time
from tracker import TrackerBase

class Mine(TrackerBase):
    def predict(self, asset, horizon, step):
        if asset == "raise":
            raise ValueError("boom in predict")
        if asset == "nan":
            return {"value": float("nan")}
        if asset == "nanfloat":
            return float("inf")
        if asset == "hang":
            time.sleep(60)
        if asset == "object":
            return object()
        return {"value": 1.0}
`

func TestPythonModelCallErrors(t *testing.T) {
	t.Parallel()
	m := testMarker(t)
	spec := pyModel(t, m, "py-err", map[string]string{"model.py": callErrorModel})
	opts := testOptions(t)
	opts.CallTimeout = 1500 * time.Millisecond
	opts.MaxConsecutiveFailures = 10
	var events []Event
	opts.OnEvent = func(e Event) { events = append(events, e) }
	ms, err := StartModels(ctxT(t, 30*time.Second), []PluginSpec{spec}, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ms.Close() })
	ctx := ctxT(t, 60*time.Second)
	call := func(asset string) CallResult {
		if err := ms.WaitReady(ctx, "py-err"); err != nil {
			t.Fatalf("WaitReady: %v", err)
		}
		return ms.Predict(ctx, []json.RawMessage{json.RawMessage(`"` + asset + `"`), json.RawMessage(`60`), json.RawMessage(`60`)}, nil)["py-err"]
	}
	cases := []struct {
		asset string
		st    Status
		want  string
		is    error
	}{
		{"raise", StatusFailed, "ValueError: boom in predict", nil},
		{"nan", StatusFailed, "NaN", modelrunner.ErrNonFinite},
		{"nanfloat", StatusFailed, "", modelrunner.ErrNonFinite},
		{"object", StatusFailed, "cannot encode a value of type object", nil},
		{"ok", StatusSuccess, "", nil},
		{"hang", StatusTimeout, "", nil},
		{"ok", StatusSuccess, "", nil}, // after the restart
	}
	for _, c := range cases {
		r := call(c.asset)
		if r.Status != c.st {
			t.Fatalf("%s: status %s (%v), want %s", c.asset, r.Status, r.Err, c.st)
		}
		if c.want != "" && (r.Err == nil || !strings.Contains(r.Err.Error(), c.want)) {
			t.Errorf("%s: error %v lacks %q", c.asset, r.Err, c.want)
		}
		if c.is != nil && !errors.Is(r.Err, c.is) {
			t.Errorf("%s: error %v is not %v", c.asset, r.Err, c.is)
		}
	}
	st := ms.States()[0]
	if st.Restarts != 1 || st.Stopped {
		t.Errorf("state after a hang: %+v, want one restart and running", st)
	}
	// A call-builder value the protocol cannot carry is not charged.
	r := ms.Predict(ctx, []json.RawMessage{json.RawMessage(`null`)}, nil)["py-err"]
	if r.Status != StatusFailed || !errors.Is(r.Err, modelrunner.ErrArgument) {
		t.Errorf("null argument: %s %v", r.Status, r.Err)
	}
	if got := ms.States()[0].ConsecutiveFailures; got != 0 {
		t.Errorf("consecutive failures after host-side argument error = %d, want 0", got)
	}
	_ = sdk.MethodPredict
}
