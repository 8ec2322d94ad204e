package wire

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	modelv1 "github.com/crunch-coordinator/coordinator/proto/model/v1"
	"github.com/crunch-coordinator/coordinator/sdk"
	"github.com/crunch-coordinator/coordinator/sdk/internal/seam"
)

// NewModelPlugin returns the go-plugin Plugin of the model kind. The
// plugin side (an in-process plugin, see sdk/sdktest) passes impl and info
// and serves them exactly as sdk.ServeModel does; the host side passes nil
// and the zero info. Dispense returns a *ModelClient.
func NewModelPlugin(impl sdk.Model, info sdk.ModelInfo) plugin.Plugin {
	p := &seam.ModelPlugin{Wrap: func(conn *seam.ModelConn) any { return &ModelClient{conn: conn} }}
	if impl != nil {
		p.Impl = seam.ModelServer(impl, info)
	}
	return p
}

// ModelDescription is a model plugin's answer to Describe. Methods lists
// the implemented methods (sdk.MethodTick, sdk.MethodPredict);
// OptionalMethods the optional ones it also serves (sdk.MethodTickPredict;
// none for a plugin built with an older SDK).
type ModelDescription struct {
	ContractVersion string
	ModelName       string
	ModelVersion    string
	Methods         []string
	OptionalMethods []string
}

// ModelClient is the host's view of a model plugin. It implements sdk.Model
// and adds Describe and Done. RPC errors are returned unchanged as gRPC
// status errors; answers that are not JSON wrap ErrBadOutput.
type ModelClient struct {
	conn *seam.ModelConn
}

var _ sdk.Model = (*ModelClient)(nil)

// Done is closed when the plugin process exits.
func (c *ModelClient) Done() <-chan struct{} { return c.conn.Done() }

// Describe asks the model for its contract version, name, version and
// methods.
func (c *ModelClient) Describe(ctx context.Context) (ModelDescription, error) {
	resp, err := c.conn.RPC.Describe(ctx, &modelv1.DescribeRequest{HostContractVersion: sdk.ContractVersion})
	if err != nil {
		return ModelDescription{}, err
	}
	return ModelDescription{
		ContractVersion: resp.GetContractVersion(),
		ModelName:       resp.GetModelName(),
		ModelVersion:    resp.GetModelVersion(),
		Methods:         append([]string{}, resp.GetMethods()...),
		OptionalMethods: append([]string{}, resp.GetOptionalMethods()...),
	}, nil
}

// Tick sends the cycle's inference input (a JSON object) to the model.
func (c *ModelClient) Tick(ctx context.Context, input json.RawMessage) error {
	_, err := c.conn.RPC.Tick(ctx, &modelv1.TickRequest{InputJson: input})
	return err
}

// Predict asks the model for one prediction. The answer may be any JSON
// value (empty = null, returned as the literal null); bytes that are not
// JSON give an error wrapping ErrBadOutput.
func (c *ModelClient) Predict(ctx context.Context, args []json.RawMessage, kwargs json.RawMessage) (json.RawMessage, error) {
	resp, err := c.conn.RPC.Predict(ctx, predictRequest(args, kwargs))
	if err != nil {
		return nil, err
	}
	return predictOutput(resp)
}

// ErrNoTickPredict: the plugin answered TickPredict with gRPC Unimplemented
// (it does not serve the method it listed); call Tick and Predict instead.
var ErrNoTickPredict = errors.New("model plugin does not serve TickPredict")

// ErrNoTickPredictBatch: the plugin answered TickPredictBatch with gRPC
// Unimplemented (it does not serve the method it listed); call each cycle
// instead.
var ErrNoTickPredictBatch = errors.New("model plugin does not serve TickPredictBatch")

// TickPredictCall is one TickPredict round trip in progress: Tick's input
// and Predict's args and kwargs went out in one request; Tick, then
// Predict, wait for their answers. Use it from one goroutine.
type TickPredictCall struct {
	stream grpc.ServerStreamingClient[modelv1.TickPredictResponse]
}

// OpenTickPredict sends Tick's input (a JSON object) and Predict's args
// and kwargs in one request (sdk.MethodTickPredict; call it only when the
// model's Describe lists it in OptionalMethods). tickTimeout and
// predictTimeout are the deadlines the plugin applies to each call (the
// caller enforces its own through ctx, which ends the stream). Errors are
// gRPC status errors of opening the stream.
func (c *ModelClient) OpenTickPredict(ctx context.Context, input json.RawMessage, args []json.RawMessage, kwargs json.RawMessage, tickTimeout, predictTimeout time.Duration) (*TickPredictCall, error) {
	stream, err := c.conn.RPC.TickPredict(ctx, &modelv1.TickPredictRequest{
		Tick:             &modelv1.TickRequest{InputJson: input},
		Predict:          predictRequest(args, kwargs),
		TickTimeoutMs:    tickTimeout.Milliseconds(),
		PredictTimeoutMs: predictTimeout.Milliseconds(),
	})
	if err != nil {
		return nil, err
	}
	return &TickPredictCall{stream: stream}, nil
}

// Tick waits for Tick's outcome: nil, or the error the Tick method would
// have answered (a gRPC status error with the plugin's code and message).
// An error of the stream itself (crash, deadline, cancellation) is
// returned as is, except Unimplemented, which wraps ErrNoTickPredict; a
// first message that is not Tick's outcome wraps ErrBadOutput.
func (t *TickPredictCall) Tick() error {
	m, err := t.stream.Recv()
	if err != nil {
		if status.Code(err) == codes.Unimplemented {
			return fmt.Errorf("%w: %w", ErrNoTickPredict, err)
		}
		return err
	}
	tick := m.GetTick()
	if tick == nil {
		return badOutput(sdk.MethodTickPredict, "Tick's outcome as the first message", "another message")
	}
	if tick.GetCode() == int32(codes.OK) {
		return nil
	}
	return status.Error(codes.Code(tick.GetCode()), tick.GetMessage())
}

// Predict waits for Predict's answer after Tick: the same answer and
// errors as ModelClient.Predict (the stream's status when Predict failed;
// a second message that is not Predict's answer wraps ErrBadOutput). It
// then reads the end of the stream.
func (t *TickPredictCall) Predict() (json.RawMessage, error) {
	m, err := t.stream.Recv()
	if err != nil {
		if err == io.EOF {
			return nil, badOutput(sdk.MethodTickPredict, "Predict's answer as the second message", "the end of the stream")
		}
		return nil, err
	}
	resp := m.GetPredict()
	if resp == nil {
		return nil, badOutput(sdk.MethodTickPredict, "Predict's answer as the second message", "another message")
	}
	if _, err := t.stream.Recv(); err == nil {
		return nil, badOutput(sdk.MethodTickPredict, "the end of the stream after Predict's answer", "another message")
	}
	return predictOutput(resp)
}

func predictRequest(args []json.RawMessage, kwargs json.RawMessage) *modelv1.PredictRequest {
	req := &modelv1.PredictRequest{ArgsJson: make([][]byte, 0, len(args)), KwargsJson: kwargs}
	for _, a := range args {
		req.ArgsJson = append(req.ArgsJson, a)
	}
	return req
}

// predictOutput checks Predict's answer (see ModelClient.Predict).
func predictOutput(resp *modelv1.PredictResponse) (json.RawMessage, error) {
	out := resp.GetResultJson()
	if len(bytes.TrimSpace(out)) == 0 {
		return json.RawMessage("null"), nil
	}
	if !json.Valid(out) {
		return nil, badOutput(sdk.MethodPredict, "a JSON value", fmt.Sprintf("%d bytes that are not JSON (starting %q)", len(out), prefix(out, 32)))
	}
	return json.RawMessage(out), nil
}

func prefix(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}

// BatchCycle is one cycle of a TickPredictBatch: Tick's input (a JSON
// object), then the cycle's Predict calls in order (at least one).
type BatchCycle struct {
	Input json.RawMessage
	Calls []PredictArgs
}

// PredictArgs are one Predict call's positional args (JSON values) and
// kwargs (a JSON object).
type PredictArgs struct {
	Args   []json.RawMessage
	Kwargs json.RawMessage
}

// BatchAnswer is one answer of a TickPredictBatch stream: Tick's outcome
// (Tick true) or one Predict's. Err is the error the Tick or Predict method
// would have answered (a gRPC status error with the plugin's code and
// message; a Predict answer that is not JSON wraps ErrBadOutput), nil on
// success; Output is Predict's answer.
type BatchAnswer struct {
	Tick   bool
	Output json.RawMessage
	Err    error
}

// TickPredictBatchCall is one TickPredictBatch stream in progress, run in
// lockstep: Tick and Predict each send one call and wait for its answer,
// so the model never holds a call the caller has not made yet. Use it
// from one goroutine.
type TickPredictBatchCall struct {
	stream         grpc.BidiStreamingClient[modelv1.TickPredictBatchRequest, modelv1.TickPredictBatchResponse]
	tickMs, predMs int64
}

// OpenTickPredictBatch opens the stream (sdk.MethodTickPredictBatch; call
// it only when the model's Describe lists it in OptionalMethods); no call
// is sent yet. tickTimeout and predictTimeout are the deadlines the plugin
// applies to each call (the caller enforces its own through ctx, which
// ends the stream). Errors are gRPC status errors of opening the stream.
func (c *ModelClient) OpenTickPredictBatch(ctx context.Context, tickTimeout, predictTimeout time.Duration) (*TickPredictBatchCall, error) {
	stream, err := c.conn.RPC.TickPredictBatch(ctx)
	if err != nil {
		return nil, err
	}
	return &TickPredictBatchCall{stream: stream, tickMs: tickTimeout.Milliseconds(), predMs: predictTimeout.Milliseconds()}, nil
}

// TickPredict sends a cycle's Tick input (a JSON object) together with its
// first Predict call in one request, as ModelClient.OpenTickPredict does
// live, and waits for Tick's outcome (see Next for the errors); the model
// then runs the Predict call (also after a failed Tick), whose answer
// ThenPredict waits for. Call ThenPredict before the next call.
func (b *TickPredictBatchCall) TickPredict(input json.RawMessage, p PredictArgs) (BatchAnswer, error) {
	return b.call(&modelv1.TickPredictBatchRequest{
		Call:                 &modelv1.TickPredictBatchRequest_Tick{Tick: &modelv1.TickRequest{InputJson: input}},
		TimeoutMs:            b.tickMs,
		ThenPredict:          predictRequest(p.Args, p.Kwargs),
		ThenPredictTimeoutMs: b.predMs,
	}, true)
}

// ThenPredict waits for the answer of the Predict call sent with
// TickPredict (see Next for the errors; another answer wraps
// ErrBadOutput).
func (b *TickPredictBatchCall) ThenPredict() (BatchAnswer, error) {
	return b.expect(false)
}

// Predict sends one Predict call and waits for its answer (see Next for
// the errors).
func (b *TickPredictBatchCall) Predict(p PredictArgs) (BatchAnswer, error) {
	return b.call(&modelv1.TickPredictBatchRequest{Call: &modelv1.TickPredictBatchRequest_Predict{Predict: predictRequest(p.Args, p.Kwargs)}, TimeoutMs: b.predMs}, false)
}

// CloseSend tells the model that no call follows (it then ends the stream).
func (b *TickPredictBatchCall) CloseSend() error { return b.stream.CloseSend() }

// call sends req and waits for its answer, which must be Tick's outcome
// when tick, a Predict answer otherwise.
func (b *TickPredictBatchCall) call(req *modelv1.TickPredictBatchRequest, tick bool) (BatchAnswer, error) {
	if err := b.stream.Send(req); err != nil {
		if err != io.EOF {
			return BatchAnswer{}, err
		}
		// The stream has ended: its status comes with Recv.
		if _, rerr := b.stream.Recv(); rerr != nil {
			return BatchAnswer{}, noBatch(rerr)
		}
		return BatchAnswer{}, badOutput(sdk.MethodTickPredictBatch, "the answer to the call sent", "a message after the stream's end")
	}
	return b.expect(tick)
}

// expect waits for the next answer, which must be Tick's outcome when
// tick, a Predict answer otherwise.
func (b *TickPredictBatchCall) expect(tick bool) (BatchAnswer, error) {
	a, err := b.Next()
	if err == nil && a.Tick != tick {
		want := "Predict's answer"
		if tick {
			want = "Tick's outcome"
		}
		return BatchAnswer{}, badOutput(sdk.MethodTickPredictBatch, want, "another answer")
	}
	return a, err
}

// noBatch wraps an Unimplemented status in ErrNoTickPredictBatch.
func noBatch(err error) error {
	if status.Code(err) == codes.Unimplemented {
		return fmt.Errorf("%w: %w", ErrNoTickPredictBatch, err)
	}
	return err
}

// Next waits for the next answer. A non-nil error ends the stream: its own
// error (crash, deadline, cancellation, a message over the size limit;
// Unimplemented wraps ErrNoTickPredictBatch), io.EOF at the stream's end
// (after CloseSend), or an error wrapping ErrBadOutput for a message that
// is none of the three answers.
func (b *TickPredictBatchCall) Next() (BatchAnswer, error) {
	m, err := b.stream.Recv()
	if err != nil {
		if err == io.EOF {
			return BatchAnswer{}, err
		}
		return BatchAnswer{}, noBatch(err)
	}
	switch r := m.GetResult().(type) {
	case *modelv1.TickPredictBatchResponse_Tick:
		a := BatchAnswer{Tick: true}
		if c := r.Tick.GetCode(); c != int32(codes.OK) {
			a.Err = status.Error(codes.Code(c), r.Tick.GetMessage())
		}
		return a, nil
	case *modelv1.TickPredictBatchResponse_Predict:
		out, err := predictOutput(r.Predict)
		return BatchAnswer{Output: out, Err: err}, nil
	case *modelv1.TickPredictBatchResponse_PredictError:
		c := codes.Code(r.PredictError.GetCode())
		if c == codes.OK {
			c = codes.Unknown // a failure must not read as success
		}
		return BatchAnswer{Err: status.Error(c, r.PredictError.GetMessage())}, nil
	}
	return BatchAnswer{}, badOutput(sdk.MethodTickPredictBatch, "a Tick outcome, a Predict answer or a Predict error", "an empty message")
}
