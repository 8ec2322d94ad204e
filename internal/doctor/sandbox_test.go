package doctor

import (
	"strings"
	"testing"

	"github.com/crunch-coordinator/coordinator/internal/config"
	"github.com/crunch-coordinator/coordinator/internal/sandbox"
)

func TestCheckSandboxStatesWhatIsEnforced(t *testing.T) {
	rep := sandbox.Probe(sandbox.Config{})
	for _, require := range []bool{false, true} {
		ws := &WorkspaceInfo{Loaded: &config.Workspace{Settings: config.Settings{Sandbox: sandbox.Config{Require: require}}}}
		rs := checkSandbox(ws)
		if len(rs) != 1 || rs[0].Check != "sandbox" {
			t.Fatalf("expected one sandbox result, got %+v", rs)
		}
		r := rs[0]
		want := Pass
		switch {
		case len(rep.Missing) > 0 && require:
			want = Fail
		case len(rep.Missing) > 0:
			want = Warn
		}
		if r.Status != want {
			t.Fatalf("require=%v: status %s, expected %s (missing %v): %s", require, r.Status, want, rep.Missing, r.Message)
		}
		if rep.Filesystem && want != Fail && !strings.Contains(r.Message, "landlock filesystem") {
			t.Errorf("message does not say Landlock is enforced: %s", r.Message)
		}
		if rep.CPUCgroup != "" && want != Fail && !strings.Contains(r.Message, "cpu cgroup "+rep.CPUCgroup+" (models 1000 millicores (1 CPU) each, challenge unlimited)") {
			t.Errorf("message does not state the CPU limits: %s", r.Message)
		}
		if rep.SocketFilter && want != Fail && !strings.Contains(r.Message, "seccomp socket filter") {
			t.Errorf("message does not say the socket filter is enforced: %s", r.Message)
		}
		for _, m := range rep.Missing {
			if !strings.Contains(r.Message, m) {
				t.Errorf("message does not name the missing %q: %s", m, r.Message)
			}
		}
	}
}
