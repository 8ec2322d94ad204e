package wire_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/crunch-coordinator/coordinator/sdk"
	"github.com/crunch-coordinator/coordinator/sdk/sdktest"
	"github.com/crunch-coordinator/coordinator/sdk/wire"
)

// callTimeout is the per-call deadline of these tests (generous: -race on 2 cores).
const callTimeout = 10 * time.Second

func callCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	t.Cleanup(cancel)
	return ctx
}

func f64(v float64) *float64 { return &v }

// echoChallenge implements every callable itself and records what it got,
// answering values derived from its inputs so both directions are checked.
type echoChallenge struct {
	mu  sync.Mutex
	got map[string]any
}

func (e *echoChallenge) record(name string, v any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.got == nil {
		e.got = map[string]any{}
	}
	e.got[name] = v
}

func (e *echoChallenge) seen(name string) any {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.got[name]
}

func (e *echoChallenge) ProvideRawInput(_ context.Context, now time.Time, _ sdk.HostData) (json.RawMessage, error) {
	e.record("now", now)
	return json.RawMessage(fmt.Sprintf(`{"now":%q}`, now.Format(time.RFC3339Nano))), nil
}

func (e *echoChallenge) BuildInferenceInput(_ context.Context, raw json.RawMessage) (json.RawMessage, error) {
	return json.RawMessage(fmt.Sprintf(`{"wrapped":%s}`, raw)), nil
}

func (e *echoChallenge) ValidateInferenceOutput(_ context.Context, items []sdk.ValidationItem) ([]sdk.ValidationResult, error) {
	e.record("items", items)
	out := make([]sdk.ValidationResult, len(items))
	for i, it := range items {
		switch it.ModelID {
		case "bad":
			out[i].Error = "no value for " + it.ScopeKey
		case "rewrite":
			out[i].Output = json.RawMessage(`{"value":1.5}`)
		}
	}
	return out, nil
}

func (e *echoChallenge) BuildPredictionScope(_ context.Context, config sdk.ScheduleConfig, input json.RawMessage) (sdk.ScopeEnvelope, error) {
	e.record("config", config)
	e.record("scope-input", input)
	return sdk.ScopeEnvelope{ScopeKey: config.ScopeKey + "-x", Scope: config.ScopeTemplate}, nil
}

func (e *echoChallenge) BuildPredictCall(_ context.Context, config sdk.ScheduleConfig, _ json.RawMessage, scope sdk.ScopeEnvelope) (sdk.PredictCall, error) {
	e.record("call-scope", scope)
	return sdk.PredictCall{
		Args:   []json.RawMessage{json.RawMessage(`"` + scope.ScopeKey + `"`), json.RawMessage(`2.5`), json.RawMessage(`true`), json.RawMessage(`12345678901234567890`)},
		Kwargs: json.RawMessage(fmt.Sprintf(`{"every":%d}`, config.Schedule.EverySeconds)),
	}, nil
}

func (e *echoChallenge) ResolveGroundTruth(_ context.Context, now time.Time, preds []sdk.PredictionRecord, _ sdk.HostData) ([]sdk.GroundTruthResult, error) {
	e.record("gt-preds", preds)
	out := make([]sdk.GroundTruthResult, len(preds))
	for i, p := range preds {
		switch {
		case p.ResolvableAt.After(now):
			out[i] = sdk.GroundTruthResult{}
		case p.ScopeKey == "gone":
			out[i] = sdk.GroundTruthResult{Error: "feed gap"}
		default:
			out[i] = sdk.GroundTruthResult{Resolved: true, GroundTruth: json.RawMessage(`{"price":101}`)}
		}
	}
	return out, nil
}

func (e *echoChallenge) ScorePredictions(_ context.Context, items []sdk.ScoreItem) ([]sdk.ScoreResult, error) {
	out := make([]sdk.ScoreResult, len(items))
	for i, it := range items {
		var p, g struct{ Value, Price float64 }
		if err := json.Unmarshal(it.Prediction, &p); err != nil {
			return nil, err
		}
		if err := json.Unmarshal(it.GroundTruth, &g); err != nil {
			return nil, err
		}
		if i == 1 {
			out[i] = sdk.ScoreResult{Success: false, FailedReason: "no value"} // id filled by the server
			continue
		}
		out[i] = sdk.ScoreResult{PredictionID: it.PredictionID, Value: f64(g.Price - p.Value), Success: true}
	}
	return out, nil
}

func (e *echoChallenge) AggregateModelScores(_ context.Context, now time.Time, scored []sdk.PredictionRecord, models map[string]sdk.ModelRecord) ([]sdk.LeaderboardEntry, error) {
	e.record("agg-now", now)
	e.record("agg-scored", scored)
	e.record("agg-models", models)
	var out []sdk.LeaderboardEntry
	for _, p := range scored {
		out = append(out, sdk.LeaderboardEntry{
			ModelID: p.ModelID,
			Score: sdk.ScoreEnvelope{
				Metrics: map[string]*float64{"last": p.Score.Value, "none": nil},
				Ranking: sdk.Ranking{Key: "last", Direction: sdk.DirectionAsc, TieBreakers: []string{"none"}},
				Payload: json.RawMessage(`{"n":1}`),
			},
			ModelName: models[p.ModelID].Name, CruncherName: models[p.ModelID].PlayerName,
		})
	}
	return out, nil
}

func (e *echoChallenge) RankLeaderboard(_ context.Context, entries []sdk.LeaderboardEntry) ([]sdk.LeaderboardEntry, error) {
	out := make([]sdk.LeaderboardEntry, 0, len(entries))
	for i := len(entries) - 1; i >= 0; i-- {
		e := entries[i]
		e.Rank = len(entries) - i
		out = append(out, e)
	}
	return out, nil
}

func (e *echoChallenge) ReportSchema(context.Context) (sdk.ReportSchema, error) {
	s := sdk.DefaultReportSchema()
	s.SchemaVersion = "7"
	return s, nil
}

func TestChallengeRoundTripEveryRPC(t *testing.T) {
	impl := &echoChallenge{}
	c := sdktest.StartChallengeWithInfo(t, impl, sdk.ChallengeInfo{Name: "echo", Version: "1.2.3"}, nil)
	ctx := callCtx(t)

	desc, err := c.Describe(ctx)
	if err != nil {
		t.Fatalf("Describe: %v", err)
	}
	want := wire.ChallengeDescription{ContractVersion: sdk.ContractVersion, PluginName: "echo", PluginVersion: "1.2.3", Callables: sdk.AllCallables,
		OptionalMethods: []string{sdk.MethodBuildInferenceInputs}}
	if !reflect.DeepEqual(desc, want) {
		t.Fatalf("Describe = %+v, want %+v", desc, want)
	}

	now := time.Date(2023, 3, 1, 12, 30, 15, 123456789, time.FixedZone("X", 3600))
	raw, err := c.ProvideRawInput(ctx, now, nil)
	if err != nil {
		t.Fatalf("ProvideRawInput: %v", err)
	}
	if got := impl.seen("now").(time.Time); !got.Equal(now) || got.Location() != time.UTC {
		t.Fatalf("plugin got now %v (%v), want %v in UTC", got, got.Location(), now)
	}
	if string(raw) != `{"now":"2023-03-01T11:30:15.123456789Z"}` {
		t.Fatalf("ProvideRawInput = %s", raw)
	}

	input, err := c.BuildInferenceInput(ctx, json.RawMessage(`{"big":123456789012345678901234567890,"x":[1,2]}`))
	if err != nil {
		t.Fatalf("BuildInferenceInput: %v", err)
	}
	if string(input) != `{"wrapped":{"big":123456789012345678901234567890,"x":[1,2]}}` {
		t.Fatalf("BuildInferenceInput = %s (big integers must survive)", input)
	}

	items := []sdk.ValidationItem{
		{ModelID: "ok", ScopeKey: "s", InferenceOutput: json.RawMessage(`{"value":1}`)},
		{ModelID: "bad", ScopeKey: "s2", InferenceOutput: json.RawMessage(`{"result":null}`)},
		{ModelID: "rewrite", ScopeKey: "s", InferenceOutput: json.RawMessage(`{"value":"1.5"}`)},
	}
	vres, err := c.ValidateInferenceOutput(ctx, items)
	if err != nil {
		t.Fatalf("ValidateInferenceOutput: %v", err)
	}
	if !reflect.DeepEqual(impl.seen("items"), items) {
		t.Fatalf("plugin got items %+v, want %+v", impl.seen("items"), items)
	}
	wantV := []sdk.ValidationResult{{}, {Error: "no value for s2"}, {Output: json.RawMessage(`{"value":1.5}`)}}
	if !reflect.DeepEqual(vres, wantV) {
		t.Fatalf("ValidateInferenceOutput = %+v, want %+v", vres, wantV)
	}

	config := sdk.ScheduleConfig{ID: "CFG_001", ScopeKey: "btc-60", ScopeTemplate: json.RawMessage(`{"asset":"BTC","horizon":60}`),
		Schedule: sdk.Schedule{EverySeconds: 15, ResolveAfterSeconds: 60}, Active: true, Order: 2, Meta: json.RawMessage(`{"m":1}`)}
	scope, err := c.BuildPredictionScope(ctx, config, input)
	if err != nil {
		t.Fatalf("BuildPredictionScope: %v", err)
	}
	if !reflect.DeepEqual(impl.seen("config"), config) {
		t.Fatalf("plugin got config %+v, want %+v", impl.seen("config"), config)
	}
	if string(impl.seen("scope-input").(json.RawMessage)) != string(input) {
		t.Fatalf("plugin got inference input %s", impl.seen("scope-input"))
	}
	if scope.ScopeKey != "btc-60-x" || string(scope.Scope) != `{"asset":"BTC","horizon":60}` {
		t.Fatalf("BuildPredictionScope = %+v", scope)
	}

	call, err := c.BuildPredictCall(ctx, config, input, scope)
	if err != nil {
		t.Fatalf("BuildPredictCall: %v", err)
	}
	if !reflect.DeepEqual(impl.seen("call-scope"), scope) {
		t.Fatalf("plugin got scope %+v, want %+v", impl.seen("call-scope"), scope)
	}
	gotArgs, _ := json.Marshal(call.Args)
	if string(gotArgs) != `["btc-60-x",2.5,true,12345678901234567890]` || string(call.Kwargs) != `{"every":15}` {
		t.Fatalf("BuildPredictCall = %s %s", gotArgs, call.Kwargs)
	}

	base := time.Date(2023, 3, 2, 0, 0, 0, 0, time.UTC)
	null := json.RawMessage("null")
	preds := []sdk.PredictionRecord{
		{ID: "p1", ModelID: "m1", ScopeKey: "btc", Scope: json.RawMessage(`{"asset":"BTC"}`), Status: "SUCCESS", ExecTimeMs: 1.25,
			InferenceInput: json.RawMessage(`{}`), InferenceOutput: json.RawMessage(`{"value":100}`), Meta: json.RawMessage(`{}`),
			PerformedAt: base.Add(-2 * time.Minute), ResolvableAt: base.Add(-time.Minute)},
		// Nil JSON fields travel as JSON null.
		{ID: "p2", ModelID: "m2", ScopeKey: "btc", Scope: null, InferenceInput: null, InferenceOutput: null, Meta: null,
			PerformedAt: base, ResolvableAt: base.Add(time.Minute)},
		{ID: "p3", ModelID: "m3", ScopeKey: "gone", Scope: null, InferenceInput: null, InferenceOutput: null, Meta: null,
			PerformedAt: base.Add(-time.Hour), ResolvableAt: base.Add(-time.Hour)},
	}
	gts, err := c.ResolveGroundTruth(ctx, base, preds, nil)
	if err != nil {
		t.Fatalf("ResolveGroundTruth: %v", err)
	}
	if !reflect.DeepEqual(impl.seen("gt-preds"), preds) {
		t.Fatalf("plugin got predictions\n%+v\nwant\n%+v", impl.seen("gt-preds"), preds)
	}
	wantGT := []sdk.GroundTruthResult{{Resolved: true, GroundTruth: json.RawMessage(`{"price":101}`)}, {}, {Error: "feed gap"}}
	if !reflect.DeepEqual(gts, wantGT) {
		t.Fatalf("ResolveGroundTruth = %+v, want %+v", gts, wantGT)
	}

	scores, err := c.ScorePredictions(ctx, []sdk.ScoreItem{
		{PredictionID: "p1", Prediction: json.RawMessage(`{"value":100}`), GroundTruth: json.RawMessage(`{"price":101}`)},
		{PredictionID: "p9", Prediction: json.RawMessage(`{"value":1}`), GroundTruth: json.RawMessage(`{"price":1}`)},
	})
	if err != nil {
		t.Fatalf("ScorePredictions: %v", err)
	}
	wantS := []sdk.ScoreResult{{PredictionID: "p1", Value: f64(1), Success: true}, {PredictionID: "p9", FailedReason: "no value"}}
	if !reflect.DeepEqual(scores, wantS) {
		t.Fatalf("ScorePredictions = %+v, want %+v", scores, wantS)
	}

	preds[0].Score = &sdk.PredictionScore{Value: f64(0.25), Success: true, ScoredAt: base}
	models := map[string]sdk.ModelRecord{"m1": {ID: "m1", Name: "alpha", PlayerID: "u1", PlayerName: "ann", DeploymentID: "d1"}}
	entries, err := c.AggregateModelScores(ctx, base, preds[:1], models)
	if err != nil {
		t.Fatalf("AggregateModelScores: %v", err)
	}
	if !reflect.DeepEqual(impl.seen("agg-models"), models) || !reflect.DeepEqual(impl.seen("agg-scored"), preds[:1]) {
		t.Fatalf("plugin got scored %+v models %+v", impl.seen("agg-scored"), impl.seen("agg-models"))
	}
	if len(entries) != 1 || entries[0].ModelID != "m1" || entries[0].ModelName != "alpha" || entries[0].CruncherName != "ann" ||
		*entries[0].Score.Metrics["last"] != 0.25 || entries[0].Score.Metrics["none"] != nil ||
		entries[0].Score.Ranking.Direction != sdk.DirectionAsc || string(entries[0].Score.Payload) != `{"n":1}` {
		t.Fatalf("AggregateModelScores = %+v", entries)
	}

	two := append(entries, sdk.LeaderboardEntry{ModelID: "m2", Score: sdk.ScoreEnvelope{Ranking: sdk.Ranking{Direction: sdk.DirectionDesc}}})
	ranked, err := c.RankLeaderboard(ctx, two)
	if err != nil {
		t.Fatalf("RankLeaderboard: %v", err)
	}
	if len(ranked) != 2 || ranked[0].ModelID != "m2" || ranked[0].Rank != 1 || ranked[1].ModelID != "m1" || ranked[1].Rank != 2 {
		t.Fatalf("RankLeaderboard = %+v", ranked)
	}

	schema, err := c.ReportSchema(ctx)
	if err != nil {
		t.Fatalf("ReportSchema: %v", err)
	}
	wantSchema := sdk.DefaultReportSchema()
	wantSchema.SchemaVersion = "7"
	gotJSON, _ := json.Marshal(schema)
	wantJSON, _ := json.Marshal(wantSchema)
	if string(gotJSON) != string(wantJSON) {
		t.Fatalf("ReportSchema =\n%s\nwant\n%s", gotJSON, wantJSON)
	}
}

// minimal embeds Defaults and overrides only the two required callables.
type minimal struct{ sdk.Defaults }

func (minimal) BuildInferenceInput(_ context.Context, raw json.RawMessage) (json.RawMessage, error) {
	return raw, nil
}

func (minimal) ScorePredictions(_ context.Context, items []sdk.ScoreItem) ([]sdk.ScoreResult, error) {
	return make([]sdk.ScoreResult, len(items)), nil
}

func TestDescribeListsOnlyImplementedCallables(t *testing.T) {
	for name, impl := range map[string]sdk.Challenge{"value": minimal{}, "pointer": &minimal{}} {
		t.Run(name, func(t *testing.T) {
			c := sdktest.StartChallenge(t, impl, nil)
			desc, err := c.Describe(callCtx(t))
			if err != nil {
				t.Fatalf("Describe: %v", err)
			}
			want := []string{sdk.CallableBuildInferenceInput, sdk.CallableScorePredictions}
			if !reflect.DeepEqual(desc.Callables, want) {
				t.Fatalf("Callables = %v, want %v", desc.Callables, want)
			}
			if desc.PluginName != "minimal" || desc.PluginVersion != "sdktest" {
				t.Fatalf("Describe = %+v", desc)
			}
		})
	}
}

// feedChallenge reads host data from its callables.
type feedChallenge struct{ sdk.Defaults }

func (feedChallenge) ProvideRawInput(ctx context.Context, now time.Time, data sdk.HostData) (json.RawMessage, error) {
	recs, err := data.ReadFeedRecords(ctx, sdk.FeedQuery{Asset: "BTC", Kind: "candle", End: now, Limit: 2, Descending: true})
	if err != nil {
		return nil, fmt.Errorf("read candles: %w", err)
	}
	clock, ok := data.(sdk.HostClock)
	if !ok {
		return nil, errors.New("host data has no clock")
	}
	hostNow, err := clock.Now(ctx)
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{"records": recs, "host_now": hostNow})
}

func (feedChallenge) ResolveGroundTruth(ctx context.Context, _ time.Time, preds []sdk.PredictionRecord, data sdk.HostData) ([]sdk.GroundTruthResult, error) {
	out := make([]sdk.GroundTruthResult, len(preds))
	for i, p := range preds {
		recs, err := data.ReadFeedRecords(ctx, sdk.FeedQuery{Asset: "BTC", Start: p.ResolvableAt, Limit: 1})
		if err != nil {
			return nil, err
		}
		if len(recs) == 0 {
			continue
		}
		out[i] = sdk.GroundTruthResult{Resolved: true, GroundTruth: recs[0].Values}
	}
	return out, nil
}

func TestHostDataOverBroker(t *testing.T) {
	t0 := time.Date(2023, 3, 1, 0, 0, 0, 0, time.UTC)
	rec := func(min int, asset string, close float64) sdk.FeedRecord {
		return sdk.FeedRecord{Provider: "binance", Asset: asset, Kind: "candle", Granularity: "1m",
			TsEvent: t0.Add(time.Duration(min) * time.Minute), Values: json.RawMessage(fmt.Sprintf(`{"close":%g}`, close))}
	}
	data := sdktest.NewMemoryHostData(rec(0, "BTC", 1), rec(1, "BTC", 2), rec(2, "ETH", 9), rec(3, "BTC", 3), rec(4, "BTC", 4))
	data.SetNow(t0.Add(time.Hour))
	c := sdktest.StartChallenge(t, feedChallenge{}, data)
	ctx := callCtx(t)
	if _, err := c.Describe(ctx); err != nil {
		t.Fatalf("Describe: %v", err)
	}
	// A second Describe reuses the same brokered service.
	if _, err := c.Describe(ctx); err != nil {
		t.Fatalf("second Describe: %v", err)
	}
	raw, err := c.ProvideRawInput(ctx, t0.Add(3*time.Minute), nil)
	if err != nil {
		t.Fatalf("ProvideRawInput: %v", err)
	}
	var got struct {
		Records []sdk.FeedRecord `json:"records"`
		HostNow time.Time        `json:"host_now"`
	}
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatalf("decode raw input %s: %v", raw, err)
	}
	if len(got.Records) != 2 || !got.Records[0].TsEvent.Equal(t0.Add(3*time.Minute)) || !got.Records[1].TsEvent.Equal(t0.Add(time.Minute)) ||
		string(got.Records[0].Values) != `{"close":3}` || got.Records[0].Provider != "binance" || got.Records[0].Granularity != "1m" {
		t.Fatalf("records over the broker = %+v", got.Records)
	}
	if !got.HostNow.Equal(t0.Add(time.Hour)) {
		t.Fatalf("host clock = %v, want %v", got.HostNow, t0.Add(time.Hour))
	}
	gts, err := c.ResolveGroundTruth(ctx, t0, []sdk.PredictionRecord{
		{ID: "a", ResolvableAt: t0.Add(90 * time.Second)},
		{ID: "b", ResolvableAt: t0.Add(time.Hour)},
	}, nil)
	if err != nil {
		t.Fatalf("ResolveGroundTruth: %v", err)
	}
	if !gts[0].Resolved || string(gts[0].GroundTruth) != `{"close":3}` || gts[1].Resolved {
		t.Fatalf("ResolveGroundTruth = %+v", gts)
	}
}

func TestHostDataAbsent(t *testing.T) {
	c := sdktest.StartChallenge(t, feedChallenge{}, nil)
	ctx := callCtx(t)
	if _, err := c.Describe(ctx); err != nil {
		t.Fatalf("Describe: %v", err)
	}
	_, err := c.ProvideRawInput(ctx, time.Now(), nil)
	if status.Code(err) != codes.Unknown || !strings.Contains(err.Error(), sdk.ErrNoHostData.Error()) {
		t.Fatalf("ProvideRawInput without host data: got %v, want Unknown mentioning %q", err, sdk.ErrNoHostData)
	}
}

// failing returns errors chosen by the input.
type failing struct{ sdk.Defaults }

func (failing) BuildInferenceInput(ctx context.Context, raw json.RawMessage) (json.RawMessage, error) {
	switch string(raw) {
	case `"plain"`:
		return nil, errors.New("boom")
	case `"invalid"`:
		return nil, fmt.Errorf("field x: %w", sdk.ErrInvalidInput)
	case `"notready"`:
		return nil, fmt.Errorf("weights loading: %w", sdk.ErrNotReady)
	case `"wait"`:
		<-ctx.Done()
		return nil, ctx.Err()
	case `"array"`:
		return json.RawMessage(`[1]`), nil
	case `"garbage"`:
		return json.RawMessage(`{not json`), nil
	}
	return raw, nil
}

func TestCallableErrorCodes(t *testing.T) {
	c := sdktest.StartChallenge(t, failing{}, nil)
	tests := []struct {
		input   string
		code    codes.Code
		message string
	}{
		{`"plain"`, codes.Unknown, "BuildInferenceInput: boom"},
		{`"invalid"`, codes.InvalidArgument, "field x: invalid input"},
		{`"notready"`, codes.FailedPrecondition, "weights loading: not ready"},
	}
	for _, tt := range tests {
		t.Run(tt.input, func(t *testing.T) {
			_, err := c.BuildInferenceInput(callCtx(t), json.RawMessage(tt.input))
			if status.Code(err) != tt.code || !strings.Contains(status.Convert(err).Message(), tt.message) {
				t.Fatalf("got %v, want code %v with %q", err, tt.code, tt.message)
			}
		})
	}
	t.Run("deadline", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_, err := c.BuildInferenceInput(ctx, json.RawMessage(`"wait"`))
		if status.Code(err) != codes.DeadlineExceeded {
			t.Fatalf("got %v, want DeadlineExceeded", err)
		}
	})
}

func TestChallengeBadOutput(t *testing.T) {
	c := sdktest.StartChallenge(t, failing{}, nil)
	for _, input := range []string{`"array"`, `"garbage"`} {
		_, err := c.BuildInferenceInput(callCtx(t), json.RawMessage(input))
		if !errors.Is(err, wire.ErrBadOutput) {
			t.Fatalf("BuildInferenceInput(%s): got %v, want ErrBadOutput", input, err)
		}
	}
}

// wrongShapes answers shapes the client must reject.
type wrongShapes struct{ sdk.Defaults }

func (wrongShapes) ProvideRawInput(context.Context, time.Time, sdk.HostData) (json.RawMessage, error) {
	return json.RawMessage(`"text"`), nil
}
func (wrongShapes) ValidateInferenceOutput(context.Context, []sdk.ValidationItem) ([]sdk.ValidationResult, error) {
	return nil, nil
}
func (wrongShapes) BuildPredictionScope(context.Context, sdk.ScheduleConfig, json.RawMessage) (sdk.ScopeEnvelope, error) {
	return sdk.ScopeEnvelope{Scope: json.RawMessage(`[1]`)}, nil
}
func (wrongShapes) BuildPredictCall(context.Context, sdk.ScheduleConfig, json.RawMessage, sdk.ScopeEnvelope) (sdk.PredictCall, error) {
	return sdk.PredictCall{Kwargs: json.RawMessage(`[1]`)}, nil
}
func (wrongShapes) ResolveGroundTruth(context.Context, time.Time, []sdk.PredictionRecord, sdk.HostData) ([]sdk.GroundTruthResult, error) {
	return []sdk.GroundTruthResult{{Resolved: true, GroundTruth: json.RawMessage(`42`)}}, nil
}
func (wrongShapes) ScorePredictions(context.Context, []sdk.ScoreItem) ([]sdk.ScoreResult, error) {
	return []sdk.ScoreResult{{PredictionID: "other"}}, nil
}
func (wrongShapes) AggregateModelScores(context.Context, time.Time, []sdk.PredictionRecord, map[string]sdk.ModelRecord) ([]sdk.LeaderboardEntry, error) {
	return []sdk.LeaderboardEntry{{ModelID: ""}}, nil
}
func (wrongShapes) RankLeaderboard(context.Context, []sdk.LeaderboardEntry) ([]sdk.LeaderboardEntry, error) {
	return []sdk.LeaderboardEntry{{ModelID: "m", Score: sdk.ScoreEnvelope{Ranking: sdk.Ranking{Direction: "sideways"}}}}, nil
}
func (wrongShapes) ReportSchema(context.Context) (sdk.ReportSchema, error) {
	return sdk.ReportSchema{LeaderboardColumns: []sdk.LeaderboardColumn{{ID: 1, Type: "CHART", Property: "x", DisplayName: "X"}}}, nil
}

func TestChallengeWrongShapesAreBadOutput(t *testing.T) {
	c := sdktest.StartChallenge(t, wrongShapes{}, nil)
	now := time.Date(2023, 3, 1, 0, 0, 0, 0, time.UTC)
	calls := map[string]func(ctx context.Context) error{
		"ProvideRawInput": func(ctx context.Context) error { _, err := c.ProvideRawInput(ctx, now, nil); return err },
		"ValidateInferenceOutput count": func(ctx context.Context) error {
			_, err := c.ValidateInferenceOutput(ctx, []sdk.ValidationItem{{ModelID: "m"}})
			return err
		},
		"BuildPredictionScope": func(ctx context.Context) error {
			_, err := c.BuildPredictionScope(ctx, sdk.ScheduleConfig{ScopeKey: "k"}, json.RawMessage(`{}`))
			return err
		},
		"BuildPredictCall": func(ctx context.Context) error {
			_, err := c.BuildPredictCall(ctx, sdk.ScheduleConfig{}, json.RawMessage(`{}`), sdk.ScopeEnvelope{ScopeKey: "k"})
			return err
		},
		"ResolveGroundTruth": func(ctx context.Context) error {
			_, err := c.ResolveGroundTruth(ctx, now, []sdk.PredictionRecord{{ID: "p"}}, nil)
			return err
		},
		"ScorePredictions id": func(ctx context.Context) error {
			_, err := c.ScorePredictions(ctx, []sdk.ScoreItem{{PredictionID: "p"}})
			return err
		},
		"AggregateModelScores": func(ctx context.Context) error {
			_, err := c.AggregateModelScores(ctx, now, nil, nil)
			return err
		},
		"RankLeaderboard": func(ctx context.Context) error { _, err := c.RankLeaderboard(ctx, nil); return err },
		"ReportSchema":    func(ctx context.Context) error { _, err := c.ReportSchema(ctx); return err },
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			err := call(callCtx(t))
			if !errors.Is(err, wire.ErrBadOutput) {
				t.Fatalf("got %v, want an error wrapping ErrBadOutput", err)
			}
		})
	}
}

// echoModel records Tick inputs and echoes Predict arguments.
type echoModel struct {
	mu    sync.Mutex
	ticks []string
	reply json.RawMessage
}

func (m *echoModel) Tick(_ context.Context, input json.RawMessage) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ticks = append(m.ticks, string(input))
	return nil
}

func (m *echoModel) Predict(_ context.Context, args []json.RawMessage, kwargs json.RawMessage) (json.RawMessage, error) {
	if m.reply != nil {
		return m.reply, nil
	}
	return json.Marshal(map[string]any{"args": args, "kwargs": kwargs})
}

func TestModelRoundTrip(t *testing.T) {
	m := &echoModel{}
	c := sdktest.StartModelWithInfo(t, m, sdk.ModelInfo{Name: "echo-model", Version: "0.1"})
	ctx := callCtx(t)
	desc, err := c.Describe(ctx)
	if err != nil {
		t.Fatalf("Describe: %v", err)
	}
	want := wire.ModelDescription{ContractVersion: sdk.ContractVersion, ModelName: "echo-model", ModelVersion: "0.1", Methods: []string{sdk.MethodTick, sdk.MethodPredict},
		OptionalMethods: []string{sdk.MethodTickPredict, sdk.MethodTickPredictBatch}}
	if !reflect.DeepEqual(desc, want) {
		t.Fatalf("Describe = %+v, want %+v", desc, want)
	}
	if err := c.Tick(ctx, json.RawMessage(`{"candles":[1,2]}`)); err != nil {
		t.Fatalf("Tick: %v", err)
	}
	if len(m.ticks) != 1 || m.ticks[0] != `{"candles":[1,2]}` {
		t.Fatalf("model got ticks %v", m.ticks)
	}
	out, err := c.Predict(ctx, []json.RawMessage{json.RawMessage(`"BTC"`), json.RawMessage(`60`), nil}, nil)
	if err != nil {
		t.Fatalf("Predict: %v", err)
	}
	if string(out) != `{"args":["BTC",60,null],"kwargs":{}}` {
		t.Fatalf("Predict = %s", out)
	}
}

func TestModelOutputs(t *testing.T) {
	tests := []struct {
		name  string
		reply string
		want  string
		bad   bool
	}{
		{"number", `0.75`, `0.75`, false},
		{"string", `"up"`, `"up"`, false},
		{"null literal", `null`, `null`, false},
		{"not json", `{"value": 1`, "", true},
		{"python repr", `{'value': 1}`, "", true},
		{"two values", `1 2`, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := sdktest.StartModel(t, &echoModel{reply: json.RawMessage(tt.reply)})
			out, err := c.Predict(callCtx(t), nil, json.RawMessage(`{}`))
			if tt.bad {
				if !errors.Is(err, wire.ErrBadOutput) {
					t.Fatalf("got %s, %v; want ErrBadOutput", out, err)
				}
				return
			}
			if err != nil || string(out) != tt.want {
				t.Fatalf("got %s, %v; want %s", out, err, tt.want)
			}
		})
	}
}

func TestOversizedMessagesAreResourceExhausted(t *testing.T) {
	big := make([]byte, wire.MaxMessageBytes+1024)
	for i := range big {
		big[i] = 'a'
	}
	big[0], big[len(big)-1] = '"', '"'

	t.Run("request", func(t *testing.T) {
		c := sdktest.StartChallenge(t, minimal{}, nil)
		_, err := c.BuildInferenceInput(callCtx(t), json.RawMessage(big))
		if status.Code(err) != codes.ResourceExhausted {
			t.Fatalf("got %v, want ResourceExhausted", err)
		}
	})
	t.Run("response", func(t *testing.T) {
		c := sdktest.StartModel(t, &echoModel{reply: json.RawMessage(big)})
		_, err := c.Predict(callCtx(t), nil, nil)
		if status.Code(err) != codes.ResourceExhausted {
			t.Fatalf("got %v, want ResourceExhausted", err)
		}
	})
	t.Run("just under the cap", func(t *testing.T) {
		under := big[:wire.MaxMessageBytes-1024]
		under[len(under)-1] = '"'
		c := sdktest.StartModel(t, &echoModel{reply: json.RawMessage(under)})
		out, err := c.Predict(callCtx(t), nil, nil)
		if err != nil || len(out) != len(under) {
			t.Fatalf("got %d bytes, %v; want %d bytes", len(out), err, len(under))
		}
	})
}

func TestDoneClosesWhenPluginStops(t *testing.T) {
	var c *wire.ModelClient
	t.Run("serve", func(t *testing.T) {
		c = sdktest.StartModel(t, &echoModel{})
		select {
		case <-c.Done():
			t.Fatal("Done closed while the plugin is serving")
		default:
		}
	})
	select {
	case <-c.Done():
	case <-time.After(callTimeout):
		t.Fatal("Done not closed after the plugin stopped")
	}
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	if _, err := c.Describe(ctx); err == nil {
		t.Fatal("Describe after stop succeeded")
	}
}
