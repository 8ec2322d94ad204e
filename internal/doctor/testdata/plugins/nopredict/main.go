// Command nopredict is a broken model plugin for the doctor tests: a
// hand-written gRPC server whose Describe lists only Tick.
package main

import (
	"context"
	"fmt"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	modelv1 "github.com/crunch-coordinator/coordinator/proto/model/v1"
	"github.com/crunch-coordinator/coordinator/sdk"
)

type server struct {
	modelv1.UnimplementedModelServer
}

func (server) Describe(context.Context, *modelv1.DescribeRequest) (*modelv1.DescribeResponse, error) {
	return &modelv1.DescribeResponse{ContractVersion: sdk.ContractVersion, ModelName: "nopredict", ModelVersion: "0.0.1",
		Methods: []string{sdk.MethodTick}}, nil
}

func (server) Tick(context.Context, *modelv1.TickRequest) (*modelv1.TickResponse, error) {
	return &modelv1.TickResponse{}, nil
}

type rawPlugin struct{ plugin.NetRPCUnsupportedPlugin }

func (rawPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	modelv1.RegisterModelServer(s, server{})
	return nil
}

func (rawPlugin) GRPCClient(context.Context, *plugin.GRPCBroker, *grpc.ClientConn) (any, error) {
	return nil, fmt.Errorf("server only")
}

func main() {
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: plugin.HandshakeConfig{ProtocolVersion: sdk.ProtocolVersion, MagicCookieKey: sdk.MagicCookieKey, MagicCookieValue: sdk.MagicCookieValue},
		Plugins:         plugin.PluginSet{sdk.PluginModel: rawPlugin{}},
		GRPCServer:      plugin.DefaultGRPCServer,
	})
}
