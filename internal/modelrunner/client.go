package modelrunner

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"

	"github.com/crunch-coordinator/coordinator/proto/modelrunner/commonspb"
	"github.com/crunch-coordinator/coordinator/proto/modelrunner/dynamicsubclasspb"
)

// Status codes of commons.Status (reference-system.md §6.1, §6.6).
const (
	CodeSuccess            = "SUCCESS"
	CodeInvalidArgument    = "INVALID_ARGUMENT"
	CodeFailedPrecondition = "FAILED_PRECONDITION"
	CodeBadImplementation  = "BAD_IMPLEMENTATION"
	CodeModelFailed        = "MODEL_FAILED"
	CodeSetupFailed        = "SETUP_FAILED"
)

// Method names the coordinator calls on a model (§6.2).
const (
	MethodTick    = "tick"
	MethodPredict = "predict"
)

// MaxMessageBytes caps gRPC messages both ways (64 MiB, as the protocol's
// servers do, §6.6).
const MaxMessageBytes = 64 << 20

// StatusError is a non-SUCCESS commons.Status answered by Setup or Call.
// Code is the protocol's code string; Message the runner's explanation
// (for a participant's exception, its type, message and traceback tail).
type StatusError struct {
	Method  string // "Setup" or the called method ("tick", "predict")
	Code    string
	Message string
}

// Error formats "<method>: <CODE>: <message>".
func (e *StatusError) Error() string {
	return fmt.Sprintf("%s: %s: %s", e.Method, e.Code, e.Message)
}

// Misuse reports whether the code blames the coordinator, not the model
// (INVALID_ARGUMENT, FAILED_PRECONDITION; §6.1).
func (e *StatusError) Misuse() bool {
	return e.Code == CodeInvalidArgument || e.Code == CodeFailedPrecondition
}

// BadImplementation reports whether the code blames the participant's code
// as a whole (missing subclass or method, import error).
func (e *StatusError) BadImplementation() bool { return e.Code == CodeBadImplementation }

// Client talks to one model runner: a main channel for DynamicSubclassService
// and, for each health check (Health), a second, separate channel for
// grpc.health.v1 (§6.1), opened for that check and closed after it. Health
// checks are rare (after every health-check-threshold consecutive
// timeouts), so a runner that answers its calls costs one connection and
// its few goroutines, not two (issue 15: a thousand remote models). Safe
// for concurrent use; every call takes its deadline from ctx.
type Client struct {
	target string
	opts   []grpc.DialOption
	main   *grpc.ClientConn
	svc    dynamicsubclasspb.DynamicSubclassServiceClient
	ready  healthpb.HealthClient // on the main channel: WaitHealthy
}

// channelBufferBytes sizes each connection's read and write buffers: a
// model runner's messages are small (a tick input of a few KB, an answer
// of a few hundred bytes) and a node holds one connection per model, so 8
// KiB instead of grpc-go's 32 KiB each (a larger message takes more reads
// or writes, nothing else).
const channelBufferBytes = 8 << 10

// windowBytes is each channel's static HTTP/2 flow-control window (per
// stream and per connection). A static window turns grpc-go's bandwidth
// estimation off: without it every answer costs an extra BDP ping and its
// ack on the connection (two more syscalls per call on both sides, issue
// 15: a thousand models per cycle). 1 MiB lets a large answer flow
// without waiting for window updates on a local network.
const windowBytes = 1 << 20

// DialOptions are the options of the main and the health channels:
// plaintext (local or trusted network), 64 MiB message caps, reconnect
// backoff 100 ms to 1 s, keepalive pings every 300 s with a 500 ms ack
// timeout and no pings without calls (§6.4 item 5), 8 KiB read and write
// buffers per connection and a static 1 MiB flow-control window.
func DialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxMessageBytes), grpc.MaxCallSendMsgSize(MaxMessageBytes)),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second},
			MinConnectTimeout: 100 * time.Millisecond,
		}),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 300 * time.Second, Timeout: 500 * time.Millisecond}),
		grpc.WithReadBufferSize(channelBufferBytes),
		grpc.WithWriteBufferSize(channelBufferBytes),
		grpc.WithInitialWindowSize(windowBytes),
		grpc.WithInitialConnWindowSize(windowBytes),
	}
}

// Dial creates the main channel to target (a gRPC target such as
// "unix:///path/model.sock" or "127.0.0.1:50051"). It does not wait for the
// runner: use WaitHealthy. extra options are appended to DialOptions; the
// health channels of Health use the same options.
func Dial(target string, extra ...grpc.DialOption) (*Client, error) {
	opts := append(DialOptions(), extra...)
	main, err := grpc.NewClient(target, opts...)
	if err != nil {
		return nil, fmt.Errorf("model runner %s: main channel: %w", target, err)
	}
	return &Client{
		target: target, opts: opts, main: main,
		svc:   dynamicsubclasspb.NewDynamicSubclassServiceClient(main),
		ready: healthpb.NewHealthClient(main),
	}, nil
}

// Target returns the address the client dials.
func (c *Client) Target() string { return c.target }

// State is the main channel's connectivity state.
func (c *Client) State() connectivity.State { return c.main.GetState() }

// WaitForStateChange blocks until the main channel leaves state from or
// ctx ends (false).
func (c *Client) WaitForStateChange(ctx context.Context, from connectivity.State) bool {
	return c.main.WaitForStateChange(ctx, from)
}

// Connect makes an IDLE main channel reconnect now.
func (c *Client) Connect() { c.main.Connect() }

// Close closes the main channel (a health channel is closed by its check).
func (c *Client) Close() error {
	return c.main.Close()
}

// Health runs grpc.health.v1 Check (service "") without wait-for-ready on
// a separate health channel opened for this check and closed after it;
// nil means SERVING.
func (c *Client) Health(ctx context.Context) error {
	health, err := grpc.NewClient(c.target, c.opts...)
	if err != nil {
		return fmt.Errorf("health check of model runner %s: health channel: %w", c.target, err)
	}
	defer health.Close()
	return c.check(ctx, healthpb.NewHealthClient(health), false)
}

// WaitHealthy waits (wait-for-ready) until the runner answers SERVING on
// the main channel, which connects it, or ctx ends. An authentication
// refusal (Unauthenticated, PermissionDenied) or a server without the
// health service (Unimplemented) returns at once.
func (c *Client) WaitHealthy(ctx context.Context) error {
	for {
		err := c.check(ctx, c.ready, true)
		if err == nil || ctx.Err() != nil {
			return err
		}
		switch status.Code(err) {
		case codes.Unauthenticated, codes.PermissionDenied, codes.Unimplemented:
			return err // refused, not starting: waiting changes nothing
		}
		select {
		case <-time.After(20 * time.Millisecond):
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %w)", ctx.Err(), err)
		}
	}
}

func (c *Client) check(ctx context.Context, hc healthpb.HealthClient, wait bool) error {
	resp, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: ""}, grpc.WaitForReady(wait))
	if err != nil {
		return fmt.Errorf("health check of model runner %s: %w", c.target, err)
	}
	if s := resp.GetStatus(); s != healthpb.HealthCheckResponse_SERVING {
		return fmt.Errorf("health check of model runner %s: expected SERVING, found %s", c.target, s)
	}
	return nil
}

// Setup asks the runner to find and instantiate the single subclass of
// className ("module.ClassName", the challenge's base class). A non-SUCCESS
// status returns a *StatusError.
func (c *Client) Setup(ctx context.Context, className string) error {
	resp, err := c.svc.Setup(ctx, &dynamicsubclasspb.SetupRequest{ClassName: className}, grpc.WaitForReady(true))
	if err != nil {
		return err
	}
	return statusErr("Setup", resp.GetStatus())
}

// Call invokes method with positional args (positions 1..n) and keyword
// args, and decodes its result (null for a method that returned None).
// Errors: gRPC status errors unchanged, *StatusError for a non-SUCCESS
// status, or a Decode error.
func (c *Client) Call(ctx context.Context, method string, args []*commonspb.Variant, kwargs map[string]*commonspb.Variant) (json.RawMessage, error) {
	r, err := NewCall(method, args, kwargs)
	if err != nil {
		return nil, err
	}
	return c.Send(ctx, r)
}

// Send sends a request built by NewCall, NewTick or NewPredict (or kept by
// Requests) and decodes its result as Call does. r is only read: the same
// request can be sent to many runners at once.
func (c *Client) Send(ctx context.Context, r *Request) (json.RawMessage, error) {
	resp := new(dynamicsubclasspb.CallResponse)
	if err := c.main.Invoke(ctx, dynamicsubclasspb.DynamicSubclassService_Call_FullMethodName, r, resp, sendOptions...); err != nil {
		return nil, err
	}
	if err := statusErr(r.method, resp.GetStatus()); err != nil {
		return nil, err
	}
	out, err := Decode(resp.MethodResponse)
	if err != nil {
		return nil, fmt.Errorf("%s result: %w", r.method, err)
	}
	return out, nil
}

// Tick sends the inference input (a JSON object) as the single JSON
// argument of tick (§6.2). The result is ignored.
func (c *Client) Tick(ctx context.Context, input json.RawMessage) error {
	r, err := NewTick(input)
	if err != nil {
		return err
	}
	_, err = c.Send(ctx, r)
	return err
}

// Predict sends the call builder's args as positions 1..n (ArgVariant) and
// the keys of kwargs (a JSON object; null or {} for none) as keyword
// arguments, and returns the decoded result.
func (c *Client) Predict(ctx context.Context, args []json.RawMessage, kwargs json.RawMessage) (json.RawMessage, error) {
	r, err := NewPredict(args, kwargs)
	if err != nil {
		return nil, err
	}
	return c.Send(ctx, r)
}

func statusErr(method string, st *commonspb.Status) error {
	if st.GetCode() == CodeSuccess {
		return nil
	}
	code := st.GetCode()
	if code == "" {
		code = "UNKNOWN"
	}
	return &StatusError{Method: method, Code: code, Message: st.GetMessage()}
}
