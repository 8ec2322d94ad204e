package sdk

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	challengev1 "github.com/crunch-coordinator/coordinator/proto/challenge/v1"
	modelv1 "github.com/crunch-coordinator/coordinator/proto/model/v1"
	"github.com/crunch-coordinator/coordinator/sdk/internal/seam"
)

func init() {
	seam.ChallengeServer = func(impl, info any) func(*plugin.GRPCBroker) challengev1.ChallengeServer {
		return challengeServerFor(impl.(Challenge), info.(ChallengeInfo))
	}
	seam.ModelServer = func(impl, info any) modelv1.ModelServer {
		return newModelServer(impl.(Model), info.(ModelInfo))
	}
}

// challengeServerFor returns the constructor of the
// coordinator.challenge.v1.Challenge service for c, given the plugin
// server's go-plugin broker: the HostData handed to ProvideRawInput and
// ResolveGroundTruth dials the host's host-data service over it when
// Describe carries a broker id.
//
// Wire rules: JSON travels as bytes (empty = JSON null). A callable's error
// becomes codes.Unknown with the error text (codes.InvalidArgument when it
// wraps ErrInvalidInput, codes.FailedPrecondition for ErrNotReady, the
// context's code when the call's deadline passed or it was cancelled).
// Requests that do not decode are answered codes.InvalidArgument; output the
// plugin cannot encode, codes.Internal. Panics are not recovered: the process
// dies and the host sees the call as crashed.
func challengeServerFor(c Challenge, info ChallengeInfo) func(*plugin.GRPCBroker) challengev1.ChallengeServer {
	callables := ImplementedCallables(c)
	return func(broker *plugin.GRPCBroker) challengev1.ChallengeServer {
		return &challengeServer{impl: c, info: info, callables: callables, data: &brokeredHostData{broker: broker}}
	}
}

type challengeServer struct {
	challengev1.UnimplementedChallengeServer
	impl      Challenge
	info      ChallengeInfo
	callables []string
	data      *brokeredHostData
}

func (s *challengeServer) Describe(_ context.Context, req *challengev1.DescribeRequest) (*challengev1.DescribeResponse, error) {
	if id := req.GetHostDataBrokerId(); id != 0 {
		if err := s.data.connect(id); err != nil {
			return nil, status.Errorf(codes.FailedPrecondition, "Describe: %v", err)
		}
	}
	if v := req.GetHostContractVersion(); v != "" && v != ContractVersion {
		Logger().Warn("host speaks another contract version", "host_contract_version", v, "plugin_contract_version", ContractVersion)
	}
	return &challengev1.DescribeResponse{
		ContractVersion: ContractVersion,
		PluginName:      s.info.Name,
		PluginVersion:   s.info.Version,
		Callables:       append([]string(nil), s.callables...),
		OptionalMethods: s.optionalMethods(),
	}, nil
}

// optionalMethods lists MethodBuildInferenceInputs when the challenge
// implements both callables it runs.
func (s *challengeServer) optionalMethods() []string {
	if slices.Contains(s.callables, CallableProvideRawInput) && slices.Contains(s.callables, CallableBuildInferenceInput) {
		return []string{MethodBuildInferenceInputs}
	}
	return nil
}

// BuildInferenceInputs answers ProvideRawInput then BuildInferenceInput for
// each requested time, in order, on one stream (see its doc in
// proto/challenge/v1/challenge.proto). Each cycle's ProvideRawInput reads
// the host data through cycleData (the feed as stored at that time); its
// raw input is normalised as the host normalises it (wire.Checked: null is
// {}, anything else but an object is a failure) before BuildInferenceInput.
// Errors are those of the two methods above, sent as the cycle's failure;
// panics are not recovered (the process dies, as on the two methods).
func (s *challengeServer) BuildInferenceInputs(req *challengev1.BuildInferenceInputsRequest, stream grpc.ServerStreamingServer[challengev1.InferenceInputAnswer]) error {
	if s.optionalMethods() == nil {
		return status.Errorf(codes.Unimplemented, "%s: the challenge does not implement %s and %s", MethodBuildInferenceInputs, CallableProvideRawInput, CallableBuildInferenceInput)
	}
	ctx := stream.Context()
	times := make([]time.Time, len(req.GetNow()))
	for i, ts := range req.GetNow() {
		now, err := requestTime(MethodBuildInferenceInputs, ts)
		if err != nil {
			return status.Errorf(codes.InvalidArgument, "%s: now[%d]: %v", MethodBuildInferenceInputs, i, err)
		}
		times[i] = now
	}
	block := newBlockFeed(s.data, times)
	for _, now := range times {
		input, callable, err := s.cycleInput(ctx, now, block, req.GetProvideTimeoutMs(), req.GetBuildTimeoutMs())
		msg := &challengev1.InferenceInputAnswer{Result: &challengev1.InferenceInputAnswer_InputJson{InputJson: input}}
		if err != nil {
			st := status.Convert(err)
			msg.Result = &challengev1.InferenceInputAnswer_Failure{Failure: &challengev1.CallFailure{Callable: callable, Code: int32(st.Code()), Message: st.Message()}}
		}
		if err := stream.Send(msg); err != nil {
			return err
		}
	}
	return nil
}

// cycleInput is one cycle of BuildInferenceInputs: the inference input, or
// the failing callable and its status error.
func (s *challengeServer) cycleInput(ctx context.Context, now time.Time, block *blockFeed, provideMs, buildMs int64) (json.RawMessage, string, error) {
	pctx, cancel := withTimeoutMs(ctx, provideMs)
	raw, err := s.impl.ProvideRawInput(pctx, now, cycleData{data: s.data, block: block, now: now})
	if err != nil {
		err = callableStatus(pctx, CallableProvideRawInput, err)
	}
	cancel()
	if err != nil {
		return nil, CallableProvideRawInput, err
	}
	switch kind := JSONKind(raw); kind {
	case "null":
		raw = json.RawMessage("{}")
	case "object":
	default:
		return nil, CallableProvideRawInput, status.Errorf(codes.Internal, "%s: answer: expected a JSON object or null, found %s", CallableProvideRawInput, kind)
	}
	bctx, cancel := withTimeoutMs(ctx, buildMs)
	defer cancel()
	out, err := s.impl.BuildInferenceInput(bctx, raw)
	if err != nil {
		return nil, CallableBuildInferenceInput, callableStatus(bctx, CallableBuildInferenceInput, err)
	}
	return out, "", nil
}

// cycleData is the host data of one cycle of BuildInferenceInputs: every
// read keeps only the records stored by now, and the host clock reads now
// (the feed and the clock a per-cycle ProvideRawInput sees).
type cycleData struct {
	data  HostData
	block *blockFeed // the call's reads ahead; nil: none
	now   time.Time
}

// ReadFeedRecords implements HostData.
func (c cycleData) ReadFeedRecords(ctx context.Context, q FeedQuery) ([]FeedRecord, error) {
	if q.IngestedBy.IsZero() || q.IngestedBy.After(c.now) {
		q.IngestedBy = c.now
	}
	if c.block != nil {
		return c.block.read(ctx, q)
	}
	return c.data.ReadFeedRecords(ctx, q)
}

// Now implements HostClock: the cycle's time.
func (c cycleData) Now(context.Context) (time.Time, error) { return c.now, nil }

func (s *challengeServer) ProvideRawInput(ctx context.Context, req *challengev1.ProvideRawInputRequest) (*challengev1.JSONDocument, error) {
	now, err := requestTime(CallableProvideRawInput, req.GetNow())
	if err != nil {
		return nil, err
	}
	out, err := s.impl.ProvideRawInput(ctx, now, s.data)
	if err != nil {
		return nil, callableStatus(ctx, CallableProvideRawInput, err)
	}
	return &challengev1.JSONDocument{Json: out}, nil
}

func (s *challengeServer) BuildInferenceInput(ctx context.Context, req *challengev1.BuildInferenceInputRequest) (*challengev1.JSONDocument, error) {
	raw, err := requestJSON(CallableBuildInferenceInput, "raw_input_json", req.GetRawInputJson())
	if err != nil {
		return nil, err
	}
	out, err := s.impl.BuildInferenceInput(ctx, raw)
	if err != nil {
		return nil, callableStatus(ctx, CallableBuildInferenceInput, err)
	}
	return &challengev1.JSONDocument{Json: out}, nil
}

func (s *challengeServer) ValidateInferenceOutput(ctx context.Context, req *challengev1.ValidateInferenceOutputRequest) (*challengev1.ValidateInferenceOutputResponse, error) {
	items := make([]ValidationItem, 0, len(req.GetItems()))
	for i, it := range req.GetItems() {
		out, err := requestJSON(CallableValidateInferenceOutput, fmt.Sprintf("items[%d].inference_output_json", i), it.GetInferenceOutputJson())
		if err != nil {
			return nil, err
		}
		items = append(items, ValidationItem{ModelID: it.GetModelId(), ScopeKey: it.GetScopeKey(), InferenceOutput: out})
	}
	results, err := s.impl.ValidateInferenceOutput(ctx, items)
	if err != nil {
		return nil, callableStatus(ctx, CallableValidateInferenceOutput, err)
	}
	resp := &challengev1.ValidateInferenceOutputResponse{Results: make([]*challengev1.ValidationResult, 0, len(results))}
	for _, r := range results {
		resp.Results = append(resp.Results, &challengev1.ValidationResult{OutputJson: r.Output, Error: r.Error})
	}
	return resp, nil
}

func (s *challengeServer) BuildPredictionScope(ctx context.Context, req *challengev1.BuildPredictionScopeRequest) (*challengev1.JSONDocument, error) {
	var config ScheduleConfig
	if err := decodeRequest(CallableBuildPredictionScope, "config_json", req.GetConfigJson(), &config); err != nil {
		return nil, err
	}
	input, err := requestJSON(CallableBuildPredictionScope, "inference_input_json", req.GetInferenceInputJson())
	if err != nil {
		return nil, err
	}
	scope, err := s.impl.BuildPredictionScope(ctx, config, input)
	if err != nil {
		return nil, callableStatus(ctx, CallableBuildPredictionScope, err)
	}
	return encodeDocument(CallableBuildPredictionScope, scope)
}

func (s *challengeServer) BuildPredictCall(ctx context.Context, req *challengev1.BuildPredictCallRequest) (*challengev1.JSONDocument, error) {
	var config ScheduleConfig
	if err := decodeRequest(CallableBuildPredictCall, "config_json", req.GetConfigJson(), &config); err != nil {
		return nil, err
	}
	input, err := requestJSON(CallableBuildPredictCall, "inference_input_json", req.GetInferenceInputJson())
	if err != nil {
		return nil, err
	}
	var scope ScopeEnvelope
	if err := decodeRequest(CallableBuildPredictCall, "scope_json", req.GetScopeJson(), &scope); err != nil {
		return nil, err
	}
	call, err := s.impl.BuildPredictCall(ctx, config, input, scope)
	if err != nil {
		return nil, callableStatus(ctx, CallableBuildPredictCall, err)
	}
	return encodeDocument(CallableBuildPredictCall, call)
}

func (s *challengeServer) ResolveGroundTruth(ctx context.Context, req *challengev1.ResolveGroundTruthRequest) (*challengev1.ResolveGroundTruthResponse, error) {
	now, err := requestTime(CallableResolveGroundTruth, req.GetNow())
	if err != nil {
		return nil, err
	}
	preds := make([]PredictionRecord, len(req.GetPredictionsJson()))
	for i, b := range req.GetPredictionsJson() {
		if fastRecord(b, &preds[i]) {
			continue
		}
		preds[i] = PredictionRecord{}
		if err := decodeRequest(CallableResolveGroundTruth, fmt.Sprintf("predictions_json[%d]", i), b, &preds[i]); err != nil {
			return nil, err
		}
	}
	results, err := s.impl.ResolveGroundTruth(ctx, now, preds, s.data)
	if err != nil {
		return nil, callableStatus(ctx, CallableResolveGroundTruth, err)
	}
	resp := &challengev1.ResolveGroundTruthResponse{Results: make([]*challengev1.GroundTruthResult, 0, len(results))}
	for _, r := range results {
		resp.Results = append(resp.Results, &challengev1.GroundTruthResult{Resolved: r.Resolved, GroundTruthJson: r.GroundTruth, Error: r.Error})
	}
	return resp, nil
}

func (s *challengeServer) ScorePredictions(ctx context.Context, req *challengev1.ScorePredictionsRequest) (*challengev1.ScorePredictionsResponse, error) {
	items := make([]ScoreItem, 0, len(req.GetItems()))
	for i, it := range req.GetItems() {
		pred, err := requestJSON(CallableScorePredictions, fmt.Sprintf("items[%d].prediction_json", i), it.GetPredictionJson())
		if err != nil {
			return nil, err
		}
		gt, err := requestJSON(CallableScorePredictions, fmt.Sprintf("items[%d].ground_truth_json", i), it.GetGroundTruthJson())
		if err != nil {
			return nil, err
		}
		items = append(items, ScoreItem{PredictionID: it.GetPredictionId(), Prediction: pred, GroundTruth: gt})
	}
	results, err := s.impl.ScorePredictions(ctx, items)
	if err != nil {
		return nil, callableStatus(ctx, CallableScorePredictions, err)
	}
	resp := &challengev1.ScorePredictionsResponse{Results: make([]*challengev1.ScoreResult, 0, len(results))}
	for i, r := range results {
		id := r.PredictionID
		if id == "" && i < len(items) {
			id = items[i].PredictionID
		}
		if r.Value != nil && (math.IsNaN(*r.Value) || math.IsInf(*r.Value, 0)) {
			return nil, status.Errorf(codes.Internal, "%s: results[%d].value: expected a finite number or none, found %v", CallableScorePredictions, i, *r.Value)
		}
		resp.Results = append(resp.Results, &challengev1.ScoreResult{PredictionId: id, Value: r.Value, Success: r.Success, FailedReason: r.FailedReason})
	}
	return resp, nil
}

func (s *challengeServer) AggregateModelScores(ctx context.Context, req *challengev1.AggregateModelScoresRequest) (*challengev1.JSONDocument, error) {
	now, err := requestTime(CallableAggregateModelScores, req.GetNow())
	if err != nil {
		return nil, err
	}
	scored := make([]PredictionRecord, len(req.GetScoredPredictionsJson()))
	for i, b := range req.GetScoredPredictionsJson() {
		if err := decodeRequest(CallableAggregateModelScores, fmt.Sprintf("scored_predictions_json[%d]", i), b, &scored[i]); err != nil {
			return nil, err
		}
	}
	models := map[string]ModelRecord{}
	if len(req.GetModelsJson()) > 0 {
		if err := decodeRequest(CallableAggregateModelScores, "models_json", req.GetModelsJson(), &models); err != nil {
			return nil, err
		}
	}
	entries, err := s.impl.AggregateModelScores(ctx, now, scored, models)
	if err != nil {
		return nil, callableStatus(ctx, CallableAggregateModelScores, err)
	}
	return encodeDocument(CallableAggregateModelScores, entries)
}

func (s *challengeServer) RankLeaderboard(ctx context.Context, req *challengev1.RankLeaderboardRequest) (*challengev1.JSONDocument, error) {
	var entries []LeaderboardEntry
	if len(req.GetEntriesJson()) > 0 {
		if err := decodeRequest(CallableRankLeaderboard, "entries_json", req.GetEntriesJson(), &entries); err != nil {
			return nil, err
		}
	}
	ranked, err := s.impl.RankLeaderboard(ctx, entries)
	if err != nil {
		return nil, callableStatus(ctx, CallableRankLeaderboard, err)
	}
	return encodeDocument(CallableRankLeaderboard, ranked)
}

func (s *challengeServer) ReportSchema(ctx context.Context, _ *challengev1.ReportSchemaRequest) (*challengev1.JSONDocument, error) {
	schema, err := s.impl.ReportSchema(ctx)
	if err != nil {
		return nil, callableStatus(ctx, CallableReportSchema, err)
	}
	return encodeDocument(CallableReportSchema, schema)
}

// requestTime converts a required request timestamp to UTC.
func requestTime(callable string, ts *timestamppb.Timestamp) (time.Time, error) {
	if ts == nil {
		return time.Time{}, status.Errorf(codes.InvalidArgument, "%s: field now: expected a timestamp, found none", callable)
	}
	if err := ts.CheckValid(); err != nil {
		return time.Time{}, status.Errorf(codes.InvalidArgument, "%s: field now: %v", callable, err)
	}
	return ts.AsTime().UTC(), nil
}

// requestJSON checks a JSON request field; empty bytes become JSON null.
func requestJSON(callable, field string, b []byte) (json.RawMessage, error) {
	if len(b) == 0 {
		return json.RawMessage("null"), nil
	}
	if !json.Valid(b) {
		return nil, status.Errorf(codes.InvalidArgument, "%s: field %s: expected JSON text, found %d bytes that do not parse", callable, field, len(b))
	}
	return json.RawMessage(b), nil
}

// decodeRequest decodes a required JSON request field into v.
func decodeRequest(callable, field string, b []byte, v any) error {
	if len(b) == 0 {
		return status.Errorf(codes.InvalidArgument, "%s: field %s: expected a JSON document, found empty bytes", callable, field)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return status.Errorf(codes.InvalidArgument, "%s: field %s: expected JSON of type %T: %v", callable, field, v, err)
	}
	return nil
}

// encodeDocument encodes a callable's typed output.
func encodeDocument(callable string, v any) (*challengev1.JSONDocument, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "%s: encode output of type %T: %v", callable, v, err)
	}
	return &challengev1.JSONDocument{Json: b}, nil
}
