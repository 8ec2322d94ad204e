// Command mrserver is the benchmark harness's fleet of remote model
// runners: one process serving the model-runner protocol (reference-system.md
// §6.1, internal/modelrunner/mrtest) on -n loopback ports, one per model, as
// -n containers of an orchestrator would each serve their own address.
// Every model's tick does nothing and its predict answers the constant
// baseline answer {"p_up": 0.5}. Each listener is a grpc-go server with
// static 1 MiB HTTP/2 flow-control windows (serverOptions), as the host's
// side of the connection has.
//
// It prints one line per model, the bound host:port, then "ready", and
// serves until its standard input closes or it gets SIGTERM/SIGINT, so the
// harness (its parent) can measure its own RSS and CPU apart from the
// servers'.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"google.golang.org/grpc"

	"github.com/crunch-coordinator/coordinator/internal/modelrunner/mrtest"
)

// serverOptions give every model's server static flow-control windows
// (per stream and per connection, 1 MiB as modelrunner.DialOptions give
// the host's side). grpc-go's default, bandwidth estimation, makes the
// server send a BDP ping on every request it receives and a window update
// with most: two more frames per call, which the host must read and
// answer (a ping ack, one more write) and the server must write and read.
// The benchmark measures the host's cost per call, not that of a runner's
// flow-control choice; every call still goes over HTTP/2 on the model's
// own connection.
var serverOptions = []grpc.ServerOption{
	grpc.StaticStreamWindowSize(1 << 20),
	grpc.StaticConnWindowSize(1 << 20),
}

func main() {
	n := flag.Int("n", 1000, "models (listeners) to serve")
	host := flag.String("host", "127.0.0.1", "address to listen on (each model gets its own free port)")
	flag.Parse()
	if *n < 1 {
		fmt.Fprintln(os.Stderr, "mrserver: -n: expected >= 1")
		os.Exit(2)
	}
	h := mrtest.Constant(json.RawMessage(`{"p_up": 0.5}`))
	servers := make([]*mrtest.Server, 0, *n)
	out := bufio.NewWriter(os.Stdout)
	for i := range *n {
		s, err := mrtest.Start(*host+":0", h, serverOptions...)
		if err != nil {
			fmt.Fprintf(os.Stderr, "mrserver: model %d of %d: %v\n", i+1, *n, err)
			os.Exit(1)
		}
		servers = append(servers, s)
		fmt.Fprintln(out, s.Addr())
	}
	fmt.Fprintln(out, "ready")
	if err := out.Flush(); err != nil {
		os.Exit(1)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	eof := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		close(eof)
	}()
	select {
	case <-sig:
	case <-eof:
	}
	for _, s := range servers {
		s.Stop()
	}
}
