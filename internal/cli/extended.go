package cli

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/crunch-coordinator/coordinator/internal/config"
	"github.com/crunch-coordinator/coordinator/internal/extbuild"
	"github.com/crunch-coordinator/coordinator/internal/node"
	"github.com/crunch-coordinator/coordinator/internal/pluginbuild"
)

// runExtended runs dev or serve in the node binary built with the
// workspace's extensions/ package when the workspace selects a service
// factory (f names them) and this binary does not link the extensions
// itself. handled is false when the command should run in this process
// (no factory selected: a v1 workspace builds nothing extra; or this is
// the node binary). skipBuild reuses the binary of the previous build.
func runExtended(cmd *cobra.Command, fac *Factory, nodeDir string, f config.Factories, skipBuild bool, out io.Writer) (handled bool, err error) {
	if !f.Any() || extbuild.Linked != "" {
		return false, nil
	}
	var sel []string
	for _, c := range f.Selected() {
		sel = append(sel, c.Kind.Var()+"="+c.Name)
	}
	plan, err := extbuild.Prepare(nodeDir)
	if err != nil {
		return true, &ExitError{Code: 2, Err: fmt.Errorf("%s: %w", strings.Join(sel, ", "), err)}
	}
	ctx, cancel := fac.SignalContext(cmd.Context())
	defer cancel()
	bin := plan.Out
	if skipBuild {
		if _, err := os.Stat(bin); err != nil {
			return true, &ExitError{Code: 1, Err: fmt.Errorf("--skip-build: no node binary at %s yet: run once without --skip-build", bin)}
		}
	} else {
		fmt.Fprintf(out, "extensions %s: node binary with %s\n", strings.Join(sel, ", "), plan.Package)
		bin, err = extbuild.Build(ctx, plan, false, func(e pluginbuild.Event) {
			switch e.Phase {
			case "skip":
				fmt.Fprintf(out, "extensions up to date: %s\n", plan.Out)
			case "done":
				fmt.Fprintf(out, "extensions built %s in %s\n", plan.Out, e.Duration.Round(time.Millisecond))
			}
		})
		if err != nil {
			return true, &ExitError{Code: 1, Err: fmt.Errorf("%s: %w\n(fix the compiler errors in %s, or unset the variable for the built-in service)", strings.Join(sel, ", "), err, plan.Package)}
		}
	}
	code, err := extbuild.Run(ctx, bin, fac.Args, fac.WorkDir, fac.IO.In, fac.IO.Out, fac.IO.ErrOut, node.DefaultDrainTimeout+15*time.Second)
	if err != nil {
		return true, err
	}
	if code != 0 {
		return true, &ExitError{Code: code}
	}
	return true, nil
}
