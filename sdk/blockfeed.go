package sdk

import (
	"context"
	"sync"
	"time"
)

// maxBlockRanges bounds the feed ranges one BuildInferenceInputs call reads
// ahead (one per distinct query shape its ProvideRawInput makes); later
// shapes are read per cycle.
const maxBlockRanges = 8

// blockFeed serves the feed reads of one BuildInferenceInputs call: the
// first read of each query shape reads the range every cycle of the block
// may need (the shape's bounds moved on to the block's last time, stored
// by then) with the records' ingestion times, and every later read it
// determines exactly is answered from it, keeping the records stored by
// that cycle's time (readAhead with ingestion times): the same records, in
// the same order and number, as a read of the host at that cycle. Any other
// read, and every read once the host has failed a range read (or sent no
// ingestion times), goes to the host as it is. Safe for concurrent use (a
// challenge's reads are served one at a time).
type blockFeed struct {
	mu     sync.Mutex
	data   HostData
	reader FeedIngestionReader
	last   time.Time // the block's latest cycle time
	ranges []*readAhead
	off    bool
}

// newBlockFeed returns the blockFeed of a call over times, or nil when data
// cannot say when it stored its records (or the host has shown it does
// not send them).
func newBlockFeed(data HostData, times []time.Time) *blockFeed {
	reader, ok := data.(FeedIngestionReader)
	if !ok || len(times) == 0 {
		return nil
	}
	if h, ok := data.(interface{ sendsIngestionTimes() bool }); ok && !h.sendsIngestionTimes() {
		return nil
	}
	b := &blockFeed{data: data, reader: reader}
	for _, t := range times {
		if t.After(b.last) {
			b.last = t
		}
	}
	return b
}

// read answers q, a cycle's read with its IngestedBy set to the cycle's
// time (cycleData).
func (b *blockFeed) read(ctx context.Context, q FeedQuery) ([]FeedRecord, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, r := range b.ranges {
		if recs, ok := r.answer(q); ok {
			return recs, nil
		}
	}
	if b.off || len(b.ranges) >= maxBlockRanges || q.Limit < 0 || q.IngestedBy.IsZero() || q.IngestedBy.After(b.last) {
		return b.data.ReadFeedRecords(ctx, q)
	}
	// The range: q's filter, from q's Start to q's End moved on by the
	// rest of the block, as stored at the block's last time.
	rq := FeedQuery{Provider: q.Provider, Asset: q.Asset, Kind: q.Kind, Granularity: q.Granularity,
		Start: q.Start, Limit: MaxFeedLimit, IngestedBy: b.last}
	if !q.End.IsZero() {
		rq.End = q.End.Add(b.last.Sub(q.IngestedBy))
	}
	var first []FeedRecord
	haveFirst := false
	if q.Start.IsZero() && q.Descending {
		// The newest rows with no lower bound: this cycle's read gives
		// one. Later cycles' reads (later End, later IngestedBy) find at
		// least as many rows after it.
		recs, err := b.data.ReadFeedRecords(ctx, q)
		if err != nil {
			return nil, err
		}
		first, haveFirst = recs, true
		if len(recs) > 0 && len(recs) >= q.EffectiveLimit() {
			rq.Start = recs[len(recs)-1].TsEvent
		}
	}
	r, err := b.readRange(ctx, rq)
	if err != nil {
		// Read per cycle from now on: exactly what the host answers.
		b.off = true
	} else {
		b.ranges = append(b.ranges, r)
	}
	if haveFirst {
		return first, nil
	}
	if r != nil {
		if recs, ok := r.answer(q); ok {
			return recs, nil
		}
	}
	return b.data.ReadFeedRecords(ctx, q)
}

// readRange reads q (ascending, q.Limit rows at most) with the records'
// ingestion times, cut as ReadAhead's range is (cutAtLimit).
func (b *blockFeed) readRange(ctx context.Context, q FeedQuery) (*readAhead, error) {
	q.Start, q.End = q.Start.Truncate(time.Microsecond), q.End.Truncate(time.Microsecond)
	recs, ing, err := b.reader.ReadFeedRecordsIngested(ctx, q)
	if err != nil {
		return nil, err
	}
	if len(ing) != len(recs) {
		return nil, ErrNoIngestionTimes
	}
	cut := cutAtLimit(&q, recs)
	recs, ing = cut, ing[:len(cut)]
	return &readAhead{data: b.data, q: q, recs: recs, ing: ing}, nil
}
