// Package ports checks that the TCP ports a node binds are free and, when
// one is busy, finds the process holding it (Linux: /proc/net/tcp{,6} and
// /proc/<pid>/fd socket inodes).
package ports

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Status is the result for one port.
type Status struct {
	Port int
	Free bool
	// Holder describes the listening process when known, e.g. "pid 1234 (postgres)".
	Holder string
	Err    error
}

// ParseList parses a comma-separated port list ("8000, 5432"); empty
// tokens are skipped; each port must be an integer 1-65535.
func ParseList(s string) ([]int, error) {
	var out []int
	for _, tok := range strings.Split(s, ",") {
		tok = strings.TrimSpace(tok)
		if tok == "" {
			continue
		}
		n, err := strconv.Atoi(tok)
		if err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("invalid port %q: expected an integer 1-65535", tok)
		}
		out = append(out, n)
	}
	return out, nil
}

// Check tries to listen on host:port for each port (IPv4 and IPv6 loopback
// when host is empty) and reports which are busy.
func Check(host string, ports []int) []Status {
	out := make([]Status, 0, len(ports))
	for _, p := range ports {
		st := Status{Port: p, Free: true}
		hosts := []string{host}
		if host == "" {
			hosts = []string{"127.0.0.1", "::1"}
		}
		for _, h := range hosts {
			ln, err := net.Listen("tcp", net.JoinHostPort(h, strconv.Itoa(p)))
			if err != nil {
				if h == "::1" && strings.Contains(err.Error(), "cannot assign requested address") {
					continue // no IPv6 loopback on this machine
				}
				st.Free = false
				st.Err = err
				break
			}
			ln.Close()
		}
		if !st.Free {
			st.Holder = Holder(p)
		}
		out = append(out, st)
	}
	return out
}

// Holder returns "pid N (name)" of the process listening on port, or "" when
// it cannot be found (not Linux, or another user's process).
func Holder(port int) string {
	inodes := map[string]bool{}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		fh, err := os.Open(f)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 10 || fields[3] != "0A" { // 0A = LISTEN
				continue
			}
			local := fields[1]
			i := strings.LastIndex(local, ":")
			if i < 0 {
				continue
			}
			p, err := strconv.ParseInt(local[i+1:], 16, 32)
			if err == nil && int(p) == port {
				inodes[fields[9]] = true
			}
		}
		fh.Close()
	}
	if len(inodes) == 0 {
		return ""
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/fd/*")
	for _, fd := range procs {
		link, err := os.Readlink(fd)
		if err != nil || !strings.HasPrefix(link, "socket:[") {
			continue
		}
		if inodes[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")] {
			pid := strings.Split(fd, "/")[2]
			name, _ := os.ReadFile(filepath.Join("/proc", pid, "comm"))
			return fmt.Sprintf("pid %s (%s)", pid, strings.TrimSpace(string(name)))
		}
	}
	return ""
}
