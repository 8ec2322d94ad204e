package store

import "time"

// ForSeries returns q with Buckets lowered to the MaxPoints share of one
// of n series (max(1, MaxPoints / n)) when MaxPoints is set.
func (q SampleQuery) ForSeries(n int) SampleQuery {
	if q.MaxPoints > 0 && n > 0 {
		q.Buckets = max(1, min(q.Buckets, q.MaxPoints/n))
	}
	return q
}

// Grid returns the grid of a normalised q once the store knows first (the
// oldest matching row, >= From) and n (the series having one): q itself
// when Width fixes it, else q.StartAt(first).ForSeries(n).
func (q SampleQuery) Grid(first time.Time, n int) SampleQuery {
	if q.Width > 0 {
		return q
	}
	return q.StartAt(first).ForSeries(n)
}

// BucketRange returns the bounds of bucket i of a normalised q, in unix
// microseconds: lo <= t < hi (the last bucket's hi is To + 1 µs, so it
// also holds To).
func (q SampleQuery) BucketRange(i int) (lo, hi int64) {
	w := q.BucketWidth()
	lo = q.From.UnixMicro() + int64(i)*w
	if i == q.Buckets-1 {
		return lo, q.To.UnixMicro() + 1
	}
	return lo, lo + w
}
