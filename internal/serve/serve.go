// Package serve is `coordinator serve predict|score|report|all`: the
// production entry points of a node. Settings come from the process
// environment only (reference-system.md 12, internal/config); the config
// files (callables.env, models.json, scheduled_prediction_configs.json)
// from the node workspace. Logs are structured hclog lines on the given
// writer (text, or JSON with LOG_FORMAT=json). serve refuses a database
// whose schema is behind (it never migrates; see internal/dbmigrate) and
// shuts down gracefully: on cancellation the in-flight cycles finish
// (bounded by Options.DrainTimeout), the report API drains its requests,
// then the plugins stop.
//
// Several serve processes may share one PostgreSQL database: predictions
// are inserted idempotently, scoring claims rows with SKIP LOCKED and the
// leaderboard and checkpoint loops run under store leader locks.
package serve

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/crunch-coordinator/coordinator/internal/config"
	"github.com/crunch-coordinator/coordinator/internal/dbmigrate"
	"github.com/crunch-coordinator/coordinator/internal/feed"
	"github.com/crunch-coordinator/coordinator/internal/feed/providers"
	"github.com/crunch-coordinator/coordinator/internal/layout"
	"github.com/crunch-coordinator/coordinator/internal/node"
	"github.com/crunch-coordinator/coordinator/internal/pluginbin"
	"github.com/crunch-coordinator/coordinator/internal/pluginbuild"
)

// Role names accepted by `coordinator serve`.
const (
	// RolePredict: the live feed poller and the predict loop (challenge
	// and model plugins).
	RolePredict = "predict"
	// RoleScore: the score, leaderboard and checkpoint loops (challenge
	// plugin only).
	RoleScore = "score"
	// RoleReport: the report API (challenge plugin only, for the schema).
	RoleReport = "report"
	// RoleAll: every role in one process.
	RoleAll = "all"
)

// Roles lists the accepted role names.
var Roles = []string{RolePredict, RoleScore, RoleReport, RoleAll}

// DefaultDrainTimeout bounds how long in-flight cycles may run after a
// shutdown request before they are cancelled.
const DefaultDrainTimeout = 30 * time.Second

// NodeRoles maps a serve role name to the node roles it runs. An unknown
// name is an error listing the accepted ones.
func NodeRoles(role string) ([]node.Role, error) {
	switch role {
	case RolePredict:
		return []node.Role{node.RolePredict}, nil
	case RoleScore:
		return []node.Role{node.RoleScore}, nil
	case RoleReport:
		return []node.Role{node.RoleReport}, nil
	case RoleAll:
		return append([]node.Role(nil), node.AllRoles...), nil
	}
	return nil, fmt.Errorf("role %q: expected one of %s", role, strings.Join(Roles, ", "))
}

// Options configure Run.
type Options struct {
	// Role is one of Roles.
	Role string
	// NodeDir is the node workspace (crunch-node-<name>), absolute.
	NodeDir string
	// SkipBuild uses the plugin binaries already in <node>/.coordinator/bin.
	SkipBuild bool
	// Getenv reads the process environment (os.Getenv in production).
	Getenv func(string) string
	// Log receives the structured log (stderr in production).
	Log io.Writer
	// DrainTimeout bounds the in-flight cycles after shutdown starts
	// (default DefaultDrainTimeout).
	DrainTimeout time.Duration
	// Ready, when set, is called once every loop runs; api is the report
	// API's bound address (nil without the report role).
	Ready func(api net.Addr)
}

// Run serves the role until ctx is done, then shuts down gracefully and
// returns nil. Errors: ErrConfig (wrapped) for a bad variable, config file
// or role; dbmigrate.ErrBehind (wrapped) for an unmigrated database;
// otherwise the store, build, plugin or listen error, naming what failed.
func Run(ctx context.Context, o Options) error {
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	if o.Log == nil {
		o.Log = os.Stderr
	}
	if o.DrainTimeout <= 0 {
		o.DrainTimeout = DefaultDrainTimeout
	}
	roles, err := NodeRoles(o.Role)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	ws, err := LoadWorkspace(o.NodeDir, o.Getenv)
	if err != nil {
		return err
	}
	log := NewLogger(ws.Settings, o.Log).With("role", o.Role)
	if note := LocalEnvNote(ws.NodeDir, o.Getenv); note != "" {
		log.Warn(note)
	}
	feedCfg, err := feed.ConfigFromEnv(o.Getenv)
	if err != nil {
		return fmt.Errorf("%w: environment: %w", ErrConfig, err)
	}
	has := func(r node.Role) bool { return node.Config{Roles: roles}.HasRole(r) }

	st, status, err := dbmigrate.OpenMigrated(ctx, ws.DatabaseURL())
	if err != nil {
		return err
	}
	defer st.Close()
	log.Info("store ready", "backend", status.Backend, "url", status.URL, "schema_version", status.Current)

	bins, err := buildPlugins(ctx, ws, has(node.RolePredict), o.SkipBuild, log)
	if err != nil {
		return err
	}

	// stop ends the loops (a signal, or a fatal API error); work is the
	// context of the cycles themselves, cancelled only DrainTimeout after
	// stop so an in-flight cycle can finish.
	stop, stopAll := context.WithCancel(ctx)
	defer stopAll()
	work, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	clk := drainClock{stop: stop}

	cfg := node.Config{
		Roles: roles, Workspace: ws, Store: st, Clock: clk, Logger: log,
		ChallengeBinary: bins.Challenge, ModelBinaries: bins.Models, Feed: feedCfg,
		PluginEnv: []string{"COORDINATOR_PLUGIN_LOG_LEVEL=" + ws.Settings.LogLevel},
	}
	var poller *feed.Poller
	if has(node.RolePredict) {
		prov, err := providers.New(feedCfg, providers.Options{Clock: clk})
		if err != nil {
			return fmt.Errorf("%w: feed: %w", ErrConfig, err)
		}
		poller, err = feed.NewPoller(feedCfg.PollerOptions(prov, st, clk, log.Named("feed")))
		if err != nil {
			return fmt.Errorf("%w: feed: %w", ErrConfig, err)
		}
		cfg.Freshness = poller
		cfg.FeedHealth = node.PollerHealth(poller)
		node.ProbeFeed(ctx, feedCfg, log)
	}
	n, err := node.Start(ctx, cfg)
	if err != nil {
		return err
	}
	defer n.Close()

	var wg sync.WaitGroup
	defer wg.Wait()
	defer stopAll()
	var api net.Addr
	apiErr := make(chan error, 1)
	if has(node.RoleReport) {
		addrc := make(chan net.Addr, 1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := n.ListenAndServe(stop, ws.Settings.APIAddr, func(a net.Addr) { addrc <- a })
			if err != nil {
				apiErr <- err
				stopAll()
			}
		}()
		select {
		case api = <-addrc:
			log.Info("report API listening", "addr", api.String())
		case err := <-apiErr:
			return err
		case <-ctx.Done():
			return nil
		}
	}
	if poller != nil {
		// The poller stops with the shutdown request: an interrupted fetch
		// loses nothing (pages are stored as they arrive, idempotently).
		probeFeed(stop, poller, feedCfg, log)
		wg.Add(1)
		go func() { defer wg.Done(); _ = poller.Run(stop) }()
	}
	wg.Add(1)
	go func() { defer wg.Done(); _ = n.RunWorkers(work) }()
	log.Info("serving", "roles", roleList(roles), "models", len(n.Models()), "drain_timeout", o.DrainTimeout)
	if o.Ready != nil {
		o.Ready(api)
	}

	<-stop.Done()
	log.Info("shutting down: finishing in-flight cycles, then stopping plugins", "drain_timeout", o.DrainTimeout)
	drain := time.AfterFunc(o.DrainTimeout, func() {
		log.Warn("drain timeout reached: cancelling the in-flight cycles", "drain_timeout", o.DrainTimeout)
		cancelWork()
	})
	wg.Wait()
	drain.Stop()
	if err := n.Close(); err != nil {
		log.Warn("stopping plugins", "error", err)
	}
	select {
	case err := <-apiErr:
		return err
	default:
	}
	log.Info("stopped")
	return nil
}

// probeFeed runs the poller's first sync at start-up so an unreachable
// feed is reported at once, with the URL and the consequence; the poller
// keeps retrying with backoff afterwards and predict cycles skip while the
// feed is stale.
func probeFeed(ctx context.Context, p *feed.Poller, c feed.Config, log hclog.Logger) {
	err := p.Sync(ctx)
	if err == nil || ctx.Err() != nil {
		return
	}
	log.Error("feed unreachable at start-up: no predictions are made until it delivers fresh data (the poller keeps retrying with backoff)",
		"provider", c.Provider, "url", feedURL(c), "assets", strings.Join(c.Assets, ","), "error", err)
}

func feedURL(c feed.Config) string {
	switch c.Provider {
	case feed.ProviderPyth:
		return c.PythHermesURL
	case feed.ProviderBinance:
		return c.BinanceAPIURL
	case feed.ProviderReplay:
		return c.ReplayFile
	}
	return ""
}

func roleList(roles []node.Role) string {
	s := make([]string, len(roles))
	for i, r := range roles {
		s[i] = string(r)
	}
	return strings.Join(s, ",")
}

// NewLogger returns the serve logger: hclog lines on w at LOG_LEVEL, JSON
// when LOG_FORMAT=json, else text (coloured when w is a terminal).
func NewLogger(s config.Settings, w io.Writer) hclog.Logger {
	level := hclog.LevelFromString(s.LogLevel)
	if level == hclog.NoLevel {
		level = hclog.Info
	}
	return hclog.New(&hclog.LoggerOptions{
		Name: "coordinator", Level: level, Output: w, JSONFormat: s.LogFormat == "json",
		Color: hclog.AutoColor, TimeFormat: time.RFC3339Nano,
	})
}

// buildPlugins builds (or, with skip, finds) the plugin binaries the roles
// need: the challenge plugin always, the model plugins when withModels.
func buildPlugins(ctx context.Context, ws *config.Workspace, withModels, skip bool, log hclog.Logger) (pluginbin.Binaries, error) {
	bins, err := pluginbin.Build(ctx, ws, withModels, skip, func(e pluginbuild.Event) {
		switch e.Phase {
		case "skip":
			log.Info("plugin up to date", "plugin", e.Target.Name)
		case "build":
			log.Info("building plugin", "plugin", e.Target.Name, "dir", e.Target.Dir)
		case "done":
			log.Info("plugin built", "plugin", e.Target.Name, "elapsed", e.Duration.Round(10*time.Millisecond))
		}
	})
	if err == nil && skip {
		log.Info("plugin build skipped (--skip-build)", "bin_dir", layout.Of(ws.NodeDir).BinDir())
	}
	return bins, err
}

// drainClock is the wall clock whose Sleep also ends (with
// context.Canceled) once stop is done: the workers get a work context that
// outlives the shutdown request, finish the cycle they are in, and return
// at their next sleep.
type drainClock struct {
	stop context.Context
}

// Now returns the wall time in UTC.
func (drainClock) Now() time.Time { return time.Now().UTC() }

// Sleep waits for d, until ctx is done (ctx.Err()) or until the shutdown
// starts (context.Canceled).
func (c drainClock) Sleep(ctx context.Context, d time.Duration) error {
	if c.stop.Err() != nil {
		return context.Canceled
	}
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-c.stop.Done():
		return context.Canceled
	case <-t.C:
		return nil
	}
}
