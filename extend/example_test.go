package extend_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"

	"github.com/crunch-coordinator/coordinator/extend"
)

// A report app that adds a route and keeps every built-in one: mount the
// built-in handler under your own mux and serve it like the built-in app.
func ExampleRegisterReportApp() {
	extend.RegisterReportApp("example-report", 1, func(env extend.ReportEnv) (extend.ReportApp, error) {
		mux := http.NewServeMux()
		mux.HandleFunc("GET /reports/hello", func(w http.ResponseWriter, _ *http.Request) {
			fmt.Fprintln(w, "hello from", env.Name)
		})
		mux.Handle("/", env.Handler) // /reports/leaderboard, /healthz, ...
		return env.Serve(mux), nil
	})

	// What the node does with REPORT_APP_FACTORY=example-report:
	factory, _ := extend.LookupReportApp("example-report")
	builtin := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "built-in") })
	app, _ := factory(extend.ReportEnv{Env: extend.Env{Name: "example-report"}, Handler: builtin, Addr: "127.0.0.1:0"})
	_ = app.Start(context.Background())
	defer app.Stop()
	for _, path := range []string{"/reports/hello", "/reports/leaderboard"} {
		resp, _ := http.Get("http://" + app.Addr().String() + path)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Print(path, ": ", string(b))
	}
	_ = app.Drain(context.Background())
	// Output:
	// /reports/hello: hello from example-report
	// /reports/leaderboard: built-in
}

// A predict service that runs the built-in predict cycle only when asked
// (here: on a channel; a real one would take an authenticated API call).
func ExampleRegisterPredictService() {
	rounds := make(chan struct{})
	extend.RegisterPredictService("example-on-demand", 1, func(env extend.PredictEnv) (extend.Service, error) {
		return &onDemand{rounds: rounds, cycle: env.Cycle}, nil
	})

	factory, _ := extend.LookupPredictService("example-on-demand")
	cycles := 0
	svc, _ := factory(extend.PredictEnv{Cycle: func(context.Context) (extend.PredictResult, error) {
		cycles++
		return extend.PredictResult{}, nil
	}})
	_ = svc.Start(context.Background())
	rounds <- struct{}{}
	rounds <- struct{}{}
	_ = svc.Drain(context.Background()) // finishes the round in flight
	_ = svc.Stop()
	fmt.Println("cycles:", cycles)
	// Output: cycles: 2
}

// onDemand runs one predict cycle per value received on rounds.
type onDemand struct {
	rounds <-chan struct{}
	cycle  func(context.Context) (extend.PredictResult, error)
	stop   chan struct{}
	wg     sync.WaitGroup
}

func (s *onDemand) Start(context.Context) error {
	stop := make(chan struct{})
	s.stop = stop
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-s.rounds:
				_, _ = s.cycle(context.Background())
			}
		}
	}()
	return nil
}

func (s *onDemand) Drain(context.Context) error {
	if s.stop != nil {
		close(s.stop)
		s.stop = nil
	}
	s.wg.Wait()
	return nil
}

func (s *onDemand) Stop() error          { return s.Drain(context.Background()) }
func (s *onDemand) Failed() <-chan error { return nil }

// A score service that wraps the built-in one, logging around its
// lifecycle (a real one might score on another cadence with env.Score).
func ExampleRegisterScoreService() {
	extend.RegisterScoreService("example-logged", 1, func(env extend.ScoreEnv) (extend.Service, error) {
		return &logged{Service: env.Builtin}, nil
	})
	factory, _ := extend.LookupScoreService("example-logged")
	svc, _ := factory(extend.ScoreEnv{Builtin: idle{}})
	_ = svc.Start(context.Background())
	_ = svc.Drain(context.Background())
	_ = svc.Stop()
	// Output:
	// score service starting
	// score service draining
}

type logged struct{ extend.Service }

func (l *logged) Start(ctx context.Context) error {
	fmt.Println("score service starting")
	return l.Service.Start(ctx)
}

func (l *logged) Drain(ctx context.Context) error {
	fmt.Println("score service draining")
	return l.Service.Drain(ctx)
}

type idle struct{}

func (idle) Start(context.Context) error { return nil }
func (idle) Drain(context.Context) error { return nil }
func (idle) Stop() error                 { return nil }
func (idle) Failed() <-chan error        { return nil }
