package sdk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
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

// FeedIngestionReader is implemented by host data that can also say when
// it stored each record it returns. The host's StoreHostData implements
// it, and so does the HostData a plugin reads over the broker when the host
// fills the records' ts_ingested; BuildInferenceInputs uses it to read a
// block's feed once (see blockFeed).
type FeedIngestionReader interface {
	// ReadFeedRecordsIngested answers as ReadFeedRecords, plus the time
	// (UTC, whole microseconds) the host stored each record: ingested[i]
	// is that of records[i]. Errors are ReadFeedRecords' and, over the
	// broker, one wrapping ErrNoIngestionTimes when the host did not send
	// them.
	ReadFeedRecordsIngested(ctx context.Context, q FeedQuery) (records []FeedRecord, ingested []time.Time, err error)
}

// ErrNoIngestionTimes is wrapped by ReadFeedRecordsIngested over the broker
// when the host sent a record without its ingestion time (a host older than
// the field, or host data that does not know it).
var ErrNoIngestionTimes = errors.New("the host sent no ingestion time for a record")

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
	// noIngestion is set once the host (this connection) answered a read
	// asking for ingestion times without them.
	noIngestion atomic.Bool
}

// sendsIngestionTimes reports whether ReadFeedRecordsIngested may succeed:
// false once the current host has shown it sends no ingestion times.
func (b *brokeredHostData) sendsIngestionTimes() bool { return !b.noIngestion.Load() }

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
	b.noIngestion.Store(false)
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
	recs, _, err := b.read(ctx, q, false)
	return recs, err
}

// ReadFeedRecordsIngested implements FeedIngestionReader over the brokered
// connection (see FeedIngestionReader for its errors).
func (b *brokeredHostData) ReadFeedRecordsIngested(ctx context.Context, q FeedQuery) ([]FeedRecord, []time.Time, error) {
	return b.read(ctx, q, true)
}

// read is one ReadFeedRecords call; withIngested asks for, and returns,
// the records' ingestion times.
func (b *brokeredHostData) read(ctx context.Context, q FeedQuery, withIngested bool) ([]FeedRecord, []time.Time, error) {
	client, err := b.current()
	if err != nil {
		return nil, nil, fmt.Errorf("read feed records (asset %q): %w", q.Asset, err)
	}
	if q.Limit < 0 {
		return nil, nil, fmt.Errorf("read feed records: limit: expected >= 0, found %d: %w", q.Limit, ErrInvalidInput)
	}
	ctx, cancel := withDefaultDeadline(ctx)
	defer cancel()
	req := &hostdatav1.ReadFeedRecordsRequest{
		Provider: q.Provider, Asset: q.Asset, Kind: q.Kind, Granularity: q.Granularity,
		Limit: int32(min(q.Limit, MaxFeedLimit)), Descending: q.Descending, WithTsIngested: withIngested,
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
	if withIngested && status.Code(err) == codes.Unimplemented {
		b.noIngestion.Store(true)
		return nil, nil, fmt.Errorf("read feed records (provider %q, asset %q, kind %q) from host: %w: %w", q.Provider, q.Asset, q.Kind, ErrNoIngestionTimes, err)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read feed records (provider %q, asset %q, kind %q) from host: %w", q.Provider, q.Asset, q.Kind, err)
	}
	out := make([]FeedRecord, 0, len(resp.GetRecords()))
	var ingested []time.Time
	if withIngested {
		ingested = make([]time.Time, 0, len(resp.GetRecords()))
	}
	for i, r := range resp.GetRecords() {
		values := json.RawMessage(r.GetValuesJson())
		if len(values) > 0 && !json.Valid(values) {
			return nil, nil, fmt.Errorf("read feed records: record %d values_json: expected JSON, found %d invalid bytes", i, len(values))
		}
		out = append(out, FeedRecord{
			Provider: r.GetProvider(), Asset: r.GetAsset(), Kind: r.GetKind(), Granularity: r.GetGranularity(),
			TsEvent: r.GetTsEvent().AsTime().UTC(), Values: values,
		})
		if withIngested {
			if r.GetTsIngested() == nil {
				b.noIngestion.Store(true)
				return nil, nil, fmt.Errorf("read feed records: record %d ts_ingested: %w", i, ErrNoIngestionTimes)
			}
			ingested = append(ingested, r.GetTsIngested().AsTime().UTC())
		}
	}
	return out, ingested, nil
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
