package node_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/crunch-coordinator/coordinator/extend"
	"github.com/crunch-coordinator/coordinator/internal/clock"
	"github.com/crunch-coordinator/coordinator/internal/config"
	"github.com/crunch-coordinator/coordinator/internal/feed"
	"github.com/crunch-coordinator/coordinator/internal/feed/replay"
	"github.com/crunch-coordinator/coordinator/internal/node"
	"github.com/crunch-coordinator/coordinator/internal/testutil"
	"github.com/crunch-coordinator/coordinator/sdk"
)

// Factories the tests select by name.
var (
	predictCycles atomic.Int64
	scoreStarts   atomic.Int64
)

func init() {
	// A report app adding a route and wrapping the built-in API.
	extend.RegisterReportApp("test-report", 1, func(env extend.ReportEnv) (extend.ReportApp, error) {
		mux := http.NewServeMux()
		mux.HandleFunc("GET /ext/hello", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintf(w, "hello from %s", env.Name) })
		mux.Handle("/", env.Handler)
		return env.Serve(mux), nil
	})
	// A predict service running one built-in cycle at start, then idle.
	extend.RegisterPredictService("test-predict", 1, func(env extend.PredictEnv) (extend.Service, error) {
		return &onStart{run: func(ctx context.Context) error {
			_, err := env.Cycle(ctx)
			predictCycles.Add(1)
			return err
		}}, nil
	})
	// A score service wrapping the built-in one.
	extend.RegisterScoreService("test-score", 1, func(env extend.ScoreEnv) (extend.Service, error) {
		scoreStarts.Add(1)
		return env.Builtin, nil
	})
	extend.RegisterReportApp("test-failing", 1, func(extend.ReportEnv) (extend.ReportApp, error) {
		return nil, errors.New("TOURNAMENT_API_TOKEN is unset")
	})
	extend.RegisterScoreService("test-panicking", 1, func(extend.ScoreEnv) (extend.Service, error) { panic("boom") })
	extend.RegisterReportApp("test-future", 2, func(env extend.ReportEnv) (extend.ReportApp, error) { return env.Builtin, nil })
}

// onStart is a service that runs once at Start.
type onStart struct{ run func(context.Context) error }

func (s *onStart) Start(ctx context.Context) error { return s.run(ctx) }
func (s *onStart) Drain(context.Context) error     { return nil }
func (s *onStart) Stop() error                     { return nil }
func (s *onStart) Failed() <-chan error            { return nil }

// TestFactories replays 6 h through a node whose report app is replaced
// (the extra route and the built-in API are served), then replays 2 h
// through a node with all three services replaced (they run by
// themselves; the replay drives no built-in cycle), and checks that an unknown, failing,
// panicking or other-version factory stops the start with its name and a
// fix.
func TestFactories(t *testing.T) {
	if testing.Short() {
		t.Skip("real plugins (slow); run without -short")
	}
	root := testutil.RepoRoot(t)
	csvPath := filepath.Join(filepath.Dir(root), "shared", "data", e2eCSV)
	ws := buildE2EWorkspace(t, root, csvPath)
	rp, err := replay.Open(ws.csvPath, "BTC")
	if err != nil {
		t.Fatal(err)
	}
	start := func(t *testing.T, f config.Factories, routes ...string) (*node.Node, *clock.Simulated, error) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		w, err := config.LoadWorkspace(ws.nodeDir, func(k string) string {
			if k == "API_ADDR" {
				return "127.0.0.1:0"
			}
			return ""
		})
		if err != nil {
			t.Fatal(err)
		}
		w.Callables.Factories = f
		for i := 0; i+1 < len(routes); i += 2 {
			w.Callables.Routes[routes[i]] = routes[i+1]
		}
		sim := clock.NewSimulated(rp.First())
		n, err := node.Start(ctx, node.Config{
			Workspace: w, Store: openStore(t, "sqlite://"+filepath.Join(t.TempDir(), "f.db")), Clock: sim,
			Logger: hclog.NewNullLogger(), ChallengeBinary: ws.challenge, ModelBinaries: ws.models,
			Feed: feed.Config{Provider: replay.Name, Assets: []string{"BTC"}, Kind: feed.KindCandle, Granularity: rp.Granularity()},
		})
		if n != nil {
			t.Cleanup(func() { n.Close() })
		}
		return n, sim, err
	}

	t.Run("report app replaced, replay", func(t *testing.T) {
		n, sim, err := start(t, config.Factories{Report: "test-report"})
		if err != nil {
			t.Fatal(err)
		}
		if got := n.Replaced(); len(got) != 1 || got[node.ServiceReport] != "test-report" {
			t.Fatalf("Replaced = %v", got)
		}
		ctx := context.Background()
		if err := n.StartServices(ctx, node.RunOptions{Replay: true}); err != nil {
			t.Fatal(err)
		}
		prog, err := n.Replay(ctx, rp, sim, node.ReplayOptions{Until: rp.First().Add(6 * time.Hour)})
		if err != nil || prog.Predictions == 0 || prog.Scored == 0 || prog.CycleErrors != 0 {
			t.Fatalf("replay: %+v, %v", prog, err)
		}
		base := "http://" + n.APIAddr().String()
		if body := get(t, base+"/ext/hello"); body != "hello from test-report" {
			t.Errorf("/ext/hello: %q", body)
		}
		if body := get(t, base+"/reports/leaderboard"); !strings.Contains(body, "mean-reversion") {
			t.Errorf("built-in /reports/leaderboard through the replacement: %q", body)
		}
		if err := n.Drain(10 * time.Second); err != nil {
			t.Fatal(err)
		}
	})

	// The feed view reads past the simulated clock only while nothing but
	// the block's input call reads the feed (node.Replay): the next block
	// is staged alongside the current block's model calls only with the
	// runtime default's ValidateInferenceOutput and the built-in score
	// service, and no input is made ahead with a replaced score service
	// (it runs on sim by itself, at any time).
	for _, c := range []struct {
		name             string
		f                config.Factories
		routes           []string
		alongside, ahead bool
	}{
		{"challenge validator, replay", config.Factories{}, nil, false, true},
		{"default validator, replay", config.Factories{}, []string{sdk.CallableValidateInferenceOutput, config.RouteDefault}, true, true},
		{"score service replaced, default validator, replay", config.Factories{Score: "test-score"}, []string{sdk.CallableValidateInferenceOutput, config.RouteDefault}, false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			n, sim, err := start(t, c.f, c.routes...)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			if err := n.StartServices(ctx, node.RunOptions{Replay: true}); err != nil {
				t.Fatal(err)
			}
			prog, err := n.Replay(ctx, rp, sim, node.ReplayOptions{Until: rp.First().Add(2 * time.Hour)})
			if err != nil || prog.Cycles == 0 || prog.CycleErrors != 0 {
				t.Fatalf("replay: %+v, %v", prog, err)
			}
			if got := prog.StagedAlongside > 0; got != c.alongside {
				t.Errorf("%d blocks staged alongside the previous one's model calls; want some: %v", prog.StagedAlongside, c.alongside)
			}
			if want := map[bool]int{true: prog.Cycles, false: 0}[c.ahead]; prog.InputsAhead != want {
				t.Errorf("%d of %d cycles had their input made ahead, want %d", prog.InputsAhead, prog.Cycles, want)
			}
			if err := n.Drain(10 * time.Second); err != nil {
				t.Fatal(err)
			}
		})
	}

	t.Run("every service replaced", func(t *testing.T) {
		predictCycles.Store(0)
		scoreStarts.Store(0)
		n, sim, err := start(t, config.Factories{Predict: "test-predict", Score: "test-score", Report: "test-report"})
		if err != nil {
			t.Fatal(err)
		}
		if got := n.Replaced(); len(got) != 3 {
			t.Fatalf("Replaced = %v", got)
		}
		// The replay starts the replaced services (the predict service
		// runs its one cycle at start) and drives none of their cycles.
		ctx := context.Background()
		if err := n.StartServices(ctx, node.RunOptions{Replay: true}); err != nil {
			t.Fatal(err)
		}
		prog, err := n.Replay(ctx, rp, sim, node.ReplayOptions{Until: rp.First().Add(2 * time.Hour)})
		if err != nil || prog.Candles == 0 || prog.Cycles != 0 || prog.Scored != 0 || prog.CycleErrors != 0 {
			t.Fatalf("replay with every service replaced: %+v, %v; expected candles and no built-in cycle", prog, err)
		}
		if !sim.Now().Equal(prog.SimTime) {
			t.Errorf("simulated clock at %s, replay ended at %s", sim.Now(), prog.SimTime)
		}
		if body := get(t, "http://"+n.APIAddr().String()+"/ext/hello"); body != "hello from test-report" {
			t.Errorf("/ext/hello: %q", body)
		}
		if predictCycles.Load() != 1 || scoreStarts.Load() != 1 {
			t.Errorf("predict cycles %d, score factory calls %d; expected 1 and 1", predictCycles.Load(), scoreStarts.Load())
		}
		if err := n.Drain(10 * time.Second); err != nil {
			t.Fatal(err)
		}
	})

	for _, c := range []struct {
		name string
		f    config.Factories
		want []string
	}{
		{"unknown", config.Factories{Predict: "nope"}, []string{"PREDICT_SERVICE_FACTORY=nope: no predict factory of that name is registered (registered: [test-predict])", "extend.RegisterPredictService(\"nope\", 1, ...)", "unset PREDICT_SERVICE_FACTORY"}},
		{"failing", config.Factories{Report: "test-failing"}, []string{"REPORT_APP_FACTORY=test-failing: the factory failed: TOURNAMENT_API_TOKEN is unset", "unset REPORT_APP_FACTORY for the built-in report service"}},
		{"panicking", config.Factories{Score: "test-panicking"}, []string{"SCORE_SERVICE_FACTORY=test-panicking: the factory failed: panic: boom"}},
		{"other API version", config.Factories{Report: "test-future"}, []string{"REPORT_APP_FACTORY=test-future: report factory \"test-future\" was written for extend API v2, but this coordinator provides v1"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			n, _, err := start(t, c.f)
			if err == nil || n != nil || !errors.Is(err, node.ErrFactory) || !errors.Is(err, node.ErrConfig) {
				t.Fatalf("expected an ErrFactory error, found node %v, %v", n, err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
		})
	}
	checkNoPluginProcesses(t, ws.binDir)
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET %s: %s %s", url, resp.Status, b)
	}
	return string(b)
}
