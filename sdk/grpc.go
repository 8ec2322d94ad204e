package sdk

import (
	"runtime"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
)

// MaxMessageBytes caps one gRPC message (bytes), in both directions, on the
// plugin side and on the host side (16 MiB). A larger request or response
// fails with codes.ResourceExhausted. Package sdk/wire re-exports it.
const MaxMessageBytes = 16 << 20

// GRPCServerOptions returns the options of every gRPC server of the plugin
// contract (plugin servers and the host's brokered host-data server): receive
// and send caps of MaxMessageBytes. sdk/wire.ServerOptions returns the same.
func GRPCServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.MaxRecvMsgSize(MaxMessageBytes),
		grpc.MaxSendMsgSize(MaxMessageBytes),
	}
}

// GRPCDialOptions returns the call-size caps (MaxMessageBytes) of every gRPC
// client connection of the plugin contract: the host's connection to a
// plugin and the plugin's brokered connection to host data.
// sdk/wire.DialOptions returns the same.
func GRPCDialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithDefaultCallOptions(
			grpc.MaxCallRecvMsgSize(MaxMessageBytes),
			grpc.MaxCallSendMsgSize(MaxMessageBytes),
		),
	}
}

// handshakeConfig is the go-plugin handshake: ProtocolVersion and the magic
// cookie. sdk/wire.HandshakeConfig builds the same value for the host.
func handshakeConfig() plugin.HandshakeConfig {
	return plugin.HandshakeConfig{
		ProtocolVersion:  ProtocolVersion,
		MagicCookieKey:   MagicCookieKey,
		MagicCookieValue: MagicCookieValue,
	}
}

// newGRPCServer is the ServeConfig.GRPCServer factory: go-plugin's options
// (TLS when AutoMTLS is on), the size caps and StreamWorkers.
func newGRPCServer(opts []grpc.ServerOption) *grpc.Server {
	return grpc.NewServer(append(append(opts, GRPCServerOptions()...), StreamWorkers())...)
}

// StreamWorkers returns a gRPC server option that serves calls on a fixed
// set of GOMAXPROCS+4 reusable goroutines instead of a new goroutine per
// call, which saves the goroutine start and stack growth of every call.
// Long-lived streams (go-plugin's broker and stdio streams) keep a worker
// for their lifetime, hence the 4 extra. When every worker is busy a call
// still gets its own goroutine, so concurrency is unchanged. The workers
// stop with the server. Plugin servers use it, and so does the host's
// brokered host-data server.
func StreamWorkers() grpc.ServerOption {
	return grpc.NumStreamWorkers(uint32(runtime.GOMAXPROCS(0) + 4))
}
