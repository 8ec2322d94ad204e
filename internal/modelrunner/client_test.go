package modelrunner_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/stats"

	"github.com/crunch-coordinator/coordinator/internal/modelrunner"
	"github.com/crunch-coordinator/coordinator/internal/modelrunner/mrtest"
)

// connCounter counts the server's connections (begun, ended).
type connCounter struct{ begun, ended atomic.Int64 }

func (c *connCounter) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }
func (c *connCounter) HandleRPC(context.Context, stats.RPCStats)                       {}
func (c *connCounter) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context {
	return ctx
}
func (c *connCounter) HandleConn(_ context.Context, s stats.ConnStats) {
	switch s.(type) {
	case *stats.ConnBegin:
		c.begun.Add(1)
	case *stats.ConnEnd:
		c.ended.Add(1)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// TestClientChannels: calls and the start-up health wait share one
// connection; each Health check runs on its own, separate channel that is
// closed after the check (§6.1), and fails once the runner is gone.
func TestClientChannels(t *testing.T) {
	cc := &connCounter{}
	srv, err := mrtest.Start("127.0.0.1:0", mrtest.Constant(json.RawMessage(`{"p_up": 0.5}`)), grpc.StatsHandler(cc))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	c, err := modelrunner.Dial(srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.WaitHealthy(ctx); err != nil {
		t.Fatalf("WaitHealthy: %v", err)
	}
	if err := c.Setup(ctx, "tracker.TrackerBase"); err != nil {
		t.Fatalf("Setup: %v", err)
	}
	for range 3 {
		if err := c.Tick(ctx, json.RawMessage(`{"candles": [1, 2]}`)); err != nil {
			t.Fatalf("Tick: %v", err)
		}
		out, err := c.Predict(ctx, []json.RawMessage{json.RawMessage(`"BTC"`), json.RawMessage(`60`)}, nil)
		if err != nil || string(out) != `{"p_up": 0.5}` {
			t.Fatalf("Predict: expected {\"p_up\": 0.5}, found %s (%v)", out, err)
		}
	}
	if got := cc.begun.Load(); got != 1 {
		t.Fatalf("connections after WaitHealthy, Setup, 3 ticks and predicts: expected 1, found %d", got)
	}
	for i := range 2 {
		if err := c.Health(ctx); err != nil {
			t.Fatalf("Health #%d: %v", i+1, err)
		}
		if got := cc.begun.Load(); got != int64(2+i) {
			t.Fatalf("connections after health check #%d: expected %d (a separate channel per check), found %d", i+1, 2+i, got)
		}
		waitFor(t, "the health channel to close", func() bool { return cc.ended.Load() == int64(1+i) })
	}
	srv.Stop()
	hctx, hcancel := context.WithTimeout(ctx, 2*time.Second)
	defer hcancel()
	if err := c.Health(hctx); err == nil {
		t.Fatal("Health of a stopped runner: expected an error, found SERVING")
	}
}

// TestRequests: one Request per distinct tick input or predict call,
// shared by every caller and unaffected by later changes to the caller's
// bytes; an invalid input or argument is an ErrArgument error, and the
// next valid one encodes.
func TestRequests(t *testing.T) {
	var q modelrunner.Requests
	in := json.RawMessage(` {"a": 1} `)
	r1, err := q.Tick(in)
	if err != nil || r1.Method() != modelrunner.MethodTick {
		t.Fatalf("Tick: expected a tick request, found %v (%v)", r1, err)
	}
	in[2] = 'b' // the caller's bytes change: the kept copy must not
	if r2, err := q.Tick(json.RawMessage(` {"a": 1} `)); err != nil || r2 != r1 {
		t.Fatalf("same input again: expected the same Request %p, found %p (%v)", r1, r2, err)
	}
	if r3, err := q.Tick(json.RawMessage(`{"a": 2}`)); err != nil || r3 == r1 {
		t.Fatalf("new input: expected a new Request, found %p (%v)", r3, err)
	}
	if _, err := q.Tick(json.RawMessage(`{"a": NaN}`)); !errors.Is(err, modelrunner.ErrArgument) {
		t.Fatalf("invalid input: expected ErrArgument, found %v", err)
	}
	if r, err := q.Tick(json.RawMessage(`{"a": 2}`)); err != nil || r == nil {
		t.Fatalf("valid input after an invalid one: found %v (%v)", r, err)
	}

	base := func() []json.RawMessage { return []json.RawMessage{json.RawMessage(`"BTC"`), json.RawMessage(`60`)} }
	args := base()
	p1, err := q.Predict(args, json.RawMessage(`{"k": 1}`))
	if err != nil || p1.Method() != modelrunner.MethodPredict {
		t.Fatalf("Predict: expected a predict request, found %v (%v)", p1, err)
	}
	args[1][0] = '7' // the caller's bytes change: the kept copy must not
	if p, err := q.Predict(base(), json.RawMessage(`{"k": 1}`)); err != nil || p != p1 {
		t.Fatalf("same call again: expected the same Request %p, found %p (%v)", p1, p, err)
	}
	for _, c := range []struct {
		name   string
		args   []json.RawMessage
		kwargs string
		same   bool
	}{
		{"same call", base(), `{"k": 1}`, true},
		{"other arg", []json.RawMessage{json.RawMessage(`"ETH"`), json.RawMessage(`60`)}, `{"k": 1}`, false},
		{"fewer args", base()[:1], `{"k": 1}`, false},
		{"other kwargs", base(), `{"k": 2}`, false},
		{"no kwargs", base(), ``, false},
	} {
		var q modelrunner.Requests
		first, err := q.Predict(base(), json.RawMessage(`{"k": 1}`))
		if err != nil {
			t.Fatal(err)
		}
		p, err := q.Predict(c.args, json.RawMessage(c.kwargs))
		if err != nil || (p == first) != c.same {
			t.Fatalf("%s: expected the same Request: %v, found %p and %p (%v)", c.name, c.same, first, p, err)
		}
	}
	if _, err := q.Predict([]json.RawMessage{json.RawMessage(`null`)}, nil); !errors.Is(err, modelrunner.ErrArgument) {
		t.Fatalf("null argument: expected ErrArgument, found %v", err)
	}
}

// TestSendShared: one Request sent by many goroutines at once to several
// runners reaches each runner as the arguments it was built from, and
// Call (which builds its own) sends the same arguments.
func TestSendShared(t *testing.T) {
	var got sync.Map // runner address -> last predict args
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var clients []*modelrunner.Client
	for range 3 {
		var srv *mrtest.Server
		var err error
		srv, err = mrtest.Start("127.0.0.1:0", func(_ context.Context, method string, args []json.RawMessage) (json.RawMessage, error) {
			if method == modelrunner.MethodPredict {
				b, _ := json.Marshal(args)
				got.Store(srv.Addr(), string(b))
			}
			return json.RawMessage(`{"p_up": 0.25}`), nil
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(srv.Stop)
		c, err := modelrunner.Dial(srv.Addr())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		if err := c.Setup(ctx, "tracker.TrackerBase"); err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
	}
	args := []json.RawMessage{json.RawMessage(`"BTC"`), json.RawMessage(`60`), json.RawMessage(`1.5`), json.RawMessage(`{"w": [1, 2]}`)}
	r, err := modelrunner.NewPredict(args, nil)
	if err != nil {
		t.Fatal(err)
	}
	const want = `["BTC",60,1.5,{"w":[1,2]}]` // the args the runner decoded, re-encoded by json.Marshal
	var wg sync.WaitGroup
	errs := make(chan error, 30)
	for i := range 30 {
		wg.Go(func() {
			out, err := clients[i%len(clients)].Send(ctx, r)
			if err == nil && string(out) != `{"p_up": 0.25}` {
				err = fmt.Errorf("answer: expected {\"p_up\": 0.25}, found %s", out)
			}
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	n := 0
	got.Range(func(k, v any) bool {
		n++
		if v != want {
			t.Errorf("runner %s: args: expected %s, found %s", k, want, v)
		}
		return true
	})
	if n != len(clients) {
		t.Fatalf("runners called: expected %d, found %d", len(clients), n)
	}
	got.Clear()
	if _, err := clients[0].Predict(ctx, args, nil); err != nil {
		t.Fatal(err)
	}
	if v, _ := got.Load(clients[0].Target()); v != want {
		t.Fatalf("Predict's own request: args: expected %s, found %v", want, v)
	}
}
