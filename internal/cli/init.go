package cli

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/crunch-coordinator/coordinator/internal/buildinfo"
	"github.com/crunch-coordinator/coordinator/internal/scaffold"
	"github.com/crunch-coordinator/coordinator/packs"
)

func init() { register("init", newInitCmd) }

func newInitCmd(f *Factory) *cobra.Command {
	var (
		opts      scaffold.Options
		listPacks bool
	)
	cmd := &cobra.Command{
		Use:   "init [name]",
		Short: "Create a new Crunch workspace (public challenge + private node) from a pack",
		Long: `init creates <output>/<name>/ with the public challenge package crunch-<name>,
the private node crunch-node-<name>, a go.work and a pinned copy of the coordinator SDK.

The configuration is merged from --answers (JSON or YAML), then --spec (JSON with
"spec_version": "1"), then flags. Names are lowercase slugs of 2-40 letters, digits
and single hyphens. An existing workspace is only replaced with --force, and only
after the new one rendered completely.

go.work uses the SDK copy in .coordinator/sdk, or a coordinator source checkout when
COORDINATOR_SOURCE_DIR names one (or the binary was built from one); set
COORDINATOR_SOURCE_DIR=off to force the copy.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if listPacks {
				list, err := packs.Builtin()
				if err != nil {
					return fmt.Errorf("load packs: %w", err)
				}
				fmt.Fprintln(f.IO.Out, "Available packs:")
				for _, p := range list {
					fmt.Fprintf(f.IO.Out, "- %s: %s\n", p.ID, p.Description)
				}
				return nil
			}
			if len(args) == 1 {
				opts.Name = args[0]
			}
			if cmd.Flags().Changed("pack") && opts.Pack == "" {
				return UsageError("--pack: expected a pack id, found an empty value")
			}
			opts.SpecPath = resolvePath(f.WorkDir, opts.SpecPath)
			opts.AnswersPath = resolvePath(f.WorkDir, opts.AnswersPath)
			if opts.OutputDir == "" {
				return UsageError("--output: expected a folder, found an empty value")
			}
			opts.OutputDir = resolvePath(f.WorkDir, opts.OutputDir)
			src, err := scaffold.DetectSourceDir(f.Getenv)
			if err != nil {
				return &ExitError{Code: 2, Err: err}
			}
			version, _ := buildinfo.Get()
			opts.SDK = scaffold.SDKSource{SourceDir: src, Version: version}
			ctx, cancel := f.SignalContext(cmd.Context())
			defer cancel()
			res, err := scaffold.Init(ctx, opts)
			if err != nil {
				if scaffold.IsInputError(err) {
					return &ExitError{Code: 2, Err: err}
				}
				var ee *ExitError
				if errors.As(err, &ee) {
					return err
				}
				return &ExitError{Code: 1, Err: err}
			}
			printCreated(f, res)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Pack, "pack", "", "pack id (default: the spec's pack, else baseline); see --list-packs")
	fl.BoolVar(&listPacks, "list-packs", false, "print the available packs and exit")
	fl.StringVar(&opts.SpecPath, "spec", "", "spec file (JSON object with \"spec_version\": \"1\")")
	fl.StringVar(&opts.AnswersPath, "answers", "", "answers file (JSON if *.json, else YAML)")
	fl.StringVar(&opts.OutputDir, "output", ".", "parent folder of the workspace")
	fl.StringVar(&opts.Models, "models", scaffold.ModelsBoth, "example models registered in config/models.json: go, python (needs python3-grpcio and python3-protobuf) or both")
	fl.StringVar(&opts.Extension, "with-extension", "", "also generate an example service factory in the node's extensions/ and select it: "+extensionIDs())
	fl.BoolVar(&opts.Force, "force", false, "replace an existing workspace, discarding its edits (only after the new one rendered)")
	return cmd
}

func resolvePath(workDir, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(workDir, p)
}

func printCreated(f *Factory, res scaffold.Result) {
	out := f.IO.Out
	verb := "Created"
	if res.Replaced {
		verb = "Replaced"
	}
	fmt.Fprintf(out, "%s workspace %s (pack %s, %d files)\n", verb, res.Workspace, res.Config.Pack.ID, len(res.Files))
	name := res.Config.Name
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  README.md, go.work\tworkspace overview; Go workspace of the modules below")
	fmt.Fprintln(tw, "  .coordinator/sdk/\tcoordinator SDK copy, pinned to this coordinator")
	fmt.Fprintf(tw, "  crunch-%s/\tpublic challenge package, example models, tests\n", name)
	fmt.Fprintf(tw, "  crunch-node-%s/\tprivate node: .local.env, config/, deployment/\n", name)
	_ = tw.Flush()
	if res.Replaced {
		fmt.Fprintln(out, "  (the previous workspace and any edits in it were replaced)")
	}
	fmt.Fprintln(out, "\nNext:")
	fmt.Fprintf(out, "  cd %s\n", res.NodeDir)
	fmt.Fprintln(out, "  coordinator doctor                   # check the wiring")
	fmt.Fprintln(out, "  coordinator dev                      # run it on live Pyth prices (needs internet access)")
	fmt.Fprintln(out, "  coordinator dev --replay-file FILE   # or replay a CSV of candles (offline)")
}

// extensionIDs lists the example extensions for --with-extension's help.
func extensionIDs() string {
	var ids []string
	for _, e := range packs.Extensions {
		ids = append(ids, e.ID+" ("+e.Summary+")")
	}
	return strings.Join(ids, "; ")
}
