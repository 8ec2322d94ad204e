package wire

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	hostdatav1 "github.com/crunch-coordinator/coordinator/proto/hostdata/v1"
	"github.com/crunch-coordinator/coordinator/sdk"
)

// hostDataServer is the coordinator.hostdata.v1.HostData service (the
// host-data kind), answering from data; NewChallengePlugin serves it to the
// plugin over the go-plugin broker. ReadFeedRecords passes the query
// through (a negative limit is codes.InvalidArgument; data applies the
// default and the cap), with each record's ingestion time when the request
// asks for it (codes.Unimplemented when data does not implement
// sdk.FeedIngestionReader). Now answers from data when it implements
// sdk.HostClock, else codes.Unimplemented. Errors from data become
// codes.Unknown with their text (the context's code when the call's context
// is done).
type hostDataServer struct {
	hostdatav1.UnimplementedHostDataServer
	data sdk.HostData
}

func (s *hostDataServer) ReadFeedRecords(ctx context.Context, req *hostdatav1.ReadFeedRecordsRequest) (*hostdatav1.ReadFeedRecordsResponse, error) {
	if req.GetLimit() < 0 {
		return nil, status.Errorf(codes.InvalidArgument, "ReadFeedRecords: limit: expected >= 0, found %d", req.GetLimit())
	}
	q := sdk.FeedQuery{
		Provider: req.GetProvider(), Asset: req.GetAsset(), Kind: req.GetKind(), Granularity: req.GetGranularity(),
		Limit: int(req.GetLimit()), Descending: req.GetDescending(),
	}
	if req.GetStart() != nil {
		q.Start = req.GetStart().AsTime().UTC()
	}
	if req.GetEnd() != nil {
		q.End = req.GetEnd().AsTime().UTC()
	}
	if req.GetIngestedBy() != nil {
		q.IngestedBy = req.GetIngestedBy().AsTime().UTC()
	}
	var records []sdk.FeedRecord
	var ingested []time.Time
	var err error
	ir, ok := s.data.(sdk.FeedIngestionReader)
	if req.GetWithTsIngested() && !ok {
		return nil, status.Errorf(codes.Unimplemented, "ReadFeedRecords: with_ts_ingested: host data of type %T keeps no ingestion times (sdk.FeedIngestionReader)", s.data)
	}
	if req.GetWithTsIngested() {
		records, ingested, err = ir.ReadFeedRecordsIngested(ctx, q)
		if err == nil && len(ingested) != len(records) {
			err = fmt.Errorf("host data returned %d ingestion times for %d records", len(ingested), len(records))
		}
	} else {
		records, err = s.data.ReadFeedRecords(ctx, q)
	}
	if err != nil {
		return nil, hostStatus(ctx, "ReadFeedRecords", err)
	}
	// One allocation for the messages and one for their timestamps instead
	// of two per record (the messages are filled in place, never copied).
	resp := &hostdatav1.ReadFeedRecordsResponse{Records: make([]*hostdatav1.FeedRecord, len(records))}
	msgs := make([]hostdatav1.FeedRecord, len(records))
	stamps := make([]timestamppb.Timestamp, len(records)+len(ingested))
	for i, r := range records {
		stamps[i].Seconds, stamps[i].Nanos = r.TsEvent.Unix(), int32(r.TsEvent.Nanosecond())
		m := &msgs[i]
		m.Provider, m.Asset, m.Kind, m.Granularity = r.Provider, r.Asset, r.Kind, r.Granularity
		m.TsEvent, m.ValuesJson = &stamps[i], r.Values
		if ingested != nil {
			st := &stamps[len(records)+i]
			st.Seconds, st.Nanos = ingested[i].Unix(), int32(ingested[i].Nanosecond())
			m.TsIngested = st
		}
		resp.Records[i] = m
	}
	return resp, nil
}

func (s *hostDataServer) Now(ctx context.Context, _ *hostdatav1.NowRequest) (*hostdatav1.NowResponse, error) {
	clock, ok := s.data.(sdk.HostClock)
	if !ok {
		return nil, status.Errorf(codes.Unimplemented, "Now: host data of type %T exposes no clock (sdk.HostClock)", s.data)
	}
	now, err := clock.Now(ctx)
	if err != nil {
		return nil, hostStatus(ctx, "Now", err)
	}
	return &hostdatav1.NowResponse{Now: timestamppb.New(now)}, nil
}

func hostStatus(ctx context.Context, method string, err error) error {
	if ctx.Err() != nil {
		return status.FromContextError(ctx.Err()).Err()
	}
	return status.Error(codes.Unknown, fmt.Sprintf("%s: %v", method, err))
}
