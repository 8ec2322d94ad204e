package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/crunch-coordinator/coordinator/internal/ports"
)

func init() { register("preflight", newPreflightCmd) }

// DefaultDevPorts are the ports `coordinator dev` binds by default: the
// report API.
const DefaultDevPorts = "8000"

func newPreflightCmd(f *Factory) *cobra.Command {
	var list string
	cmd := &cobra.Command{
		Use:   "preflight",
		Short: "Check that the ports `coordinator dev` needs are free",
		Long: `preflight tries to bind each port on the loopback interfaces (IPv4 and IPv6).
A busy port is reported with the process holding it when that can be found.
Exit code 0 when all are free, 1 when any is busy, 2 for a bad --ports value.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ps, err := ports.ParseList(list)
			if err != nil {
				return UsageError("--ports: %v", err)
			}
			if len(ps) == 0 {
				ps, _ = ports.ParseList(DefaultDevPorts)
			}
			res := ports.Check("", ps)
			busy := 0
			for _, r := range res {
				if r.Free {
					fmt.Fprintf(f.IO.Out, "ok    %d free\n", r.Port)
					continue
				}
				busy++
				holder := r.Holder
				if holder == "" {
					holder = "an unknown process; try: lsof -nP -iTCP:" + fmt.Sprint(r.Port) + " -sTCP:LISTEN"
				}
				fmt.Fprintf(f.IO.Out, "FAIL  %d busy, held by %s\n", r.Port, holder)
			}
			if busy > 0 {
				return &ExitError{Code: 1, Err: fmt.Errorf("preflight failed: %d of %d ports busy; stop the process holding it or pick another port (e.g. coordinator dev --api-addr 127.0.0.1:8001)", busy, len(res))}
			}
			fmt.Fprintf(f.IO.Out, "preflight passed: %s free\n", strings.Trim(strings.Join(strings.Fields(fmt.Sprint(ps)), ", "), "[]"))
			return nil
		},
	}
	cmd.Flags().StringVar(&list, "ports", DefaultDevPorts, "comma-separated ports to check")
	return cmd
}
