package modelrunner_test

import (
	"context"
	"encoding/json"
	"errors"
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

// TestTickEncoder: one Variant per distinct input, shared by every caller;
// an invalid input is an ErrArgument error, and the next valid one encodes.
func TestTickEncoder(t *testing.T) {
	var e modelrunner.TickEncoder
	in := json.RawMessage(` {"a": 1} `)
	v1, err := e.Encode(in)
	if err != nil {
		t.Fatal(err)
	}
	if string(v1.GetValue()) != `{"a": 1}` {
		t.Fatalf("Variant value: expected the trimmed JSON, found %q", v1.GetValue())
	}
	in[2] = 'b' // the caller's bytes change: the kept copy must not
	v2, err := e.Encode(json.RawMessage(` {"a": 1} `))
	if err != nil || v2 != v1 {
		t.Fatalf("same input again: expected the same Variant %p, found %p (%v)", v1, v2, err)
	}
	v3, err := e.Encode(json.RawMessage(`{"a": 2}`))
	if err != nil || v3 == v1 || string(v3.GetValue()) != `{"a": 2}` {
		t.Fatalf("new input: expected a new Variant {\"a\": 2}, found %p %q (%v)", v3, v3.GetValue(), err)
	}
	if _, err := e.Encode(json.RawMessage(`{"a": NaN}`)); !errors.Is(err, modelrunner.ErrArgument) {
		t.Fatalf("invalid input: expected ErrArgument, found %v", err)
	}
	if v, err := e.Encode(json.RawMessage(`{"a": 2}`)); err != nil || string(v.GetValue()) != `{"a": 2}` {
		t.Fatalf("valid input after an invalid one: found %q (%v)", v.GetValue(), err)
	}
}
