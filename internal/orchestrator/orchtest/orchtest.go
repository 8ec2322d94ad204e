// Package orchtest is a scriptable model orchestrator for tests: a
// websocket server at ws://<host>:<port>/<crunch id> (reference-system.md
// §6.3) that hands every accepted connection to the test, which writes the
// init and update frames, and records every frame the node sends
// (report_failure).
package orchtest

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/crunch-coordinator/coordinator/internal/orchestrator"
)

// Server is one test orchestrator serving one crunch id.
type Server struct {
	srv   *httptest.Server
	conns chan *websocket.Conn
	// Got receives every frame the node sends, in order.
	Got chan orchestrator.Event
}

// Start serves crunch's websocket on a loopback port until the test ends.
// Other paths answer 404.
func Start(t testing.TB, crunch string) *Server {
	t.Helper()
	o := &Server{conns: make(chan *websocket.Conn, 4), Got: make(chan orchestrator.Event, 16)}
	o.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/"+crunch {
			http.Error(w, "unknown crunch", http.StatusNotFound)
			return
		}
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		o.conns <- c
		for { // record what the node sends until the connection ends
			_, msg, err := c.Read(context.Background())
			if err != nil {
				return
			}
			var ev orchestrator.Event
			if json.Unmarshal(msg, &ev) == nil {
				o.Got <- ev
			}
		}
	}))
	t.Cleanup(o.srv.Close)
	return o
}

// HostPort is the server's host and port (MODEL_RUNNER_NODE_HOST, _PORT).
func (o *Server) HostPort(t testing.TB) (string, int) {
	t.Helper()
	h, p, err := net.SplitHostPort(strings.TrimPrefix(o.srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(p)
	return h, n
}

// Env is the node settings that point at this server for crunch.
func (o *Server) Env(t testing.TB, crunch string) map[string]string {
	h, p := o.HostPort(t)
	return map[string]string{"MODEL_RUNNER_NODE_HOST": h, "MODEL_RUNNER_NODE_PORT": strconv.Itoa(p), "CRUNCH_ID": crunch}
}

// Accept waits up to 20 s for the node's next connection.
func (o *Server) Accept(t testing.TB) *websocket.Conn {
	t.Helper()
	select {
	case c := <-o.conns:
		return c
	case <-time.After(20 * time.Second):
		t.Fatal("the node did not connect to the orchestrator")
		return nil
	}
}

// Send writes one event frame with entries (an empty list when none).
func Send(t testing.TB, c *websocket.Conn, event string, entries ...orchestrator.Entry) {
	t.Helper()
	if entries == nil {
		entries = []orchestrator.Entry{}
	}
	data, _ := json.Marshal(entries)
	frame, _ := json.Marshal(orchestrator.Event{Event: event, Data: data})
	if err := c.Write(context.Background(), websocket.MessageText, frame); err != nil {
		t.Fatal(err)
	}
}

// Entry is model's deployment dep in state, served at addr (host:port;
// "" leaves ip and port empty), with infos derived from the model id
// (model_name "name-<model>", cruncher "cruncher-<model>").
func Entry(model, dep, state, addr string) orchestrator.Entry {
	e := orchestrator.Entry{ModelID: model, DeploymentID: dep, State: state, Infos: orchestrator.Infos{ModelName: "name-" + model, CruncherID: "cruncher-" + model, CruncherName: "Cruncher " + model}}
	if addr != "" {
		h, p, _ := net.SplitHostPort(addr)
		e.IP = h
		e.Port, _ = strconv.Atoi(p)
	}
	return e
}
