package cli

import (
	"net"
	"strconv"
	"strings"
	"testing"
)

func TestPreflight(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	busy := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	free, _ := net.Listen("tcp", "127.0.0.1:0")
	freePort := strconv.Itoa(free.Addr().(*net.TCPAddr).Port)
	free.Close()

	cases := []struct {
		name  string
		ports string
		code  int
		want  string
	}{
		{"free", freePort, 0, "preflight passed"},
		{"busy", busy + "," + freePort, 1, "FAIL  " + busy + " busy, held by pid "},
		{"bad", "80x", 2, "invalid port"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, out, errOut := newTestFactory(t, nil)
			code := Execute(f, []string{"preflight", "--ports", c.ports})
			all := out.String() + errOut.String()
			if code != c.code || !strings.Contains(all, c.want) {
				t.Fatalf("exit %d, output %q; want %d and %q", code, all, c.code, c.want)
			}
		})
	}
}
