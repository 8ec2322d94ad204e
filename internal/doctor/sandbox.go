package doctor

import (
	"strings"

	"github.com/crunch-coordinator/coordinator/internal/sandbox"
)

// CodeSandboxIncomplete is the Result.Code of a sandbox check that found a
// mechanism missing on this machine.
const CodeSandboxIncomplete = "sandbox.incomplete"

// checkSandbox says what the plugin sandbox enforces on this machine
// (sandbox.Probe with the workspace's settings): pass when everything is,
// a warning naming what is not, a failure when REQUIRE_SANDBOX is set and
// the node would refuse to start.
func checkSandbox(ws *WorkspaceInfo) []Result {
	var c sandbox.Config
	if ws != nil && ws.Loaded != nil {
		c = ws.Loaded.Settings.Sandbox
	}
	rep := sandbox.Probe(c)
	r := Result{Group: groupPlugins, Check: "sandbox", Status: Pass,
		Message: "plugins are contained: " + strings.Join(rep.Enforced(), ", ")}
	if len(rep.Missing) == 0 {
		return []Result{r}
	}
	r.Status, r.Code, r.Where = Warn, CodeSandboxIncomplete, "REQUIRE_SANDBOX"
	r.Message = "enforced: " + strings.Join(rep.Enforced(), ", ") + "; NOT enforced: " + strings.Join(rep.Missing, "; ")
	r.Fix = "run the node on Linux >= 6.7 (Landlock ABI 4+ for network rules; x86-64 or arm64 with seccomp for the socket filter) as root or with a delegated memory/pids/cpu cgroup; or accept the gap knowingly"
	if err := c.Check(rep); err != nil {
		r.Status = Fail
		r.Message = err.Error()
		r.Fix = "unset REQUIRE_SANDBOX to start with a warning, or " + r.Fix
	}
	return []Result{r}
}
