// Command wrongcookie is a broken model plugin for the doctor tests: a
// hand-written go-plugin server whose handshake uses another magic cookie
// value than the coordinator's.
package main

import (
	"context"
	"fmt"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	modelv1 "github.com/crunch-coordinator/coordinator/proto/model/v1"
	"github.com/crunch-coordinator/coordinator/sdk"
)

type rawPlugin struct{ plugin.NetRPCUnsupportedPlugin }

func (rawPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	modelv1.RegisterModelServer(s, modelv1.UnimplementedModelServer{})
	return nil
}

func (rawPlugin) GRPCClient(context.Context, *plugin.GRPCBroker, *grpc.ClientConn) (any, error) {
	return nil, fmt.Errorf("server only")
}

func main() {
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: plugin.HandshakeConfig{ProtocolVersion: sdk.ProtocolVersion, MagicCookieKey: sdk.MagicCookieKey, MagicCookieValue: "not-the-coordinator-cookie"},
		Plugins:         plugin.PluginSet{sdk.PluginModel: rawPlugin{}},
		GRPCServer:      plugin.DefaultGRPCServer,
	})
}
