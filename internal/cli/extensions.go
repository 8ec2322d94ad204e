package cli

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/crunch-coordinator/coordinator/internal/extbuild"
)

func init() { register("extensions", newExtensionsCmd) }

// newExtensionsCmd is the hidden command listing the service factories
// registered in this binary: `coordinator doctor` runs the node binary
// built with a workspace's extensions/ with `extensions --json`
// (extbuild.List) to check the factories the workspace selects.
func newExtensionsCmd(f *Factory) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:    "extensions",
		Short:  "List the service factories registered in this binary (used by doctor)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			l := extbuild.Self()
			if asJSON {
				b, err := json.MarshalIndent(l, "", "  ")
				if err != nil {
					return err
				}
				fmt.Fprintln(f.IO.Out, string(b))
				return nil
			}
			linked := l.Linked
			if linked == "" {
				linked = "none"
			}
			fmt.Fprintf(f.IO.Out, "extensions package: %s (extend API v%d)\n", linked, l.APIVersion)
			for _, r := range l.Factories {
				status := "ok"
				if r.Error != "" {
					status = "refused: " + r.Error
				}
				fmt.Fprintf(f.IO.Out, "%-8s %-24s v%d  %s\n", r.Kind, r.Name, r.APIVersion, status)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON object {linked, api_version, factories: [{kind, name, api_version, error}]}")
	return cmd
}
