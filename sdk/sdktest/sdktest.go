// Package sdktest runs challenges and models in-process through the same
// go-plugin gRPC seam the coordinator host uses (plugin.Serve in test mode,
// a reattached plugin.Client, the contract's Plugin values, gRPC server
// constructor, size limits and host-data broker), without building
// binaries. It also offers an in-memory HostData and a loader for the
// shared candle CSV format.
//
// In-process plugins cannot show crashes: a panic in a callable kills the
// test binary. Crash behaviour needs a real subprocess (see the host's tests).
package sdktest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/hashicorp/go-plugin/runner"

	"github.com/crunch-coordinator/coordinator/sdk"
	"github.com/crunch-coordinator/coordinator/sdk/internal/seam"
	"github.com/crunch-coordinator/coordinator/sdk/wire"
)

// startTimeout bounds the in-process server start and client attach.
const startTimeout = 10 * time.Second

// StartChallenge serves c in-process and returns the host-side client,
// which serves data (may be nil) to the plugin over the go-plugin broker once
// Describe is called. The plugin reports the name of c's type and version
// "sdktest". The server and client stop in t.Cleanup; the test fails if the
// plugin cannot be started.
func StartChallenge(t testing.TB, c sdk.Challenge, data sdk.HostData) *wire.ChallengeClient {
	t.Helper()
	return StartChallengeWithInfo(t, c, sdk.ChallengeInfo{Name: typeName(c), Version: "sdktest"}, data)
}

// StartChallengeWithInfo is StartChallenge with the ChallengeInfo reported
// by Describe.
func StartChallengeWithInfo(t testing.TB, c sdk.Challenge, info sdk.ChallengeInfo, data sdk.HostData) *wire.ChallengeClient {
	t.Helper()
	raw := start(t, sdk.PluginChallenge,
		wire.NewChallengePlugin(c, info, nil),
		wire.NewChallengePlugin(nil, sdk.ChallengeInfo{}, data))
	client, ok := raw.(*wire.ChallengeClient)
	if !ok {
		t.Fatalf("sdktest: dispense %q: expected *wire.ChallengeClient, found %T", sdk.PluginChallenge, raw)
	}
	return client
}

// StartModel serves m in-process and returns the host-side client. The
// model reports the name of m's type and version "sdktest". Cleanup as for
// StartChallenge.
func StartModel(t testing.TB, m sdk.Model) *wire.ModelClient {
	t.Helper()
	return StartModelWithInfo(t, m, sdk.ModelInfo{Name: typeName(m), Version: "sdktest"})
}

// StartModelWithInfo is StartModel with the ModelInfo reported by Describe.
func StartModelWithInfo(t testing.TB, m sdk.Model, info sdk.ModelInfo) *wire.ModelClient {
	t.Helper()
	raw := start(t, sdk.PluginModel, wire.NewModelPlugin(m, info), wire.NewModelPlugin(nil, sdk.ModelInfo{}))
	client, ok := raw.(*wire.ModelClient)
	if !ok {
		t.Fatalf("sdktest: dispense %q: expected *wire.ModelClient, found %T", sdk.PluginModel, raw)
	}
	return client
}

func typeName(v any) string {
	t := reflect.TypeOf(v)
	if t == nil {
		return "nil"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Name()
}

// RunChallenge is StartChallenge without a testing.TB (for examples and
// benchmarks' setup): it returns the client and a stop function that shuts
// the in-process plugin down and reports whether it stopped in time (later
// calls return the first result). go-plugin warnings go to stderr.
func RunChallenge(c sdk.Challenge, info sdk.ChallengeInfo, data sdk.HostData) (*wire.ChallengeClient, func() error, error) {
	raw, stop, err := launch(sdk.PluginChallenge,
		wire.NewChallengePlugin(c, info, nil),
		wire.NewChallengePlugin(nil, sdk.ChallengeInfo{}, data), os.Stderr)
	if err != nil {
		return nil, nil, err
	}
	client, ok := raw.(*wire.ChallengeClient)
	if !ok {
		_ = stop()
		return nil, nil, fmt.Errorf("sdktest: dispense %q: expected *wire.ChallengeClient, found %T", sdk.PluginChallenge, raw)
	}
	return client, stop, nil
}

// RunModel is StartModel without a testing.TB; see RunChallenge.
func RunModel(m sdk.Model, info sdk.ModelInfo) (*wire.ModelClient, func() error, error) {
	raw, stop, err := launch(sdk.PluginModel, wire.NewModelPlugin(m, info), wire.NewModelPlugin(nil, sdk.ModelInfo{}), os.Stderr)
	if err != nil {
		return nil, nil, err
	}
	client, ok := raw.(*wire.ModelClient)
	if !ok {
		_ = stop()
		return nil, nil, fmt.Errorf("sdktest: dispense %q: expected *wire.ModelClient, found %T", sdk.PluginModel, raw)
	}
	return client, stop, nil
}

// start launches the plugin, failing t on error and stopping it in
// t.Cleanup.
func start(t testing.TB, kind string, serverSide, clientSide plugin.Plugin) any {
	t.Helper()
	logOut := &testLogWriter{t: t}
	raw, stop, err := launch(kind, serverSide, clientSide, logOut)
	if err != nil {
		logOut.stop()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Error(err)
		}
		logOut.stop()
	})
	return raw
}

// launch serves serverSide with plugin.Serve in test mode and attaches a
// plugin.Client (dial options and allowed protocols as the host uses) whose
// done context closes when the server stops. stop closes the client
// connection and broker, shuts the server down and waits for it.
func launch(kind string, serverSide, clientSide plugin.Plugin, logOut io.Writer) (any, func() error, error) {
	logger := hclog.New(&hclog.LoggerOptions{Name: "sdktest." + kind, Level: hclog.Warn, Output: shutdownNoiseFilter{logOut}})

	ctx, cancel := context.WithCancel(context.Background())
	reattach := make(chan *plugin.ReattachConfig, 1)
	closed := make(chan struct{})
	go plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: seam.Handshake(),
		Plugins:         plugin.PluginSet{kind: serverSide},
		GRPCServer:      seam.NewServer,
		Logger:          logger,
		Test:            &plugin.ServeTestConfig{Context: ctx, ReattachConfigCh: reattach, CloseCh: closed},
	})
	stopServer := func() error {
		cancel()
		select {
		case <-closed:
			return nil
		case <-time.After(startTimeout):
			return fmt.Errorf("sdktest: %s plugin server did not stop within %v", kind, startTimeout)
		}
	}

	var rc *plugin.ReattachConfig
	select {
	case rc = <-reattach:
	case <-closed:
		cancel()
		return nil, nil, fmt.Errorf("sdktest: %s plugin server stopped before serving (see its log)", kind)
	case <-time.After(startTimeout):
		_ = stopServer()
		return nil, nil, fmt.Errorf("sdktest: %s plugin server did not start within %v", kind, startTimeout)
	}
	rc.ReattachFunc = func() (runner.AttachedRunner, error) { return &inProcess{stopped: closed}, nil }

	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  seam.Handshake(),
		Plugins:          plugin.PluginSet{kind: clientSide},
		Reattach:         rc,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		GRPCDialOptions:  seam.DialOptions(),
		Logger:           logger,
	})
	rpc, err := client.Client()
	if err != nil {
		client.Kill()
		_ = stopServer()
		return nil, nil, fmt.Errorf("sdktest: attach to %s plugin: %w", kind, err)
	}
	raw, err := rpc.Dispense(kind)
	if err != nil {
		_ = rpc.Close()
		client.Kill()
		_ = stopServer()
		return nil, nil, fmt.Errorf("sdktest: dispense %s plugin: %w", kind, err)
	}
	var once sync.Once
	var stopResult error
	stop := func() error {
		once.Do(func() {
			// Stop the server first (Serve's test context), then close the
			// client's broker and connection. Doing it the other way round
			// makes GRPCController.Shutdown and Serve stop the server
			// concurrently, a data race inside go-plugin v1.8.0.
			stopResult = stopServer()
			_ = rpc.Close()
			client.Kill()
		})
		return stopResult
	}
	return raw, stop, nil
}

// inProcess is the attached "process" of an in-process plugin: it exits
// when the test server stops, which cancels the client's done context.
type inProcess struct{ stopped <-chan struct{} }

func (p *inProcess) Wait(ctx context.Context) error {
	select {
	case <-p.stopped:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
func (p *inProcess) Kill(context.Context) error { return nil }
func (p *inProcess) ID() string                 { return "in-process" }
func (p *inProcess) PluginToHost(n, a string) (string, string, error) {
	return n, a, nil
}
func (p *inProcess) HostToPlugin(n, a string) (string, string, error) {
	return n, a, nil
}

// testLogWriter sends go-plugin log lines to t.Log until stop (t.Log after
// the test ends panics).
type testLogWriter struct {
	mu      sync.Mutex
	t       testing.TB
	stopped bool
}

func (w *testLogWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.stopped {
		w.t.Logf("go-plugin: %s", p)
	}
	return len(p), nil
}

func (w *testLogWriter) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stopped = true
}

// shutdownNoiseFilter drops the error go-plugin logs when a test-mode server
// stops by closing its listener ("use of closed network connection").
type shutdownNoiseFilter struct{ w io.Writer }

func (f shutdownNoiseFilter) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte("use of closed network connection")) {
		return len(p), nil
	}
	return f.w.Write(p)
}
