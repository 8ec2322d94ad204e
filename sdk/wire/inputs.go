package wire

import (
	"context"
	"encoding/json"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	challengev1 "github.com/crunch-coordinator/coordinator/proto/challenge/v1"
	"github.com/crunch-coordinator/coordinator/sdk"
)

// InputAnswer is one cycle's answer of BuildInferenceInputs: the
// inference input (checked as BuildInferenceInput's answer is: a JSON
// object), or Err, the failure of the callable Callable names (the gRPC
// status error its method would have answered, or an error wrapping
// ErrBadOutput for an answer the boundary refuses).
type InputAnswer struct {
	Input    json.RawMessage
	Callable string
	Err      error
}

// InputsCall is one BuildInferenceInputs stream in progress. Use it from
// one goroutine.
type InputsCall struct {
	stream grpc.ServerStreamingClient[challengev1.InferenceInputAnswer]
}

// OpenBuildInferenceInputs asks for the inference inputs of the cycles at
// times, in order (sdk.MethodBuildInferenceInputs; call it only when the
// plugin's Describe lists it in OptionalMethods). provideTimeout and
// buildTimeout are the deadlines the plugin applies to each call (the
// caller enforces its own through ctx, which ends the stream). Errors are
// gRPC status errors of opening the stream.
func (c *ChallengeClient) OpenBuildInferenceInputs(ctx context.Context, times []time.Time, provideTimeout, buildTimeout time.Duration) (*InputsCall, error) {
	req := &challengev1.BuildInferenceInputsRequest{Now: make([]*timestamppb.Timestamp, len(times)),
		ProvideTimeoutMs: provideTimeout.Milliseconds(), BuildTimeoutMs: buildTimeout.Milliseconds()}
	for i, t := range times {
		req.Now[i] = timestamppb.New(t)
	}
	stream, err := c.conn.RPC.BuildInferenceInputs(ctx, req)
	if err != nil {
		return nil, err
	}
	return &InputsCall{stream: stream}, nil
}

// Next waits for the next cycle's answer. A non-nil error ends the
// stream: its own error (crash, deadline, cancellation; io.EOF after the
// last answer), or an error wrapping ErrBadOutput for a message that is
// neither answer.
func (b *InputsCall) Next() (InputAnswer, error) {
	m, err := b.stream.Recv()
	if err != nil {
		return InputAnswer{}, err
	}
	switch r := m.GetResult().(type) {
	case *challengev1.InferenceInputAnswer_InputJson:
		if kind := sdk.JSONKind(r.InputJson); kind != "object" {
			return InputAnswer{Callable: sdk.CallableBuildInferenceInput, Err: badOutput(sdk.CallableBuildInferenceInput, "a JSON object", kind)}, nil
		}
		return InputAnswer{Input: r.InputJson}, nil
	case *challengev1.InferenceInputAnswer_Failure:
		c := codes.Code(r.Failure.GetCode())
		if c == codes.OK {
			c = codes.Unknown // a failure must not read as success
		}
		return InputAnswer{Callable: r.Failure.GetCallable(), Err: status.Error(c, r.Failure.GetMessage())}, nil
	}
	return InputAnswer{}, badOutput(sdk.MethodBuildInferenceInputs, "an inference input or a failure", "an empty message")
}
