package cli

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/crunch-coordinator/coordinator/internal/buildinfo"
	"github.com/crunch-coordinator/coordinator/sdk"
)

func init() { register("version", newVersionCmd) }

func newVersionCmd(f *Factory) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print version, commit and plugin contract versions",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v, c := buildinfo.Get()
			fmt.Fprintf(f.IO.Out, "coordinator %s (commit %s, %s)\n", v, c, runtime.Version())
			fmt.Fprintf(f.IO.Out, "plugin contract: %s (go-plugin protocol %d)\n", sdk.ContractVersion, sdk.ProtocolVersion)
			return nil
		},
	}
}
