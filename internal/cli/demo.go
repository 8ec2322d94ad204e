package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/crunch-coordinator/coordinator/internal/buildinfo"
	"github.com/crunch-coordinator/coordinator/internal/devrun"
	"github.com/crunch-coordinator/coordinator/internal/scaffold"
)

func init() { register("demo", newDemoCmd) }

// Demo workspace: the btc-up challenge of the baseline pack.
const (
	DemoName = "btc-up"
	DemoPack = "baseline"
)

func newDemoCmd(f *Factory) *cobra.Command {
	var (
		output, speed, from, until string
		models                     string
		force, start               bool
		o                          devrun.Options
	)
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Create the btc-up demo workspace (baseline pack) and optionally run it",
		Long: `demo renders the btc-up workspace of the baseline pack (as ` + "`coordinator init btc-up\n--pack baseline`" + ` would) into --output and prints the next command. With
--start it then runs ` + "`coordinator dev`" + ` in the new node workspace: by default on the
live Pyth feed; --feed, --replay-file, --speed, --from, --until, --exit-after-verify,
--skip-e2e, --db and --api-addr are passed to dev (so the demo also runs offline,
replaying a CSV of candles).`,
		Example: `  coordinator demo
  coordinator demo --output /tmp --force --start
  coordinator demo --start --replay-file ../shared/data/binance-us-BTCUSDT-1m-2023-03-01..21.csv \
      --until 2023-03-02 --exit-after-verify`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output == "" {
				return UsageError("--output: expected a folder, found an empty value")
			}
			var err error
			if o.Speed, err = parseSpeed(speed); err != nil {
				return UsageError("--speed: %v", err)
			}
			if o.From, err = parseTimeFlag(from); err != nil {
				return UsageError("--from: %v", err)
			}
			if o.Until, err = parseTimeFlag(until); err != nil {
				return UsageError("--until: %v", err)
			}
			if !o.From.IsZero() && !o.Until.IsZero() && o.Until.Before(o.From) {
				return UsageError("--until %s is before --from %s", until, from)
			}
			devFlags := []string{"feed", "replay-file", "speed", "from", "until", "exit-after-verify", "skip-e2e", "db", "api-addr"}
			if !start {
				for _, name := range devFlags {
					if cmd.Flags().Changed(name) {
						return UsageError("--%s is a dev option: it needs --start", name)
					}
				}
			}
			src, err := scaffold.DetectSourceDir(f.Getenv)
			if err != nil {
				return &ExitError{Code: 2, Err: err}
			}
			version, _ := buildinfo.Get()
			ctx, cancel := f.SignalContext(cmd.Context())
			defer cancel()
			res, err := scaffold.Init(ctx, scaffold.Options{
				Request:   scaffold.Request{Name: DemoName, Pack: DemoPack, Models: models},
				OutputDir: resolvePath(f.WorkDir, output),
				Force:     force,
				SDK:       scaffold.SDKSource{SourceDir: src, Version: version},
			})
			if err != nil {
				if scaffold.IsInputError(err) {
					return &ExitError{Code: 2, Err: fmt.Errorf("demo failed: %w", err)}
				}
				return &ExitError{Code: 1, Err: fmt.Errorf("demo failed: %w", err)}
			}
			fmt.Fprintf(f.IO.Out, "Demo workspace ready: %s\n", res.NodeDir)
			if !start {
				fmt.Fprintf(f.IO.Out, "Next: cd %s && coordinator dev\n", res.NodeDir)
				return nil
			}
			fmt.Fprintf(f.IO.Out, "Starting: coordinator dev (in %s)\n", res.NodeDir)
			o.NodeDir = res.NodeDir
			o.ReplayFile = resolvePath(f.WorkDir, o.ReplayFile)
			if o.ReplayFile != "" && o.Feed == "" {
				o.Feed = devrun.FeedReplay
			}
			o.Getenv, o.Out, o.ErrOut, o.IsTerminal = f.Getenv, f.IO.Out, f.IO.ErrOut, f.IO.IsTerminal
			err = devrun.Run(ctx, o)
			switch {
			case err == nil:
				return nil
			case errors.Is(err, devrun.ErrVerifyFailed):
				return &ExitError{Code: 1, Err: err}
			case ctx.Err() != nil && cmd.Context().Err() == nil && errors.Is(err, ctx.Err()):
				return nil // stopped by Ctrl-C / SIGTERM
			}
			return &ExitError{Code: 1, Err: fmt.Errorf("demo failed: %w", err)}
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&output, "output", ".", "parent folder of the btc-up workspace")
	fl.BoolVar(&force, "force", false, "replace an existing btc-up workspace (only after the new one rendered)")
	fl.BoolVar(&start, "start", false, "run `coordinator dev` in the new workspace")
	fl.StringVar(&models, "models", scaffold.ModelsBoth, "example models registered in config/models.json: go, python (needs python3-grpcio and python3-protobuf) or both")
	fl.StringVar(&o.Feed, "feed", "", "with --start: pyth (live, default), binance (live) or replay")
	fl.StringVar(&o.ReplayFile, "replay-file", "", "with --start: CSV of candles to replay (implies --feed replay)")
	fl.StringVar(&speed, "speed", "max", "with --start: replay speed, N (N× real time) or max")
	fl.StringVar(&from, "from", "", "with --start: replay from this time (RFC 3339 or YYYY-MM-DD, UTC)")
	fl.StringVar(&until, "until", "", "with --start: replay until this time (RFC 3339 or YYYY-MM-DD, UTC)")
	fl.BoolVar(&o.ExitAfterVerify, "exit-after-verify", false, "with --start: exit after the end-to-end verification (0 passed, 1 failed)")
	fl.BoolVar(&o.SkipE2E, "skip-e2e", false, "with --start: skip the end-to-end verification")
	fl.StringVar(&o.DBURL, "db", "", "with --start: database URL (default: SQLite under .coordinator/)")
	fl.StringVar(&o.APIAddr, "api-addr", "", "with --start: report API listen address (default 127.0.0.1:8000)")
	return cmd
}
