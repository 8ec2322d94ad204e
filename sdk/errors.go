package sdk

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Sentinel errors a callable may wrap (with %w) to choose the gRPC status
// code the host sees. Any other error returned by a callable or model method
// reaches the host as codes.Unknown carrying the error text; the host
// classifies all three codes as FAILED (the plugin process stays up).
var (
	// ErrInvalidInput marks an input the callable rejects (for example a
	// raw input that is not a JSON object). Reported as codes.InvalidArgument.
	ErrInvalidInput = errors.New("invalid input")
	// ErrNotReady marks a callable that cannot answer yet (for example a
	// model whose weights are still loading). Reported as
	// codes.FailedPrecondition.
	ErrNotReady = errors.New("not ready")
	// ErrNoHostData is returned by the HostData handed to callables when the
	// host offered no host-data service (Describe carried broker id 0, or
	// Describe was never called).
	ErrNoHostData = errors.New("no host-data service offered by the host")
)

// callableStatus converts an error returned by author code into the gRPC
// status error sent to the host. When the call's own context is done (host
// deadline or cancellation), the context's code wins (DeadlineExceeded or
// Canceled). Author errors are never passed through as their own gRPC status,
// so an author's failing outbound gRPC call cannot masquerade as a crash
// (Unavailable) or a missing method (Unimplemented).
func callableStatus(ctx context.Context, callable string, err error) error {
	if err == nil {
		return nil
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		return status.FromContextError(ctxErr).Err()
	}
	code := codes.Unknown
	switch {
	case errors.Is(err, ErrInvalidInput):
		code = codes.InvalidArgument
	case errors.Is(err, ErrNotReady):
		code = codes.FailedPrecondition
	}
	return status.Errorf(code, "%s: %s", callable, err.Error())
}
