// Package node assembles a running competition node from a workspace's
// configuration and owns its lifecycle: Start launches the challenge
// plugin and the model plugins (through the plugin host) and builds the
// services of the node's roles (the predict service, the score service,
// the report app and the live feed poller, each a Service);
// StartServices starts them and Drain finishes their in-flight work and
// stops the plugins. `coordinator dev` and `coordinator serve` both run a
// Node this way; a Node runs live (wall clock, feed poller) or replays a
// CSV on a simulated clock (Replay).
package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/crunch-coordinator/coordinator/extend"
	"github.com/crunch-coordinator/coordinator/host"
	"github.com/crunch-coordinator/coordinator/internal/checkpoint"
	"github.com/crunch-coordinator/coordinator/internal/clock"
	"github.com/crunch-coordinator/coordinator/internal/config"
	"github.com/crunch-coordinator/coordinator/internal/feed"
	"github.com/crunch-coordinator/coordinator/internal/feed/providers"
	"github.com/crunch-coordinator/coordinator/internal/metrics"
	"github.com/crunch-coordinator/coordinator/internal/modelrunner"
	"github.com/crunch-coordinator/coordinator/internal/modelsapi"
	"github.com/crunch-coordinator/coordinator/internal/orchestrator"
	"github.com/crunch-coordinator/coordinator/internal/predict"
	"github.com/crunch-coordinator/coordinator/internal/pymodel"
	"github.com/crunch-coordinator/coordinator/internal/report"
	"github.com/crunch-coordinator/coordinator/internal/score"
	"github.com/crunch-coordinator/coordinator/internal/store"
	"github.com/crunch-coordinator/coordinator/sdk"
)

// Role is one part of a node that Start assembles: `coordinator serve
// <role>` runs one or more of them in a process; dev runs them all.
type Role string

// Roles of a node.
const (
	// RolePredict: the model plugins and the predict loop (and the schedule
	// seeding from config/scheduled_prediction_configs.json).
	RolePredict Role = "predict"
	// RoleScore: the score, leaderboard and checkpoint loops (no model
	// plugins).
	RoleScore Role = "score"
	// RoleReport: the report API (no model plugins).
	RoleReport Role = "report"
)

// AllRoles lists every role, in start-up order.
var AllRoles = []Role{RolePredict, RoleScore, RoleReport}

// Config is what a Node needs. Store must be open and migrated.
type Config struct {
	// Roles selects what Start assembles; empty means every role (dev).
	// The challenge plugin is started for every role; model plugins only
	// with RolePredict.
	Roles     []Role
	Workspace *config.Workspace
	Store     store.Store
	Clock     clock.Clock
	Logger    hclog.Logger
	// ChallengeBinary is the built challenge plugin.
	ChallengeBinary string
	// ModelBinaries maps model id (config/models.json) to its built plugin.
	ModelBinaries map[string]string
	// ChallengeSHA256 and ModelSHA256 (by model id) are the checksums the
	// host verifies before every launch and restart (pluginbin.Binaries:
	// the pin, else the lock file's record). A Python model with no
	// entry is checked against its code as found at start
	// (host.PythonCodeSHA256). Empty: not checked.
	ChallengeSHA256 string
	ModelSHA256     map[string]string
	// Feed is the node's feed; it sets the defaults plugins get for feed
	// queries and, with LiveFeed, what the poller fetches.
	Feed feed.Config
	// LiveFeed, with RolePredict, makes Start probe the feed (ProbeFeed)
	// and build its poller: the feed service polls it, predict cycles wait
	// for fresh data and /reports/feeds reports its health. Without it the
	// predict cycles are not gated (a replay stores the candles itself).
	LiveFeed bool
	// PluginEnv is added to every plugin's environment.
	PluginEnv []string
	// HostEvents, when set, receives the plugin host's lifecycle events.
	HostEvents func(host.Event)
}

// ChallengeEnv is the environment the challenge plugin gets beyond the
// host's allowlist: env (Config.PluginEnv) and the settings of the pack's
// challenge that .local.env sets (FLAT_MOVES, sdk.EnvFlatMoves). Model
// plugins never get them.
func ChallengeEnv(s config.Settings, env []string) []string {
	out := slices.Clone(env)
	if s.FlatMoves != "" {
		out = append(out, sdk.EnvFlatMoves+"="+string(s.FlatMoves))
	}
	return out
}

// HasRole reports whether c selects r (an empty Roles selects every role).
func (c Config) HasRole(r Role) bool {
	if len(c.Roles) == 0 {
		return true
	}
	for _, have := range c.Roles {
		if have == r {
			return true
		}
	}
	return false
}

// errNoRole is returned by the methods of a role this node was not started
// with.
func errNoRole(r Role) error {
	return fmt.Errorf("node: started without the %s role", r)
}

// ErrConfig is wrapped by Start's errors that come from bad settings (the
// live feed's provider or poller options) rather than a runtime failure. It
// is config.ErrInvalid, so every configuration error classifies the same.
var ErrConfig = config.ErrInvalid

// Node is a running node. Create it with Start, run its services with
// StartServices and end it with Drain (or Close).
type Node struct {
	cfg       Config
	log       hclog.Logger
	challenge *host.Challenge
	models    *host.ModelSet
	// feedView bounds the feed the plugins read (StoreHostData) during a
	// replay: see Replay.
	feedView FeedView
	// orchStop ends the orchestrator follower (nil without one).
	orchStop   func()
	predict    *predict.Worker
	score      *score.Worker
	checkpoint *checkpoint.Worker
	handler    http.Handler
	metrics    *metrics.Metrics
	schema     sdk.ReportSchema
	poller     *feed.Poller
	probeRec   store.MarketRecord
	probeErr   error

	// The services of the node's roles (nil when the role is absent):
	// the one place a replacement service would be put.
	report     ReportApp
	feed       Service
	predictSvc Service
	scoreSvc   Service
	// replaced maps a service name to the factory that replaced it.
	replaced map[string]string

	failed    chan error
	draining  chan struct{}
	drainOnce sync.Once
	watchers  sync.WaitGroup

	mu      sync.Mutex
	started bool
	running []namedService
	closed  bool
}

// Start launches the plugins, checks the callable routing against what
// the challenge plugin implements, seeds the schedules and builds the
// workers of cfg.Roles: every role starts the challenge plugin; RolePredict
// seeds the schedules, starts the model plugins and builds the predict
// worker; RoleScore builds the score and checkpoint workers; RoleReport
// builds the report API handler. Errors name the plugin, callable or file at fault; on error
// every plugin started so far is stopped.
func Start(ctx context.Context, cfg Config) (_ *Node, err error) {
	if cfg.Workspace == nil || cfg.Store == nil || cfg.Clock == nil {
		return nil, errors.New("node: Workspace, Store and Clock are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	for _, r := range cfg.Roles {
		if r != RolePredict && r != RoleScore && r != RoleReport {
			return nil, fmt.Errorf("node: unknown role %q: expected %s, %s or %s", r, RolePredict, RoleScore, RoleReport)
		}
	}
	w := cfg.Workspace
	if err := checkSandbox(w.Settings.Sandbox, cfg.Logger); err != nil {
		return nil, err
	}
	n := &Node{cfg: cfg, log: cfg.Logger, failed: make(chan error, 1), draining: make(chan struct{})}
	n.metrics = n.newMetrics()
	defer func() {
		if err != nil {
			n.Close()
		}
	}()

	if cfg.HasRole(RolePredict) {
		rows, err := scheduleRows(w.Schedules)
		if err != nil {
			return nil, err
		}
		if err := cfg.Store.ReplaceSchedules(ctx, rows); err != nil {
			return nil, fmt.Errorf("seed schedules from %s: %w", config.SchedulesFile, err)
		}
	}

	var freshness predict.FreshnessGate
	var feedHealth func() []report.FeedHealth
	if cfg.LiveFeed && cfg.HasRole(RolePredict) {
		prov, err := providers.New(cfg.Feed, providers.Options{Clock: cfg.Clock})
		if err != nil {
			return nil, fmt.Errorf("%w: feed: %w", ErrConfig, err)
		}
		n.poller, err = feed.NewPoller(cfg.Feed.PollerOptions(prov, cfg.Store, cfg.Clock, cfg.Logger.Named("feed")))
		if err != nil {
			return nil, fmt.Errorf("%w: feed: %w", ErrConfig, err)
		}
		n.probeRec, n.probeErr = ProbeFeed(ctx, cfg.Feed, cfg.Logger)
		n.feed = &feedService{poller: n.poller, cfg: cfg.Feed, log: cfg.Logger}
		freshness, feedHealth = n.poller, PollerHealth(n.poller)
	}

	hopts := host.Options{
		Logger:                 cfg.Logger.Named("host"),
		CallTimeout:            w.Settings.ModelCallTimeout,
		MaxConsecutiveFailures: w.Settings.MaxConsecutiveFailures,
		MaxConsecutiveTimeouts: w.Settings.MaxConsecutiveTimeouts,
		CooldownMin:            w.Settings.ModelCooldownMin,
		CooldownMax:            w.Settings.ModelCooldownMax,
		MaxOutputBytes:         w.Settings.MaxModelOutputBytes,
		ConfirmOutputs:         true, // the predict worker confirms every answer after validation
		Sandbox:                w.Settings.Sandbox,
		OnEvent:                n.hostEvents(),
	}
	copts := hopts
	copts.CallTimeout = w.Settings.ChallengeCallTimeout
	data := StoreHostData{Market: cfg.Store, Defaults: FeedDefaults{Provider: cfg.Feed.Provider, Kind: cfg.Feed.Kind, Granularity: cfg.Feed.Granularity}, View: &n.feedView}
	n.challenge, err = host.StartChallenge(ctx, host.PluginSpec{ID: "challenge", Path: cfg.ChallengeBinary, Env: ChallengeEnv(w.Settings, cfg.PluginEnv), SHA256: cfg.ChallengeSHA256}, data, copts)
	if err != nil {
		return nil, fmt.Errorf("start challenge plugin %s: %w%s", cfg.ChallengeBinary, err, diagnosticNote(err))
	}
	if err := n.challenge.Route(w.Callables.FromPlugin()); err != nil {
		return nil, routeError(err)
	}
	n.schema, err = n.challenge.ReportSchema(ctx)
	if err != nil {
		return nil, fmt.Errorf("challenge ReportSchema: %w", err)
	}
	if err := n.schema.Validate(); err != nil {
		return nil, fmt.Errorf("challenge ReportSchema: %w", err)
	}

	specs := make([]host.PluginSpec, 0, len(w.Models))
	if cfg.HasRole(RolePredict) {
		if err := n.startPredict(ctx, &specs, hopts, freshness); err != nil {
			return nil, err
		}
	}
	if cfg.HasRole(RoleScore) {
		if err := n.startScore(); err != nil {
			return nil, err
		}
	}
	if cfg.HasRole(RoleReport) {
		var states func() []host.ModelState
		if n.models != nil {
			states = n.models.States
		}
		n.handler = report.New(report.Options{
			Store: cfg.Store, Schema: n.schema, FeedHealth: feedHealth, ModelStates: states,
			Clock: cfg.Clock, Logger: cfg.Logger.Named("report"),
		})
		adminKey, readKey := w.Settings.Env[modelsapi.AdminKeyVar], w.Settings.Env[modelsapi.ReadKeyVar]
		var models http.Handler
		if n.models != nil {
			// The node runs its models: serve the orchestrator API the
			// UI's Models page reads beside the report API.
			models = modelsapi.New(modelsapi.Options{
				Fleet: n.models, Models: w.Models, CrunchID: w.Settings.CrunchID,
				AdminKey: adminKey, ReadKey: readKey,
				Logger: cfg.Logger.Named("models-api"),
			})
		}
		n.handler = routes(n.handler, models, modelsapi.RequireRead(readKey, adminKey, n.metrics.Handler()))
		n.report = extend.NewHTTPApp(n.handler, w.Settings.APIAddr, cfg.Logger)
	}
	if err := n.applyFactories(); err != nil {
		return nil, err
	}
	desc := n.challenge.Description()
	n.log.Info("node started", "roles", n.roleNames(), "challenge", desc.PluginName, "challenge_version", desc.PluginVersion,
		"callables_from_plugin", w.Callables.FromPlugin(), "models", len(specs), "store", cfg.Store.Backend())
	return n, nil
}

// diagnosticNote renders the host's diagnostic of a failed plugin start
// ("\n<summary>; <detail>\nfix: <fix> [<code>]"), "" for other errors.
func diagnosticNote(err error) string {
	var se *host.StartError
	if !errors.As(err, &se) {
		return ""
	}
	d := se.Diagnostic()
	s := "\n" + d.Summary
	if d.Detail != "" {
		s += "; " + d.Detail
	}
	return s + "\nfix: " + d.Fix + " [" + d.Code + "]"
}

// roleNames lists the node's roles for logs.
func (n *Node) roleNames() []string {
	var out []string
	for _, r := range AllRoles {
		if n.cfg.HasRole(r) {
			out = append(out, string(r))
		}
	}
	return out
}

// startPredict starts the model plugins and builds the predict worker and
// the predict service; specs receives the started plugins.
func (n *Node) startPredict(ctx context.Context, specs *[]host.PluginSpec, hopts host.Options, freshness predict.FreshnessGate) error {
	cfg, w := n.cfg, n.cfg.Workspace
	directory := map[string]store.Model{}
	var py *pymodel.Runtime
	var sec *modelrunner.Security
	for _, m := range w.Models {
		if m.Runtime == config.RuntimePython {
			// Python models run in the model runner next to the Go plugins,
			// in the same supervised model set (same stop rules).
			if py == nil {
				rt, err := pymodel.FindRuntime(ctx, w)
				if err != nil {
					return fmt.Errorf("model %s: %w", m.ID, err)
				}
				py = &rt
			}
			spec := pymodel.Spec(w, m, *py, cfg.PluginEnv)
			if spec.SHA256 = cfg.ModelSHA256[m.ID]; spec.SHA256 == "" {
				if spec.SHA256 = m.SHA256; spec.SHA256 == "" {
					sum, err := host.PythonCodeSHA256(m.Path)
					if err != nil {
						return fmt.Errorf("model %s: %w", m.ID, err)
					}
					spec.SHA256 = sum
				}
			}
			*specs = append(*specs, spec)
			directory[m.ID] = store.Model{ID: m.ID, Name: m.Name, PlayerID: m.PlayerID, PlayerName: m.PlayerName, DeploymentID: "local:" + m.ID}
			continue
		}
		if m.Runtime == config.RuntimeRemote {
			sp, err := remoteSpec(w, m, &sec)
			if err != nil {
				return err
			}
			*specs = append(*specs, sp)
			directory[m.ID] = store.Model{ID: m.ID, Name: m.Name, PlayerID: m.PlayerID, PlayerName: m.PlayerName, DeploymentID: "remote:" + m.Address}
			continue
		}
		bin, ok := cfg.ModelBinaries[m.ID]
		if !ok {
			return fmt.Errorf("model %s: no built plugin binary", m.ID)
		}
		*specs = append(*specs, host.PluginSpec{ID: m.ID, Path: bin, Env: cfg.PluginEnv, SHA256: cfg.ModelSHA256[m.ID]})
		directory[m.ID] = store.Model{ID: m.ID, Name: m.Name, PlayerID: m.PlayerID, PlayerName: m.PlayerName, DeploymentID: "local:" + m.ID}
	}
	orch, err := orchestratorConfig(w, &sec)
	if err != nil {
		return err
	}
	var follower atomic.Pointer[orchestrator.Client]
	if orch != nil { // the supervisor's verdicts on its models are reported
		prev := hopts.OnEvent
		hopts.OnEvent = func(e host.Event) {
			prev(e)
			if c := follower.Load(); c != nil {
				c.HostEvent(e)
			}
		}
	}
	n.models, err = host.StartModels(ctx, *specs, hopts)
	if err != nil {
		return fmt.Errorf("start model plugins: %w%s", err, diagnosticNote(err))
	}
	if orch != nil {
		if err := n.followOrchestrator(*orch, &follower); err != nil {
			return err
		}
	}
	svc := newLoopService(cfg.Clock, n.log)
	n.predict, err = predict.New(predict.Config{
		Challenge: n.challenge, Models: n.models, Store: cfg.Store, Clock: svc.clock,
		Logger: cfg.Logger.Named("predict"), Freshness: freshness, Assets: cfg.Feed.Assets,
		Directory: directory, Observe: n.observePredict,
	})
	if err != nil {
		return err
	}
	svc.add("predict", n.predict.Run)
	n.predictSvc = svc
	return nil
}

// startScore builds the score (and leaderboard) and checkpoint workers and
// the score service that runs them.
func (n *Node) startScore() error {
	cfg, w := n.cfg, n.cfg.Workspace
	svc := newLoopService(cfg.Clock, n.log)
	var err error
	n.score, err = score.New(score.Config{
		Challenge: n.challenge, Store: cfg.Store, Clock: svc.clock, Logger: cfg.Logger.Named("score"),
		GroundTruthMaxWait:    w.Settings.GroundTruthMaxWait,
		ScoreInterval:         w.Settings.ScoreInterval,
		LeaderboardInterval:   w.Settings.LeaderboardInterval,
		UseDefaultAggregation: !n.challenge.Routed(sdk.CallableAggregateModelScores),
		UseDefaultRanking:     !n.challenge.Routed(sdk.CallableRankLeaderboard),
		Aggregation:           w.Settings.Aggregation,
		Observe:               n.observeScore,
	})
	if err != nil {
		return err
	}
	n.checkpoint, err = checkpoint.New(checkpoint.Config{Store: cfg.Store, Clock: svc.clock, Interval: w.Settings.CheckpointInterval, Logger: cfg.Logger.Named("checkpoint")})
	if err != nil {
		return err
	}
	svc.add("score", n.score.Run)
	svc.add("checkpoint", n.checkpoint.Run)
	n.scoreSvc = svc
	return nil
}

// routeError explains a host.UnroutableError in the terms of
// config/callables.env: the variables that route an unimplemented callable
// to the plugin, and the fix.
func routeError(err error) error {
	var ue *host.UnroutableError
	if !errors.As(err, &ue) {
		return err
	}
	missing := make([]string, 0, len(ue.Callables))
	for _, h := range config.Hooks {
		if slices.Contains(ue.Callables, h.Callable) {
			missing = append(missing, fmt.Sprintf("%s (%s)", h.EnvVar, h.Callable))
		}
	}
	return fmt.Errorf("%s routes %s to the challenge plugin, but the plugin does not implement them (Describe lists %s); implement them in the challenge package or set them to %q",
		config.CallablesFile, strings.Join(missing, ", "), strings.Join(ue.Listed, ", "), config.RouteDefault)
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

// Handler returns the report API (nil without RoleReport).
func (n *Node) Handler() http.Handler { return n.handler }

// Models returns the plugin host's view of every model (nil without
// RolePredict).
func (n *Node) Models() []host.ModelState {
	if n.models == nil {
		return nil
	}
	return n.models.States()
}

// FeedProbe returns the record (or the error) of the feed probe Start ran
// with Config.LiveFeed; both are zero without it.
func (n *Node) FeedProbe() (store.MarketRecord, error) { return n.probeRec, n.probeErr }

// Stats is a snapshot for status lines.
type Stats struct {
	Now         time.Time
	Predictions int64
	Scored      int64
	Models      int
	Healthy     int
	Failed      []string // "id (REASON)": stopped or cooling down
}

// Stats counts predictions and model health. Scored counts predictions
// scored successfully with a value (the ones that enter the leaderboard).
func (n *Node) Stats(ctx context.Context) (Stats, error) {
	s := Stats{Now: n.cfg.Clock.Now()}
	var err error
	if s.Predictions, err = n.cfg.Store.CountPredictions(ctx, ""); err != nil {
		return s, err
	}
	if s.Scored, err = countScored(ctx, n.cfg.Store); err != nil {
		return s, err
	}
	for _, m := range n.Models() {
		s.Models++
		switch {
		case m.Stopped, m.CoolingDown:
			s.Failed = append(s.Failed, fmt.Sprintf("%s (%s)", m.ID, m.Reason))
		case m.Running:
			s.Healthy++
		}
	}
	sort.Strings(s.Failed)
	return s, nil
}

// countScored counts the predictions scored successfully with a value, over
// all time, from the per-model score aggregates (one grouped query).
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

// Close stops the running services at once (without Drain's grace period)
// and every plugin. Safe to call more than once.
func (n *Node) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	running := n.running
	n.running = nil
	n.mu.Unlock()
	n.drainOnce.Do(func() { close(n.draining) })
	var errs []error
	for i := len(running) - 1; i >= 0; i-- {
		if err := running[i].svc.Stop(); err != nil {
			errs = append(errs, fmt.Errorf("stop the %s service: %w", running[i].name, err))
		}
	}
	n.watchers.Wait()
	if n.orchStop != nil {
		n.orchStop()
	}
	if n.models != nil {
		errs = append(errs, n.models.Close())
	}
	if n.challenge != nil {
		errs = append(errs, n.challenge.Close())
	}
	return errors.Join(errs...)
}
