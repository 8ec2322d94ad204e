package sdk_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/crunch-coordinator/coordinator/sdk"
	"github.com/crunch-coordinator/coordinator/sdk/wire"
)

// envHelper selects what the re-executed test binary serves.
const envHelper = "SDK_TEST_HELPER_PLUGIN"

// panicky is a challenge whose BuildInferenceInput panics on "panic".
type panicky struct{ sdk.Defaults }

func (panicky) BuildInferenceInput(_ context.Context, raw json.RawMessage) (json.RawMessage, error) {
	if string(raw) == `"panic"` {
		panic("challenge bug")
	}
	return raw, nil
}

func (panicky) ScorePredictions(context.Context, []sdk.ScoreItem) ([]sdk.ScoreResult, error) {
	return nil, nil
}

type constModel struct{}

func (constModel) Tick(context.Context, json.RawMessage) error { return nil }
func (constModel) Predict(context.Context, []json.RawMessage, json.RawMessage) (json.RawMessage, error) {
	return json.RawMessage(`{"p_up":0.5}`), nil
}

// TestHelperProcess is the plugin main when the test binary is re-executed
// with envHelper set; otherwise it does nothing.
func TestHelperProcess(t *testing.T) {
	switch os.Getenv(envHelper) {
	case "challenge":
		sdk.ServeChallenge(panicky{}, sdk.ChallengeInfo{Name: "helper-challenge", Version: "9"})
	case "model":
		sdk.ServeModel(constModel{}, sdk.ModelInfo{Name: "helper-model", Version: "1"})
	default:
		return
	}
	os.Exit(0)
}

func helperCmd(kind string, withCookie bool) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), envHelper+"="+kind)
	if !withCookie {
		cmd.Env = append(cmd.Env, sdk.MagicCookieKey+"=wrong")
	}
	return cmd
}

// startSubprocess launches the helper as a real go-plugin subprocess, the
// way the host does, and returns the dispensed client.
func startSubprocess(t *testing.T, kind string, p plugin.Plugin) (any, *plugin.Client, *bytes.Buffer) {
	t.Helper()
	stderr := &bytes.Buffer{}
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  wire.HandshakeConfig(),
		Plugins:          plugin.PluginSet{kind: p},
		Cmd:              helperCmd(kind, true),
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		GRPCDialOptions:  wire.DialOptions(),
		AutoMTLS:         true,
		StartTimeout:     30 * time.Second,
		Stderr:           stderr,
		Logger:           hclog.NewNullLogger(),
	})
	t.Cleanup(client.Kill)
	rpc, err := client.Client()
	if err != nil {
		t.Fatalf("start %s plugin: %v\nstderr:\n%s", kind, err, stderr)
	}
	raw, err := rpc.Dispense(kind)
	if err != nil {
		t.Fatalf("dispense %s: %v", kind, err)
	}
	return raw, client, stderr
}

func TestServeChallengeSubprocess(t *testing.T) {
	raw, client, stderr := startSubprocess(t, sdk.PluginChallenge, wire.NewChallengePlugin(nil, sdk.ChallengeInfo{}, nil))
	c := raw.(*wire.ChallengeClient)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	desc, err := c.Describe(ctx)
	if err != nil {
		t.Fatalf("Describe: %v", err)
	}
	if desc.PluginName != "helper-challenge" || desc.PluginVersion != "9" || desc.ContractVersion != sdk.ContractVersion ||
		strings.Join(desc.Callables, ",") != "BuildInferenceInput,ScorePredictions" {
		t.Fatalf("Describe = %+v", desc)
	}
	out, err := c.BuildInferenceInput(ctx, json.RawMessage(`{"a":1}`))
	if err != nil || string(out) != `{"a":1}` {
		t.Fatalf("BuildInferenceInput = %s, %v", out, err)
	}
	// A panic is not recovered: the process dies and the call is Unavailable.
	_, err = c.BuildInferenceInput(ctx, json.RawMessage(`"panic"`))
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("panicking call: got %v, want Unavailable", err)
	}
	select {
	case <-c.Done():
	case <-ctx.Done():
		t.Fatal("Done not closed after the plugin process died")
	}
	for !client.Exited() {
		select {
		case <-ctx.Done():
			t.Fatal("client never saw the plugin exit")
		case <-time.After(10 * time.Millisecond):
		}
	}
	client.Kill() // waits for the stderr reader
	if !strings.Contains(stderr.String(), "panic: challenge bug") {
		t.Fatalf("stderr does not carry the panic:\n%s", stderr)
	}
}

func TestServeModelSubprocess(t *testing.T) {
	raw, _, _ := startSubprocess(t, sdk.PluginModel, wire.NewModelPlugin(nil, sdk.ModelInfo{}))
	m := raw.(*wire.ModelClient)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	desc, err := m.Describe(ctx)
	if err != nil || desc.ModelName != "helper-model" || strings.Join(desc.Methods, ",") != "Tick,Predict" {
		t.Fatalf("Describe = %+v, %v", desc, err)
	}
	out, err := m.Predict(ctx, []json.RawMessage{json.RawMessage(`"BTC"`)}, nil)
	if err != nil || string(out) != `{"p_up":0.5}` {
		t.Fatalf("Predict = %s, %v", out, err)
	}
}

func TestServeRunDirectlyExitsOne(t *testing.T) {
	cmd := helperCmd("challenge", false)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("run without host: got %v, want exit status 1", err)
	}
	if !strings.Contains(stderr.String(), "This binary is a plugin") || stdout.Len() != 0 {
		t.Fatalf("stdout %q stderr %q", stdout.String(), stderr.String())
	}
}
