package report

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestCoalescerNeverReusesAnEarlierComputation holds the first computation
// of a key open while more identical requests arrive: they must not get its
// answer (computed before they arrived) but share one later computation;
// another key computes on its own.
func TestCoalescerNeverReusesAnEarlierComputation(t *testing.T) {
	var c coalescer
	var calls atomic.Int64
	started := make(chan struct{}, 16)
	release := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		started <- struct{}{}
		if n == 1 {
			<-release
		}
		w.Header().Set("X-Call", fmt.Sprint(n))
		w.WriteHeader(http.StatusTeapot)
		fmt.Fprintf(w, "answer %d %s", n, r.URL.RawQuery)
	})
	do := func(query string) (int, string, string) {
		rec := httptest.NewRecorder()
		c.serve(rec, httptest.NewRequest(http.MethodGet, "/reports/models/params?"+query, nil), h)
		body, _ := io.ReadAll(rec.Result().Body)
		return rec.Code, rec.Header().Get("X-Call"), string(body)
	}
	type answer struct {
		code       int
		call, body string
	}
	first := make(chan answer, 1)
	go func() { c, h, b := do("a=1"); first <- answer{c, h, b} }()
	<-started
	var wg sync.WaitGroup
	later := make(chan answer, 3)
	for range 3 {
		wg.Go(func() { c, h, b := do("a=1"); later <- answer{c, h, b} })
	}
	// The later requests must be queued behind the running computation.
	deadline := time.Now().Add(5 * time.Second)
	for {
		c.mu.Lock()
		g := c.groups["GET /reports/models/params?a=1"]
		queued := g != nil && g.next != nil
		c.mu.Unlock()
		if queued || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // let every later request join
	if code, call, body := do("b=2"); code != http.StatusTeapot || call != "2" || body != "answer 2 b=2" {
		t.Errorf("another key: got %d %q %q, want its own computation (call 2)", code, call, body)
	}
	close(release)
	if a := <-first; a.call != "1" || a.body != "answer 1 a=1" || a.code != http.StatusTeapot {
		t.Errorf("first request: got %+v, want call 1", a)
	}
	wg.Wait()
	close(later)
	for a := range later {
		if a.call != "3" || a.body != "answer 3 a=1" || a.code != http.StatusTeapot {
			t.Errorf("later request: got %+v, want the one shared computation started after it arrived (call 3)", a)
		}
	}
	if n := calls.Load(); n != 3 {
		t.Errorf("computations: got %d, want 3", n)
	}
	c.mu.Lock()
	left := len(c.groups)
	c.mu.Unlock()
	if left != 0 {
		t.Errorf("groups left after every request ended: %d, want 0", left)
	}
}

// TestCoalescerWaiterGivesUp: a queued request whose client goes away
// returns without an answer and does not block the others.
func TestCoalescerWaiterGivesUp(t *testing.T) {
	var c coalescer
	release := make(chan struct{})
	started := make(chan struct{}, 4)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		<-release
		io.WriteString(w, "ok")
	})
	done := make(chan struct{})
	go func() {
		c.serve(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/x", nil), h)
		close(done)
	}()
	<-started
	ctx, cancel := context.WithCancel(t.Context())
	rec := httptest.NewRecorder()
	gone := make(chan struct{})
	go func() {
		c.serve(rec, httptest.NewRequest(http.MethodGet, "/x", nil).WithContext(ctx), h)
		close(gone)
	}()
	time.Sleep(20 * time.Millisecond)
	cancel()
	select {
	case <-gone:
	case <-time.After(5 * time.Second):
		t.Fatal("a cancelled waiting request did not return")
	}
	if rec.Body.Len() != 0 {
		t.Errorf("cancelled request got a body: %q", rec.Body.String())
	}
	close(release)
	<-done
	c.mu.Lock()
	left := len(c.groups)
	c.mu.Unlock()
	if left != 0 {
		t.Errorf("groups left after every request ended: %d, want 0", left)
	}
}
