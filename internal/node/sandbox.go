package node

import (
	"fmt"
	"strings"

	"github.com/hashicorp/go-hclog"

	"github.com/crunch-coordinator/coordinator/internal/sandbox"
)

// ErrSandboxRequired is wrapped by Start's error when REQUIRE_SANDBOX is
// set and this machine lacks a sandbox mechanism.
var ErrSandboxRequired = fmt.Errorf("%w: plugin sandbox required", ErrConfig)

// checkSandbox probes what the plugin sandbox enforces on this machine,
// logs it (one loud warning naming what is not enforced) and refuses to
// start when c.Require is set and something is missing.
func checkSandbox(c sandbox.Config, log hclog.Logger) error {
	rep := sandbox.Probe(c)
	if err := c.Check(rep); err != nil {
		return fmt.Errorf("%w: %w", ErrSandboxRequired, err)
	}
	if w := rep.Warning(); w != "" {
		log.Warn(w)
	}
	log.Debug("plugin sandbox", "enforced", strings.Join(rep.Enforced(), ", "))
	return nil
}
