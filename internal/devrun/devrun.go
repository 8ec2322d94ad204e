// Package devrun is `coordinator dev`: run a whole competition node locally
// from a workspace with one command. It loads the workspace, opens and
// migrates the store (embedded SQLite by default), builds the challenge and
// model plugins, starts the node (plugins, workers, report API), replays
// real candles on a simulated clock or follows a live feed, verifies the
// result end to end and prints the leaderboard.
package devrun

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"gopkg.in/natefinch/lumberjack.v2"

	"github.com/crunch-coordinator/coordinator/internal/clock"
	"github.com/crunch-coordinator/coordinator/internal/config"
	"github.com/crunch-coordinator/coordinator/internal/doctor"
	"github.com/crunch-coordinator/coordinator/internal/feed"
	"github.com/crunch-coordinator/coordinator/internal/feed/replay"
	"github.com/crunch-coordinator/coordinator/internal/layout"
	"github.com/crunch-coordinator/coordinator/internal/node"
	"github.com/crunch-coordinator/coordinator/internal/pluginbin"
	"github.com/crunch-coordinator/coordinator/internal/pluginbuild"
	"github.com/crunch-coordinator/coordinator/internal/redact"
	"github.com/crunch-coordinator/coordinator/internal/store/dburl"
)

// Feed names accepted by --feed.
const (
	FeedPyth    = "pyth"
	FeedBinance = "binance"
	FeedReplay  = "replay"
)

// Options are dev's flags and IO.
type Options struct {
	NodeDir    string
	Feed       string // pyth (default), binance or replay
	ReplayFile string
	// Speed: simulated seconds per wall second in replay; 0 = as fast as possible.
	Speed           float64
	From, Until     time.Time
	DBURL           string
	APIAddr         string
	SkipBuild       bool
	SkipE2E         bool
	TailLogs        bool
	ExitAfterVerify bool
	// Watch rebuilds and reloads a plugin when its sources change, while
	// the node and the other plugins keep running.
	Watch bool
	// VerifyTimeout bounds the live end-to-end wait (default 10 min).
	VerifyTimeout time.Duration
	// ShiftToNow moves every time of a replay by a whole number of bars so
	// that its last replayed candle closes at the start of the run (the
	// report UI asks for the last 30 days of the browser's clock). From and
	// Until stay in the file's times. Only a replay on its own fresh
	// database (the default store) may be shifted, so shifted times never
	// mix with live data.
	ShiftToNow bool
	// Now is the wall clock ShiftToNow reads (time.Now when nil).
	Now         func() time.Time
	Getenv      func(string) string
	Out, ErrOut io.Writer
	IsTerminal  bool
}

// ErrVerifyFailed is returned (wrapped) when the end-to-end check fails.
var ErrVerifyFailed = errors.New("end-to-end verification failed")

// Run runs dev until ctx is done (or, with ExitAfterVerify, until the
// verification is done). Plugins are stopped before it returns.
func Run(ctx context.Context, o Options) error {
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	if o.Feed == "" {
		o.Feed = FeedPyth
	}
	p := printer{out: o.Out}
	if o.Watch && o.SkipBuild {
		return errors.New("--watch rebuilds plugins: it cannot be combined with --skip-build")
	}
	ws, err := config.LoadWorkspace(o.NodeDir, o.Getenv)
	if err != nil {
		return fmt.Errorf("workspace %s has configuration errors (run `coordinator doctor` for fixes):\n%w", o.NodeDir, err)
	}
	if o.APIAddr != "" {
		ws.Settings.APIAddr = o.APIAddr
	}
	paths := layout.Of(ws.NodeDir)
	logDir := paths.LogDir()
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", logDir, err)
	}
	unlock, err := lockWorkspace(ws.NodeDir)
	if err != nil {
		return err
	}
	defer unlock()
	// The node log rotates at NodeLogMaxMB (lumberjack keeps
	// NodeLogBackups older files beside it: node-<time>.log).
	logFile := &lumberjack.Logger{Filename: paths.NodeLog(), MaxSize: NodeLogMaxMB, MaxBackups: NodeLogBackups}
	defer logFile.Close()
	log := newLogger(ws.Settings, logFile, o)

	feedCfg, rp, err := feedConfig(ws, o)
	if err != nil {
		return err
	}

	// Store. A replay on the default store gets a fresh SQLite file of its
	// own (layout.Layout.ReplayDatabase), so re-running it replays from scratch and never
	// touches the live database; an explicit --db / DATABASE_URL is used as is.
	dbURL := o.DBURL
	fresh := false
	switch {
	case dbURL != "":
	case rp != nil && ws.Settings.DatabaseURL == "":
		path := paths.ReplayDatabase()
		for _, suffix := range []string{"", "-wal", "-shm"} {
			if err := os.Remove(path + suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("reset the replay database %s: %w", path, err)
			}
		}
		dbURL, fresh = "sqlite://"+path, true
	default:
		dbURL = ws.DatabaseURL()
	}
	var shift time.Duration
	if o.ShiftToNow {
		if rp, shift, err = shiftToNow(rp, fresh, paths.ReplayDatabase(), &o); err != nil {
			return err
		}
	}
	st, err := dburl.Open(ctx, dbURL)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		return fmt.Errorf("migrate %s: %w", dburl.Redact(dbURL), err)
	}
	cur, _, _ := st.SchemaVersion(ctx)
	note := ""
	if fresh {
		note = ", fresh for this replay"
	} else if n, err := st.CountPredictions(ctx, ""); err == nil && n > 0 {
		note = fmt.Sprintf(", already holds %d predictions: slots predicted before are skipped", n)
	}
	p.linef("store     %s %s (schema v%d%s)", st.Backend(), dburl.Redact(dbURL), cur, note)

	// Plugins.
	bins, err := buildPlugins(ctx, ws, o, p)
	if err != nil {
		return err
	}

	// Clock and feed.
	var clk clock.Clock = clock.Wall{}
	var sim *clock.Simulated
	if rp != nil {
		start := o.From
		if start.IsZero() {
			start = rp.First()
		}
		sim = clock.NewSimulated(start)
		clk = sim
	}
	p.linef("starting  challenge plugin and %d model plugins", len(ws.Models))
	n, err := node.Start(ctx, node.Config{
		Workspace: ws, Store: st, Clock: clk, Logger: log,
		ChallengeBinary: bins.Challenge, ModelBinaries: bins.Models,
		ChallengeSHA256: bins.ChallengeSHA256, ModelSHA256: bins.ModelSHA256, Feed: feedCfg, LiveFeed: rp == nil,
		PluginEnv: []string{"COORDINATOR_PLUGIN_LOG_LEVEL=" + ws.Settings.LogLevel},
	})
	if err != nil {
		return err
	}
	defer n.Close()
	for _, svc := range []string{node.ServicePredict, node.ServiceScore, node.ServiceReport} {
		if name, ok := n.Replaced()[svc]; ok {
			p.linef("service   %s replaced by the factory %s (extensions/)", svc, name)
		}
	}
	if rp == nil {
		if rec, err := n.FeedProbe(); err != nil {
			p.linef("feed      %s did not deliver a record yet (%v); predictions wait until it does", feedCfg.Provider, err)
		} else {
			p.linef("feed      %s %s %s at %s", feedCfg.Provider, rec.Asset, string(rec.Values), rec.TsEvent.Format(time.RFC3339))
		}
	}

	// Services: the report API, and live the feed poller and the loops; a
	// replay drives the cycles itself.
	if err := n.StartServices(ctx, node.RunOptions{Replay: rp != nil}); err != nil {
		return err
	}
	defer n.Drain(node.DefaultDrainTimeout)
	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer stop()
	apiURL := "http://" + n.APIAddr().String()
	p.linef("api       %s", apiURL)
	printModels(p, n)
	if o.Watch {
		p.linef("watch     watching the workspace sources; a change rebuilds and reloads only the plugin it affects")
		wg.Add(1)
		go func() { defer wg.Done(); watch(runCtx, n, ws, p) }()
	}

	// Run.
	var verify []doctor.Result
	if rp != nil {
		res, err := runReplay(runCtx, n, rp, sim, o, p)
		if err != nil {
			if ctx.Err() != nil {
				p.linef("stopping  (replay interrupted at %s; stopping plugins)", res.SimTime.Format(time.RFC3339))
			}
			return err
		}
		replayed := "no candles"
		if res.Candles > 0 {
			replayed = replayRange(rp, res.FirstCandle, res.LastCandle)
		}
		p.linef("replayed  %s: %d predict cycles, %d predictions, %d scored, %d unresolved, %d failed cycles",
			replayed, res.Cycles, res.Predictions, res.Scored, res.Unresolved, res.CycleErrors)
		if o.ShiftToNow {
			p.linef("replayed  times shifted by %d days %s (--shift-to-now): the file's %s is stored as %s, in this replay's database only",
				shift/(24*time.Hour), shift%(24*time.Hour), res.LastCandle.Add(-shift).Format(time.RFC3339), res.LastCandle.Format(time.RFC3339))
		}
		if !o.SkipE2E {
			verify = doctor.VerifyNode(ctx, nil, apiURL, modelIDs(ws)...)
		}
	} else {
		stopStatus := startLiveStatus(runCtx, n, o, p)
		defer stopStatus()
		if !o.SkipE2E {
			verify, err = waitVerified(runCtx, apiURL, modelIDs(ws), o.VerifyTimeout, p)
			if err != nil {
				return err
			}
		}
	}
	printModels(p, n)
	verified := true
	if !o.SkipE2E {
		verified = printVerify(p, verify)
		printLeaderboard(ctx, p, apiURL)
	}
	if o.ExitAfterVerify {
		if !verified {
			return fmt.Errorf("%w: see the failed checks above and %s", ErrVerifyFailed, paths.NodeLog())
		}
		return nil
	}
	if rp != nil {
		p.linef("replay done; the report API stays up at %s until Ctrl-C", apiURL)
	} else {
		p.linef("running; Ctrl-C stops the node")
	}
	select {
	case <-ctx.Done():
	case err := <-n.Failed():
		return err
	}
	p.linef("stopping  (finishing the in-flight cycle, stopping plugins)")
	return nil
}

// shiftToNow applies Options.ShiftToNow: it returns rp shifted so the last
// candle of the requested range closes at o.Now(), moves o.From and
// o.Until with it, and refuses a live feed or a database that is not the
// replay's own fresh one (fresh false; replayDB names that one).
func shiftToNow(rp *replay.Replay, fresh bool, replayDB string, o *Options) (*replay.Replay, time.Duration, error) {
	if rp == nil {
		return nil, 0, fmt.Errorf("%w: --shift-to-now moves a replay's times; it needs --feed replay, found --feed %s", config.ErrInvalid, o.Feed)
	}
	if !fresh {
		return nil, 0, fmt.Errorf("%w: --shift-to-now stores shifted times, so it only runs on the replay's own fresh database (%s), not on --db or DATABASE_URL: drop the database setting or the flag",
			config.ErrInvalid, replayDB)
	}
	cs := rp.Candles(o.From, o.Until)
	if len(cs) == 0 {
		return rp, 0, nil // nothing to replay; the replay says so
	}
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	shifted, d := rp.ShiftToEnd(cs[len(cs)-1].Time, now().UTC())
	if !o.From.IsZero() {
		o.From = o.From.Add(d)
	}
	if !o.Until.IsZero() {
		o.Until = o.Until.Add(d)
	}
	return shifted, d, nil
}

// feedConfig builds the feed settings: --feed overrides FEED_PROVIDER; when
// it names another provider than .local.env, FEED_KIND and FEED_GRANULARITY
// follow the new provider's defaults. Replay opens and validates the CSV.
func feedConfig(ws *config.Workspace, o Options) (feed.Config, *replay.Replay, error) {
	env := map[string]string{}
	for k, v := range ws.Settings.Env {
		env[k] = v
	}
	switch o.Feed {
	case FeedPyth, FeedBinance, FeedReplay:
	default:
		return feed.Config{}, nil, fmt.Errorf("--feed: expected pyth, binance or replay, found %q", o.Feed)
	}
	if !strings.EqualFold(strings.TrimSpace(env["FEED_PROVIDER"]), o.Feed) {
		delete(env, "FEED_KIND")
		delete(env, "FEED_GRANULARITY")
	}
	env["FEED_PROVIDER"] = o.Feed
	var rp *replay.Replay
	if o.Feed == FeedReplay {
		if o.ReplayFile == "" {
			return feed.Config{}, nil, errors.New("--feed replay needs --replay-file FILE (a CSV of candles: open_time,open,high,low,close,volume)")
		}
		env["FEED_REPLAY_FILE"] = o.ReplayFile
		delete(env, "FEED_KIND")
		delete(env, "FEED_GRANULARITY")
	}
	cfg, err := feed.ConfigFromEnv(func(k string) string { return env[k] })
	if err != nil {
		return cfg, nil, fmt.Errorf("%w: feed settings:\n%w", config.ErrInvalid, err)
	}
	if o.Feed == FeedReplay {
		asset := "BTC"
		if len(cfg.Assets) > 0 {
			asset = cfg.Assets[0]
		}
		rp, err = replay.Open(o.ReplayFile, asset)
		if err != nil {
			return cfg, nil, err
		}
		cfg.Granularity = rp.Granularity()
	}
	return cfg, rp, nil
}

// buildPlugins builds (or, with SkipBuild, finds) every plugin binary in
// the layout of internal/pluginbin (shared with doctor and serve).
func buildPlugins(ctx context.Context, ws *config.Workspace, o Options, p printer) (pluginbin.Binaries, error) {
	bins, err := pluginbin.Build(ctx, ws, true, o.SkipBuild, func(e pluginbuild.Event) {
		switch e.Phase {
		case "skip":
			p.linef("build     %-28s up to date", e.Target.Name)
		case "done":
			p.linef("build     %-28s built in %s", e.Target.Name, e.Duration.Round(10*time.Millisecond))
		case "build":
			if o.IsTerminal {
				p.linef("build     %-28s building…", e.Target.Name)
			}
		}
	})
	if err != nil {
		return bins, fmt.Errorf("%w\n(plugin folders come from %s and %s; `coordinator doctor` checks them and names the fix)", err, config.CallablesFile, config.ModelsFile)
	}
	if o.SkipBuild {
		p.linef("build     skipped (--skip-build)")
	}
	return bins, nil
}

// Size cap of dev's node log: it rotates at NodeLogMaxMB MiB and keeps
// NodeLogBackups rotated files, so the logs take at most
// (1+NodeLogBackups)*NodeLogMaxMB MiB.
const (
	NodeLogMaxMB   = 50
	NodeLogBackups = 3
)

// newLogger writes JSON lines to file (and, when tailing, text or JSON to
// o.ErrOut), with the values of the secret settings (config.Secrets)
// hidden from everything, plugin output included.
func newLogger(s config.Settings, file io.Writer, o Options) hclog.Logger {
	secrets := config.SecretValues(s.Env)
	level := hclog.LevelFromString(s.LogLevel)
	if level == hclog.NoLevel {
		level = hclog.Info
	}
	base := hclog.NewInterceptLogger(&hclog.LoggerOptions{
		Name: "coordinator", Level: level, Output: redact.NewWriter(file, secrets...), JSONFormat: true, TimeFormat: time.RFC3339Nano,
	})
	if o.TailLogs || !o.IsTerminal {
		base.RegisterSink(hclog.NewSinkAdapter(&hclog.LoggerOptions{
			Level: level, Output: redact.NewWriter(o.ErrOut, secrets...), JSONFormat: s.LogFormat == "json", Color: hclog.ColorOff,
		}))
	}
	return base
}

// waitVerified polls the end-to-end check until it passes or timeout.
func waitVerified(ctx context.Context, apiURL string, models []string, timeout time.Duration, p printer) ([]doctor.Result, error) {
	if timeout <= 0 {
		timeout = 10 * time.Minute
	}
	deadline := time.Now().Add(timeout)
	var last []doctor.Result
	for {
		last = doctor.VerifyNode(ctx, nil, apiURL, models...)
		if !doctor.Failed(last) || time.Now().After(deadline) {
			return last, nil
		}
		t := time.NewTimer(5 * time.Second)
		select {
		case <-ctx.Done():
			t.Stop()
			return last, ctx.Err()
		case <-t.C:
		}
	}
}

func printModels(p printer, n *node.Node) {
	states := n.Models()
	sort.Slice(states, func(i, j int) bool { return states[i].ID < states[j].ID })
	for _, m := range states {
		state := "running"
		switch {
		case m.Stopped:
			state = "STOPPED " + string(m.Reason)
		case !m.Running:
			state = "not running"
		}
		extra := ""
		if m.Restarts > 0 {
			extra = fmt.Sprintf(", %d restarts", m.Restarts)
		}
		if m.LastError != "" && (m.Stopped || !m.Running) {
			extra += ": " + m.LastError
		}
		p.linef("model     %-22s %s%s", m.ID, state, extra)
	}
}

func printVerify(p printer, rs []doctor.Result) bool {
	ok := true
	for _, r := range rs {
		mark := "ok  "
		if r.Status == doctor.Fail {
			mark, ok = "FAIL", false
		}
		line := fmt.Sprintf("verify    %s %s: %s", mark, r.Check, r.Message)
		if r.Status == doctor.Fail && r.Fix != "" {
			line += " (fix: " + r.Fix + ")"
		}
		p.linef("%s", line)
	}
	if ok {
		p.linef("verify    PASSED: scored predictions and a ranked leaderboard are served")
	}
	return ok
}

func printLeaderboard(ctx context.Context, p printer, apiURL string) {
	rows, err := fetchLeaderboard(ctx, apiURL)
	if err != nil {
		p.linef("leaderboard unavailable: %v", err)
		return
	}
	p.linef("")
	p.linef("%-5s %-24s %12s %12s %12s", "rank", "model", "recent 24h", "steady 72h", "anchor 7d")
	for _, r := range rows {
		rank := "-" // no score in the ranking window: no rank
		if f, ok := r["rank"].(float64); ok {
			rank = fmt.Sprintf("%.0f", f)
		}
		p.linef("%-5s %-24s %12s %12s %12s", rank, r["model_id"], num(r["score_recent"]), num(r["score_steady"]), num(r["score_anchor"]))
	}
	p.linef("")
}

func num(v any) string {
	if f, ok := v.(float64); ok {
		return fmt.Sprintf("%.4f", f)
	}
	return "-"
}

// httpClient is used for the API calls dev makes itself.
var httpClient = &http.Client{Timeout: 5 * time.Second}

// modelIDs lists the configured model ids.
func modelIDs(ws *config.Workspace) []string {
	out := make([]string, len(ws.Models))
	for i, m := range ws.Models {
		out[i] = m.ID
	}
	return out
}
