package cli

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/crunch-coordinator/coordinator/internal/config"
	"github.com/crunch-coordinator/coordinator/internal/doctor"
)

func init() { register("doctor", newDoctorCmd) }

func newDoctorCmd(f *Factory) *cobra.Command {
	var (
		workspace, spec, pack, api   string
		asJSON, skipPlugins, offline bool
	)
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Find miswiring in a workspace: config, plugins (with a handshake each), storage, API, logs, ports",
		Long: `doctor checks a node workspace and says exactly what is wrong and how to fix it,
one line per check (pass / FAIL / warn / skip), naming the file, variable,
callable, plugin or log line concerned:

  1. spec (with --spec / --pack): spec_version, name, pack, callables, schedules,
     with the same resolution as init
  2. workspace: required files, .local.env and config/callables.env parse,
     required variables set and typed (intervals, URLs)
  3. plugins: the challenge plugin builds, completes the go-plugin handshake and
     its Describe reports the contract version and every callable routed to it
  4. models: every model plugin builds, handshakes and implements Tick and Predict
     (a crash at start is reported with its stderr)
  5. storage: the database answers (or the SQLite file is writable) and is migrated
  6. running node (when its API answers): /healthz and /reports/* shapes
  7. logs: BAD_IMPLEMENTATION, MULTIPLE_FAILED, MULTIPLE_TIMEOUT, CRASHED and
     handshake failures in the node's recent logs, with model id and line
  8. ports (when the node is not running): the ports dev binds are free

Plugins are built into <node>/.coordinator/bin like dev does, so the two share
builds. Exit code 0 when nothing failed, 1 when a check failed, 2 for bad usage or
a model id that is not a slug.
--json prints the same results as a JSON array of
{group, check, status, message, where, fix, detail}.`,
		Example: `  coordinator doctor
  coordinator doctor --workspace ./btc-up --json
  coordinator doctor --spec spec.json --pack baseline`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cmd.Flags().Changed("pack") && strings.TrimSpace(pack) == "" {
				return UsageError("--pack: expected a pack id, found an empty value")
			}
			if cmd.Flags().Changed("spec") && strings.TrimSpace(spec) == "" {
				return UsageError("--spec: expected a spec file, found an empty value")
			}
			opts := doctor.Options{
				SpecFile: resolvePath(f.WorkDir, spec), Pack: pack,
				Getenv: f.Getenv, SkipPlugins: skipPlugins, ProbeFeed: !offline,
				APIURL: api, APIExplicit: api != "",
				Probe: doctor.Prober{}, SpecCheck: doctor.CheckSpec,
			}
			if api != "" && !strings.HasPrefix(api, "http://") && !strings.HasPrefix(api, "https://") {
				return UsageError("--api: expected an http(s) URL such as http://127.0.0.1:8000, found %q", api)
			}
			var pre []doctor.Result
			start := workspace
			if start == "" {
				start = f.WorkDir
			} else {
				start = resolvePath(f.WorkDir, start)
			}
			node, err := config.FindNodeDir(start)
			switch {
			case err == nil:
				opts.NodeDir = node
			case workspace != "" || (spec == "" && pack == "" && api == ""):
				return UsageError("%v", err)
			default:
				pre = append(pre, doctor.Result{Group: "workspace", Check: "workspace", Status: doctor.Skip, Where: start,
					Message: "no node workspace at or above this directory; workspace, plugin, storage, log and port checks skipped"})
			}
			ctx, cancel := f.SignalContext(cmd.Context())
			defer cancel()
			results := append(pre, doctor.Run(ctx, opts)...)
			if err := ctx.Err(); err != nil && cmd.Context().Err() == nil {
				return &ExitError{Code: 1, Err: fmt.Errorf("doctor interrupted: %w", err)}
			}
			if asJSON {
				if results == nil {
					results = []doctor.Result{}
				}
				b, err := json.MarshalIndent(results, "", "  ")
				if err != nil {
					return fmt.Errorf("encode results: %w", err)
				}
				fmt.Fprintln(f.IO.Out, string(b))
			} else {
				if opts.NodeDir != "" {
					fmt.Fprintf(f.IO.Out, "doctor: workspace %s\n", opts.NodeDir)
				}
				for _, r := range results {
					fmt.Fprintln(f.IO.Out, doctor.Line(r))
				}
				fmt.Fprintln(f.IO.Out, doctor.Summary(results))
			}
			if doctor.Refused(results) {
				return &ExitError{Code: 2} // an unsafe model id or plugin name: bad input
			}
			if doctor.Failed(results) {
				return &ExitError{Code: 1}
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&workspace, "workspace", "", "node workspace (or the workspace folder above it); default: the current directory or its nearest workspace ancestor")
	fl.StringVar(&spec, "spec", "", "also check this init spec file (JSON with \"spec_version\": \"1\")")
	fl.StringVar(&pack, "pack", "", "also check this pack id (overrides the spec's pack, as in init)")
	fl.BoolVar(&asJSON, "json", false, "print the results as a JSON array instead of lines")
	fl.StringVar(&api, "api", "", "base URL of the running node's API (default: http://API_ADDR; when given, a node that does not answer fails)")
	fl.BoolVar(&skipPlugins, "skip-plugins", false, "do not build or handshake the plugins (checks 3-4)")
	fl.BoolVar(&offline, "offline", false, "do not probe the live feed (Pyth or Binance) over the network")
	return cmd
}
