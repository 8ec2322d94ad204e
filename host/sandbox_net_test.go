//go:build linux

package host

import (
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/sandbox"
)

// TestSandboxNetwork runs a model that tries every way out during each
// Predict (testdata/plugins/attacker -attack net: UDP sendto and TCP
// connect to listeners of this test on 127.0.0.1, AF_INET6 UDP, raw IP,
// AF_PACKET and AF_NETLINK sockets) next to an honest model. Under the
// seccomp socket filter every attempt must fail, no datagram or connection
// may reach the listeners, and both models answer every round (the filter
// leaves go-plugin's Unix socket alone).
func TestSandboxNetwork(t *testing.T) {
	if !sandbox.Probe(sandbox.Config{}).SocketFilter {
		t.Skip("no seccomp socket filter on this machine: UDP and raw sockets are not tested")
	}
	marker := testMarker(t)
	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	must(t, err)
	t.Cleanup(func() { _ = udp.Close() })
	tcp, err := net.Listen("tcp", udp.LocalAddr().String())
	if err != nil { // the same port is taken for TCP: any free one
		tcp, err = net.Listen("tcp", "127.0.0.1:0")
	}
	must(t, err)
	t.Cleanup(func() { _ = tcp.Close() })
	reached := make(chan string, 16)
	go func() {
		buf := make([]byte, 64)
		for {
			n, _, err := udp.ReadFrom(buf)
			if err != nil {
				return
			}
			reached <- "udp datagram " + string(buf[:n])
		}
	}()
	go func() {
		for {
			c, err := tcp.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
			reached <- "tcp connection"
		}
	}()

	specs := []PluginSpec{
		mspec(marker, "honest", modelBin, "-name", "honest"),
		mspec(marker, "net", attackerBin, "-attack", "net", "-target", udp.LocalAddr().String(), "-target", tcp.Addr().String()),
	}
	opts := testOptions(t)
	opts.CallTimeout = 20 * time.Second
	ms, err := StartModels(ctxT(t, 60*time.Second), specs, opts)
	must(t, err)
	t.Cleanup(func() { _ = ms.Close() })

	for round := 0; round < 2; round++ {
		res := ms.Predict(ctxT(t, 30*time.Second), nil, nil)
		if r := res["honest"]; r.Status != StatusSuccess {
			t.Errorf("round %d: the honest model did not answer: %s %v", round, r.Status, r.Err)
		}
		r := res["net"]
		if r.Status != StatusSuccess {
			t.Fatalf("round %d: the attacker did not answer: %s %v", round, r.Status, r.Err)
		}
		var got struct {
			Attempts map[string]string `json:"attempts"`
		}
		must(t, json.Unmarshal(r.Output, &got))
		for _, k := range []string{"udp " + udp.LocalAddr().String(), "tcp " + tcp.Addr().String(),
			"socket AF_INET6 UDP", "socket AF_INET raw", "socket AF_PACKET", "socket AF_NETLINK raw"} {
			if _, ok := got.Attempts[k]; !ok {
				t.Fatalf("round %d: attempt %q missing: %v", round, k, got.Attempts)
			}
		}
		for what, res := range got.Attempts {
			if !strings.Contains(res, "operation not permitted") {
				t.Errorf("round %d: %s: expected operation not permitted, got %q", round, what, res)
			}
		}
	}
	select {
	case what := <-reached:
		t.Fatalf("the sandboxed model reached this test's listener: %s", what)
	case <-time.After(200 * time.Millisecond):
	}
}
