// Package seam is the go-plugin seam of the plugin contract, defined once
// for each plugin kind (challenge, model and the brokered host-data
// service): the handshake, the message-size caps, the gRPC server
// constructor, the client dial options and one go-plugin Plugin type per
// kind (go-plugin's examples/grpc layout).
//
// It speaks the generated proto types only. Package sdk (the plugin side:
// ServeChallenge, ServeModel, the brokered HostData) and package sdk/wire
// (the host side: typed clients, the host-data server) translate between
// them and the SDK's Go types. Being internal to the SDK module, none of
// these transport settings is part of the SDK's public surface.
package seam

import (
	"runtime"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
)

// ProtocolVersion is the go-plugin application protocol version of the
// handshake. It changes only with an incompatible change of the gRPC
// services.
const ProtocolVersion = 1

// Magic cookie exchanged in the go-plugin handshake. It is not a security
// measure; it only stops a plugin binary from being run by accident.
const (
	MagicCookieKey   = "COORDINATOR_PLUGIN"
	MagicCookieValue = "crunch-coordinator-7b1f3c2e"
)

// Plugin kinds: the names in the go-plugin plugin set.
const (
	KindChallenge = "challenge"
	KindModel     = "model"
)

// MaxMessageBytes caps one gRPC message (bytes), in both directions, on the
// plugin side and on the host side (16 MiB). A larger request or response
// fails with codes.ResourceExhausted.
const MaxMessageBytes = 16 << 20

// Handshake returns the go-plugin handshake: ProtocolVersion and the magic
// cookie.
func Handshake() plugin.HandshakeConfig {
	return plugin.HandshakeConfig{
		ProtocolVersion:  ProtocolVersion,
		MagicCookieKey:   MagicCookieKey,
		MagicCookieValue: MagicCookieValue,
	}
}

// WindowBytes is the fixed HTTP/2 flow-control window (per stream and per
// connection, bytes) of every connection of the contract, on both sides.
// A fixed window turns off grpc-go's bandwidth-delay estimator, which
// otherwise sends a PING (and waits for its ACK) after nearly every
// message: on a local Unix socket that doubled the frames, and the
// wake-ups, of a small call, and the window never needs to grow there.
// It also bounds what a peer can have buffered unread per stream.
const WindowBytes = 1 << 20

// NewServer is the constructor of every gRPC server of the contract: the
// plugin's server (plugin.ServeConfig.GRPCServer) and the host's brokered
// host-data server. opts are go-plugin's (TLS when AutoMTLS is on); it adds
// receive and send caps of MaxMessageBytes, fixed flow-control windows of
// WindowBytes and a fixed pool of
// GOMAXPROCS+4 stream workers, which serve calls on reusable goroutines
// instead of a new goroutine per call (long-lived streams, go-plugin's
// broker and stdio, keep a worker each, hence the 4 extra; when every
// worker is busy a call still gets its own goroutine). The workers stop
// with the server.
func NewServer(opts []grpc.ServerOption) *grpc.Server {
	return grpc.NewServer(append(opts,
		grpc.MaxRecvMsgSize(MaxMessageBytes),
		grpc.MaxSendMsgSize(MaxMessageBytes),
		grpc.StaticStreamWindowSize(WindowBytes),
		grpc.StaticConnWindowSize(WindowBytes),
		grpc.NumStreamWorkers(uint32(runtime.GOMAXPROCS(0)+4)),
	)...)
}

// DialOptions returns the call-size caps (MaxMessageBytes, receive and
// send) and the fixed flow-control windows (WindowBytes) of every gRPC
// client connection of the contract: the host's connection to a plugin
// (plugin.ClientConfig.GRPCDialOptions, overriding go-plugin's 2 GiB) and
// the plugin's brokered connection to host data.
func DialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithStaticStreamWindowSize(WindowBytes),
		grpc.WithStaticConnWindowSize(WindowBytes),
		grpc.WithDefaultCallOptions(
			grpc.MaxCallRecvMsgSize(MaxMessageBytes),
			grpc.MaxCallSendMsgSize(MaxMessageBytes),
		),
	}
}
