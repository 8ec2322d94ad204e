package report

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/store"
)

// rollupCache holds score rollups (store.ScoreRollup) by series and chart
// day (store.ChartDayEnd), each day with the store.ChartPredictions
// revision read before its rollups were. A day is reused while the store
// still reports that revision: every transaction that scores a
// prediction of the day increments it, so an unchanged revision means
// unchanged rollups, and the answer equals what the store holds when the
// revisions are read (after the request arrived). A 30-day chart then
// reads one revision per series and day (about 740 rows for 20 series)
// plus the rollups of the days that changed (usually only the newest),
// instead of every rollup of the 37 days (17,760).
//
// Bounded by max rollups: a day not used by the latest request is
// dropped when the cache would grow beyond it, and a request needing more
// than max is not cached at all.
type rollupCache struct {
	max  int
	mu   sync.Mutex
	days map[seriesDay]*rollupDay
	size int    // rollups held
	gen  uint64 // requests served, for eviction
	memo *pointsMemo
}

// seriesDay is one series and chart day (end in unix microseconds).
type seriesDay struct {
	model, scope string
	day          int64
}

type rollupDay struct {
	rev     int64
	rollups []store.ScoreRollup // ordered by bucket end; shared, never modified
	used    uint64
}

// points returns the chart points of q (store.RollupPointsOf) from the
// cached days and the store; ok false when q needs more than the cache
// may hold (the caller then asks the store).
func (c *rollupCache) points(ctx context.Context, st Store, q store.RollupPointQuery) (points []store.RollupPoint, ok bool, err error) {
	q, err = q.Normalize()
	if err != nil {
		return nil, false, err
	}
	from, to := q.Range()
	revs, err := st.ChartRevisions(ctx, store.ChartRevisionQuery{Kind: store.ChartPredictions, ModelIDs: q.ModelIDs, From: from, To: to})
	if err != nil {
		return nil, false, fmt.Errorf("reading the chart revisions: %w", err)
	}
	if len(revs)*int(store.ChartDayWidth/store.RollupWidth) > c.max {
		return nil, false, nil
	}
	// The days whose revision changed (or that are not cached) are read
	// again: one store read from the oldest of them to the newest, for
	// the models having one.
	c.mu.Lock()
	c.gen++
	gen := c.gen
	var stale []store.ChartRevision
	have := make([]*rollupDay, len(revs)) // the cached days still valid
	for i, r := range revs {
		d := c.days[seriesDay{r.ModelID, r.ScopeKey, r.DayEnd.UnixMicro()}]
		if d != nil && d.rev == r.Rev {
			have[i] = d
			d.used = gen
		} else {
			stale = append(stale, r)
		}
	}
	c.mu.Unlock()
	fresh := map[seriesDay][]store.ScoreRollup{}
	if len(stale) > 0 {
		lo, hi := stale[0].DayEnd, stale[0].DayEnd
		var models []string
		seen := map[string]bool{}
		for _, r := range stale {
			lo, hi = minTime(lo, r.DayEnd), maxTime(hi, r.DayEnd)
			if !seen[r.ModelID] {
				seen[r.ModelID] = true
				models = append(models, r.ModelID)
			}
		}
		rs, err := st.ScoreRollups(ctx, store.RollupQuery{ModelIDs: models, From: lo.Add(-store.ChartDayWidth + time.Microsecond), To: hi})
		if err != nil {
			return nil, false, fmt.Errorf("reading the score rollups: %w", err)
		}
		for _, r := range rs {
			k := seriesDay{r.ModelID, r.ScopeKey, store.ChartDayEnd(r.BucketEnd).UnixMicro()}
			fresh[k] = append(fresh[k], r)
		}
	}
	days := make([]*rollupDay, len(revs))
	c.mu.Lock()
	if c.days == nil {
		c.days = map[seriesDay]*rollupDay{}
	}
	for i, r := range revs {
		d := have[i]
		if d == nil {
			k := seriesDay{r.ModelID, r.ScopeKey, r.DayEnd.UnixMicro()}
			d = &rollupDay{rev: r.Rev, rollups: fresh[k], used: gen}
			// Never replace a day read at a newer revision (by a request
			// that raced this one) with this older one.
			if old := c.days[k]; old == nil || old.rev < r.Rev {
				c.size += d.cost()
				if old != nil {
					c.size -= old.cost()
				}
				c.days[k] = d
			}
		}
		days[i] = d
	}
	if c.size > c.max {
		for k, d := range c.days {
			if d.used != gen {
				c.size -= d.cost()
				delete(c.days, k)
			}
		}
	}
	memo := c.memo
	c.mu.Unlock()

	// The points depend on q's bounds only through the hours holding them
	// (RollupBucketEnd) and whether the newest prediction of each rollup
	// of those two hours lies in [q.From, q.To] (every rollup of an hour
	// between them has its newest prediction inside, none before or
	// after): the last points are reused when those and the days are the
	// same.
	m := &pointsMemo{key: fmt.Sprint(q.ModelIDs, q.Windows, q.MaxPoints, q.MaxSeriesPoints),
		fromEnd: store.RollupBucketEnd(q.From).UnixMicro(), toEnd: store.RollupBucketEnd(q.To).UnixMicro(), days: days}
	edgeDays := [2]int64{store.ChartDayEnd(store.RollupBucketEnd(q.From)).UnixMicro(), store.ChartDayEnd(store.RollupBucketEnd(q.To)).UnixMicro()}
	for _, d := range days {
		if len(d.rollups) == 0 {
			continue
		}
		if day := store.ChartDayEnd(d.rollups[0].BucketEnd).UnixMicro(); day != edgeDays[0] && day != edgeDays[1] {
			continue
		}
		for _, x := range d.rollups {
			if e := x.BucketEnd.UnixMicro(); e == m.fromEnd || e == m.toEnd {
				m.edges = append(m.edges, !x.LastPerformedAt.Before(q.From) && !x.LastPerformedAt.After(q.To))
			}
		}
	}
	if memo != nil && memo.same(m) {
		return memo.points, true, nil
	}
	// Assemble the rollups of q.Range() in the order RollupPointsOf reads
	// (model, scope_key, bucket end: revisions come in that order).
	all := make([]store.ScoreRollup, 0, len(revs)*24)
	for _, d := range days {
		for _, x := range d.rollups {
			if !x.BucketEnd.Before(from) && !x.BucketEnd.After(to) {
				all = append(all, x)
			}
		}
	}
	m.points = store.RollupPointsOf(all, q)
	c.mu.Lock()
	c.memo = m
	c.mu.Unlock()
	return m.points, true, nil
}

// pointsMemo is the last answer of a rollupCache (see points): its points
// (shared, never modified) and what they were computed from.
type pointsMemo struct {
	key            string // models, windows, budgets
	fromEnd, toEnd int64  // the hours holding the window's bounds
	days           []*rollupDay
	edges          []bool // per rollup of those hours: newest prediction in the window
	points         []store.RollupPoint
}

func (m *pointsMemo) same(o *pointsMemo) bool {
	return m.key == o.key && m.fromEnd == o.fromEnd && m.toEnd == o.toEnd && slices.Equal(m.days, o.days) && slices.Equal(m.edges, o.edges)
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// cost is what a cached day counts toward the cache's size: its rollups,
// and at least 1, so that days with a revision but no rollup (only
// unscored predictions or non-answers) also lead to evictions.
func (d *rollupDay) cost() int { return max(1, len(d.rollups)) }
