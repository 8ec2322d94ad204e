package host

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crunch-coordinator/coordinator/sdk"
	"github.com/crunch-coordinator/coordinator/sdk/wire"
)

func TestChallengeCallsAndDefaults(t *testing.T) {
	t.Parallel()
	marker := testMarker(t)
	c, err := StartChallenge(ctxT(t, 20*time.Second), mspec(marker, "challenge", challengeBin), nil, testOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	d := c.Description()
	if d.PluginName != "testchallenge" || d.ContractVersion != sdk.ContractVersion {
		t.Errorf("description %+v", d)
	}
	for _, name := range []string{sdk.CallableBuildInferenceInput, sdk.CallableScorePredictions, sdk.CallableReportSchema} {
		if !slices.Contains(d.Callables, name) {
			t.Errorf("Describe does not list %s: %v", name, d.Callables)
		}
	}
	if slices.Contains(d.Callables, sdk.CallableBuildPredictionScope) {
		t.Errorf("Describe lists a default callable: %v", d.Callables)
	}
	ctx := ctxT(t, 20*time.Second)
	in, err := c.BuildInferenceInput(ctx, json.RawMessage(`{"close":1.5}`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(in), `"built_by":"testchallenge"`) {
		t.Errorf("inference input %s was not built by the plugin", in)
	}
	scores, err := c.ScorePredictions(ctx, []sdk.ScoreItem{{PredictionID: "p1", Prediction: json.RawMessage(`{"v":1}`), GroundTruth: json.RawMessage(`{}`)}})
	if err != nil || len(scores) != 1 || scores[0].PredictionID != "p1" || scores[0].Value == nil || *scores[0].Value != 7 {
		t.Fatalf("scores %+v, %v", scores, err)
	}
	if _, err := c.ReportSchema(ctx); err != nil {
		t.Fatal(err)
	}
	// Not listed: sdk.Defaults in-process, same answer as calling it directly.
	cfg := sdk.ScheduleConfig{ID: "c1", ScopeKey: "k", ScopeTemplate: json.RawMessage(`{"horizon":60}`), Schedule: sdk.Schedule{EverySeconds: 60, ResolveAfterSeconds: 60}, Active: true}
	got, gerr := c.BuildPredictionScope(ctx, cfg, in)
	want, werr := sdk.Defaults{}.BuildPredictionScope(ctx, cfg, in)
	if (gerr == nil) != (werr == nil) || string(got.Scope) != string(want.Scope) || got.ScopeKey != want.ScopeKey {
		t.Errorf("default BuildPredictionScope: got %+v/%v, want %+v/%v", got, gerr, want, werr)
	}
}

func TestChallengeFailureClasses(t *testing.T) {
	t.Parallel()
	marker := testMarker(t)
	cases := []struct {
		mode string
		call func(*Challenge) error
		want Status
	}{
		{"fail", func(c *Challenge) error {
			_, err := c.BuildInferenceInput(ctxT(t, 20*time.Second), json.RawMessage(`{}`))
			return err
		}, StatusFailed},
		{"badschema", func(c *Challenge) error {
			_, err := c.ReportSchema(ctxT(t, 20*time.Second))
			return err
		}, StatusBadImplementation},
		{"sleep", func(c *Challenge) error {
			_, err := c.BuildInferenceInput(ctxT(t, 20*time.Second), json.RawMessage(`{}`))
			return err
		}, StatusTimeout},
	}
	for _, tc := range cases {
		t.Run(tc.mode, func(t *testing.T) {
			opts := testOptions(t)
			opts.CallTimeouts = map[string]time.Duration{sdk.CallableBuildInferenceInput: 400 * time.Millisecond}
			c, err := StartChallenge(ctxT(t, 20*time.Second), mspec(marker, "challenge-"+tc.mode, challengeBin, "-mode", tc.mode), nil, opts)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = c.Close() })
			err = tc.call(c)
			var ce *CallError
			if !errors.As(err, &ce) || ce.Status != tc.want || StatusOf(err) != tc.want {
				t.Fatalf("got %v, want a %s CallError", err, tc.want)
			}
			if tc.want == StatusBadImplementation && !errors.Is(err, ErrBadEnvelope) && !errors.Is(err, wire.ErrBadOutput) {
				t.Errorf("bad schema error %v wraps neither ErrBadEnvelope nor wire.ErrBadOutput", err)
			}
			// The plugin still answers its other callables (after a restart for TIMEOUT).
			if _, err := c.ScorePredictions(ctxT(t, 20*time.Second), nil); err != nil {
				t.Errorf("after %s: %v", tc.want, err)
			}
		})
	}
}

func TestChallengeCrashRestarts(t *testing.T) {
	t.Parallel()
	marker := testMarker(t)
	opts := testOptions(t)
	opts.Sandbox.Disabled = true // the crash-once marker outlives the generation: outside any scratch directory
	c, err := StartChallenge(ctxT(t, 20*time.Second),
		mspec(marker, "challenge", challengeBin, "-mode", "crashonce", "-marker", filepath.Join(t.TempDir(), "m")), nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	items := []sdk.ScoreItem{{PredictionID: "p", Prediction: json.RawMessage(`1`)}}
	_, err = c.ScorePredictions(ctxT(t, 20*time.Second), items)
	if StatusOf(err) != StatusCrashed || !strings.Contains(err.Error(), "CRASHED") {
		t.Fatalf("first call: %v, want CRASHED", err)
	}
	// The next call waits for the new generation within its deadline.
	got, err := c.ScorePredictions(ctxT(t, 20*time.Second), items)
	if err != nil || len(got) != 1 {
		t.Fatalf("after restart: %+v %v", got, err)
	}
	if c.Restarts() != 1 {
		t.Errorf("restarts = %d, want 1", c.Restarts())
	}
	_ = c.Close()
	if _, err := c.ScorePredictions(ctxT(t, 5*time.Second), items); !errors.Is(err, ErrStopped) {
		t.Errorf("after Close: %v", err)
	}
}

// TestChallengeRoute checks the one routing decision: Route refuses a
// callable the plugin does not list and changes nothing; after Route, a
// listed callable left out is served by the checked sdk.Defaults.
func TestChallengeRoute(t *testing.T) {
	t.Parallel()
	marker := testMarker(t)
	c, err := StartChallenge(ctxT(t, 20*time.Second), mspec(marker, "challenge-route", challengeBin), nil, testOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if !c.Routed(sdk.CallableBuildInferenceInput) || c.Routed(sdk.CallableBuildPredictionScope) {
		t.Fatalf("before Route: routed = listed by Describe %v", c.Description().Callables)
	}
	err = c.Route([]string{sdk.CallableScorePredictions, sdk.CallableBuildPredictionScope})
	var ue *UnroutableError
	if !errors.As(err, &ue) || !slices.Equal(ue.Callables, []string{sdk.CallableBuildPredictionScope}) {
		t.Fatalf("Route with an unlisted callable: %v, want an UnroutableError naming %s", err, sdk.CallableBuildPredictionScope)
	}
	if !c.Routed(sdk.CallableBuildInferenceInput) {
		t.Fatal("a refused Route changed the routing")
	}
	if err := c.Route([]string{sdk.CallableScorePredictions}); err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t, 20*time.Second)
	in, err := c.BuildInferenceInput(ctx, json.RawMessage(`{"close":1.5}`))
	if err != nil || string(in) != `{"close":1.5}` {
		t.Fatalf("BuildInferenceInput routed to the default: %s, %v; want sdk.Defaults' answer (the raw input)", in, err)
	}
	scores, err := c.ScorePredictions(ctx, []sdk.ScoreItem{{PredictionID: "p1", Prediction: json.RawMessage(`{"v":1}`), GroundTruth: json.RawMessage(`{}`)}})
	if err != nil || len(scores) != 1 || scores[0].Value == nil || *scores[0].Value != 7 {
		t.Fatalf("ScorePredictions routed to the plugin: %+v, %v", scores, err)
	}
}
