package report

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/store"
)

// The downsampling of /reports/predictions and /reports/models/global
// (chartGrid): each series (a model and scope_key, or a model for score
// points) keeps its newest row of every bucket of a grid aligned on whole
// bucket widths since the Unix epoch, from the bucket holding the oldest
// row of the window to the bucket holding its end, so the window's newest
// row is always kept. With n series having data in the window's days (a
// store.ChartRevision), each series gets b = min(Buckets, max(1,
// MaxChartPoints / n)) buckets: the width is the span from the oldest row
// to the end divided by b - 1, rounded up to a whole second (to a whole
// minute from an hour on), so at most b buckets cover the span. As the
// grid does not move with the window's end, requests whose ends differ by
// seconds (browsers' clocks) share every bucket but the last one, which
// is what sampleCache reuses.

// chartGrid is the grid of one chart answer: bucket k holds times t (unix
// µs) with k = floor(t / width); first..last are the buckets of the window.
type chartGrid struct {
	width       int64 // µs
	first, last int64 // bucket numbers
	perSeries   int   // b, the X-Point-Budget
}

// newChartGrid returns the grid of a window whose oldest row is at oldest
// and whose end is to, for n series with a budget of b = min(buckets,
// max(1, maxPoints / n)) each; ok false when b is 1 (one bucket per
// series: the store's sampling is used instead).
func newChartGrid(oldest, to time.Time, n, buckets, maxPoints int) (g chartGrid, ok bool) {
	b := max(1, min(buckets, maxPoints/max(n, 1)))
	if b < 2 {
		return chartGrid{perSeries: b}, false
	}
	lo, hi := oldest.UnixMicro(), to.UnixMicro()
	w := max(1, (hi-lo+int64(b)-2)/int64(b-1))
	quantum := int64(1)
	switch {
	case w >= time.Hour.Microseconds():
		quantum = time.Minute.Microseconds()
	case w >= time.Minute.Microseconds():
		quantum = time.Second.Microseconds()
	}
	w = (w + quantum - 1) / quantum * quantum
	return chartGrid{width: w, first: floorDiv(lo, w), last: floorDiv(hi, w), perSeries: b}, true
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// sampleSource reads one kind of chart row for sampleCache.
type sampleSource[R any] struct {
	kind   string                                                      // store.ChartPredictions or store.ChartModelScores
	at     func(R) time.Time                                           // the row's time
	sample func(ctx context.Context, q store.SampleQuery) ([]R, error) // store.SampleQuery with Width set
}

// sampleCache answers chart samples (see chartGrid) from the buckets of
// earlier answers that are still valid and the store. An entry holds the
// newest rows of the buckets of one grid (status, models and width) and
// the store.ChartRevisions read before they were; a bucket is reused when
// it was complete (ended before the end of the request that read it),
// is not the bucket of the request's end, and no series has a different
// revision for a day it overlaps: a write committed after the revisions
// were read increments one, so the answer is what the store holds after
// the request arrived. The rest (usually the newest day's buckets) is
// read by one store sample from the oldest invalid bucket on.
type sampleCache[R any] struct {
	src      sampleSource[R]
	disabled bool // every answer read from the store (Options.ChartCacheSize < 0)

	mu      sync.Mutex
	entries map[string]*sampleEntry[R]
	gen     uint64
}

// sampleEntry is immutable once stored.
type sampleEntry[R any] struct {
	grid chartGrid
	to   int64 // end of the window of the fill, µs
	revs map[seriesDay]int64
	rows []R // newest row per series and bucket, ordered by time then id
	used uint64
}

// maxSampleEntries bounds the grids a sampleCache keeps (the least
// recently used goes first).
const maxSampleEntries = 16

// sampleAnswer is a chart sample: rows ordered by time then id, and the
// per-series budget.
type sampleAnswer[R any] struct {
	rows      []R
	perSeries int
	ok        bool // false: the grid has one bucket per series, ask the store
}

// get answers q (ModelIDs, From, To, Status, Buckets, MaxPoints).
func (c *sampleCache[R]) get(ctx context.Context, st Store, q store.SampleQuery) (sampleAnswer[R], error) {
	revList, err := st.ChartRevisions(ctx, store.ChartRevisionQuery{Kind: c.src.kind, ModelIDs: q.ModelIDs, From: q.From, To: q.To})
	if err != nil {
		return sampleAnswer[R]{}, fmt.Errorf("reading the chart revisions: %w", err)
	}
	revs := make(map[seriesDay]int64, len(revList))
	series := map[[2]string]bool{}
	for _, r := range revList {
		revs[seriesDay{r.ModelID, r.ScopeKey, r.DayEnd.UnixMicro()}] = r.Rev
		series[[2]string{r.ModelID, r.ScopeKey}] = true
	}
	if len(series) == 0 {
		return sampleAnswer[R]{perSeries: max(1, min(q.Buckets, q.MaxPoints)), ok: true}, nil
	}
	oldest, found, err := st.SampleStart(ctx, c.src.kind, q)
	if err != nil {
		return sampleAnswer[R]{}, fmt.Errorf("finding the oldest row of the window: %w", err)
	}
	if !found {
		return sampleAnswer[R]{perSeries: max(1, min(q.Buckets, q.MaxPoints/len(series))), ok: true}, nil
	}
	g, ok := newChartGrid(oldest, q.To, len(series), q.Buckets, q.MaxPoints)
	if !ok {
		return sampleAnswer[R]{perSeries: g.perSeries}, nil
	}
	key := fmt.Sprintf("%s|%d|%s", q.Status, g.width, strings.Join(q.ModelIDs, ","))
	c.mu.Lock()
	c.gen++
	e := c.entries[key]
	if c.disabled {
		e = nil
	}
	c.mu.Unlock()

	// from: the oldest bucket read again from the store. A day of the
	// window whose revision differs from the entry's (or that only one
	// of them has) invalidates the buckets from the one holding its start.
	from := g.first
	if e != nil && e.grid.first <= g.first {
		from = min(g.last, floorDiv(e.to+1, g.width)) // the fill's last bucket was incomplete
		dayUs := store.ChartDayWidth.Microseconds()
		changed := func(day int64) {
			from = min(from, max(g.first, floorDiv(day-dayUs, g.width)))
		}
		for d, rev := range revs {
			if e.revs[d] != rev {
				changed(d.day)
			}
		}
		dlo, dhi := store.ChartDayEnd(q.From).UnixMicro(), store.ChartDayEnd(q.To).UnixMicro()
		for d := range e.revs {
			if _, ok := revs[d]; !ok && d.day >= dlo && d.day <= dhi {
				changed(d.day)
			}
		}
	}
	fresh, err := c.src.sample(ctx, store.SampleQuery{ModelIDs: q.ModelIDs, From: time.UnixMicro(from * g.width).UTC(), To: q.To,
		Status: q.Status, Buckets: int(g.last - from + 1), Width: time.Duration(g.width) * time.Microsecond})
	if err != nil {
		return sampleAnswer[R]{}, err
	}
	var kept []R
	if e != nil && from > g.first {
		lo, hi := g.first*g.width, from*g.width
		i := sort.Search(len(e.rows), func(i int) bool { return c.src.at(e.rows[i]).UnixMicro() >= lo })
		j := sort.Search(len(e.rows), func(i int) bool { return c.src.at(e.rows[i]).UnixMicro() >= hi })
		kept = e.rows[i:j]
	}
	all := make([]R, 0, len(kept)+len(fresh))
	all = append(append(all, kept...), fresh...)
	c.mu.Lock()
	if c.entries == nil {
		c.entries = map[string]*sampleEntry[R]{}
	}
	if !c.disabled {
		c.entries[key] = &sampleEntry[R]{grid: g, to: q.To.UnixMicro(), revs: revs, rows: all, used: c.gen}
	}
	if len(c.entries) > maxSampleEntries {
		var oldestKey string
		var oldestUse uint64
		for k, x := range c.entries {
			if oldestKey == "" || x.used < oldestUse {
				oldestKey, oldestUse = k, x.used
			}
		}
		delete(c.entries, oldestKey)
	}
	c.mu.Unlock()
	// The window starts at q.From: the first bucket's rows before it are
	// not in the answer (a bucket's newest row before q.From means the
	// bucket has none in the window).
	fromUs := q.From.UnixMicro()
	k := sort.Search(len(all), func(i int) bool { return c.src.at(all[i]).UnixMicro() >= fromUs })
	return sampleAnswer[R]{rows: all[k:], perSeries: g.perSeries, ok: true}, nil
}
