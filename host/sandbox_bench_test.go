package host

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/crunch-coordinator/coordinator/internal/sandbox"
)

// benchStart measures one plugin start (launch, handshake or Setup,
// Describe, ready) with or without the sandbox; stopping it is untimed.
func benchStart(b *testing.B, spec PluginSpec, disabled bool) {
	opts := Options{Logger: hclog.NewNullLogger(), StartTimeout: time.Minute, Sandbox: sandbox.Config{Disabled: disabled}}
	ctx := context.Background()
	for b.Loop() {
		ms, err := StartModels(ctx, []PluginSpec{spec}, opts)
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if st := ms.States()[0]; !st.Running {
			b.Fatalf("model did not start: %s", st.LastError)
		}
		_ = ms.Close()
		b.StartTimer()
	}
}

func goSpec() PluginSpec {
	return PluginSpec{ID: "m", Path: modelBin, Args: []string{"-name", "m"}, StartTimeout: time.Minute}
}

// BenchmarkSandboxStartGo measures the start of one Go model plugin through
// the sandbox launcher (re-exec, cgroups, rlimits, Landlock, uid drop when
// root, exec from a descriptor).
func BenchmarkSandboxStartGo(b *testing.B) { benchStart(b, goSpec(), false) }

// BenchmarkDirectStartGo measures the same start without the sandbox.
func BenchmarkDirectStartGo(b *testing.B) { benchStart(b, goSpec(), true) }

// BenchmarkSandboxStartPython measures the start of one Python model (the
// model runner) through the sandbox, including the read-only copy of its
// code and of the runner package when the uid is dropped.
func BenchmarkSandboxStartPython(b *testing.B) {
	benchStart(b, pyModel(b, "BENCH=1", "py", map[string]string{"model.py": benchPyModel}), false)
}

// BenchmarkDirectStartPython measures the same start without the sandbox.
func BenchmarkDirectStartPython(b *testing.B) {
	benchStart(b, pyModel(b, "BENCH=1", "py", map[string]string{"model.py": benchPyModel}), true)
}

// BenchmarkDirectPredictRoundTrip is BenchmarkPredictRoundTrip (whose
// plugin is sandboxed, the default) with the sandbox disabled.
func BenchmarkDirectPredictRoundTrip(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	ms, err := StartModels(ctx, []PluginSpec{goSpec()}, Options{Logger: hclog.NewNullLogger(), CallTimeout: 30 * time.Second, Sandbox: sandbox.Config{Disabled: true}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = ms.Close() })
	args := []json.RawMessage{json.RawMessage(`"BTC"`), json.RawMessage(`60`)}
	b.ReportAllocs()
	for b.Loop() {
		if r := ms.Predict(ctx, args, json.RawMessage(`{"horizon":60}`))["m"]; r.Status != StatusSuccess {
			b.Fatalf("%s %v", r.Status, r.Err)
		}
	}
}
