package wire_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/crunch-coordinator/coordinator/sdk"
	"github.com/crunch-coordinator/coordinator/sdk/sdktest"
	"github.com/crunch-coordinator/coordinator/sdk/wire"
)

// answers is a challenge whose callables answer fixed values (sdk.Defaults
// for the others).
type answers struct {
	sdk.Defaults
	raw     json.RawMessage
	input   json.RawMessage
	verdict []sdk.ValidationResult
	scope   *sdk.ScopeEnvelope
	call    *sdk.PredictCall
	truth   []sdk.GroundTruthResult
	scores  []sdk.ScoreResult
	entries []sdk.LeaderboardEntry
	schema  *sdk.ReportSchema
}

func (a answers) ProvideRawInput(ctx context.Context, now time.Time, d sdk.HostData) (json.RawMessage, error) {
	if a.raw != nil {
		return a.raw, nil
	}
	return a.Defaults.ProvideRawInput(ctx, now, d)
}
func (a answers) BuildInferenceInput(ctx context.Context, raw json.RawMessage) (json.RawMessage, error) {
	if a.input != nil {
		return a.input, nil
	}
	return a.Defaults.BuildInferenceInput(ctx, raw)
}
func (a answers) ValidateInferenceOutput(ctx context.Context, items []sdk.ValidationItem) ([]sdk.ValidationResult, error) {
	if a.verdict != nil {
		return a.verdict, nil
	}
	return a.Defaults.ValidateInferenceOutput(ctx, items)
}
func (a answers) BuildPredictionScope(ctx context.Context, c sdk.ScheduleConfig, in json.RawMessage) (sdk.ScopeEnvelope, error) {
	if a.scope != nil {
		return *a.scope, nil
	}
	return a.Defaults.BuildPredictionScope(ctx, c, in)
}
func (a answers) BuildPredictCall(ctx context.Context, c sdk.ScheduleConfig, in json.RawMessage, s sdk.ScopeEnvelope) (sdk.PredictCall, error) {
	if a.call != nil {
		return *a.call, nil
	}
	return a.Defaults.BuildPredictCall(ctx, c, in, s)
}
func (a answers) ResolveGroundTruth(ctx context.Context, now time.Time, p []sdk.PredictionRecord, d sdk.HostData) ([]sdk.GroundTruthResult, error) {
	if a.truth != nil {
		return a.truth, nil
	}
	return a.Defaults.ResolveGroundTruth(ctx, now, p, d)
}
func (a answers) ScorePredictions(ctx context.Context, items []sdk.ScoreItem) ([]sdk.ScoreResult, error) {
	if a.scores != nil {
		return a.scores, nil
	}
	return a.Defaults.ScorePredictions(ctx, items)
}
func (a answers) AggregateModelScores(ctx context.Context, now time.Time, s []sdk.PredictionRecord, m map[string]sdk.ModelRecord) ([]sdk.LeaderboardEntry, error) {
	if a.entries != nil {
		return a.entries, nil
	}
	return a.Defaults.AggregateModelScores(ctx, now, s, m)
}
func (a answers) RankLeaderboard(ctx context.Context, e []sdk.LeaderboardEntry) ([]sdk.LeaderboardEntry, error) {
	if a.entries != nil {
		return a.entries, nil
	}
	return a.Defaults.RankLeaderboard(ctx, e)
}
func (a answers) ReportSchema(ctx context.Context) (sdk.ReportSchema, error) {
	if a.schema != nil {
		return *a.schema, nil
	}
	return a.Defaults.ReportSchema(ctx)
}

// TestCheckedBoundarySamePaths runs every case through both paths of the
// boundary: in-process (wire.Checked, as the host serves a callable routed
// to the default) and over the plugin's gRPC client (the plugin path). Both
// must give the same normalised answer, or both refuse it with
// ErrBadOutput.
func TestCheckedBoundarySamePaths(t *testing.T) {
	now := time.Date(2023, 3, 1, 12, 0, 0, 0, time.UTC)
	cfg := sdk.ScheduleConfig{ID: "row", ScopeKey: "row-key", Schedule: sdk.Schedule{EverySeconds: 60, ResolveAfterSeconds: 60}}
	v := func(f float64) *float64 { return &f }
	okEntry := sdk.LeaderboardEntry{ModelID: "m", Score: sdk.ScoreEnvelope{
		Metrics: map[string]*float64{"anchor": v(1)}, Ranking: sdk.Ranking{Key: "anchor", Value: v(1), TieBreakers: []string{}}, Payload: json.RawMessage(`{}`)}}
	type call func(ctx context.Context, c sdk.Challenge) (any, error)
	rawInput := func(ctx context.Context, c sdk.Challenge) (any, error) { return c.ProvideRawInput(ctx, now, nil) }
	inference := func(ctx context.Context, c sdk.Challenge) (any, error) {
		return c.BuildInferenceInput(ctx, json.RawMessage(`{}`))
	}
	validate := func(ctx context.Context, c sdk.Challenge) (any, error) {
		return c.ValidateInferenceOutput(ctx, []sdk.ValidationItem{{ModelID: "a", ScopeKey: "k", InferenceOutput: json.RawMessage(`{"p":1}`)}})
	}
	scope := func(ctx context.Context, c sdk.Challenge) (any, error) {
		return c.BuildPredictionScope(ctx, cfg, json.RawMessage(`{}`))
	}
	predictCall := func(ctx context.Context, c sdk.Challenge) (any, error) {
		return c.BuildPredictCall(ctx, cfg, json.RawMessage(`{}`), sdk.ScopeEnvelope{ScopeKey: "k", Scope: json.RawMessage(`{}`)})
	}
	truth := func(ctx context.Context, c sdk.Challenge) (any, error) {
		return c.ResolveGroundTruth(ctx, now, []sdk.PredictionRecord{{ID: "p1"}}, nil)
	}
	score := func(ctx context.Context, c sdk.Challenge) (any, error) {
		return c.ScorePredictions(ctx, []sdk.ScoreItem{{PredictionID: "p1", Prediction: json.RawMessage(`{}`), GroundTruth: json.RawMessage(`{}`)}})
	}
	aggregate := func(ctx context.Context, c sdk.Challenge) (any, error) {
		return c.AggregateModelScores(ctx, now, nil, nil)
	}
	rank := func(ctx context.Context, c sdk.Challenge) (any, error) { return c.RankLeaderboard(ctx, nil) }
	schema := func(ctx context.Context, c sdk.Challenge) (any, error) { return c.ReportSchema(ctx) }

	cases := []struct {
		name string
		src  answers
		call call
		want any // nil: refused with ErrBadOutput
	}{
		{"raw input null becomes {}", answers{raw: json.RawMessage(`null`)}, rawInput, json.RawMessage(`{}`)},
		{"raw input object kept", answers{raw: json.RawMessage(`{"a":1}`)}, rawInput, json.RawMessage(`{"a":1}`)},
		{"raw input array refused", answers{raw: json.RawMessage(`[1]`)}, rawInput, nil},
		{"inference input string refused", answers{input: json.RawMessage(`"x"`)}, inference, nil},
		{"inference input null refused", answers{input: json.RawMessage(`null`)}, inference, nil},
		{"validation count refused", answers{verdict: []sdk.ValidationResult{}}, validate, nil},
		{"validation non-object output fails the item", answers{verdict: []sdk.ValidationResult{{Output: json.RawMessage(`[1]`)}}}, validate,
			[]sdk.ValidationResult{{Error: "validator returned array output, expected a JSON object or null"}}},
		{"validation error drops the output", answers{verdict: []sdk.ValidationResult{{Output: json.RawMessage(`{"p":2}`), Error: "bad"}}}, validate,
			[]sdk.ValidationResult{{Error: "bad"}}},
		{"scope key falls back to the row's", answers{scope: &sdk.ScopeEnvelope{Scope: json.RawMessage(`{"a": 1}`)}}, scope,
			sdk.ScopeEnvelope{ScopeKey: "row-key", Scope: json.RawMessage(`{"a":1}`)}},
		{"scope null becomes {}", answers{scope: &sdk.ScopeEnvelope{ScopeKey: "k"}}, scope, sdk.ScopeEnvelope{ScopeKey: "k", Scope: json.RawMessage(`{}`)}},
		{"scope array refused", answers{scope: &sdk.ScopeEnvelope{ScopeKey: "k", Scope: json.RawMessage(`[1]`)}}, scope, nil},
		{"default scope", answers{}, scope, sdk.ScopeEnvelope{ScopeKey: "row-key", Scope: json.RawMessage(`{}`)}},
		{"call args and kwargs filled", answers{call: &sdk.PredictCall{}}, predictCall, sdk.PredictCall{Args: []json.RawMessage{}, Kwargs: json.RawMessage(`{}`)}},
		{"call kwargs array refused", answers{call: &sdk.PredictCall{Kwargs: json.RawMessage(`[1]`)}}, predictCall, nil},
		{"ground truth count refused", answers{truth: []sdk.GroundTruthResult{}}, truth, nil},
		{"ground truth null becomes {}", answers{truth: []sdk.GroundTruthResult{{Resolved: true}}}, truth,
			[]sdk.GroundTruthResult{{Resolved: true, GroundTruth: json.RawMessage(`{}`)}}},
		{"ground truth number refused", answers{truth: []sdk.GroundTruthResult{{Resolved: true, GroundTruth: json.RawMessage(`42`)}}}, truth, nil},
		{"ground truth kept with a terminal error", answers{truth: []sdk.GroundTruthResult{{Error: "flat move", GroundTruth: json.RawMessage(`{"move":"flat"}`)}}}, truth,
			[]sdk.GroundTruthResult{{Error: "flat move", GroundTruth: json.RawMessage(`{"move":"flat"}`)}}},
		{"ground truth none with a terminal error", answers{truth: []sdk.GroundTruthResult{{Error: "gap"}}}, truth, []sdk.GroundTruthResult{{Error: "gap"}}},
		{"ground truth array with a terminal error refused", answers{truth: []sdk.GroundTruthResult{{Error: "gap", GroundTruth: json.RawMessage(`[1]`)}}}, truth, nil},
		{"ground truth dropped while not yet resolvable", answers{truth: []sdk.GroundTruthResult{{GroundTruth: json.RawMessage(`{"a":1}`)}}}, truth, []sdk.GroundTruthResult{{}}},
		{"score id filled", answers{scores: []sdk.ScoreResult{{Value: v(0.5), Success: true}}}, score,
			[]sdk.ScoreResult{{PredictionID: "p1", Value: v(0.5), Success: true}}},
		{"score other id refused", answers{scores: []sdk.ScoreResult{{PredictionID: "p2"}}}, score, nil},
		{"score count refused", answers{scores: []sdk.ScoreResult{}}, score, nil},
		{"entries direction defaults to desc", answers{entries: []sdk.LeaderboardEntry{okEntry}}, aggregate,
			[]sdk.LeaderboardEntry{func() sdk.LeaderboardEntry { e := okEntry; e.Score.Ranking.Direction = sdk.DirectionDesc; return e }()}},
		{"entry without model id refused", answers{entries: []sdk.LeaderboardEntry{{Score: okEntry.Score}}}, rank, nil},
		{"entry with a bad direction refused", answers{entries: []sdk.LeaderboardEntry{{ModelID: "m", Score: sdk.ScoreEnvelope{Ranking: sdk.Ranking{Direction: "sideways"}}}}}, aggregate, nil},
		{"no entries", answers{}, rank, []sdk.LeaderboardEntry{}},
		{"schema version defaults to 1", answers{schema: func() *sdk.ReportSchema { s := sdk.DefaultReportSchema(); s.SchemaVersion = ""; return &s }()}, schema, sdk.DefaultReportSchema()},
		{"invalid schema refused", answers{schema: &sdk.ReportSchema{LeaderboardColumns: []sdk.LeaderboardColumn{{ID: 1, Type: "CHART", Property: "x", DisplayName: "X"}}}}, schema, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			paths := map[string]sdk.Challenge{
				"default path (in-process)": wire.Checked(tc.src),
				"plugin path (gRPC client)": sdktest.StartChallenge(t, tc.src, nil),
			}
			for path, c := range paths {
				got, err := tc.call(callCtx(t), c)
				if tc.want == nil {
					if !errors.Is(err, wire.ErrBadOutput) {
						t.Errorf("%s: got %v, %v; want an error wrapping ErrBadOutput", path, got, err)
					}
					continue
				}
				if err != nil {
					t.Errorf("%s: %v", path, err)
					continue
				}
				// Compared as JSON: what crosses the wire is JSON (a nil
				// raw value comes back as null).
				g, _ := json.Marshal(got)
				w, _ := json.Marshal(tc.want)
				if string(g) != string(w) || reflect.TypeOf(got) != reflect.TypeOf(tc.want) {
					t.Errorf("%s: got %T %s, want %T %s", path, got, g, tc.want, w)
				}
			}
		})
	}
}

// TestCheckedBoundaryInProcessOnly covers answers that cannot cross the
// wire (the plugin's server refuses to encode them): the in-process path
// refuses them with ErrBadOutput.
func TestCheckedBoundaryInProcessOnly(t *testing.T) {
	nan := func() *float64 { z := 0.0; v := z / z; return &v }()
	cases := []struct {
		name string
		call func(ctx context.Context, c sdk.Challenge) error
		src  answers
	}{
		{"non-finite score", func(ctx context.Context, c sdk.Challenge) error {
			_, err := c.ScorePredictions(ctx, []sdk.ScoreItem{{PredictionID: "p1"}})
			return err
		}, answers{scores: []sdk.ScoreResult{{PredictionID: "p1", Value: nan}}}},
		{"argument that is not JSON", func(ctx context.Context, c sdk.Challenge) error {
			_, err := c.BuildPredictCall(ctx, sdk.ScheduleConfig{}, nil, sdk.ScopeEnvelope{})
			return err
		}, answers{call: &sdk.PredictCall{Args: []json.RawMessage{json.RawMessage(`{`)}}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(callCtx(t), wire.Checked(tc.src)); !errors.Is(err, wire.ErrBadOutput) {
				t.Fatalf("got %v, want an error wrapping ErrBadOutput", err)
			}
		})
	}
}
