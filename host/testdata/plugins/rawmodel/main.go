// Command rawmodel is a test model plugin that speaks the gRPC contract
// without the SDK, to break it on purpose. -mode:
//
//	wrongversion   Describe reports contract version "999"
//	missingmethod  Describe lists only Tick
//	unimplemented  Describe lists Tick and Predict, Predict is not implemented (Unimplemented)
//	badjson        Predict answers bytes that are not JSON
//	wrongcookie    handshakes with another magic cookie value
//	tickpredictliar  lists TickPredict in optional_methods but does not serve it (Unimplemented)
//	batchliar        lists TickPredict and TickPredictBatch in optional_methods, serves neither
//	peeker           serves TickPredictBatch itself and tries to read ahead: it reads the
//	                 stream on its own goroutine and, before answering each call, waits
//	                 100ms for later requests; each Predict (also one sent with a Tick) answers
//	                 what it had received by then ({"received": requests received,
//	                 "last_tick": the last Tick input received})
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	modelv1 "github.com/crunch-coordinator/coordinator/proto/model/v1"
	"github.com/crunch-coordinator/coordinator/sdk"
)

type server struct {
	modelv1.UnimplementedModelServer
	mode string
}

func (s *server) Describe(context.Context, *modelv1.DescribeRequest) (*modelv1.DescribeResponse, error) {
	d := &modelv1.DescribeResponse{ContractVersion: sdk.ContractVersion, ModelName: "raw-" + s.mode, ModelVersion: "0.1",
		Methods: []string{sdk.MethodTick, sdk.MethodPredict}}
	switch s.mode {
	case "wrongversion":
		d.ContractVersion = "999"
	case "missingmethod":
		d.Methods = []string{sdk.MethodTick}
	case "tickpredictliar":
		d.OptionalMethods = []string{sdk.MethodTickPredict}
	case "batchliar":
		d.OptionalMethods = []string{sdk.MethodTickPredict, sdk.MethodTickPredictBatch}
	case "peeker":
		d.OptionalMethods = []string{sdk.MethodTickPredictBatch}
	}
	return d, nil
}

func (s *server) Tick(context.Context, *modelv1.TickRequest) (*modelv1.TickResponse, error) {
	return &modelv1.TickResponse{}, nil
}

func (s *server) Predict(context.Context, *modelv1.PredictRequest) (*modelv1.PredictResponse, error) {
	switch s.mode {
	case "unimplemented":
		return nil, status.Error(codes.Unimplemented, "method Predict not implemented")
	case "badjson":
		return &modelv1.PredictResponse{ResultJson: []byte("this {is not json")}, nil
	}
	return &modelv1.PredictResponse{ResultJson: []byte(`{"ok":true}`)}, nil
}

// TickPredictBatch (peeker) reads every request as soon as it arrives and
// lingers before each answer, so any call the host sent ahead of the
// answer it waits for shows in the answer's count.
func (s *server) TickPredictBatch(stream grpc.BidiStreamingServer[modelv1.TickPredictBatchRequest, modelv1.TickPredictBatchResponse]) error {
	if s.mode != "peeker" {
		return status.Error(codes.Unimplemented, "method TickPredictBatch not implemented")
	}
	reqs := make(chan *modelv1.TickPredictBatchRequest, 1024)
	go func() {
		defer close(reqs)
		for {
			req, err := stream.Recv()
			if err != nil {
				return
			}
			reqs <- req
		}
	}()
	received := 0
	var lastTick json.RawMessage
	note := func(req *modelv1.TickPredictBatchRequest) {
		received++
		if t := req.GetTick(); t != nil {
			lastTick = t.GetInputJson()
		}
	}
	peek := func() {
		linger := time.After(100 * time.Millisecond)
		for {
			select {
			case more, ok := <-reqs:
				if !ok {
					return
				}
				note(more)
			case <-linger:
				return
			}
		}
	}
	predict := func() *modelv1.TickPredictBatchResponse {
		out, _ := json.Marshal(map[string]any{"received": received, "last_tick": lastTick})
		return &modelv1.TickPredictBatchResponse{Result: &modelv1.TickPredictBatchResponse_Predict{Predict: &modelv1.PredictResponse{ResultJson: out}}}
	}
	for req := range reqs {
		note(req)
		peek()
		msg := &modelv1.TickPredictBatchResponse{Result: &modelv1.TickPredictBatchResponse_Tick{Tick: &modelv1.TickOutcome{}}}
		if req.GetPredict() != nil {
			msg = predict()
		}
		if err := stream.Send(msg); err != nil {
			return err
		}
		if req.GetThenPredict() != nil { // its Predict, after Tick's outcome
			peek()
			if err := stream.Send(predict()); err != nil {
				return err
			}
		}
	}
	return nil
}

type rawPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	srv *server
}

func (p *rawPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	modelv1.RegisterModelServer(s, p.srv)
	return nil
}

func (p *rawPlugin) GRPCClient(context.Context, *plugin.GRPCBroker, *grpc.ClientConn) (any, error) {
	return nil, fmt.Errorf("server only")
}

func main() {
	mode := flag.String("mode", "ok", "behaviour")
	flag.Parse()
	hc := plugin.HandshakeConfig{ProtocolVersion: sdk.ProtocolVersion, MagicCookieKey: sdk.MagicCookieKey, MagicCookieValue: sdk.MagicCookieValue}
	if *mode == "wrongcookie" {
		hc.MagicCookieValue = "not-the-coordinator-cookie"
	}
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: hc,
		Plugins:         plugin.PluginSet{sdk.PluginModel: &rawPlugin{srv: &server{mode: *mode}}},
		GRPCServer:      plugin.DefaultGRPCServer,
	})
}
