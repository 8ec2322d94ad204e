// Package wire is the host side of the plugin contract: the go-plugin
// Plugin values (one per plugin kind, defined once in the SDK's internal
// seam package together with the handshake, the size caps and the gRPC
// server constructor), the typed clients the host calls a plugin through
// (ChallengeClient, ModelClient) and the host-data server the host offers a
// challenge over the go-plugin broker.
//
// Errors from plugin RPCs are returned unchanged (gRPC status errors) so the
// host can classify them by status code: Unavailable = crashed,
// DeadlineExceeded = timeout, Unimplemented = bad implementation, anything
// else (Unknown, InvalidArgument, FailedPrecondition, ...) = the callable
// failed. Answers that arrive but do not decode to the expected shape are
// reported as errors wrapping ErrBadOutput.
package wire

import (
	"errors"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/crunch-coordinator/coordinator/sdk/internal/seam"
)

// MaxMessageBytes is the gRPC send/receive cap (bytes) on both sides
// (16 MiB). A larger request or response fails with
// codes.ResourceExhausted.
const MaxMessageBytes = seam.MaxMessageBytes

// ErrBadOutput is wrapped (with what was expected and what was found) by the
// client side when a plugin answers bytes that are not valid JSON of the
// expected shape. The host classifies it as BAD_IMPLEMENTATION.
var ErrBadOutput = errors.New("plugin output does not decode")

// HandshakeConfig returns the go-plugin handshake: sdk.ProtocolVersion and
// the sdk.MagicCookieKey/sdk.MagicCookieValue cookie.
func HandshakeConfig() plugin.HandshakeConfig { return seam.Handshake() }

// DialOptions returns the call-size limits (MaxCallRecvMsgSize and
// MaxCallSendMsgSize = MaxMessageBytes). The host puts them in
// plugin.ClientConfig.GRPCDialOptions; they override go-plugin's 2 GiB.
func DialOptions() []grpc.DialOption { return seam.DialOptions() }
