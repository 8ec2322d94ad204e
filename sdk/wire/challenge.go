package wire

import (
	"context"
	"encoding/json"
	"fmt"
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
	p := &seam.ChallengePlugin{Wrap: func(conn *seam.ChallengeConn) any {
		return &ChallengeClient{checked: checked{src: rpcChallenge{conn}}, conn: conn}
	}}
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
	// OptionalMethods lists the optional methods the plugin serves
	// (sdk.MethodBuildInferenceInputs; none for an older SDK).
	OptionalMethods []string
}

// ChallengeClient is the host's view of a challenge plugin. It implements
// sdk.Challenge (the data sdk.HostData parameters are ignored: the plugin
// reads host data through the broker service set up by Describe) and adds
// Describe and Done. Every method honours ctx (set a deadline on every
// call). RPC errors are returned unchanged as gRPC status errors; answers
// are translated from the wire (bytes that do not decode to the expected
// shape wrap ErrBadOutput) and then pass the checked boundary (Checked),
// whose refusals wrap ErrBadOutput too.
type ChallengeClient struct {
	checked
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
		OptionalMethods: append([]string{}, resp.GetOptionalMethods()...),
	}, nil
}

// rpcChallenge translates the callables to and from the challenge
// service: requests are encoded, answers decoded to the SDK's types and
// nothing more (Checked normalises and checks them).
type rpcChallenge struct{ conn *seam.ChallengeConn }

func (c rpcChallenge) ProvideRawInput(ctx context.Context, now time.Time, _ sdk.HostData) (json.RawMessage, error) {
	resp, err := c.conn.RPC.ProvideRawInput(ctx, &challengev1.ProvideRawInputRequest{Now: timestamppb.New(now)})
	if err != nil {
		return nil, err
	}
	return resp.GetJson(), nil
}

func (c rpcChallenge) BuildInferenceInput(ctx context.Context, rawInput json.RawMessage) (json.RawMessage, error) {
	resp, err := c.conn.RPC.BuildInferenceInput(ctx, &challengev1.BuildInferenceInputRequest{RawInputJson: rawInput})
	if err != nil {
		return nil, err
	}
	return resp.GetJson(), nil
}

func (c rpcChallenge) ValidateInferenceOutput(ctx context.Context, items []sdk.ValidationItem) ([]sdk.ValidationResult, error) {
	req := &challengev1.ValidateInferenceOutputRequest{Items: make([]*challengev1.ValidationItem, 0, len(items))}
	for _, it := range items {
		req.Items = append(req.Items, &challengev1.ValidationItem{ModelId: it.ModelID, ScopeKey: it.ScopeKey, InferenceOutputJson: it.InferenceOutput})
	}
	resp, err := c.conn.RPC.ValidateInferenceOutput(ctx, req)
	if err != nil {
		return nil, err
	}
	out := make([]sdk.ValidationResult, len(resp.GetResults()))
	for i, r := range resp.GetResults() {
		out[i] = sdk.ValidationResult{Output: r.GetOutputJson(), Error: r.GetError()}
	}
	return out, nil
}

func (c rpcChallenge) BuildPredictionScope(ctx context.Context, config sdk.ScheduleConfig, inferenceInput json.RawMessage) (sdk.ScopeEnvelope, error) {
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
	return env, nil
}

func (c rpcChallenge) BuildPredictCall(ctx context.Context, config sdk.ScheduleConfig, inferenceInput json.RawMessage, scope sdk.ScopeEnvelope) (sdk.PredictCall, error) {
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
	call := sdk.PredictCall{Kwargs: raw.Kwargs}
	switch kind := sdk.JSONKind(raw.Args); kind {
	case "null":
	case "array":
		if err := json.Unmarshal(raw.Args, &call.Args); err != nil {
			return sdk.PredictCall{}, fmt.Errorf("%w: BuildPredictCall: args: %v", ErrBadOutput, err)
		}
	default:
		return sdk.PredictCall{}, badOutput(sdk.CallableBuildPredictCall, "args to be a JSON array or null", kind)
	}
	return call, nil
}

func (c rpcChallenge) ResolveGroundTruth(ctx context.Context, now time.Time, predictions []sdk.PredictionRecord, _ sdk.HostData) ([]sdk.GroundTruthResult, error) {
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
	out := make([]sdk.GroundTruthResult, len(resp.GetResults()))
	for i, r := range resp.GetResults() {
		out[i] = sdk.GroundTruthResult{Resolved: r.GetResolved(), GroundTruth: r.GetGroundTruthJson(), Error: r.GetError()}
	}
	return out, nil
}

func (c rpcChallenge) ScorePredictions(ctx context.Context, items []sdk.ScoreItem) ([]sdk.ScoreResult, error) {
	req := &challengev1.ScorePredictionsRequest{Items: make([]*challengev1.ScoreItem, 0, len(items))}
	for _, it := range items {
		req.Items = append(req.Items, &challengev1.ScoreItem{PredictionId: it.PredictionID, PredictionJson: it.Prediction, GroundTruthJson: it.GroundTruth})
	}
	resp, err := c.conn.RPC.ScorePredictions(ctx, req)
	if err != nil {
		return nil, err
	}
	out := make([]sdk.ScoreResult, len(resp.GetResults()))
	for i, r := range resp.GetResults() {
		out[i] = sdk.ScoreResult{PredictionID: r.GetPredictionId(), Success: r.GetSuccess(), FailedReason: r.GetFailedReason()}
		if r.Value != nil {
			v := r.GetValue()
			out[i].Value = &v
		}
	}
	return out, nil
}

func (c rpcChallenge) AggregateModelScores(ctx context.Context, now time.Time, scored []sdk.PredictionRecord, models map[string]sdk.ModelRecord) ([]sdk.LeaderboardEntry, error) {
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

func (c rpcChallenge) RankLeaderboard(ctx context.Context, entries []sdk.LeaderboardEntry) ([]sdk.LeaderboardEntry, error) {
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

func (c rpcChallenge) ReportSchema(ctx context.Context) (sdk.ReportSchema, error) {
	resp, err := c.conn.RPC.ReportSchema(ctx, &challengev1.ReportSchemaRequest{})
	if err != nil {
		return sdk.ReportSchema{}, err
	}
	var schema sdk.ReportSchema
	if err := decodeObject(sdk.CallableReportSchema, resp.GetJson(), &schema); err != nil {
		return sdk.ReportSchema{}, err
	}
	return schema, nil
}

// decodeEntries decodes a JSON array of leaderboard entries (null: none).
func decodeEntries(callable string, b []byte) ([]sdk.LeaderboardEntry, error) {
	switch kind := sdk.JSONKind(b); kind {
	case "null":
		return nil, nil
	case "array":
	default:
		return nil, badOutput(callable, "a JSON array of leaderboard entries", kind)
	}
	var entries []sdk.LeaderboardEntry
	if err := json.Unmarshal(b, &entries); err != nil {
		return nil, fmt.Errorf("%w: %s: expected a JSON array of leaderboard entries: %v", ErrBadOutput, callable, err)
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
