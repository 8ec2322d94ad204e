package sdktest

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/crunch-coordinator/coordinator/sdk"
)

// MemoryHostData is an in-memory sdk.HostData (and sdk.HostClock) for
// tests. It honours every FeedQuery field: Provider, Asset, Kind and
// Granularity filter by equality when non-empty (empty = any); Start and End
// are inclusive bounds on TsEvent (zero = unbounded); Limit 0 means
// sdk.DefaultFeedLimit and is capped at sdk.MaxFeedLimit; Descending returns
// the newest Limit rows newest first, else the oldest Limit rows oldest
// first. Safe for concurrent use.
type MemoryHostData struct {
	mu      sync.RWMutex
	records []sdk.FeedRecord // sorted by TsEvent, insertion order for ties
	now     time.Time
}

var (
	_ sdk.HostData  = (*MemoryHostData)(nil)
	_ sdk.HostClock = (*MemoryHostData)(nil)
)

// NewMemoryHostData returns host data holding records.
func NewMemoryHostData(records ...sdk.FeedRecord) *MemoryHostData {
	m := &MemoryHostData{}
	m.Add(records...)
	return m
}

// Add stores records (times are kept in UTC; Values are copied).
func (m *MemoryHostData) Add(records ...sdk.FeedRecord) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range records {
		r.TsEvent = r.TsEvent.UTC()
		r.Values = append(json.RawMessage(nil), r.Values...)
		m.records = append(m.records, r)
	}
	slices.SortStableFunc(m.records, func(a, b sdk.FeedRecord) int { return a.TsEvent.Compare(b.TsEvent) })
}

// Len returns the number of stored records.
func (m *MemoryHostData) Len() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.records)
}

// SetNow sets the time Now reports (UTC).
func (m *MemoryHostData) SetNow(t time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.now = t.UTC()
}

// Now implements sdk.HostClock: the time set by SetNow, or an error when
// none was set (no silent wall-clock fallback).
func (m *MemoryHostData) Now(ctx context.Context) (time.Time, error) {
	if err := ctx.Err(); err != nil {
		return time.Time{}, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.now.IsZero() {
		return time.Time{}, fmt.Errorf("memory host data: clock: no time set (call SetNow)")
	}
	return m.now, nil
}

// ReadFeedRecords implements sdk.HostData. A negative Limit or an End
// before Start is an error wrapping sdk.ErrInvalidInput.
func (m *MemoryHostData) ReadFeedRecords(ctx context.Context, q sdk.FeedQuery) ([]sdk.FeedRecord, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if q.Limit < 0 {
		return nil, fmt.Errorf("feed query limit: expected >= 0, found %d: %w", q.Limit, sdk.ErrInvalidInput)
	}
	if !q.Start.IsZero() && !q.End.IsZero() && q.End.Before(q.Start) {
		return nil, fmt.Errorf("feed query: end %s is before start %s: %w", q.End.Format(time.RFC3339), q.Start.Format(time.RFC3339), sdk.ErrInvalidInput)
	}
	limit := q.EffectiveLimit()
	m.mu.RLock()
	defer m.mu.RUnlock()
	match := func(r sdk.FeedRecord) bool {
		return (q.Provider == "" || r.Provider == q.Provider) &&
			(q.Asset == "" || r.Asset == q.Asset) &&
			(q.Kind == "" || r.Kind == q.Kind) &&
			(q.Granularity == "" || r.Granularity == q.Granularity) &&
			(q.Start.IsZero() || !r.TsEvent.Before(q.Start)) &&
			(q.End.IsZero() || !r.TsEvent.After(q.End))
	}
	out := make([]sdk.FeedRecord, 0, min(limit, 256))
	if q.Descending {
		for i := len(m.records) - 1; i >= 0 && len(out) < limit; i-- {
			if match(m.records[i]) {
				out = append(out, copyRecord(m.records[i]))
			}
		}
	} else {
		for i := 0; i < len(m.records) && len(out) < limit; i++ {
			if match(m.records[i]) {
				out = append(out, copyRecord(m.records[i]))
			}
		}
	}
	return out, nil
}

func copyRecord(r sdk.FeedRecord) sdk.FeedRecord {
	r.Values = append(json.RawMessage(nil), r.Values...)
	return r
}
