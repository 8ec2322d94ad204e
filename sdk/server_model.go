package sdk

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	modelv1 "github.com/crunch-coordinator/coordinator/proto/model/v1"
)

// newModelServer returns the coordinator.model.v1.Model service for m.
// Error, size and panic rules are those of challengeServerFor. Predict
// receives empty args as JSON null and empty kwargs as {}; its result is
// sent as is (nil = JSON null). Tick's input is handed to the model as
// received (empty = JSON null), not parsed again: it is the inference input
// the host decoded as an object and compacted itself, and parsing it in
// every model (13 KB for the baseline pack) cost more CPU per call than
// the rest of the call. Predict's args and kwargs are still checked
// (codes.InvalidArgument when not JSON). TickPredict runs the same Tick and
// Predict (see its doc in proto/model/v1/model.proto).
func newModelServer(m Model, info ModelInfo) modelv1.ModelServer {
	return &modelServer{impl: m, info: info}
}

type modelServer struct {
	modelv1.UnimplementedModelServer
	impl Model
	info ModelInfo
}

func (s *modelServer) Describe(_ context.Context, req *modelv1.DescribeRequest) (*modelv1.DescribeResponse, error) {
	if v := req.GetHostContractVersion(); v != "" && v != ContractVersion {
		Logger().Warn("host speaks another contract version", "host_contract_version", v, "plugin_contract_version", ContractVersion)
	}
	return &modelv1.DescribeResponse{
		ContractVersion: ContractVersion,
		ModelName:       s.info.Name,
		ModelVersion:    s.info.Version,
		Methods:         append([]string(nil), RequiredModelMethods...),
		OptionalMethods: append([]string(nil), OptionalModelMethods...),
	}, nil
}

func (s *modelServer) Tick(ctx context.Context, req *modelv1.TickRequest) (*modelv1.TickResponse, error) {
	input := json.RawMessage(req.GetInputJson())
	if len(input) == 0 {
		input = json.RawMessage("null")
	}
	if err := s.impl.Tick(ctx, input); err != nil {
		return nil, callableStatus(ctx, MethodTick, err)
	}
	return &modelv1.TickResponse{}, nil
}

func (s *modelServer) Predict(ctx context.Context, req *modelv1.PredictRequest) (*modelv1.PredictResponse, error) {
	args := make([]json.RawMessage, 0, len(req.GetArgsJson()))
	for i, a := range req.GetArgsJson() {
		v, err := requestJSON(MethodPredict, fmt.Sprintf("args_json[%d]", i), a)
		if err != nil {
			return nil, err
		}
		args = append(args, v)
	}
	kwargs := json.RawMessage("{}")
	if len(req.GetKwargsJson()) > 0 {
		v, err := requestJSON(MethodPredict, "kwargs_json", req.GetKwargsJson())
		if err != nil {
			return nil, err
		}
		kwargs = v
	}
	out, err := s.impl.Predict(ctx, args, kwargs)
	if err != nil {
		return nil, callableStatus(ctx, MethodPredict, err)
	}
	return &modelv1.PredictResponse{ResultJson: out}, nil
}

// TickPredict answers Tick then Predict on one stream: Tick runs under
// tick_timeout_ms and its outcome (the status the Tick method would have
// answered) is the first message; Predict runs next under
// predict_timeout_ms, also after a failed Tick, and its answer is the
// second message, or its status ends the stream. Both go through the
// Tick and Predict methods above, so request checks, errors and panics
// are exactly theirs.
func (s *modelServer) TickPredict(req *modelv1.TickPredictRequest, stream grpc.ServerStreamingServer[modelv1.TickPredictResponse]) error {
	ctx := stream.Context()
	tctx, cancel := withTimeoutMs(ctx, req.GetTickTimeoutMs())
	_, err := s.Tick(tctx, req.GetTick())
	cancel()
	if err := stream.Send(&modelv1.TickPredictResponse{Result: &modelv1.TickPredictResponse_Tick{Tick: outcomeOf(err)}}); err != nil {
		return err
	}
	pctx, cancel := withTimeoutMs(ctx, req.GetPredictTimeoutMs())
	defer cancel()
	resp, _, err := s.predictAfterTick(pctx, req.GetPredict())
	if err != nil {
		return err
	}
	return stream.Send(&modelv1.TickPredictResponse{Result: &modelv1.TickPredictResponse_Predict{Predict: resp}})
}

// exitProcess ends the plugin process (os.Exit; replaced in tests).
var exitProcess = os.Exit

// crashExitDelay is how long a plugin whose Predict panicked inside
// TickPredict lives on to deliver the crash (the host kills it sooner).
const crashExitDelay = time.Second

// predictAfterTick is Predict inside TickPredict. Tick's outcome is queued
// but may not have left the process yet, so a panic that killed the
// process at once could reach the host as Tick's crash. The panic is
// therefore recovered here only to report it after Tick's outcome, as
// Predict's crash (codes.Unavailable with the panic value, logged with
// its stack); the process then exits with status 2, as an unrecovered
// panic does, after crashExitDelay.
func (s *modelServer) predictAfterTick(ctx context.Context, req *modelv1.PredictRequest) (resp *modelv1.PredictResponse, panicked bool, err error) {
	defer func() {
		if r := recover(); r != nil {
			panicked = true
			Logger().Error("panic in Predict: the plugin exits", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			err = status.Errorf(codes.Unavailable, "%s: panic: %v", MethodPredict, r)
			time.AfterFunc(crashExitDelay, func() { exitProcess(2) })
		}
	}()
	resp, err = s.Predict(ctx, req)
	return resp, false, err
}

// withTimeoutMs bounds ctx by ms milliseconds (ms <= 0: ctx's own deadline).
func withTimeoutMs(ctx context.Context, ms int64) (context.Context, context.CancelFunc) {
	if ms <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, time.Duration(ms)*time.Millisecond)
}

// TickPredictBatch answers the calls of a batch stream one at a time, in
// lockstep (see its doc in proto/model/v1/model.proto): each request is a
// Tick call, optionally with the cycle's first Predict call (then_predict:
// run after Tick, also after a failed Tick, as TickPredict does), or one
// Predict call, each run in-process under its own timeout and answered
// (Tick's outcome; Predict's answer or failure status) before the next
// request is read. Tick and Predict go through the
// methods above, so request checks and errors are exactly theirs; a panic
// in Predict ends the stream with Predict's crash status and the process
// exits (predictAfterTick), as on TickPredict. The stream ends when the
// host closes its side.
func (s *modelServer) TickPredictBatch(stream grpc.BidiStreamingServer[modelv1.TickPredictBatchRequest, modelv1.TickPredictBatchResponse]) error {
	ctx := stream.Context()
	for {
		req, err := stream.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		switch c := req.GetCall().(type) {
		case *modelv1.TickPredictBatchRequest_Tick:
			tctx, cancel := withTimeoutMs(ctx, req.GetTimeoutMs())
			_, err := s.Tick(tctx, c.Tick)
			cancel()
			if err := stream.Send(&modelv1.TickPredictBatchResponse{Result: &modelv1.TickPredictBatchResponse_Tick{Tick: outcomeOf(err)}}); err != nil {
				return err
			}
			if p := req.GetThenPredict(); p != nil {
				if err := s.batchPredict(stream, p, req.GetThenPredictTimeoutMs()); err != nil {
					return err
				}
			}
		case *modelv1.TickPredictBatchRequest_Predict:
			if req.GetThenPredict() != nil {
				return status.Errorf(codes.InvalidArgument, "%s: expected then_predict only with a tick call, found it with a predict call", MethodTickPredictBatch)
			}
			if err := s.batchPredict(stream, c.Predict, req.GetTimeoutMs()); err != nil {
				return err
			}
		default:
			return status.Errorf(codes.InvalidArgument, "%s: expected a tick or a predict call, found an empty request", MethodTickPredictBatch)
		}
	}
}

// batchPredict runs one Predict call of a batch stream under timeoutMs
// and answers it (Predict's answer or failure status). A panic ends the
// stream with Predict's crash status (the plugin exits, predictAfterTick).
func (s *modelServer) batchPredict(stream grpc.BidiStreamingServer[modelv1.TickPredictBatchRequest, modelv1.TickPredictBatchResponse], req *modelv1.PredictRequest, timeoutMs int64) error {
	ctx, cancel := withTimeoutMs(stream.Context(), timeoutMs)
	defer cancel()
	resp, panicked, err := s.predictAfterTick(ctx, req)
	if panicked {
		return err // the plugin exits
	}
	msg := &modelv1.TickPredictBatchResponse{Result: &modelv1.TickPredictBatchResponse_Predict{Predict: resp}}
	if err != nil {
		msg.Result = &modelv1.TickPredictBatchResponse_PredictError{PredictError: outcomeOf(err)}
	}
	return stream.Send(msg)
}

// outcomeOf is the status err would have been answered with (code 0 for nil).
func outcomeOf(err error) *modelv1.TickOutcome {
	out := &modelv1.TickOutcome{}
	if err != nil {
		st := status.Convert(err)
		out.Code, out.Message = int32(st.Code()), st.Message()
	}
	return out
}
