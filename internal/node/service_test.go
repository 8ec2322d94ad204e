package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/crunch-coordinator/coordinator/extend"
	"github.com/crunch-coordinator/coordinator/host"
	"github.com/crunch-coordinator/coordinator/internal/clock"
	"github.com/crunch-coordinator/coordinator/sdk"
)

// TestDrainClock: a sleep ends when the shutdown starts, while the work
// context of the in-flight cycle stays usable; every later sleep fails at
// once so the loop returns.
func TestDrainClock(t *testing.T) {
	c := newDrainClock(clock.Wall{})
	shutdown := c.drain
	work := context.Background()
	if err := c.Sleep(work, 0); err != nil {
		t.Fatalf("Sleep(0) before shutdown: %v", err)
	}
	if err := c.Sleep(work, time.Millisecond); err != nil {
		t.Fatalf("short sleep: %v", err)
	}
	slept := make(chan error, 1)
	go func() { slept <- c.Sleep(work, time.Hour) }()
	shutdown()
	if err := <-slept; !errors.Is(err, context.Canceled) {
		t.Fatalf("sleep across the shutdown: %v, want context.Canceled", err)
	}
	if work.Err() != nil {
		t.Fatal("the work context must outlive the shutdown request")
	}
	if err := c.Sleep(work, 0); !errors.Is(err, context.Canceled) {
		t.Fatalf("Sleep(0) after shutdown: %v, want context.Canceled", err)
	}
	wctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := newDrainClock(clock.Wall{}).Sleep(wctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("sleep on a cancelled work context: %v", err)
	}
	if now := c.Now(); now.Location() != time.UTC {
		t.Errorf("Now not UTC: %v", now)
	}
}

// newBareNode returns a Node without plugins, for lifecycle tests.
func newBareNode() *Node {
	return &Node{log: hclog.NewNullLogger(), failed: make(chan error, 1), draining: make(chan struct{})}
}

// TestLoopServiceDrain: a drain lets the cycle in flight finish on its own
// context and ends the loop at its next sleep; a drain that times out
// leaves the cycle to Stop, which cancels it.
func TestLoopServiceDrain(t *testing.T) {
	for _, tc := range []struct {
		name       string
		drainFor   time.Duration
		wantDrain  error
		wantCancel bool
	}{
		{"cycle finishes", time.Minute, nil, false},
		{"drain timeout cancels the cycle", 20 * time.Millisecond, context.DeadlineExceeded, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc := newLoopService(clock.Wall{}, hclog.NewNullLogger())
			inCycle, release := make(chan struct{}), make(chan struct{})
			var cycles atomic.Int32
			cancelled := make(chan bool, 1)
			svc.add("test", func(ctx context.Context) error {
				for {
					if cycles.Add(1) == 1 {
						close(inCycle)
						select {
						case <-release:
							cancelled <- false
						case <-ctx.Done():
							cancelled <- true
						}
					}
					if err := svc.clock.Sleep(ctx, time.Hour); err != nil {
						return err
					}
				}
			})
			if err := svc.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			<-inCycle
			if !tc.wantCancel {
				time.AfterFunc(50*time.Millisecond, func() { close(release) })
			}
			ctx, cancel := context.WithTimeout(context.Background(), tc.drainFor)
			defer cancel()
			if err := svc.Drain(ctx); !errors.Is(err, tc.wantDrain) {
				t.Fatalf("Drain: %v, want %v", err, tc.wantDrain)
			}
			if err := svc.Stop(); err != nil {
				t.Fatal(err)
			}
			if got := <-cancelled; got != tc.wantCancel {
				t.Errorf("cycle cancelled %v, want %v", got, tc.wantCancel)
			}
			if n := cycles.Load(); n != 1 {
				t.Errorf("%d cycles ran, want 1 (no cycle after the drain)", n)
			}
		})
	}
}

// TestLifecycle: StartServices starts the report app and the loops, the
// API answers, Drain waits for the cycle in flight and then stops
// everything; a busy address fails the start with the listen hint.
func TestLifecycle(t *testing.T) {
	n := newBareNode()
	n.report = extend.NewHTTPApp(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "ok") }), "127.0.0.1:0", n.log)
	loops := newLoopService(clock.Wall{}, n.log)
	var finished atomic.Bool
	started := make(chan struct{})
	loops.add("slow", func(ctx context.Context) error {
		close(started)
		time.Sleep(100 * time.Millisecond) // the cycle in flight at the drain
		finished.Store(ctx.Err() == nil)
		return loops.clock.Sleep(ctx, time.Hour)
	})
	n.predictSvc = loops
	if err := n.StartServices(context.Background(), RunOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := n.StartServices(context.Background(), RunOptions{}); err == nil {
		t.Error("a second StartServices must fail")
	}
	resp, err := http.Get("http://" + n.APIAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "ok" {
		t.Fatalf("API answered %q", body)
	}
	<-started
	if err := n.Drain(time.Minute); err != nil {
		t.Fatal(err)
	}
	if !finished.Load() {
		t.Error("the cycle in flight was cancelled by a drain with time left")
	}
	if _, err := http.Get("http://" + n.APIAddr().String()); err == nil {
		t.Error("the API still answers after Drain")
	}
	if err := n.Drain(time.Minute); err != nil {
		t.Errorf("second Drain: %v", err)
	}

	busy := newBareNode()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	busy.report = extend.NewHTTPApp(http.NotFoundHandler(), ln.Addr().String(), busy.log)
	err = busy.StartServices(context.Background(), RunOptions{})
	if err == nil || !strings.Contains(err.Error(), "listen on "+ln.Addr().String()) || !strings.Contains(err.Error(), "--api-addr") {
		t.Fatalf("busy address: %v", err)
	}
	_ = busy.Close()
}

// TestLifecycleReportFailure: a report app whose server fails while
// running is reported on Failed, naming the service.
func TestLifecycleReportFailure(t *testing.T) {
	n := newBareNode()
	app := &failingApp{ReportApp: extend.NewHTTPApp(http.NotFoundHandler(), "127.0.0.1:0", n.log), failed: make(chan error, 1)}
	n.report = app
	if err := n.StartServices(context.Background(), RunOptions{Replay: true}); err != nil {
		t.Fatal(err)
	}
	app.failed <- errors.New("listener gone") // the app fails by itself while running
	select {
	case err := <-n.Failed():
		if !strings.Contains(err.Error(), "report service stopped: listener gone") {
			t.Errorf("failure: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no failure reported")
	}
	if err := n.Drain(time.Second); err != nil {
		t.Fatal(err)
	}
}

// failingApp is a report app whose failure the test triggers.
type failingApp struct {
	extend.ReportApp
	failed chan error
}

func (a *failingApp) Failed() <-chan error { return a.failed }

// TestDiagnosticNote: a failed plugin start carries the host's diagnostic
// (summary, fix, code) into the error dev and serve print.
func TestDiagnosticNote(t *testing.T) {
	se := &host.StartError{Plugin: "challenge", Kind: sdk.PluginChallenge, Path: "/n/bin/challenge", Stage: host.StageHandshake,
		Status: host.StatusCrashed, Err: errors.New("plugin exited"), Exit: host.ExitFacts{Exited: true, Code: 2}, StderrTail: "panic: boom\n"}
	note := diagnosticNote(fmt.Errorf("wrapped: %w", se))
	for _, want := range []string{"crashed at start, before the handshake (CRASHED, exit status 2); stderr: panic: boom", "\nfix: ", "sdk.ServeChallenge", "[" + host.DiagCrashedAtStart + "]"} {
		if !strings.Contains(note, want) {
			t.Errorf("note %q lacks %q", note, want)
		}
	}
	if diagnosticNote(errors.New("other")) != "" {
		t.Error("a non-start error got a note")
	}
}
