package sdk

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// failingRanges is host data whose range reads with ingestion times fail
// (as a host that sends none does); its plain reads answer from recs,
// which every query matches, and are counted.
type failingRanges struct {
	recs  []FeedRecord
	plain int
}

func (f *failingRanges) ReadFeedRecords(context.Context, FeedQuery) ([]FeedRecord, error) {
	f.plain++
	return append([]FeedRecord(nil), f.recs...), nil
}

func (f *failingRanges) ReadFeedRecordsIngested(context.Context, FeedQuery) ([]FeedRecord, []time.Time, error) {
	return nil, nil, ErrNoIngestionTimes
}

var _ FeedIngestionReader = (*failingRanges)(nil)

// TestBlockFeedFallsBack: when the host fails the block's range read,
// every read of the block, including the first, is answered by the host
// itself, once each, and no range is read again.
func TestBlockFeedFallsBack(t *testing.T) {
	t0 := time.Date(2023, 3, 1, 0, 0, 0, 0, time.UTC)
	data := &failingRanges{recs: []FeedRecord{{Asset: "BTC", TsEvent: t0, Values: json.RawMessage(`{}`)}}}
	times := []time.Time{t0.Add(time.Minute), t0.Add(2 * time.Minute), t0.Add(3 * time.Minute)}
	b := newBlockFeed(data, times)
	if b == nil {
		t.Fatal("newBlockFeed: nil for host data with ingestion times")
	}
	for i, now := range times {
		for _, q := range []FeedQuery{
			{Asset: "BTC", Start: now.Add(-time.Hour), End: now, Descending: true, Limit: 10},
			{Asset: "BTC", Descending: true, Limit: 1},
		} {
			got, err := cycleData{data: data, block: b, now: now}.ReadFeedRecords(context.Background(), q)
			if err != nil || !reflect.DeepEqual(got, data.recs) {
				t.Fatalf("cycle %d: %v, %v; want the host's answer %v", i, got, err, data.recs)
			}
		}
	}
	if data.plain != 2*len(times) || !b.off || len(b.ranges) != 0 {
		t.Errorf("%d plain host reads (want %d), off %v, %d ranges", data.plain, 2*len(times), b.off, len(b.ranges))
	}
}
