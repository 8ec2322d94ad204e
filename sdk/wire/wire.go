// Package wire is the gRPC seam between the coordinator host and its
// plugins: the go-plugin handshake, message-size limits, and the
// go-plugin Plugin types whose client halves (ChallengeClient, ModelClient)
// the host uses to call a plugin.
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

	"github.com/crunch-coordinator/coordinator/sdk"
)

// MaxMessageBytes is the gRPC send/receive cap (bytes) on both sides. A
// larger request or response fails with codes.ResourceExhausted.
const MaxMessageBytes = sdk.MaxMessageBytes

// ErrBadOutput is wrapped (with what was expected and what was found) by the
// client side when a plugin answers bytes that are not valid JSON of the
// expected shape. The host classifies it as BAD_IMPLEMENTATION.
var ErrBadOutput = errors.New("plugin output does not decode")

// HandshakeConfig returns the go-plugin handshake: sdk.ProtocolVersion and
// the sdk.MagicCookieKey/sdk.MagicCookieValue cookie.
func HandshakeConfig() plugin.HandshakeConfig {
	return plugin.HandshakeConfig{
		ProtocolVersion:  sdk.ProtocolVersion,
		MagicCookieKey:   sdk.MagicCookieKey,
		MagicCookieValue: sdk.MagicCookieValue,
	}
}

// ServerOptions returns the size limits (MaxMessageBytes, receive and send)
// of every gRPC server of the contract. sdk.ServeChallenge and
// sdk.ServeModel use them through plugin.ServeConfig.GRPCServer; the host
// uses them for its brokered host-data server.
func ServerOptions() []grpc.ServerOption { return sdk.GRPCServerOptions() }

// DialOptions returns the call-size limits (MaxCallRecvMsgSize and
// MaxCallSendMsgSize = MaxMessageBytes). The host puts them in
// plugin.ClientConfig.GRPCDialOptions; they override go-plugin's 2 GiB.
func DialOptions() []grpc.DialOption { return sdk.GRPCDialOptions() }

// newServer is the gRPC server factory for brokered servers.
func newServer(opts []grpc.ServerOption) *grpc.Server {
	return grpc.NewServer(append(append(opts, ServerOptions()...), sdk.StreamWorkers())...)
}
