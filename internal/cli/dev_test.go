package cli

import (
	"strings"
	"testing"

	"github.com/crunch-coordinator/coordinator/internal/config"
	"github.com/crunch-coordinator/coordinator/internal/testutil/testnode"
)

// A typo in .local.env or a schedule stops dev before anything starts, with
// exit code 2 and every error named; doctor fails the same workspace.
func TestDevAndDoctorRejectConfigTypos(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(files map[string]string)
		want   []string
		doctor []string
	}{
		{"local.env typos", func(f map[string]string) { f[config.LocalEnvFile] += "MODEL_CALL_TIMEOUT_SECOND=2\nFEED_ASSSETS=ETH\n" },
			[]string{"MODEL_CALL_TIMEOUT_SECOND: unknown variable (did you mean MODEL_CALL_TIMEOUT_SECONDS?)", "FEED_ASSSETS: unknown variable (did you mean FEED_ASSETS?)"},
			[]string{"variable MODEL_CALL_TIMEOUT_SECOND  unknown variable (did you mean MODEL_CALL_TIMEOUT_SECONDS?)", "fix: rename FEED_ASSSETS to FEED_ASSETS"}},
		{"horizon sixty", func(f map[string]string) {
			f[config.SchedulesFile] = `[{"scope_key":"default","scope_template":{"asset":"BTC","horizon_seconds":"sixty"},"schedule":{"every_seconds":60,"resolve_after_seconds":60}}]`
		}, []string{`key "horizon_seconds": expected whole seconds (integer >= 1), found sixty`}, []string{`key "horizon_seconds": expected whole seconds (integer >= 1), found sixty`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			node := testnode.WriteNode(t, "127.0.0.1:0", tc.mutate)
			f, out, errOut := newTestFactory(t, nil)
			code := Execute(f, []string{"dev", "--workspace", node, "--skip-build", "--skip-e2e"})
			all := out.String() + errOut.String()
			if code != 2 {
				t.Fatalf("dev exit %d, want 2\n%s", code, all)
			}
			for _, w := range tc.want {
				if !strings.Contains(all, w) {
					t.Errorf("dev output lacks %q:\n%s", w, all)
				}
			}
			f, out, errOut = newTestFactory(t, nil)
			code = Execute(f, []string{"doctor", "--workspace", node, "--skip-plugins", "--offline"})
			all = out.String() + errOut.String()
			if code != 1 {
				t.Fatalf("doctor exit %d, want 1 (a failed check)\n%s", code, all)
			}
			for _, w := range tc.doctor {
				if !strings.Contains(all, w) {
					t.Errorf("doctor output lacks %q:\n%s", w, all)
				}
			}
		})
	}
}
