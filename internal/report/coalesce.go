package report

import (
	"bytes"
	"context"
	"net/http"
	"sync"
)

// coalescer answers identical chart requests (same method, path and raw
// query) that wait at the same time with one computation, without ever
// reusing an answer computed before a request arrived: a request joins a
// computation only if that computation has not started yet, so every
// answer reflects the store as read after its request arrived, exactly
// as if the request had been served alone at that moment (no staleness,
// no cache to invalidate).
//
// Per key: while a computation runs, the requests that arrive form the
// next batch; when the running one ends, one of them runs the handler
// once for the whole batch. So N identical requests arriving together
// (clients sending the same URL, such as dashboards or scrapers with a
// fixed window, or retries) cost at most two computations instead of N. A
// lone request, or requests for different windows (browsers running the
// real UI compute the window from their own clocks, so theirs differ by
// milliseconds), run as before: one computation each.
type coalescer struct {
	mu     sync.Mutex
	groups map[string]*coalesceGroup
}

// coalesceGroup is the state of one key: running is the computation in
// progress (nil when none), next the batch waiting for it to end (nil
// when none).
type coalesceGroup struct {
	running *coalesceBatch
	next    *coalesceBatch
}

// coalesceBatch is one computation: done is closed when ans is set; after
// is the done channel of the computation it waits for (next batches only).
type coalesceBatch struct {
	done    chan struct{}
	after   chan struct{}
	ans     *recordedAnswer
	waiters int // requests of a batch not started yet still waiting for it
}

// recordedAnswer is a handler's response: status, headers, body.
type recordedAnswer struct {
	status int
	header http.Header
	body   bytes.Buffer
}

func (a *recordedAnswer) Header() http.Header { return a.header }

func (a *recordedAnswer) Write(p []byte) (int, error) {
	if a.status == 0 {
		a.status = http.StatusOK
	}
	return a.body.Write(p)
}

func (a *recordedAnswer) WriteHeader(code int) {
	if a.status == 0 {
		a.status = code
	}
}

// writeTo copies the answer to w (headers added to those w already has).
func (a *recordedAnswer) writeTo(w http.ResponseWriter) {
	h := w.Header()
	for k, v := range a.header {
		h[k] = v
	}
	status := a.status
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	_, _ = w.Write(a.body.Bytes())
}

// serve answers r with h through the batch of its key. h runs with a
// context that keeps r's values but not its cancellation (other requests
// wait for its answer; the handlers bound their store reads with
// Options.QueryTimeout); a request whose client goes away stops waiting.
func (c *coalescer) serve(w http.ResponseWriter, r *http.Request, h http.Handler) {
	key := r.Method + " " + r.URL.Path + "?" + r.URL.RawQuery
	c.mu.Lock()
	if c.groups == nil {
		c.groups = map[string]*coalesceGroup{}
	}
	g := c.groups[key]
	if g == nil {
		g = &coalesceGroup{}
		c.groups[key] = g
	}
	var b *coalesceBatch
	run := false
	switch {
	case g.next != nil: // not started yet: joining it is exact
		b = g.next
		b.waiters++
	case g.running == nil:
		b = &coalesceBatch{done: make(chan struct{})}
		g.running, run = b, true
	default:
		b = &coalesceBatch{done: make(chan struct{}), after: g.running.done, waiters: 1}
		g.next = b
	}
	c.mu.Unlock()

	if !run {
		select {
		case <-b.after:
		case <-b.done:
		case <-r.Context().Done():
			c.giveUp(key, g, b)
			return
		}
		c.mu.Lock()
		if g.next == b { // the first of the batch to wake up runs it (the others wait for done)
			g.running, g.next, run = b, nil, true
		}
		c.mu.Unlock()
	}
	if run {
		c.compute(key, g, b, r, h)
	} else {
		select {
		case <-b.done:
		case <-r.Context().Done():
			return
		}
	}
	b.ans.writeTo(w)
}

// compute runs h for batch b of group g and publishes its answer, also
// when h panics (the panic then goes on to the middleware, which answers
// 500, and the waiters get a 500 answer too).
func (c *coalescer) compute(key string, g *coalesceGroup, b *coalesceBatch, r *http.Request, h http.Handler) {
	ans := &recordedAnswer{header: http.Header{}}
	defer func() {
		if p := recover(); p != nil {
			ans = &recordedAnswer{header: http.Header{}}
			writeJSON(ans, http.StatusInternalServerError, errorBody{Error: "internal error", Detail: []problem{}})
			c.finish(key, g, b, ans)
			panic(p)
		}
		c.finish(key, g, b, ans)
	}()
	h.ServeHTTP(ans, r.WithContext(context.WithoutCancel(r.Context())))
}

// giveUp drops a request that stopped waiting for batch b before it
// started; a batch nobody waits for any more is dropped with it.
func (c *coalescer) giveUp(key string, g *coalesceGroup, b *coalesceBatch) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if g.next != b {
		return
	}
	if b.waiters--; b.waiters == 0 {
		g.next = nil
		if g.running == nil && c.groups[key] == g {
			delete(c.groups, key)
		}
	}
}

func (c *coalescer) finish(key string, g *coalesceGroup, b *coalesceBatch, ans *recordedAnswer) {
	c.mu.Lock()
	b.ans = ans
	if g.running == b {
		g.running = nil
	}
	if g.running == nil && g.next == nil && c.groups[key] == g {
		delete(c.groups, key)
	}
	c.mu.Unlock()
	close(b.done)
}
