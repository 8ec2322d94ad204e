package seam

import (
	"context"
	"fmt"
	"sync"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	challengev1 "github.com/crunch-coordinator/coordinator/proto/challenge/v1"
	hostdatav1 "github.com/crunch-coordinator/coordinator/proto/hostdata/v1"
	modelv1 "github.com/crunch-coordinator/coordinator/proto/model/v1"
)

// ChallengePlugin is the go-plugin Plugin of the challenge kind. The plugin
// side sets Impl; the host side sets HostData (nil: the host offers no
// host data) and Wrap.
type ChallengePlugin struct {
	plugin.NetRPCUnsupportedPlugin
	// Impl builds the challenge service; broker is the plugin server's
	// go-plugin broker, over which the service dials host data.
	Impl func(broker *plugin.GRPCBroker) challengev1.ChallengeServer
	// HostData is served to the plugin over the broker (see ChallengeConn).
	HostData hostdatav1.HostDataServer
	// Wrap turns the connection into the value Dispense returns (nil: the
	// *ChallengeConn itself).
	Wrap func(*ChallengeConn) any
}

// GRPCServer registers the challenge service (plugin side).
func (p *ChallengePlugin) GRPCServer(broker *plugin.GRPCBroker, s *grpc.Server) error {
	if p.Impl == nil {
		return fmt.Errorf("challenge plugin: expected a challenge implementation, found none")
	}
	challengev1.RegisterChallengeServer(s, p.Impl(broker))
	return nil
}

// GRPCClient returns Wrap(conn) (host side). ctx is go-plugin's
// done-context, cancelled when the plugin process exits.
func (p *ChallengePlugin) GRPCClient(ctx context.Context, broker *plugin.GRPCBroker, conn *grpc.ClientConn) (any, error) {
	c := &ChallengeConn{RPC: challengev1.NewChallengeClient(conn), broker: broker, hostData: p.HostData, done: ctx}
	if p.Wrap != nil {
		return p.Wrap(c), nil
	}
	return c, nil
}

// ChallengeConn is the host's connection to a challenge plugin: the gRPC
// client, the plugin's lifetime and the host-data service it offers the
// plugin over the broker.
type ChallengeConn struct {
	RPC challengev1.ChallengeClient

	broker   *plugin.GRPCBroker
	hostData hostdatav1.HostDataServer
	done     context.Context

	mu         sync.Mutex
	hostDataID uint32
}

// Done is closed when the plugin process exits.
func (c *ChallengeConn) Done() <-chan struct{} { return c.done.Done() }

// HostDataBrokerID starts the host-data server on the broker (once, until
// ForgetHostData) and returns its broker id for Describe; 0 when the host
// has no host data. Each server stops when the broker closes (client Kill).
func (c *ChallengeConn) HostDataBrokerID() uint32 {
	if c.hostData == nil || c.broker == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.hostDataID == 0 {
		c.hostDataID = ServeHostData(c.broker, c.hostData)
	}
	return c.hostDataID
}

// ForgetHostData makes the next HostDataBrokerID offer a fresh broker id
// (the plugin may not have picked up id before it expired).
func (c *ChallengeConn) ForgetHostData(id uint32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.hostDataID == id {
		c.hostDataID = 0
	}
}

// ModelPlugin is the go-plugin Plugin of the model kind. The plugin side
// sets Server; the host side may set Wrap.
type ModelPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	// Impl is the model service.
	Impl modelv1.ModelServer
	// Wrap turns the connection into the value Dispense returns (nil: the
	// *ModelConn itself).
	Wrap func(*ModelConn) any
}

// GRPCServer registers the model service (plugin side).
func (p *ModelPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	if p.Impl == nil {
		return fmt.Errorf("model plugin: expected a model implementation, found none")
	}
	modelv1.RegisterModelServer(s, p.Impl)
	return nil
}

// GRPCClient returns Wrap(conn) (host side). ctx is go-plugin's
// done-context, cancelled when the plugin process exits.
func (p *ModelPlugin) GRPCClient(ctx context.Context, _ *plugin.GRPCBroker, conn *grpc.ClientConn) (any, error) {
	c := &ModelConn{RPC: modelv1.NewModelClient(conn), done: ctx}
	if p.Wrap != nil {
		return p.Wrap(c), nil
	}
	return c, nil
}

// ModelConn is the host's connection to a model plugin.
type ModelConn struct {
	RPC  modelv1.ModelClient
	done context.Context
}

// Done is closed when the plugin process exits.
func (c *ModelConn) Done() <-chan struct{} { return c.done.Done() }

// ServeHostData serves srv (the host-data kind) on a new broker id (host
// side) and returns the id, which the host sends to the plugin in Describe.
// The server is built by NewServer and stops when the broker closes.
func ServeHostData(broker *plugin.GRPCBroker, srv hostdatav1.HostDataServer) uint32 {
	id := broker.NextId()
	go broker.AcceptAndServe(id, func(opts []grpc.ServerOption) *grpc.Server {
		s := NewServer(opts)
		hostdatav1.RegisterHostDataServer(s, srv)
		return s
	})
	return id
}

// DialHostData dials the host-data service the host offered on broker id
// (plugin side), with DialOptions. The broker waits at most 5 s for the
// host's connection info.
func DialHostData(broker *plugin.GRPCBroker, id uint32) (*grpc.ClientConn, hostdatav1.HostDataClient, error) {
	if broker == nil {
		return nil, nil, fmt.Errorf("dial host data on broker id %d: no go-plugin broker in this server", id)
	}
	conn, err := broker.DialWithOptions(id, DialOptions()...)
	if err != nil {
		return nil, nil, fmt.Errorf("dial host data on broker id %d: %w", id, err)
	}
	return conn, hostdatav1.NewHostDataClient(conn), nil
}
