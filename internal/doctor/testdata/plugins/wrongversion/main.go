// Command wrongversion is a broken challenge plugin for the doctor tests: a
// hand-written gRPC server whose Describe reports contract version "999"
// (it lists every callable, so only the version is wrong).
package main

import (
	"context"
	"fmt"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	challengev1 "github.com/crunch-coordinator/coordinator/proto/challenge/v1"
	"github.com/crunch-coordinator/coordinator/sdk"
)

type server struct {
	challengev1.UnimplementedChallengeServer
}

func (server) Describe(context.Context, *challengev1.DescribeRequest) (*challengev1.DescribeResponse, error) {
	return &challengev1.DescribeResponse{ContractVersion: "999", PluginName: "wrongversion", PluginVersion: "0.0.1",
		Callables: sdk.AllCallables}, nil
}

type rawPlugin struct{ plugin.NetRPCUnsupportedPlugin }

func (rawPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	challengev1.RegisterChallengeServer(s, server{})
	return nil
}

func (rawPlugin) GRPCClient(context.Context, *plugin.GRPCBroker, *grpc.ClientConn) (any, error) {
	return nil, fmt.Errorf("server only")
}

func main() {
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: plugin.HandshakeConfig{ProtocolVersion: sdk.ProtocolVersion, MagicCookieKey: sdk.MagicCookieKey, MagicCookieValue: sdk.MagicCookieValue},
		Plugins:         plugin.PluginSet{sdk.PluginChallenge: rawPlugin{}},
		GRPCServer:      plugin.DefaultGRPCServer,
	})
}
