// Package node assembles a running competition node from a workspace's
// configuration: the challenge plugin and the model plugins (through the
// plugin host), the store, the feed, the predict, score and checkpoint
// workers and the report API. `coordinator dev` and `coordinator serve`
// both run a Node; a Node runs live (wall clock, feed poller) or replays a
// CSV on a simulated clock.
package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/crunch-coordinator/coordinator/host"
	"github.com/crunch-coordinator/coordinator/internal/checkpoint"
	"github.com/crunch-coordinator/coordinator/internal/clock"
	"github.com/crunch-coordinator/coordinator/internal/config"
	"github.com/crunch-coordinator/coordinator/internal/feed"
	"github.com/crunch-coordinator/coordinator/internal/predict"
	"github.com/crunch-coordinator/coordinator/internal/report"
	"github.com/crunch-coordinator/coordinator/internal/score"
	"github.com/crunch-coordinator/coordinator/internal/store"
	"github.com/crunch-coordinator/coordinator/sdk"
)

// Config is what a Node needs. Store must be open and migrated.
type Config struct {
	Workspace *config.Workspace
	Store     store.Store
	Clock     clock.Clock
	Logger    hclog.Logger
	// ChallengeBinary is the built challenge plugin.
	ChallengeBinary string
	// ModelBinaries maps model id (config/models.json) to its built plugin.
	ModelBinaries map[string]string
	// Feed is the node's feed; it sets the defaults plugins get for feed
	// queries and, in live mode, what the poller fetches.
	Feed feed.Config
	// Freshness gates predict cycles on fresh feed data (live mode); nil
	// disables the gate (replay).
	Freshness predict.FreshnessGate
	// FeedHealth feeds /reports/feeds (nil: none).
	FeedHealth func() []report.FeedHealth
	// PluginEnv is added to every plugin's environment.
	PluginEnv []string
	// HostEvents, when set, receives the plugin host's lifecycle events.
	HostEvents func(host.Event)
}

// Node is a running node. Create it with Start and release it with Close.
type Node struct {
	cfg        Config
	log        hclog.Logger
	challenge  *host.Challenge
	routed     sdk.Challenge
	models     *host.ModelSet
	predict    *predict.Worker
	score      *score.Worker
	checkpoint *checkpoint.Worker
	handler    http.Handler
	schema     sdk.ReportSchema

	mu     sync.Mutex
	closed bool
}

// Start launches the plugins, checks the callable routing against what
// the challenge plugin implements, seeds the schedules and builds the
// workers. Errors name the plugin, callable or file at fault; on error
// every plugin started so far is stopped.
func Start(ctx context.Context, cfg Config) (_ *Node, err error) {
	if cfg.Workspace == nil || cfg.Store == nil || cfg.Clock == nil {
		return nil, errors.New("node: Workspace, Store and Clock are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	w := cfg.Workspace
	n := &Node{cfg: cfg, log: cfg.Logger}
	defer func() {
		if err != nil {
			n.Close()
		}
	}()

	rows, err := scheduleRows(w.Schedules)
	if err != nil {
		return nil, err
	}
	if err := cfg.Store.ReplaceSchedules(ctx, rows); err != nil {
		return nil, fmt.Errorf("seed schedules from %s: %w", config.SchedulesFile, err)
	}

	hopts := host.Options{
		Logger:                 cfg.Logger.Named("host"),
		CallTimeout:            w.Settings.ModelCallTimeout,
		MaxConsecutiveFailures: w.Settings.MaxConsecutiveFailures,
		MaxConsecutiveTimeouts: w.Settings.MaxConsecutiveTimeouts,
		OnEvent:                cfg.HostEvents,
	}
	copts := hopts
	copts.CallTimeout = w.Settings.ChallengeCallTimeout
	data := StoreHostData{Market: cfg.Store, Defaults: FeedDefaults{Provider: cfg.Feed.Provider, Kind: cfg.Feed.Kind, Granularity: cfg.Feed.Granularity}}
	n.challenge, err = host.StartChallenge(ctx, host.PluginSpec{ID: "challenge", Path: cfg.ChallengeBinary, Env: cfg.PluginEnv}, data, copts)
	if err != nil {
		return nil, fmt.Errorf("start challenge plugin %s: %w", cfg.ChallengeBinary, err)
	}
	n.routed, err = Route(n.challenge, n.challenge.Description().Callables, w.Callables)
	if err != nil {
		return nil, err
	}
	n.schema, err = n.routed.ReportSchema(ctx)
	if err != nil {
		return nil, fmt.Errorf("challenge ReportSchema: %w", err)
	}
	if err := n.schema.Validate(); err != nil {
		return nil, fmt.Errorf("challenge ReportSchema: %w", err)
	}

	specs := make([]host.PluginSpec, 0, len(w.Models))
	directory := map[string]store.Model{}
	for _, m := range w.Models {
		bin, ok := cfg.ModelBinaries[m.ID]
		if !ok {
			return nil, fmt.Errorf("model %s: no built plugin binary", m.ID)
		}
		specs = append(specs, host.PluginSpec{ID: m.ID, Path: bin, Env: cfg.PluginEnv})
		directory[m.ID] = store.Model{ID: m.ID, Name: m.Name, PlayerID: m.PlayerID, PlayerName: m.PlayerName, DeploymentID: "local:" + m.ID}
	}
	n.models, err = host.StartModels(ctx, specs, hopts)
	if err != nil {
		return nil, fmt.Errorf("start model plugins: %w", err)
	}

	routes := w.Callables.Routes
	n.predict, err = predict.New(predict.Config{
		Challenge: n.routed, Models: n.models, Store: cfg.Store, Clock: cfg.Clock,
		Logger: cfg.Logger.Named("predict"), Freshness: cfg.Freshness, Assets: cfg.Feed.Assets,
		Directory: directory,
	})
	if err != nil {
		return nil, err
	}
	n.score, err = score.New(score.Config{
		Challenge: n.routed, Store: cfg.Store, Clock: cfg.Clock, Logger: cfg.Logger.Named("score"),
		GroundTruthMaxWait:    w.Settings.GroundTruthMaxWait,
		ScoreInterval:         w.Settings.ScoreInterval,
		LeaderboardInterval:   w.Settings.LeaderboardInterval,
		UseDefaultAggregation: !n.fromPlugin(routes, sdk.CallableAggregateModelScores),
		UseDefaultRanking:     !n.fromPlugin(routes, sdk.CallableRankLeaderboard),
	})
	if err != nil {
		return nil, err
	}
	n.checkpoint, err = checkpoint.New(checkpoint.Config{Store: cfg.Store, Clock: cfg.Clock, Interval: w.Settings.CheckpointInterval, Logger: cfg.Logger.Named("checkpoint")})
	if err != nil {
		return nil, err
	}
	n.handler = report.New(report.Options{
		Store: cfg.Store, Schema: n.schema, FeedHealth: cfg.FeedHealth, ModelStates: n.models.States,
		Clock: cfg.Clock, Logger: cfg.Logger.Named("report"),
	})
	desc := n.challenge.Description()
	n.log.Info("node started", "challenge", desc.PluginName, "challenge_version", desc.PluginVersion,
		"callables_from_plugin", w.Callables.FromPlugin(), "models", len(specs), "store", cfg.Store.Backend())
	return n, nil
}

func (n *Node) fromPlugin(routes map[string]string, callable string) bool {
	if routes[callable] != config.RouteChallenge {
		return false
	}
	for _, c := range n.challenge.Description().Callables {
		if c == callable {
			return true
		}
	}
	return false
}

// scheduleRows converts parsed schedule configs into store rows.
func scheduleRows(cfgs []sdk.ScheduleConfig) ([]store.ScheduleRow, error) {
	rows := make([]store.ScheduleRow, 0, len(cfgs))
	for _, c := range cfgs {
		sched, err := json.Marshal(c.Schedule)
		if err != nil {
			return nil, fmt.Errorf("schedule %s: %w", c.ID, err)
		}
		rows = append(rows, store.ScheduleRow{ID: c.ID, ScopeKey: c.ScopeKey, ScopeTemplate: c.ScopeTemplate, Schedule: sched, Active: c.Active, Order: c.Order, Meta: c.Meta})
	}
	return rows, nil
}

// Handler returns the report API.
func (n *Node) Handler() http.Handler { return n.handler }

// Schema returns the challenge's validated report schema.
func (n *Node) Schema() sdk.ReportSchema { return n.schema }

// Models returns the plugin host's view of every model.
func (n *Node) Models() []host.ModelState { return n.models.States() }

// Challenge returns the routed challenge (plugin callables and defaults).
func (n *Node) Challenge() sdk.Challenge { return n.routed }

// PredictOnce runs one predict cycle at the clock's time.
func (n *Node) PredictOnce(ctx context.Context) (predict.Result, error) {
	return n.predict.RunOnce(ctx)
}

// ScoreOnce scores what is resolvable at the clock's time.
func (n *Node) ScoreOnce(ctx context.Context) (score.ScoreResult, error) { return n.score.Score(ctx) }

// RebuildLeaderboard rebuilds the leaderboard at the clock's time.
func (n *Node) RebuildLeaderboard(ctx context.Context) (score.LeaderboardResult, error) {
	return n.score.RebuildLeaderboard(ctx)
}

// CheckpointOnce writes a checkpoint when one is due.
func (n *Node) CheckpointOnce(ctx context.Context) (checkpoint.Result, error) {
	return n.checkpoint.RunOnce(ctx)
}

// RunWorkers runs the predict, score and checkpoint loops on the node's
// clock until ctx is done. It returns nil on cancellation.
func (n *Node) RunWorkers(ctx context.Context) error {
	var wg sync.WaitGroup
	run := func(name string, f func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(ctx); err != nil && !errors.Is(err, context.Canceled) {
				n.log.Error("worker stopped", "worker", name, "error", err)
			}
		}()
	}
	run("predict", n.predict.Run)
	run("score", n.score.Run)
	run("checkpoint", n.checkpoint.Run)
	wg.Wait()
	return nil
}

// ListenAndServe serves the report API on addr until ctx is done, then
// shuts the server down gracefully (5 s). ready, when non-nil, receives the
// bound address once listening.
func (n *Node) ListenAndServe(ctx context.Context, addr string, ready func(net.Addr)) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("report API: listen on %s: %w (is another node running? try `coordinator preflight` or --api-addr)", addr, err)
	}
	srv := &http.Server{Handler: n.handler, ReadHeaderTimeout: 5 * time.Second}
	if ready != nil {
		ready(ln.Addr())
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		<-errc
		return nil
	case err := <-errc:
		return fmt.Errorf("report API on %s: %w", addr, err)
	}
}

// Stats is a snapshot for status lines.
type Stats struct {
	Now         time.Time
	Predictions int64
	Scored      int64
	Models      int
	Healthy     int
	Failed      []string // "id (REASON)"
}

// Stats counts predictions and model health. Scored counts predictions
// with a score (success or not).
func (n *Node) Stats(ctx context.Context) (Stats, error) {
	s := Stats{Now: n.cfg.Clock.Now()}
	var err error
	if s.Predictions, err = n.cfg.Store.CountPredictions(ctx, ""); err != nil {
		return s, err
	}
	if s.Scored, err = countScored(ctx, n.cfg.Store); err != nil {
		return s, err
	}
	for _, m := range n.models.States() {
		s.Models++
		switch {
		case m.Stopped:
			s.Failed = append(s.Failed, fmt.Sprintf("%s (%s)", m.ID, m.Reason))
		case m.Running:
			s.Healthy++
		}
	}
	sort.Strings(s.Failed)
	return s, nil
}

// countScored counts predictions that carry a score: SUCCESS rows whose
// score was written. CountPredictions counts by status, so this uses the
// report query with ScoredOnly over all time in pages.
func countScored(ctx context.Context, st store.Store) (int64, error) {
	stats, err := st.ModelScoreStats(ctx, time.Time{}, time.Time{})
	if err != nil {
		return 0, err
	}
	var total int64
	for _, s := range stats {
		total += int64(s.Count)
	}
	return total, nil
}

// Close stops every plugin. Safe to call more than once.
func (n *Node) Close() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil
	}
	n.closed = true
	var errs []error
	if n.models != nil {
		errs = append(errs, n.models.Close())
	}
	if n.challenge != nil {
		errs = append(errs, n.challenge.Close())
	}
	return errors.Join(errs...)
}
