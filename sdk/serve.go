package sdk

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"

	"github.com/crunch-coordinator/coordinator/sdk/internal/seam"
)

// EnvPluginLogLevel names the environment variable holding the plugin's log
// level (trace, debug, info, warn, error, off; default info). The host sets
// it when it launches a plugin.
const EnvPluginLogLevel = "COORDINATOR_PLUGIN_LOG_LEVEL"

// parentPollInterval is how often the watchdog compares the parent pid.
const parentPollInterval = 500 * time.Millisecond

var pluginLogger atomic.Pointer[hclog.Logger]

// Logger returns the plugin's logger: hclog JSON lines on the process's real
// stderr (fd 2), which the host parses and re-logs at each line's level.
// Never log to stdout before ServeChallenge/ServeModel: the first stdout line
// is the go-plugin handshake. Before Serve* runs, Logger returns a logger with
// the same settings.
func Logger() hclog.Logger {
	if l := pluginLogger.Load(); l != nil {
		return *l
	}
	l := newPluginLogger("plugin", os.Stderr)
	pluginLogger.CompareAndSwap(nil, &l)
	return *pluginLogger.Load()
}

// newPluginLogger builds the JSON logger at the level from EnvPluginLogLevel.
func newPluginLogger(name string, out *os.File) hclog.Logger {
	raw := strings.TrimSpace(os.Getenv(EnvPluginLogLevel))
	level := hclog.Info
	bad := false
	if raw != "" {
		if l := hclog.LevelFromString(raw); l != hclog.NoLevel {
			level = l
		} else {
			bad = true
		}
	}
	if name == "" {
		name = "plugin"
	}
	l := hclog.New(&hclog.LoggerOptions{Name: name, Level: level, Output: out, JSONFormat: true})
	if bad {
		l.Warn("unknown log level, using info", "env", EnvPluginLogLevel, "value", raw)
	}
	return l
}

// ServeChallenge serves c as the challenge plugin of a coordinator host and
// returns when the host shuts the plugin down. Call it first thing in main
// and print nothing to stdout before it: the first stdout line is the
// go-plugin handshake.
//
// It logs (hclog JSON, level from EnvPluginLogLevel) to the real stderr,
// serves gRPC with 16 MiB message caps in both directions, answers Describe with the callables
// c implements itself (see [ImplementedCallables]) and exits the process
// when its parent process changes (the host was killed; polled every 500 ms).
//
// Run directly, without a host, the binary prints go-plugin's "This binary is
// a plugin. These are not meant to be executed directly." on stderr and exits
// with status 1. A nil c logs an error and exits with status 1.
func ServeChallenge(c Challenge, info ChallengeInfo) {
	if c == nil {
		fatalf(info.Name, "ServeChallenge: expected a Challenge implementation, found nil")
	}
	serve(info.Name, PluginChallenge, &seam.ChallengePlugin{Impl: challengeServerFor(c, info)})
}

// ServeModel serves m as a model plugin; see [ServeChallenge] for logging,
// limits, the parent watchdog and running the binary directly. Describe
// lists the methods Tick and Predict, and the optional TickPredict (both in
// one round trip, served from m's Tick and Predict: nothing to implement).
// A nil m logs an error and exits with status 1.
func ServeModel(m Model, info ModelInfo) {
	if m == nil {
		fatalf(info.Name, "ServeModel: expected a Model implementation, found nil")
	}
	serve(info.Name, PluginModel, &seam.ModelPlugin{Impl: newModelServer(m, info)})
}

func fatalf(name, format string, args ...any) {
	newPluginLogger(name, os.Stderr).Error(fmt.Sprintf(format, args...))
	os.Exit(1)
}

func serve(name, kind string, p plugin.Plugin) {
	// Built before plugin.Serve swaps os.Stderr for a pipe, so it keeps fd 2.
	logger := newPluginLogger(name, os.Stderr)
	pluginLogger.Store(&logger)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	watchdogDone := make(chan struct{})
	go func() {
		defer close(watchdogDone)
		if watchParent(ctx, os.Getppid(), os.Getppid, parentPollInterval) {
			logger.Error("parent process changed: the host is gone, exiting")
			os.Exit(1)
		}
	}()

	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: seam.Handshake(),
		Plugins:         plugin.PluginSet{kind: p},
		GRPCServer:      seam.NewServer,
		Logger:          logger,
	})
	cancel()
	<-watchdogDone
}

// watchParent polls getppid every interval and returns true as soon as it
// differs from initial, false when ctx is done.
func watchParent(ctx context.Context, initial int, getppid func() int, interval time.Duration) bool {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			if getppid() != initial {
				return true
			}
		}
	}
}
