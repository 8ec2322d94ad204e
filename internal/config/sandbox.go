package config

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/crunch-coordinator/coordinator/internal/sandbox"
)

// sandboxInt is one integer setting of the plugin sandbox: its default
// (the sandbox package's), minimum and where it goes; zeroOff: 0 is also
// accepted and means no limit, stored as -1 (the sandbox package's one
// convention: 0 is the default, negative no limit).
type sandboxInt struct {
	name    string
	def     int64
	min     int64
	dst     func(*sandbox.Config, int64)
	zeroOff bool
}

var sandboxInts = []sandboxInt{
	{"SANDBOX_UID", sandbox.DefaultUID, 1, func(c *sandbox.Config, v int64) { c.UID = int(v) }, false},
	{"SANDBOX_GID", sandbox.DefaultGID, 1, func(c *sandbox.Config, v int64) { c.GID = int(v) }, false},
	{"PLUGIN_MEMORY_LIMIT_MB", sandbox.DefaultMemoryBytes >> 20, 32, func(c *sandbox.Config, v int64) { c.Limits.MemoryBytes = v << 20 }, false},
	{"PLUGIN_MAX_PROCESSES", sandbox.DefaultProcesses, 16, func(c *sandbox.Config, v int64) { c.Limits.Processes = int(v) }, false},
	{"PLUGIN_MAX_OPEN_FILES", sandbox.DefaultOpenFiles, 64, func(c *sandbox.Config, v int64) { c.Limits.OpenFiles = int(v) }, false},
	{"PLUGIN_MAX_FILE_SIZE_MB", sandbox.DefaultFileSizeBytes >> 20, 1, func(c *sandbox.Config, v int64) { c.Limits.FileSizeBytes = v << 20 }, false},
	{"PLUGIN_CPU_MILLICORES", sandbox.DefaultCPUMillicores, sandbox.MinCPUMillicores, func(c *sandbox.Config, v int64) { c.Limits.CPUMillicores = int(v) }, true},
	{"CHALLENGE_CPU_MILLICORES", 0, sandbox.MinCPUMillicores, func(c *sandbox.Config, v int64) { c.ChallengeCPUMillicores = int(v) }, true},
}

// parseSandbox reads the plugin sandbox settings (REQUIRE_SANDBOX,
// CHALLENGE_ALLOW_NETWORK, SANDBOX_UID/GID, the PLUGIN_* limits and
// CHALLENGE_CPU_MILLICORES); the
// sandbox package applies them.
func parseSandbox(env map[string]string, source string) (sandbox.Config, []error) {
	var c sandbox.Config
	var errs []error
	for _, v := range sandboxInts {
		n := v.def
		if raw := strings.TrimSpace(env[v.name]); raw != "" {
			parsed, err := strconv.ParseInt(raw, 10, 64)
			switch {
			case err != nil:
				errs = append(errs, &VarError{Source: source, Var: v.name, Msg: fmt.Sprintf("expected a whole number, found %q", raw)})
				continue
			case parsed < v.min && !(v.zeroOff && parsed == 0):
				msg := fmt.Sprintf("expected an integer >= %d, found %d", v.min, parsed)
				if v.zeroOff {
					msg = fmt.Sprintf("expected 0 (no limit) or an integer >= %d, found %d", v.min, parsed)
				}
				errs = append(errs, &VarError{Source: source, Var: v.name, Msg: msg})
				continue
			}
			n = parsed
		}
		if v.zeroOff && n == 0 {
			n = -1
		}
		v.dst(&c, n)
	}
	for _, b := range []struct {
		name string
		dst  *bool
	}{{"REQUIRE_SANDBOX", &c.Require}, {"CHALLENGE_ALLOW_NETWORK", &c.ChallengeNetwork}} {
		raw := strings.TrimSpace(env[b.name])
		if raw == "" {
			continue
		}
		v, err := strconv.ParseBool(raw)
		if err != nil {
			errs = append(errs, &VarError{Source: source, Var: b.name, Msg: fmt.Sprintf("expected true or false, found %q", raw)})
			continue
		}
		*b.dst = v
	}
	return c, errs
}
