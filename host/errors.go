package host

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/crunch-coordinator/coordinator/internal/modelrunner"
	"github.com/crunch-coordinator/coordinator/sdk/wire"
)

// Sentinel errors wrapped in a CallError's Err (match with errors.Is).
var (
	// ErrStopped: the model was stopped for good by the stop rules (or the
	// set/challenge was closed); the call was not made.
	ErrStopped = errors.New("plugin stopped")
	// ErrCoolingDown: the model was taken out by MULTIPLE_FAILED or
	// MULTIPLE_TIMEOUT and is re-admitted after its cool-down.
	ErrCoolingDown = errors.New("model cooling down")
	// ErrInvalidOutput: a model's Predict answer is not one JSON value (for
	// example NaN, which Python's json.dumps writes by default) or failed
	// the challenge's validation: FAILED for that call, and it counts
	// toward MULTIPLE_FAILED; never BAD_IMPLEMENTATION.
	ErrInvalidOutput = errors.New("invalid model output")
	// ErrRestarting: the plugin is between generations (backoff or start in
	// progress); a model call fails fast as ABSENT instead of queueing.
	ErrRestarting = errors.New("plugin restarting")
	// ErrPluginExited: the plugin process exited during or before the call.
	ErrPluginExited = errors.New("plugin process exited")
	// ErrRequestTooLarge: the request exceeds wire.MaxMessageBytes; it was
	// not sent and the result is not charged to the plugin.
	ErrRequestTooLarge = errors.New("request larger than the gRPC message limit")
	// ErrResponseTooLarge: the plugin's answer exceeded the host's receive
	// limit (codes.ResourceExhausted on a request that fit the limit).
	ErrResponseTooLarge = errors.New("response larger than the gRPC message limit")
	// ErrHostCanceled: the caller's context was cancelled; the call is not
	// charged to the plugin.
	ErrHostCanceled = errors.New("call cancelled by the host")
	// ErrBadEnvelope: a model's output decoded but fails its envelope (shape,
	// count or validation rules). Challenge answers: wire.ErrBadOutput.
	ErrBadEnvelope = errors.New("output fails its envelope")
)

// CallError is the error of one plugin call. Callable is the challenge
// callable or model method ("ScorePredictions", "Predict", "Describe",
// "start"), Plugin the plugin's id, Status the classification, Err the cause
// (a gRPC status error, wire.ErrBadOutput, one of the sentinels above, or a
// start error).
type CallError struct {
	Plugin   string
	Callable string
	Status   Status
	Err      error
}

// Error formats "plugin <id>: <callable>: <STATUS>: <cause>".
func (e *CallError) Error() string {
	return fmt.Sprintf("plugin %s: %s: %s: %v", e.Plugin, e.Callable, e.Status, e.Err)
}

// Unwrap returns the cause.
func (e *CallError) Unwrap() error { return e.Err }

// StatusOf returns the Status carried by err: SUCCESS for nil, the
// CallError's status when err wraps one, BAD_IMPLEMENTATION for an answer
// the checked boundary refused (wire.ErrBadOutput, e.g. from a callable
// served by sdk.Defaults), FAILED otherwise.
func StatusOf(err error) Status {
	if err == nil {
		return StatusSuccess
	}
	var ce *CallError
	if errors.As(err, &ce) {
		return ce.Status
	}
	if errors.Is(err, wire.ErrBadOutput) {
		return StatusBadImplementation
	}
	return StatusFailed
}

// classifyCall maps the error of one RPC to a Status. It looks only at
// structured facts: the host's own context, the call's deadline, whether the
// plugin process is gone (done), sentinels and gRPC codes. Never at message
// text. charge is false when the outcome must not count against the plugin
// (host cancellation, host-side oversized request).
func classifyCall(parent, callCtx context.Context, err error, done <-chan struct{}) (st Status, charge bool) {
	if err == nil {
		return StatusSuccess, true
	}
	switch {
	case errors.Is(err, ErrRequestTooLarge), errors.Is(err, modelrunner.ErrArgument):
		return StatusFailed, false
	case errors.Is(err, ErrInvalidOutput):
		return StatusFailed, true
	case errors.Is(err, wire.ErrBadOutput), errors.Is(err, ErrBadEnvelope), errors.Is(err, ErrResponseTooLarge):
		return StatusBadImplementation, true
	}
	// A model runner's own status (reference-system.md §6.5): its
	// BAD_IMPLEMENTATION blames the participant's code as a whole; misuse
	// codes blame the coordinator and are not charged; any other code, and
	// a result that does not decode (NaN, wrong length), fail this call.
	var mse *modelrunner.StatusError
	if errors.As(err, &mse) {
		switch {
		case mse.BadImplementation():
			return StatusBadImplementation, true
		case mse.Misuse():
			return StatusFailed, false
		default:
			return StatusFailed, true
		}
	}
	if errors.Is(err, modelrunner.ErrBadOutput) || errors.Is(err, modelrunner.ErrNonFinite) || errors.Is(err, modelrunner.ErrUnsupportedVariant) {
		return StatusFailed, true
	}
	if parent.Err() != nil && !errors.Is(parent.Err(), context.DeadlineExceeded) {
		return StatusFailed, false // the host cancelled
	}
	code := codes.Unknown
	if s, ok := status.FromError(err); ok {
		code = s.Code()
	} else if errors.Is(err, context.DeadlineExceeded) {
		code = codes.DeadlineExceeded
	} else if errors.Is(err, context.Canceled) {
		code = codes.Canceled
	}
	exited := false
	select {
	case <-done:
		exited = true
	default:
	}
	switch code {
	case codes.DeadlineExceeded:
		return StatusTimeout, true
	case codes.Unavailable:
		return StatusCrashed, true
	case codes.Unimplemented:
		return StatusBadImplementation, true
	case codes.Internal:
		// The SDK sends Internal only for output the plugin cannot encode;
		// grpc-go uses it for a response that does not unmarshal.
		return StatusBadImplementation, true
	case codes.ResourceExhausted:
		// The request was checked against the limit before sending, so an
		// over-limit message is the plugin's answer.
		return StatusBadImplementation, true
	case codes.Canceled:
		if exited {
			return StatusCrashed, true
		}
		if callCtx.Err() != nil && errors.Is(callCtx.Err(), context.DeadlineExceeded) {
			return StatusTimeout, true
		}
		return StatusFailed, true
	}
	if exited || errors.Is(err, ErrPluginExited) {
		return StatusCrashed, true
	}
	if callCtx.Err() != nil && errors.Is(callCtx.Err(), context.DeadlineExceeded) {
		return StatusTimeout, true
	}
	return StatusFailed, true
}

// explain wraps the cause with a short, code-based reason for the log and
// the stored prediction row.
func explain(st Status, err error) error {
	code := status.Code(err)
	switch st {
	case StatusTimeout:
		return fmt.Errorf("no answer before the call deadline (the plugin is killed and restarted): %w", err)
	case StatusCrashed:
		return fmt.Errorf("plugin process exited or dropped the connection mid-call (restarting it): %w", err)
	case StatusBadImplementation:
		switch {
		case code == codes.Unimplemented:
			return fmt.Errorf("plugin does not implement this RPC (gRPC Unimplemented); implement it or stop listing it in Describe: %w", err)
		case code == codes.ResourceExhausted:
			return fmt.Errorf("%w (limit %d bytes): %w", ErrResponseTooLarge, wire.MaxMessageBytes, err)
		}
	}
	return err
}
