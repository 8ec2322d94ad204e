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
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/crunch-coordinator/coordinator/internal/clock"
	"github.com/crunch-coordinator/coordinator/internal/config"
	"github.com/crunch-coordinator/coordinator/internal/dbmigrate"
	"github.com/crunch-coordinator/coordinator/internal/feed"
	"github.com/crunch-coordinator/coordinator/internal/layout"
	"github.com/crunch-coordinator/coordinator/internal/node"
	"github.com/crunch-coordinator/coordinator/internal/pluginbin"
	"github.com/crunch-coordinator/coordinator/internal/pluginbuild"
	"github.com/crunch-coordinator/coordinator/internal/redact"
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
const DefaultDrainTimeout = node.DefaultDrainTimeout

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
	withModels := node.Config{Roles: roles}.HasRole(node.RolePredict)

	st, status, err := dbmigrate.OpenMigrated(ctx, ws.DatabaseURL())
	if err != nil {
		return err
	}
	defer st.Close()
	log.Info("store ready", "backend", status.Backend, "url", status.URL, "schema_version", status.Current)

	bins, err := buildPlugins(ctx, ws, withModels, o.SkipBuild, log)
	if err != nil {
		return err
	}

	n, err := node.Start(ctx, node.Config{
		Roles: roles, Workspace: ws, Store: st, Clock: clock.Wall{}, Logger: log,
		ChallengeBinary: bins.Challenge, ModelBinaries: bins.Models,
		ChallengeSHA256: bins.ChallengeSHA256, ModelSHA256: bins.ModelSHA256, Feed: feedCfg, LiveFeed: true,
		PluginEnv: []string{"COORDINATOR_PLUGIN_LOG_LEVEL=" + ws.Settings.LogLevel},
	})
	if err != nil {
		return err
	}
	defer n.Close()
	if err := n.StartServices(ctx, node.RunOptions{}); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	log.Info("serving", "roles", roleList(roles), "models", len(n.Models()), "drain_timeout", o.DrainTimeout)
	if o.Ready != nil {
		o.Ready(n.APIAddr())
	}

	var failure error
	select {
	case <-ctx.Done():
	case failure = <-n.Failed():
		log.Error("stopping after a service failure", "error", failure)
	}
	if err := n.Drain(o.DrainTimeout); err != nil {
		log.Warn("stopping plugins", "error", err)
	}
	if failure != nil {
		return failure
	}
	log.Info("stopped")
	return nil
}

func roleList(roles []node.Role) string {
	s := make([]string, len(roles))
	for i, r := range roles {
		s[i] = string(r)
	}
	return strings.Join(s, ",")
}

// NewLogger returns the serve logger: hclog lines on w at LOG_LEVEL, JSON
// when LOG_FORMAT=json, else text, with the values of the secret settings
// (config.Secrets) hidden from every line, plugin output included. serve
// logs to stderr: rotation is the service manager's (journald, docker).
func NewLogger(s config.Settings, w io.Writer) hclog.Logger {
	w = redact.NewWriter(w, config.SecretValues(s.Env)...)
	level := hclog.LevelFromString(s.LogLevel)
	if level == hclog.NoLevel {
		level = hclog.Info
	}
	return hclog.New(&hclog.LoggerOptions{
		Name: "coordinator", Level: level, Output: w, JSONFormat: s.LogFormat == "json",
		Color: hclog.ColorOff, TimeFormat: time.RFC3339Nano,
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
