package wire

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/protobuf/types/known/timestamppb"

	challengev1 "github.com/crunch-coordinator/coordinator/proto/challenge/v1"
	"github.com/crunch-coordinator/coordinator/sdk"
	"github.com/crunch-coordinator/coordinator/sdk/internal/seam"
)

// NewChallengePlugin returns the go-plugin Plugin of the challenge kind.
// The plugin side (an in-process plugin, see sdk/sdktest) passes impl and
// info and serves them exactly as sdk.ServeChallenge does; the host side
// passes nil, the zero info and data, which the client serves to the plugin
// over the go-plugin broker (nil: no host data). Dispense returns a
// *ChallengeClient.
func NewChallengePlugin(impl sdk.Challenge, info sdk.ChallengeInfo, data sdk.HostData) plugin.Plugin {
	p := &seam.ChallengePlugin{Wrap: func(conn *seam.ChallengeConn) any { return &ChallengeClient{conn: conn} }}
	if impl != nil {
		p.Impl = seam.ChallengeServer(impl, info)
	}
	if data != nil {
		p.HostData = &hostDataServer{data: data}
	}
	return p
}

// ChallengeDescription is a challenge plugin's answer to Describe.
// Callables lists the callables the plugin implements itself (canonical
// names, sdk.Callable*); the others fall back to the runtime defaults.
type ChallengeDescription struct {
	ContractVersion string
	PluginName      string
	PluginVersion   string
	Callables       []string
}

// ChallengeClient is the host's view of a challenge plugin. It implements
// sdk.Challenge (the data sdk.HostData parameters are ignored: the plugin
// reads host data through the broker service set up by Describe) and adds
// Describe and Done. Every method honours ctx (set a deadline on every
// call); RPC errors are returned unchanged as gRPC status errors, and
// answers of the wrong shape as errors wrapping ErrBadOutput.
type ChallengeClient struct {
	conn *seam.ChallengeConn
}

var _ sdk.Challenge = (*ChallengeClient)(nil)

// Done is closed when the plugin process exits.
func (c *ChallengeClient) Done() <-chan struct{} { return c.conn.Done() }

// Describe asks the plugin for its contract version, name, version and
// implemented callables, and hands it the broker id of the host-data
// service (when the host has HostData). Call it before any other method.
func (c *ChallengeClient) Describe(ctx context.Context) (ChallengeDescription, error) {
	id := c.conn.HostDataBrokerID()
	resp, err := c.conn.RPC.Describe(ctx, &challengev1.DescribeRequest{HostDataBrokerId: id, HostContractVersion: sdk.ContractVersion})
	if err != nil {
		if id != 0 {
			c.conn.ForgetHostData(id)
		}
		return ChallengeDescription{}, err
	}
	return ChallengeDescription{
		ContractVersion: resp.GetContractVersion(),
		PluginName:      resp.GetPluginName(),
		PluginVersion:   resp.GetPluginVersion(),
		Callables:       append([]string{}, resp.GetCallables()...),
	}, nil
}

// ProvideRawInput calls the plugin's ProvideRawInput. The answer must be a
// JSON object or null; null (or empty) is returned as {}.
func (c *ChallengeClient) ProvideRawInput(ctx context.Context, now time.Time, _ sdk.HostData) (json.RawMessage, error) {
	resp, err := c.conn.RPC.ProvideRawInput(ctx, &challengev1.ProvideRawInputRequest{Now: timestamppb.New(now)})
	if err != nil {
		return nil, err
	}
	kind := sdk.JSONKind(resp.GetJson())
	switch kind {
	case "null":
		return json.RawMessage("{}"), nil
	case "object":
		return json.RawMessage(resp.GetJson()), nil
	}
	return nil, badOutput(sdk.CallableProvideRawInput, "a JSON object or null", kind)
}

// BuildInferenceInput calls the plugin's BuildInferenceInput. The answer
// must be a JSON object.
func (c *ChallengeClient) BuildInferenceInput(ctx context.Context, rawInput json.RawMessage) (json.RawMessage, error) {
	resp, err := c.conn.RPC.BuildInferenceInput(ctx, &challengev1.BuildInferenceInputRequest{RawInputJson: rawInput})
	if err != nil {
		return nil, err
	}
	if kind := sdk.JSONKind(resp.GetJson()); kind != "object" {
		return nil, badOutput(sdk.CallableBuildInferenceInput, "a JSON object", kind)
	}
	return json.RawMessage(resp.GetJson()), nil
}

// ValidateInferenceOutput calls the plugin's validator on items. The answer
// must hold one result per item. A result's output must be JSON: null (or
// empty) means keep the original (Output nil); a non-object output turns
// into a per-item Error (the prediction fails validation, reference 2.3.5).
func (c *ChallengeClient) ValidateInferenceOutput(ctx context.Context, items []sdk.ValidationItem) ([]sdk.ValidationResult, error) {
	req := &challengev1.ValidateInferenceOutputRequest{Items: make([]*challengev1.ValidationItem, 0, len(items))}
	for _, it := range items {
		req.Items = append(req.Items, &challengev1.ValidationItem{ModelId: it.ModelID, ScopeKey: it.ScopeKey, InferenceOutputJson: it.InferenceOutput})
	}
	resp, err := c.conn.RPC.ValidateInferenceOutput(ctx, req)
	if err != nil {
		return nil, err
	}
	if len(resp.GetResults()) != len(items) {
		return nil, badOutput(sdk.CallableValidateInferenceOutput, fmt.Sprintf("%d results (one per item)", len(items)), fmt.Sprintf("%d", len(resp.GetResults())))
	}
	out := make([]sdk.ValidationResult, len(items))
	for i, r := range resp.GetResults() {
		out[i].Error = r.GetError()
		switch kind := sdk.JSONKind(r.GetOutputJson()); kind {
		case "null":
		case "object":
			if out[i].Error == "" {
				out[i].Output = json.RawMessage(r.GetOutputJson())
			}
		case "invalid JSON":
			return nil, badOutput(sdk.CallableValidateInferenceOutput, fmt.Sprintf("results[%d].output_json to be JSON", i), kind)
		default:
			if out[i].Error == "" {
				out[i].Error = fmt.Sprintf("validator returned %s output, expected a JSON object or null", kind)
			}
		}
	}
	return out, nil
}

// BuildPredictionScope calls the plugin's scope builder. The answer must be
// a JSON object whose scope is an object or null. The envelope is
// normalised (reference 2.3.3): an empty scope_key becomes config.ScopeKey,
// then sdk.DefaultScopeKey; a null scope becomes {}; other keys are dropped.
func (c *ChallengeClient) BuildPredictionScope(ctx context.Context, config sdk.ScheduleConfig, inferenceInput json.RawMessage) (sdk.ScopeEnvelope, error) {
	configJSON, err := json.Marshal(config)
	if err != nil {
		return sdk.ScopeEnvelope{}, fmt.Errorf("BuildPredictionScope: encode schedule %q: %w", config.ID, err)
	}
	resp, err := c.conn.RPC.BuildPredictionScope(ctx, &challengev1.BuildPredictionScopeRequest{ConfigJson: configJSON, InferenceInputJson: inferenceInput})
	if err != nil {
		return sdk.ScopeEnvelope{}, err
	}
	var raw struct {
		ScopeKey *string         `json:"scope_key"`
		Scope    json.RawMessage `json:"scope"`
	}
	if err := decodeObject(sdk.CallableBuildPredictionScope, resp.GetJson(), &raw); err != nil {
		return sdk.ScopeEnvelope{}, err
	}
	env := sdk.ScopeEnvelope{Scope: raw.Scope}
	if raw.ScopeKey != nil {
		env.ScopeKey = *raw.ScopeKey
	}
	if env.ScopeKey == "" {
		env.ScopeKey = config.ScopeKey
	}
	if env.ScopeKey == "" {
		env.ScopeKey = sdk.DefaultScopeKey
	}
	switch kind := sdk.JSONKind(env.Scope); kind {
	case "null":
		env.Scope = json.RawMessage("{}")
	case "object":
	default:
		return sdk.ScopeEnvelope{}, badOutput(sdk.CallableBuildPredictionScope, "scope to be a JSON object or null", kind)
	}
	return env, nil
}

// BuildPredictCall calls the plugin's call builder. The answer must be a
// JSON object with args a list (null = []) and kwargs an object (null = {}).
func (c *ChallengeClient) BuildPredictCall(ctx context.Context, config sdk.ScheduleConfig, inferenceInput json.RawMessage, scope sdk.ScopeEnvelope) (sdk.PredictCall, error) {
	configJSON, err := json.Marshal(config)
	if err != nil {
		return sdk.PredictCall{}, fmt.Errorf("BuildPredictCall: encode schedule %q: %w", config.ID, err)
	}
	scopeJSON, err := json.Marshal(scope)
	if err != nil {
		return sdk.PredictCall{}, fmt.Errorf("BuildPredictCall: encode scope %q: %w", scope.ScopeKey, err)
	}
	resp, err := c.conn.RPC.BuildPredictCall(ctx, &challengev1.BuildPredictCallRequest{ConfigJson: configJSON, InferenceInputJson: inferenceInput, ScopeJson: scopeJSON})
	if err != nil {
		return sdk.PredictCall{}, err
	}
	var raw struct {
		Args   json.RawMessage `json:"args"`
		Kwargs json.RawMessage `json:"kwargs"`
	}
	if err := decodeObject(sdk.CallableBuildPredictCall, resp.GetJson(), &raw); err != nil {
		return sdk.PredictCall{}, err
	}
	call := sdk.PredictCall{Args: []json.RawMessage{}, Kwargs: json.RawMessage("{}")}
	switch kind := sdk.JSONKind(raw.Args); kind {
	case "null":
	case "array":
		if err := json.Unmarshal(raw.Args, &call.Args); err != nil {
			return sdk.PredictCall{}, fmt.Errorf("%w: BuildPredictCall: args: %v", ErrBadOutput, err)
		}
	default:
		return sdk.PredictCall{}, badOutput(sdk.CallableBuildPredictCall, "args to be a JSON array or null", kind)
	}
	switch kind := sdk.JSONKind(raw.Kwargs); kind {
	case "null":
	case "object":
		call.Kwargs = raw.Kwargs
	default:
		return sdk.PredictCall{}, badOutput(sdk.CallableBuildPredictCall, "kwargs to be a JSON object or null", kind)
	}
	return call, nil
}

// ResolveGroundTruth calls the plugin's resolver. The answer must hold one
// result per prediction; a resolved result's ground truth must be a JSON
// object (empty = {}).
func (c *ChallengeClient) ResolveGroundTruth(ctx context.Context, now time.Time, predictions []sdk.PredictionRecord, _ sdk.HostData) ([]sdk.GroundTruthResult, error) {
	req := &challengev1.ResolveGroundTruthRequest{Now: timestamppb.New(now), PredictionsJson: make([][]byte, 0, len(predictions))}
	for _, p := range predictions {
		b, err := json.Marshal(p)
		if err != nil {
			return nil, fmt.Errorf("ResolveGroundTruth: encode prediction %q: %w", p.ID, err)
		}
		req.PredictionsJson = append(req.PredictionsJson, b)
	}
	resp, err := c.conn.RPC.ResolveGroundTruth(ctx, req)
	if err != nil {
		return nil, err
	}
	if len(resp.GetResults()) != len(predictions) {
		return nil, badOutput(sdk.CallableResolveGroundTruth, fmt.Sprintf("%d results (one per prediction)", len(predictions)), fmt.Sprintf("%d", len(resp.GetResults())))
	}
	out := make([]sdk.GroundTruthResult, len(predictions))
	for i, r := range resp.GetResults() {
		out[i] = sdk.GroundTruthResult{Resolved: r.GetResolved(), Error: r.GetError()}
		if !r.GetResolved() {
			continue
		}
		switch kind := sdk.JSONKind(r.GetGroundTruthJson()); kind {
		case "null":
			out[i].GroundTruth = json.RawMessage("{}")
		case "object":
			out[i].GroundTruth = json.RawMessage(r.GetGroundTruthJson())
		default:
			return nil, badOutput(sdk.CallableResolveGroundTruth, fmt.Sprintf("results[%d].ground_truth_json (prediction %q) to be a JSON object", i, predictions[i].ID), kind)
		}
	}
	return out, nil
}

// ScorePredictions calls the plugin's scorer. The answer must hold one
// result per item, with the item's prediction id (empty = the item's) and a
// finite value or none.
func (c *ChallengeClient) ScorePredictions(ctx context.Context, items []sdk.ScoreItem) ([]sdk.ScoreResult, error) {
	req := &challengev1.ScorePredictionsRequest{Items: make([]*challengev1.ScoreItem, 0, len(items))}
	for _, it := range items {
		req.Items = append(req.Items, &challengev1.ScoreItem{PredictionId: it.PredictionID, PredictionJson: it.Prediction, GroundTruthJson: it.GroundTruth})
	}
	resp, err := c.conn.RPC.ScorePredictions(ctx, req)
	if err != nil {
		return nil, err
	}
	if len(resp.GetResults()) != len(items) {
		return nil, badOutput(sdk.CallableScorePredictions, fmt.Sprintf("%d results (one per item)", len(items)), fmt.Sprintf("%d", len(resp.GetResults())))
	}
	out := make([]sdk.ScoreResult, len(items))
	for i, r := range resp.GetResults() {
		id := r.GetPredictionId()
		if id == "" {
			id = items[i].PredictionID
		}
		if id != items[i].PredictionID {
			return nil, badOutput(sdk.CallableScorePredictions, fmt.Sprintf("results[%d].prediction_id %q", i, items[i].PredictionID), fmt.Sprintf("%q", id))
		}
		out[i] = sdk.ScoreResult{PredictionID: id, Success: r.GetSuccess(), FailedReason: r.GetFailedReason()}
		if r.Value != nil {
			v := r.GetValue()
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, badOutput(sdk.CallableScorePredictions, fmt.Sprintf("results[%d].value to be finite", i), fmt.Sprint(v))
			}
			out[i].Value = &v
		}
	}
	return out, nil
}

// AggregateModelScores calls the plugin's aggregator. The answer must be a
// JSON array (null = []) of leaderboard entries with a non-empty model_id
// and a valid score envelope (strict keys, sdk.ScoreEnvelope.Validate).
func (c *ChallengeClient) AggregateModelScores(ctx context.Context, now time.Time, scored []sdk.PredictionRecord, models map[string]sdk.ModelRecord) ([]sdk.LeaderboardEntry, error) {
	req := &challengev1.AggregateModelScoresRequest{Now: timestamppb.New(now), ScoredPredictionsJson: make([][]byte, 0, len(scored))}
	for _, p := range scored {
		b, err := json.Marshal(p)
		if err != nil {
			return nil, fmt.Errorf("AggregateModelScores: encode prediction %q: %w", p.ID, err)
		}
		req.ScoredPredictionsJson = append(req.ScoredPredictionsJson, b)
	}
	if models == nil {
		models = map[string]sdk.ModelRecord{}
	}
	modelsJSON, err := json.Marshal(models)
	if err != nil {
		return nil, fmt.Errorf("AggregateModelScores: encode models: %w", err)
	}
	req.ModelsJson = modelsJSON
	resp, err := c.conn.RPC.AggregateModelScores(ctx, req)
	if err != nil {
		return nil, err
	}
	return decodeEntries(sdk.CallableAggregateModelScores, resp.GetJson())
}

// RankLeaderboard calls the plugin's ranker. The answer must be a JSON
// array of leaderboard entries, as for AggregateModelScores.
func (c *ChallengeClient) RankLeaderboard(ctx context.Context, entries []sdk.LeaderboardEntry) ([]sdk.LeaderboardEntry, error) {
	if entries == nil {
		entries = []sdk.LeaderboardEntry{}
	}
	b, err := json.Marshal(entries)
	if err != nil {
		return nil, fmt.Errorf("RankLeaderboard: encode entries: %w", err)
	}
	resp, err := c.conn.RPC.RankLeaderboard(ctx, &challengev1.RankLeaderboardRequest{EntriesJson: b})
	if err != nil {
		return nil, err
	}
	return decodeEntries(sdk.CallableRankLeaderboard, resp.GetJson())
}

// ReportSchema calls the plugin's schema provider. The answer must be a
// JSON object that passes sdk.ReportSchema.Validate; an empty
// schema_version becomes "1".
func (c *ChallengeClient) ReportSchema(ctx context.Context) (sdk.ReportSchema, error) {
	resp, err := c.conn.RPC.ReportSchema(ctx, &challengev1.ReportSchemaRequest{})
	if err != nil {
		return sdk.ReportSchema{}, err
	}
	var schema sdk.ReportSchema
	if err := decodeObject(sdk.CallableReportSchema, resp.GetJson(), &schema); err != nil {
		return sdk.ReportSchema{}, err
	}
	if schema.SchemaVersion == "" {
		schema.SchemaVersion = "1"
	}
	if err := schema.Validate(); err != nil {
		return sdk.ReportSchema{}, fmt.Errorf("%w: %s: %v", ErrBadOutput, sdk.CallableReportSchema, err)
	}
	return schema, nil
}

func decodeEntries(callable string, b []byte) ([]sdk.LeaderboardEntry, error) {
	switch kind := sdk.JSONKind(b); kind {
	case "null":
		return []sdk.LeaderboardEntry{}, nil
	case "array":
	default:
		return nil, badOutput(callable, "a JSON array of leaderboard entries", kind)
	}
	var entries []sdk.LeaderboardEntry
	if err := json.Unmarshal(b, &entries); err != nil {
		return nil, fmt.Errorf("%w: %s: expected a JSON array of leaderboard entries: %v", ErrBadOutput, callable, err)
	}
	for i, e := range entries {
		if e.ModelID == "" {
			return nil, badOutput(callable, fmt.Sprintf("entries[%d].model_id to be a non-empty string", i), "an empty or missing model_id")
		}
		if e.Score.Ranking.Direction == "" {
			entries[i].Score.Ranking.Direction = sdk.DirectionDesc
		}
		if err := e.Score.Validate(); err != nil {
			return nil, fmt.Errorf("%w: %s: entries[%d] (model %q): %v", ErrBadOutput, callable, i, e.ModelID, err)
		}
	}
	return entries, nil
}

// decodeObject requires b to be a JSON object and decodes it into v.
func decodeObject(callable string, b []byte, v any) error {
	if kind := sdk.JSONKind(b); kind != "object" {
		return badOutput(callable, "a JSON object", kind)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: %s: expected a JSON object of type %T: %v", ErrBadOutput, callable, v, err)
	}
	return nil
}

func badOutput(callable, expected, found string) error {
	return fmt.Errorf("%w: %s: expected %s, found %s", ErrBadOutput, callable, expected, found)
}
