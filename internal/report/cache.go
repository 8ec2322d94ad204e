package report

import (
	"context"
	"sync"
	"time"
)

// DefaultCacheTTL is how long an encoded /reports/leaderboard or
// /reports/models answer, and the stored model list every endpoint joins,
// are reused before they are read again (Options.CacheTTL).
const DefaultCacheTTL = time.Second

// ttlCache holds one value computed by a load function and reuses it for
// ttl (wall time, not Options.Clock: it bounds how stale an answer is in
// real time). Properties:
//   - at most one load runs at a time (concurrent misses wait for it rather
//     than all hitting the store);
//   - once a value exists, requests arriving while it is being refreshed
//     get the previous value instead of waiting (stale by at most the
//     refresh time), so a refresh never stalls the other requests;
//   - a failed load drops the value: the failing request and those waiting
//     for it get the error, the next request loads again;
//   - ttl < 0 disables the cache (every call loads).
type ttlCache[T any] struct {
	ttl time.Duration

	mu      sync.Mutex
	val     T
	ok      bool      // val holds a loaded value
	expires time.Time // val is fresh until then
	flight  *flight[T]
}

// flight is one load in progress; done is closed when val and err are set.
type flight[T any] struct {
	done chan struct{}
	val  T
	err  error
}

// get returns the cached value, or the result of load when none is fresh.
// load runs with a context that keeps ctx's values and the deadline
// timeout but not ctx's cancellation, because requests other than the one
// that started it wait for its result. A caller waiting for another
// caller's load returns ctx.Err() when ctx ends first.
func (c *ttlCache[T]) get(ctx context.Context, timeout time.Duration, load func(context.Context) (T, error)) (T, error) {
	if c.ttl < 0 {
		lctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		return load(lctx)
	}
	c.mu.Lock()
	if c.ok && time.Now().Before(c.expires) {
		v := c.val
		c.mu.Unlock()
		return v, nil
	}
	if f := c.flight; f != nil {
		if c.ok {
			v := c.val // stale while the refresh runs
			c.mu.Unlock()
			return v, nil
		}
		c.mu.Unlock()
		select {
		case <-f.done:
			return f.val, f.err
		case <-ctx.Done():
			var zero T
			return zero, ctx.Err()
		}
	}
	f := &flight[T]{done: make(chan struct{})}
	c.flight = f
	c.mu.Unlock()

	finished := false
	defer func() {
		// Runs on panic too, so a panicking load never leaves the
		// flight open (which would block every later miss).
		c.mu.Lock()
		c.flight = nil
		if finished && f.err == nil {
			c.val, c.ok, c.expires = f.val, true, time.Now().Add(c.ttl)
		} else {
			var zero T
			c.val, c.ok = zero, false
			if !finished {
				f.err = errLoadPanicked
			}
		}
		c.mu.Unlock()
		close(f.done)
	}()
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	f.val, f.err = load(lctx)
	finished = true
	return f.val, f.err
}

// errLoadPanicked is what waiters get when the load they waited for
// panicked (the panicking request itself gets the panic, answered as 500).
var errLoadPanicked = cacheError("report cache: the shared load panicked; see the log of the request that ran it")

type cacheError string

func (e cacheError) Error() string { return string(e) }
