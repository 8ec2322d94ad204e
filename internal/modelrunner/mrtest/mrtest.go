// Package mrtest is a Go implementation of the model-runner server side
// (reference-system.md §6.1: DynamicSubclassService Setup/Call and
// grpc.health.v1 on one gRPC server), for tests and benchmarks of remote
// models. A Server serves any number of models (every connection gets the
// same Handler), can be stopped and started again on the same address (a
// model killed and restarted), and accepts gRPC server options (TLS,
// interceptors).
package mrtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/crunch-coordinator/coordinator/internal/modelrunner"
	"github.com/crunch-coordinator/coordinator/proto/modelrunner/commonspb"
	"github.com/crunch-coordinator/coordinator/proto/modelrunner/dynamicsubclasspb"
)

// Handler answers one Call: method is "tick" or "predict", args the
// decoded positional arguments (JSON values, ordered by position). A nil
// result is a method that returned None. A returned *modelrunner.StatusError
// becomes that status code; any other error is MODEL_FAILED.
type Handler func(ctx context.Context, method string, args []json.RawMessage) (json.RawMessage, error)

// Constant returns a Handler that answers predict with out and tick with
// None.
func Constant(out json.RawMessage) Handler {
	return func(_ context.Context, method string, _ []json.RawMessage) (json.RawMessage, error) {
		if method == modelrunner.MethodPredict {
			return out, nil
		}
		return nil, nil
	}
}

// Server is one gRPC server process stand-in serving the model-runner
// protocol on one address.
type Server struct {
	handler Handler
	opts    []grpc.ServerOption

	// Setups and Calls count the requests served (all connections).
	Setups atomic.Int64
	Calls  atomic.Int64

	mu   sync.Mutex
	addr string
	srv  *grpc.Server
}

// Start listens on addr ("127.0.0.1:0" picks a free port) and serves.
func Start(addr string, h Handler, opts ...grpc.ServerOption) (*Server, error) {
	s := &Server{handler: h, opts: opts}
	if err := s.listen(addr); err != nil {
		return nil, err
	}
	return s, nil
}

// Addr is the bound host:port (kept across Stop and Restart).
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

func (s *Server) listen(addr string) error {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("mrtest: listen %s: %w", addr, err)
	}
	srv := grpc.NewServer(append([]grpc.ServerOption{grpc.MaxRecvMsgSize(modelrunner.MaxMessageBytes), grpc.MaxSendMsgSize(modelrunner.MaxMessageBytes)}, s.opts...)...)
	dynamicsubclasspb.RegisterDynamicSubclassServiceServer(srv, &service{s: s})
	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(srv, hs)
	s.mu.Lock()
	s.addr, s.srv = lis.Addr().String(), srv
	s.mu.Unlock()
	go func() { _ = srv.Serve(lis) }()
	return nil
}

// Stop kills the server: every connection is closed at once (in-flight
// calls fail), like a model container that died.
func (s *Server) Stop() {
	s.mu.Lock()
	srv := s.srv
	s.srv = nil
	s.mu.Unlock()
	if srv != nil {
		srv.Stop()
	}
}

// Restart serves again on the same address after Stop.
func (s *Server) Restart() error {
	s.mu.Lock()
	running := s.srv != nil
	s.mu.Unlock()
	if running {
		return errors.New("mrtest: Restart of a running server")
	}
	return s.listen(s.Addr())
}

type service struct {
	dynamicsubclasspb.UnimplementedDynamicSubclassServiceServer
	s *Server
}

func ok() *commonspb.Status { return &commonspb.Status{Code: modelrunner.CodeSuccess} }

func (v *service) Setup(_ context.Context, req *dynamicsubclasspb.SetupRequest) (*dynamicsubclasspb.SetupResponse, error) {
	v.s.Setups.Add(1)
	if req.GetClassName() == "" {
		return &dynamicsubclasspb.SetupResponse{Status: &commonspb.Status{Code: modelrunner.CodeInvalidArgument, Message: "empty className"}}, nil
	}
	return &dynamicsubclasspb.SetupResponse{Status: ok()}, nil
}

func (v *service) Call(ctx context.Context, req *dynamicsubclasspb.CallRequest) (*dynamicsubclasspb.CallResponse, error) {
	v.s.Calls.Add(1)
	args := make([]json.RawMessage, len(req.GetMethodArguments()))
	for i, a := range req.GetMethodArguments() {
		d, err := modelrunner.Decode(a.GetData())
		if err != nil {
			return &dynamicsubclasspb.CallResponse{Status: &commonspb.Status{Code: modelrunner.CodeModelFailed, Message: err.Error()}}, nil
		}
		args[i] = d
	}
	out, err := v.s.handler(ctx, req.GetMethodName(), args)
	if err != nil {
		var se *modelrunner.StatusError
		if errors.As(err, &se) {
			return &dynamicsubclasspb.CallResponse{Status: &commonspb.Status{Code: se.Code, Message: se.Message}}, nil
		}
		return &dynamicsubclasspb.CallResponse{Status: &commonspb.Status{Code: modelrunner.CodeModelFailed, Message: err.Error()}}, nil
	}
	resp := &dynamicsubclasspb.CallResponse{Status: ok()}
	if out != nil {
		vr, err := modelrunner.ArgVariant(out)
		if err != nil {
			return &dynamicsubclasspb.CallResponse{Status: &commonspb.Status{Code: modelrunner.CodeModelFailed, Message: err.Error()}}, nil
		}
		resp.MethodResponse = vr
	}
	return resp, nil
}
