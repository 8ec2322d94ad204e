package extend

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
)

// NewHTTPApp returns a report app serving h on addr (host:port; port 0
// picks a free one): Start listens, Drain shuts the server down gracefully
// (in-flight requests finish), Stop closes every connection, and a
// listener that fails by itself is reported on Failed. It is the built-in
// report app's server; log may be nil.
func NewHTTPApp(h http.Handler, addr string, log hclog.Logger) ReportApp {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	return &httpApp{handler: h, addr: addr, log: log, failed: make(chan error, 1)}
}

type httpApp struct {
	handler http.Handler
	addr    string
	log     hclog.Logger

	srv      *http.Server
	ln       net.Listener
	done     chan struct{}
	failed   chan error
	stopping atomic.Bool
}

// Start listens on the address and serves on its own goroutine.
func (a *httpApp) Start(context.Context) error {
	ln, err := net.Listen("tcp", a.addr)
	if err != nil {
		return fmt.Errorf("report API: listen on %s: %w (is another node running? try `coordinator preflight` or --api-addr)", a.addr, err)
	}
	a.ln, a.done = ln, make(chan struct{})
	a.srv = &http.Server{Handler: a.handler, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		defer close(a.done)
		err := a.srv.Serve(ln)
		if !errors.Is(err, http.ErrServerClosed) && !a.stopping.Load() {
			a.failed <- fmt.Errorf("report API on %s: %w", a.addr, err)
		}
	}()
	a.log.Info("report API listening", "addr", ln.Addr().String())
	return nil
}

// Addr is the bound address (nil before Start).
func (a *httpApp) Addr() net.Addr {
	if a.ln == nil {
		return nil
	}
	return a.ln.Addr()
}

// Drain stops accepting connections and waits for the requests in flight.
func (a *httpApp) Drain(ctx context.Context) error {
	a.stopping.Store(true)
	if a.srv == nil {
		return nil
	}
	if err := a.srv.Shutdown(ctx); err != nil {
		return err
	}
	<-a.done
	return nil
}

// Stop closes the listener and every connection.
func (a *httpApp) Stop() error {
	a.stopping.Store(true)
	if a.srv == nil {
		return nil
	}
	err := a.srv.Close()
	<-a.done
	return err
}

// Failed receives the error of a server that stopped by itself.
func (a *httpApp) Failed() <-chan error { return a.failed }
