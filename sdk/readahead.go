package sdk

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// ReadAhead reads the feed records of one range with a single query and
// returns a HostData that answers, from those records, every later query
// whose answer they determine exactly, and passes every other query to data
// unchanged. A callable that makes many small reads inside a known range
// (a ground-truth resolver reading the price at each prediction's
// instants, a raw-input provider) makes one host call instead of one per
// read, with the same results.
//
// The range is q: its Provider, Asset, Kind and Granularity filter, its
// inclusive [Start, End] (zero = unbounded; bounds are truncated to whole
// microseconds, the host's resolution) and up to q.EffectiveLimit() rows,
// read ascending (q.Descending is ignored). When the host returns the limit,
// the range is cut before the newest instant read (whose rows may be
// incomplete).
//
// A later query is answered from the range when it has the same filter
// fields (the same strings: an empty field is the host's default in both;
// the same IngestedBy),
// microsecond bounds, and a non-negative Limit, and either
//   - its [Start, End] lies inside the range, or
//   - it is descending, its End lies inside the range, and the range holds
//     at least its limit of rows at or before End (the newest rows are then
//     the same whatever lies before the range), or
//   - it is ascending, its Start lies inside the range, and the range holds
//     at least its limit of rows at or after Start.
//
// Answers have the order the host gives (ascending by TsEvent; descending
// queries get the exact reverse, which is the host's descending order) and
// are copies the caller may modify. The returned HostData implements
// HostClock: its Now is data's, or an error wrapping ErrNoHostData when
// data has no clock. Errors: q.Limit negative (wrapping ErrInvalidInput),
// or the error of the range read.
func ReadAhead(ctx context.Context, data HostData, q FeedQuery) (HostData, error) {
	if q.Limit < 0 {
		return nil, fmt.Errorf("read ahead: limit: expected >= 0, found %d: %w", q.Limit, ErrInvalidInput)
	}
	q.Descending = false
	q.Start, q.End = q.Start.Truncate(time.Microsecond), q.End.Truncate(time.Microsecond)
	recs, err := data.ReadFeedRecords(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("read ahead (asset %q, %s to %s): %w", q.Asset, q.Start.Format(time.RFC3339), q.End.Format(time.RFC3339), err)
	}
	recs = cutAtLimit(&q, recs)
	return &readAhead{data: data, q: q, recs: recs}, nil
}

// cutAtLimit returns the rows of recs (q's ascending answer) that are the
// whole of q's range: all of them unless the host returned q's limit, in
// which case the rows at the newest instant read (which may continue past
// the limit) are cut and q.End moved to just before that instant.
func cutAtLimit(q *FeedQuery, recs []FeedRecord) []FeedRecord {
	limit := q.EffectiveLimit()
	if limit == 0 || len(recs) < limit {
		return recs
	}
	last := recs[len(recs)-1].TsEvent
	cut := len(recs)
	for cut > 0 && recs[cut-1].TsEvent.Equal(last) {
		cut--
	}
	q.End = last.Add(-time.Microsecond)
	return recs[:cut]
}

// readAhead is the HostData ReadAhead returns.
type readAhead struct {
	data HostData
	q    FeedQuery    // the range read (Start/End zero = unbounded)
	recs []FeedRecord // every row of the range, ascending
	// ing, when set, holds when the host stored each of recs (ing[i] is
	// recs[i]'s): the range then also answers queries with an earlier
	// IngestedBy (blockFeed), keeping the rows stored by then.
	ing []time.Time
}

// ReadFeedRecords implements HostData (see ReadAhead).
func (r *readAhead) ReadFeedRecords(ctx context.Context, q FeedQuery) ([]FeedRecord, error) {
	if recs, ok := r.answer(q); ok {
		return recs, nil
	}
	return r.data.ReadFeedRecords(ctx, q)
}

// Now implements HostClock with the wrapped HostData's clock.
func (r *readAhead) Now(ctx context.Context) (time.Time, error) {
	c, ok := r.data.(HostClock)
	if !ok {
		return time.Time{}, fmt.Errorf("read host clock: the host data offers no clock: %w", ErrNoHostData)
	}
	return c.Now(ctx)
}

// answer returns q's exact answer from the range, or false.
func (r *readAhead) answer(q FeedQuery) ([]FeedRecord, bool) {
	if q.Provider != r.q.Provider || q.Asset != r.q.Asset || q.Kind != r.q.Kind || q.Granularity != r.q.Granularity || q.Limit < 0 {
		return nil, false
	}
	if r.ing == nil && !q.IngestedBy.Equal(r.q.IngestedBy) {
		return nil, false
	}
	if r.ing != nil && (q.IngestedBy.IsZero() || q.IngestedBy.After(r.q.IngestedBy) || !q.IngestedBy.Equal(q.IngestedBy.Truncate(time.Microsecond))) {
		// Only a bound the range's rows are all known up to, at the
		// host's resolution.
		return nil, false
	}
	if !q.Start.Equal(q.Start.Truncate(time.Microsecond)) || !q.End.Equal(q.End.Truncate(time.Microsecond)) {
		return nil, false
	}
	if !q.Start.IsZero() && !q.End.IsZero() && q.End.Before(q.Start) {
		return nil, false // invalid: the host reports it
	}
	startIn := !r.q.Start.IsZero() && !q.Start.IsZero() && !q.Start.Before(r.q.Start) || r.q.Start.IsZero()
	endIn := !r.q.End.IsZero() && !q.End.IsZero() && !q.End.After(r.q.End) || r.q.End.IsZero()
	// Rows of the range inside q's bounds: recs[lo:hi].
	lo, hi := 0, len(r.recs)
	if !q.Start.IsZero() {
		lo, _ = slices.BinarySearchFunc(r.recs, q.Start, func(rec FeedRecord, t time.Time) int { return rec.TsEvent.Compare(t) })
	}
	if !q.End.IsZero() {
		hi, _ = slices.BinarySearchFunc(r.recs, q.End.Add(time.Nanosecond), func(rec FeedRecord, t time.Time) int { return rec.TsEvent.Compare(t) })
	}
	hi = max(hi, lo)
	// The rows of recs[lo:hi] stored by q.IngestedBy, ascending.
	var kept []int
	n := hi - lo
	if r.ing != nil {
		kept = make([]int, 0, n)
		for i := lo; i < hi; i++ {
			if !r.ing[i].After(q.IngestedBy) {
				kept = append(kept, i)
			}
		}
		n = len(kept)
	}
	limit := q.EffectiveLimit()
	switch {
	case startIn && endIn:
	case q.Descending && endIn && n >= limit:
	case !q.Descending && startIn && n >= limit:
	default:
		return nil, false
	}
	n = min(n, limit)
	out := make([]FeedRecord, n)
	for i := range n {
		k := lo + i
		switch {
		case kept != nil && q.Descending:
			k = kept[len(kept)-1-i]
		case kept != nil:
			k = kept[i]
		case q.Descending:
			k = hi - 1 - i
		}
		src := r.recs[k]
		src.Values = append([]byte(nil), src.Values...)
		out[i] = src
	}
	return out, true
}
