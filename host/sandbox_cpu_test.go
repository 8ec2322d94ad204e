//go:build linux

package host

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/sandbox"
)

// TestSandboxCPUQuota runs a model that keeps every core busy during each
// Predict (testdata/plugins/attacker -attack spin) next to an honest
// model, with a CPU limit of a quarter CPU per model. The spinner's own CPU
// time over each call's wall interval (getrusage, all its threads) must
// stay near the quota (at most twice it, plus 0.1 s: a generous margin,
// the check is that the quota is enforced, not a speed), and the honest
// model must answer every round.
func TestSandboxCPUQuota(t *testing.T) {
	rep := sandbox.Probe(sandbox.Config{})
	if rep.CPUCgroup == "" {
		t.Skip("this machine has no cpu cgroup the node may use: the CPU limit is not tested")
	}
	marker := testMarker(t)
	const millicores = 250
	specs := []PluginSpec{
		mspec(marker, "honest", modelBin, "-name", "honest"),
		mspec(marker, "spinner", attackerBin, "-attack", "spin", "-duration", "2s"),
	}
	opts := testOptions(t)
	opts.CallTimeout = 30 * time.Second
	opts.Sandbox.Limits = sandbox.Limits{CPUMillicores: millicores}
	ms, err := StartModels(ctxT(t, 60*time.Second), specs, opts)
	must(t, err)
	t.Cleanup(func() { _ = ms.Close() })

	for round := 0; round < 2; round++ {
		res := ms.Predict(ctxT(t, 60*time.Second), nil, nil)
		if r := res["honest"]; r.Status != StatusSuccess {
			t.Errorf("round %d: the honest model did not answer: %s %v", round, r.Status, r.Err)
		}
		r := res["spinner"]
		if r.Status != StatusSuccess {
			t.Fatalf("round %d: the spinner did not answer: %s %v", round, r.Status, r.Err)
		}
		var got struct {
			CPU  float64 `json:"cpu_seconds"`
			Wall float64 `json:"wall_seconds"`
		}
		must(t, json.Unmarshal(r.Output, &got))
		limit := 2*float64(millicores)/1000*got.Wall + 0.1
		t.Logf("round %d: the spinner used %.3f s of CPU in %.3f s (quota %.3f s)", round, got.CPU, got.Wall, float64(millicores)/1000*got.Wall)
		if got.Wall < 1 || got.CPU > limit {
			t.Errorf("round %d: the spinner used %.3f s of CPU in %.3f s, expected at most %.3f s under a %d millicore quota", round, got.CPU, got.Wall, limit, millicores)
		}
	}
}
