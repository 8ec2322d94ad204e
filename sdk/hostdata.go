package sdk

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"

	hostdatav1 "github.com/crunch-coordinator/coordinator/proto/hostdata/v1"
	"github.com/crunch-coordinator/coordinator/sdk/internal/seam"
)

// Feed query limits (rows). FeedQuery.Limit 0 means DefaultFeedLimit; the
// host caps any larger value at MaxFeedLimit.
const (
	DefaultFeedLimit = 1000
	MaxFeedLimit     = 10000
)

// EffectiveLimit returns the number of rows q may return: DefaultFeedLimit
// when Limit is 0, MaxFeedLimit when Limit is larger, else Limit. A negative
// Limit is invalid (callers report it) and yields 0.
func (q FeedQuery) EffectiveLimit() int {
	switch {
	case q.Limit < 0:
		return 0
	case q.Limit == 0:
		return DefaultFeedLimit
	case q.Limit > MaxFeedLimit:
		return MaxFeedLimit
	}
	return q.Limit
}

// HostClock is implemented by host data that also exposes the host's clock
// (UTC; simulated in replay). The HostData handed to callables implements
// it; a callable may type-assert data.(sdk.HostClock). On the host side, the
// host-data server answers Now only when the wrapped HostData implements it.
type HostClock interface {
	Now(ctx context.Context) (time.Time, error)
}

// hostDataCallTimeout bounds one host-data call when the callable's context
// carries no deadline (it normally carries the host's per-call deadline).
const hostDataCallTimeout = 30 * time.Second

// brokeredHostData is the plugin-side HostData: a client of the host's
// coordinator.hostdata.v1.HostData service, dialed over the go-plugin broker
// with the id the host sends in Describe.
type brokeredHostData struct {
	broker *plugin.GRPCBroker

	mu     sync.Mutex
	id     uint32
	conn   *grpc.ClientConn
	client hostdatav1.HostDataClient
}

// connect dials broker id (once per id; a new id replaces the old
// connection; see seam.DialHostData).
func (b *brokeredHostData) connect(id uint32) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.conn != nil && b.id == id {
		return nil
	}
	conn, client, err := seam.DialHostData(b.broker, id)
	if err != nil {
		return err
	}
	if b.conn != nil {
		_ = b.conn.Close()
	}
	b.id, b.conn, b.client = id, conn, client
	return nil
}

func (b *brokeredHostData) current() (hostdatav1.HostDataClient, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.client == nil {
		return nil, ErrNoHostData
	}
	return b.client, nil
}

func withDefaultDeadline(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, hostDataCallTimeout)
}

// ReadFeedRecords implements HostData over the brokered connection. Errors
// wrap ErrNoHostData when the host offered none, or the gRPC status error.
func (b *brokeredHostData) ReadFeedRecords(ctx context.Context, q FeedQuery) ([]FeedRecord, error) {
	client, err := b.current()
	if err != nil {
		return nil, fmt.Errorf("read feed records (asset %q): %w", q.Asset, err)
	}
	if q.Limit < 0 {
		return nil, fmt.Errorf("read feed records: limit: expected >= 0, found %d: %w", q.Limit, ErrInvalidInput)
	}
	ctx, cancel := withDefaultDeadline(ctx)
	defer cancel()
	req := &hostdatav1.ReadFeedRecordsRequest{
		Provider: q.Provider, Asset: q.Asset, Kind: q.Kind, Granularity: q.Granularity,
		Limit: int32(min(q.Limit, MaxFeedLimit)), Descending: q.Descending,
	}
	if !q.Start.IsZero() {
		req.Start = timestamppb.New(q.Start)
	}
	if !q.End.IsZero() {
		req.End = timestamppb.New(q.End)
	}
	if !q.IngestedBy.IsZero() {
		req.IngestedBy = timestamppb.New(q.IngestedBy)
	}
	resp, err := client.ReadFeedRecords(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("read feed records (provider %q, asset %q, kind %q) from host: %w", q.Provider, q.Asset, q.Kind, err)
	}
	out := make([]FeedRecord, 0, len(resp.GetRecords()))
	for i, r := range resp.GetRecords() {
		values := json.RawMessage(r.GetValuesJson())
		if len(values) > 0 && !json.Valid(values) {
			return nil, fmt.Errorf("read feed records: record %d values_json: expected JSON, found %d invalid bytes", i, len(values))
		}
		out = append(out, FeedRecord{
			Provider: r.GetProvider(), Asset: r.GetAsset(), Kind: r.GetKind(), Granularity: r.GetGranularity(),
			TsEvent: r.GetTsEvent().AsTime().UTC(), Values: values,
		})
	}
	return out, nil
}

// Now implements HostClock: the host's clock (UTC).
func (b *brokeredHostData) Now(ctx context.Context) (time.Time, error) {
	client, err := b.current()
	if err != nil {
		return time.Time{}, fmt.Errorf("read host clock: %w", err)
	}
	ctx, cancel := withDefaultDeadline(ctx)
	defer cancel()
	resp, err := client.Now(ctx, &hostdatav1.NowRequest{})
	if err != nil {
		return time.Time{}, fmt.Errorf("read host clock: %w", err)
	}
	if resp.GetNow() == nil {
		return time.Time{}, fmt.Errorf("read host clock: response field now: expected a timestamp, found none")
	}
	return resp.GetNow().AsTime().UTC(), nil
}
