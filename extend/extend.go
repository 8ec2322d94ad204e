// Package extend is the public API for replacing a whole service of a
// coordinator node without forking the coordinator: the predict service
// (PREDICT_SERVICE_FACTORY), the score service (SCORE_SERVICE_FACTORY) and
// the report app (REPORT_APP_FACTORY). It is the "advanced extension (v2)"
// level of the design: most challenges only need the callables of their
// challenge plugin; a factory is for non-standard orchestration (rounds
// started on demand, extra report routes, another score cadence).
//
// A node workspace registers factories from Go code in its extensions/
// package (crunch-node-<name>/extensions), in an init function:
//
//	func init() {
//		extend.RegisterReportApp("custom-report", 1, newReportApp)
//	}
//
// and selects one by name in config/callables.env (or .local.env, or the
// environment): REPORT_APP_FACTORY=custom-report. Unset means the built-in
// service. When a factory is selected, `coordinator dev` and `coordinator
// serve` build a node binary that links the workspace's extensions/ package
// (through the workspace's go.work, cached by a fingerprint of the
// sources) and run it with the same arguments.
//
// A factory is called once, while the node starts (after the plugins
// started and before any service runs), with what the service needs: the
// store, the clock, the routed challenge, the model set, a logger, the
// node's settings and the built-in service, not started, to wrap or
// delegate to. It returns a Service; the node's one lifecycle starts it,
// drains it on shutdown (finish the work in flight) and stops it.
//
// The API is versioned: APIVersion is the version this coordinator
// provides, and a registration names the version its code was written
// for. A registration for another version is refused when the node starts
// (and by `coordinator doctor`) with a message naming the factory and both
// versions.
package extend

import (
	"context"
	"net"
	"net/http"

	"github.com/hashicorp/go-hclog"

	"github.com/crunch-coordinator/coordinator/extend/factoryname"
	"github.com/crunch-coordinator/coordinator/host"
	"github.com/crunch-coordinator/coordinator/internal/checkpoint"
	"github.com/crunch-coordinator/coordinator/internal/clock"
	"github.com/crunch-coordinator/coordinator/internal/predict"
	"github.com/crunch-coordinator/coordinator/internal/score"
	"github.com/crunch-coordinator/coordinator/internal/store"
	"github.com/crunch-coordinator/coordinator/sdk"
)

// APIVersion is the version of this API the running coordinator provides.
// It changes only when a change would break a factory written for the
// previous version (a field removed or retyped, a lifecycle rule changed);
// additions keep it.
const APIVersion = 1

// Variables that select a factory by name (config/callables.env,
// .local.env or the environment; the environment wins, then .local.env,
// then callables.env).
const (
	PredictServiceVar = factoryname.PredictServiceVar
	ScoreServiceVar   = factoryname.ScoreServiceVar
	ReportAppVar      = factoryname.ReportAppVar
)

// Service is one part of a running node that the node's lifecycle starts
// and drains: the predict service (the predict loop), the score service
// (the score, leaderboard and checkpoint loops), the report app (the report
// API's HTTP server) and the live feed poller. A replacement returned by a
// factory implements it.
//
// The lifecycle calls Start once, then Drain and Stop once each, from one
// goroutine; Failed may be read at any time.
type Service interface {
	// Start begins the service's work on goroutines the service owns and
	// returns once it runs (the report app: once it listens). ctx bounds
	// the start-up only: the service runs until Drain or Stop. An error
	// means nothing of the service runs; the node does not start.
	Start(ctx context.Context) error
	// Drain stops taking new work and waits for the work in flight (a
	// predict or score cycle, an HTTP request) to finish. It returns nil
	// once every goroutine of the service has ended, or ctx.Err() when ctx
	// ends first (the node's drain timeout); Stop then cancels what is
	// left.
	Drain(ctx context.Context) error
	// Stop cancels whatever is still in flight and returns once every
	// goroutine of the service has ended. It is safe without Start and
	// after Drain.
	Stop() error
	// Failed returns a channel that receives the error that ended the
	// service by itself while it ran (the report app's listener failing);
	// the node then drains. Nothing is sent once Drain or Stop was called.
	// A nil channel never fires.
	Failed() <-chan error
}

// ReportApp is the service that serves the report API: a Service that
// also tells where it listens.
type ReportApp interface {
	Service
	// Addr is the address the app listens on, nil before Start.
	Addr() net.Addr
}

// Types a factory receives, named here so extension code (outside this
// module's internal packages) can name them.
type (
	// Store is the node's store (SQLite or PostgreSQL), open and migrated.
	Store = store.Store
	// Clock is the node's clock: the wall clock live, a simulated clock in
	// a replay. Services sleep on it, never on time.Sleep.
	Clock = clock.Clock
	// PredictResult describes one built-in predict cycle.
	PredictResult = predict.Result
	// ScoreResult describes one built-in score cycle.
	ScoreResult = score.ScoreResult
	// LeaderboardResult describes one leaderboard rebuild.
	LeaderboardResult = score.LeaderboardResult
	// CheckpointResult describes one checkpoint attempt.
	CheckpointResult = checkpoint.Result
)

// Env is what every factory is given.
type Env struct {
	// Name is the factory's registered name (the variable's value).
	Name string
	// NodeDir is the node workspace directory (crunch-node-<name>).
	NodeDir string
	// Store is the node's store.
	Store Store
	// Clock is the node's clock.
	Clock Clock
	// Challenge is the routed challenge: the callables of the challenge
	// plugin and the coordinator's defaults, as config/callables.env
	// wires them. Calls have the challenge call deadline.
	Challenge sdk.Challenge
	// Logger is the node's logger, named after the service and factory
	// ("predict.<name>").
	Logger hclog.Logger
	// Settings are the node's variables (.local.env and the environment
	// for dev, the environment for serve): an extension reads its own
	// settings here (for example TOURNAMENT_API_TOKEN), once they are
	// named in COORDINATOR_ALLOW_VARS (unknown variables are errors
	// otherwise, and only named ones are read from the environment).
	Settings map[string]string
}

// Setting returns Settings[key], or def when unset or blank.
func (e Env) Setting(key, def string) string {
	if v, ok := e.Settings[key]; ok && v != "" {
		return v
	}
	return def
}

// PredictEnv is what a predict service factory is given.
type PredictEnv struct {
	Env
	// Models is the running model plugins (their calls, states and stop
	// rules are the plugin host's).
	Models *host.ModelSet
	// Builtin is the built-in predict service (the predict loop on the
	// node's clock), not started: return it wrapped, or ignore it and
	// drive Cycle yourself.
	Builtin Service
	// Cycle runs one built-in predict cycle at the clock's time: the due
	// schedule rows are predicted by every model and stored. Call it from
	// one goroutine at a time.
	Cycle func(ctx context.Context) (PredictResult, error)
}

// ScoreEnv is what a score service factory is given.
type ScoreEnv struct {
	Env
	// Builtin is the built-in score service (the score, leaderboard and
	// checkpoint loops), not started.
	Builtin Service
	// Score scores what is resolvable at the clock's time.
	Score func(ctx context.Context) (ScoreResult, error)
	// RebuildLeaderboard rebuilds the leaderboard at the clock's time.
	RebuildLeaderboard func(ctx context.Context) (LeaderboardResult, error)
	// Checkpoint writes an emission checkpoint when one is due.
	Checkpoint func(ctx context.Context) (CheckpointResult, error)
}

// ReportEnv is what a report app factory is given.
type ReportEnv struct {
	Env
	// Builtin is the built-in report app (the report API served on Addr),
	// not started.
	Builtin ReportApp
	// Handler is the built-in report API handler (every /reports/...,
	// /healthz and /info route): mount it under your own mux to add
	// routes and keep the built-in ones.
	Handler http.Handler
	// Addr is the listen address (API_ADDR, or dev's --api-addr).
	Addr string
}

// Serve returns a report app that serves h on e.Addr exactly like the
// built-in one (same timeouts, drain and failure reporting).
func (e ReportEnv) Serve(h http.Handler) ReportApp {
	return NewHTTPApp(h, e.Addr, e.Logger)
}

// PredictFactory builds a replacement predict service. An error stops the
// node's start; the message is shown with the factory's name.
type PredictFactory func(PredictEnv) (Service, error)

// ScoreFactory builds a replacement score service.
type ScoreFactory func(ScoreEnv) (Service, error)

// ReportFactory builds a replacement report app.
type ReportFactory func(ReportEnv) (ReportApp, error)
