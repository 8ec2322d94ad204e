package cli

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/crunch-coordinator/coordinator/internal/config"
	"github.com/crunch-coordinator/coordinator/internal/devrun"
)

func init() { register("dev", newDevCmd) }

func newDevCmd(f *Factory) *cobra.Command {
	var (
		o                devrun.Options
		workspace, speed string
		from, until      string
	)
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run the whole node locally: build plugins, migrate, start, verify end to end",
		Long: `dev runs a competition node from a workspace with one command: it loads
.local.env, opens the store (an embedded SQLite file under .coordinator/ unless
--db or DATABASE_URL names PostgreSQL), migrates it, builds the challenge plugin
and every model plugin, starts them, runs the predict, score, report and
checkpoint workers, verifies the result end to end (scored predictions and a
ranked leaderboard served by the API) and prints the leaderboard.

The default feed is live Pyth prices. --feed replay replays a CSV of real
candles on a simulated clock (--speed max: as fast as the plugins answer).
A replay on the default store writes a fresh .coordinator/replay.db each time;
live runs keep .coordinator/coordinator.db. One dev runs per workspace.
--shift-to-now moves a replay's times so its data ends now, for the report
UI, which always shows the last 30 days of the browser's clock; the shifted
times stay in that replay's own database.`,
		Example: `  # live Pyth prices (needs internet access)
  coordinator dev

  # replay a week of real candles as fast as possible, verify, exit
  coordinator dev --feed replay --replay-file /path/to/binance-us-BTCUSDT-1m-2023-03-01..21.csv \
      --speed max --until 2023-03-08T00:00:00Z --exit-after-verify

  # replay it as the last week up to now, to browse it in the report UI
  coordinator dev --replay-file candles.csv --until 2023-03-08T00:00:00Z --shift-to-now`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			start := workspace
			if start == "" {
				start = f.WorkDir
			} else if !filepath.IsAbs(start) {
				start = filepath.Join(f.WorkDir, start)
			}
			node, err := config.FindNodeDir(start)
			if err != nil {
				return UsageError("%v", err)
			}
			o.NodeDir = node
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
			if o.ReplayFile != "" && !filepath.IsAbs(o.ReplayFile) {
				o.ReplayFile = filepath.Join(f.WorkDir, o.ReplayFile)
			}
			if o.ReplayFile != "" && o.Feed == "" {
				o.Feed = devrun.FeedReplay
			}
			o.Getenv, o.Out, o.ErrOut, o.IsTerminal = f.Getenv, f.IO.Out, f.IO.ErrOut, f.IO.IsTerminal
			// A workspace replacing a service runs in the node binary built
			// with its extensions/ (configuration errors are left to the
			// in-process path, which reports them all).
			if ws, err := config.LoadWorkspace(node, f.Getenv); err == nil {
				if handled, err := runExtended(cmd, f, node, ws.Factories(), o.SkipBuild, f.IO.Out); handled {
					return err
				}
			}
			ctx, cancel := f.SignalContext(cmd.Context())
			defer cancel()
			err = devrun.Run(ctx, o)
			if errors.Is(err, devrun.ErrVerifyFailed) {
				return &ExitError{Code: 1, Err: err}
			}
			if errors.Is(err, config.ErrInvalid) {
				return usageErr(err) // a bad or unknown setting: exit code 2
			}
			if ctx.Err() != nil && cmd.Context().Err() == nil && err != nil && errors.Is(err, ctx.Err()) {
				return nil // stopped by Ctrl-C / SIGTERM: a clean shutdown
			}
			return err
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&workspace, "workspace", "", "node workspace directory (default: the current directory or its nearest workspace ancestor)")
	fl.StringVar(&o.Feed, "feed", "", "feed: pyth (live, default), binance (live) or replay")
	fl.StringVar(&o.ReplayFile, "replay-file", "", "CSV of candles to replay (implies --feed replay)")
	fl.StringVar(&speed, "speed", "max", "replay speed: N (N× real time) or max")
	fl.StringVar(&from, "from", "", "replay the candles opening at or after this time (RFC 3339 or YYYY-MM-DD, UTC)")
	fl.StringVar(&until, "until", "", "replay the candles opening at or before this time (RFC 3339 or YYYY-MM-DD, UTC)")
	fl.StringVar(&o.DBURL, "db", "", "database URL (default: DATABASE_URL, else SQLite under .coordinator/)")
	fl.StringVar(&o.APIAddr, "api-addr", "", "report API listen address (default: API_ADDR, else 127.0.0.1:8000)")
	fl.BoolVar(&o.SkipBuild, "skip-build", false, "use the plugin binaries of the previous build")
	fl.BoolVar(&o.SkipE2E, "skip-e2e", false, "skip the end-to-end verification")
	fl.BoolVar(&o.TailLogs, "tail-logs", false, "also print the node's log lines (always on when output is not a terminal)")
	fl.BoolVar(&o.ExitAfterVerify, "exit-after-verify", false, "exit after the verification (0 passed, 1 failed) instead of running until Ctrl-C")
	fl.BoolVar(&o.Watch, "watch", false, "on a source change, rebuild and restart only the plugin that changed while the node keeps running")
	fl.BoolVar(&o.ShiftToNow, "shift-to-now", false, "replay: move every replayed time by whole bars so the data ends now (the report UI shows the last 30 days); --from/--until stay in the file's times; only on the replay's own database")
	fl.DurationVar(&o.VerifyTimeout, "verify-timeout", 10*time.Minute, "live mode: how long to wait for the end-to-end verification to pass")
	return cmd
}

// parseSpeed reads "max" (0) or a positive number.
func parseSpeed(s string) (float64, error) {
	s = strings.TrimSpace(strings.ToLower(s))
	if s == "" || s == "max" {
		return 0, nil
	}
	v, err := strconv.ParseFloat(strings.TrimSuffix(s, "x"), 64)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("expected a positive number or max, found %q", s)
	}
	return v, nil
}

// parseTimeFlag reads RFC 3339 or a date (UTC); empty is the zero time.
func parseTimeFlag(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("expected RFC 3339 (2023-03-08T00:00:00Z) or a date (2023-03-08), found %q", s)
}
