package doctor

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/crunch-coordinator/coordinator/internal/jsonx"
	"github.com/crunch-coordinator/coordinator/internal/layout"
	"github.com/crunch-coordinator/coordinator/internal/ports"
)

// FailureMarkers are the log markers doctor reports (reference-system.md
// 10.6.3 and 6.5, plus the plugin host's classifications).
var FailureMarkers = []string{"BAD_IMPLEMENTATION", "MULTIPLE_FAILED", "MULTIPLE_TIMEOUT", "CRASHED", "handshake failed"}

var modelIDPattern = regexp.MustCompile(`"?model(?:_id)?"?\s*[=:]\s*"?([A-Za-z0-9_.\-]+)"?`)

func checkLogs(opts Options) []Result {
	dir := layout.Of(opts.NodeDir).LogDir()
	files, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	if len(files) == 0 {
		return []Result{{Group: "logs", Check: "failure markers", Status: Skip, Where: dir, Message: "no node logs yet"}}
	}
	var out []Result
	for _, f := range files {
		lines, err := tail(f, opts.LogTail)
		if err != nil {
			out = append(out, Result{Group: "logs", Check: "read " + filepath.Base(f), Status: Warn, Where: f, Message: err.Error()})
			continue
		}
		found := 0
		seen := map[string]bool{}
		for i, l := range lines {
			for _, m := range FailureMarkers {
				if !strings.Contains(l, m) {
					continue
				}
				model := "unknown"
				if mm := modelIDPattern.FindStringSubmatch(l); mm != nil {
					model = mm[1]
				}
				key := m + "|" + model
				if seen[key] {
					break
				}
				seen[key] = true
				found++
				out = append(out, Result{Group: "logs", Check: "marker " + m, Status: Fail,
					Where:   fmt.Sprintf("%s (line %d of the last %d)", f, i+1, len(lines)),
					Message: fmt.Sprintf("model %s: %s", model, jsonx.Abbreviate([]byte(l))),
					Fix:     markerFix(m)})
				break
			}
		}
		if found == 0 {
			out = append(out, Result{Group: "logs", Check: "failure markers", Status: Pass, Where: f, Message: fmt.Sprintf("none in the last %d lines", len(lines))})
		}
	}
	return out
}

func markerFix(m string) string {
	switch m {
	case "BAD_IMPLEMENTATION":
		return "the plugin breaks the contract (missing RPC, wrong contract version or undecodable output); rebuild it against this coordinator's SDK and run `go test` in its module"
	case "MULTIPLE_FAILED", "CRASHED":
		return "the model keeps failing or crashing; run its unit tests and read its stderr lines in the log"
	case "MULTIPLE_TIMEOUT":
		return "the model is too slow; make Predict faster or raise MODEL_CALL_TIMEOUT_SECONDS"
	default:
		return "the plugin did not complete the go-plugin handshake; it must call sdk.ServeModel/ServeChallenge and print nothing to stdout before it"
	}
}

func tail(path string, n int) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var ring []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		ring = append(ring, sc.Text())
		if len(ring) > n {
			ring = ring[1:]
		}
	}
	return ring, sc.Err()
}

func checkPorts(w *WorkspaceInfo) []Result {
	_, port, err := splitPort(w.APIAddr)
	if err != nil {
		return nil
	}
	ps, err := ports.ParseList(port)
	if err != nil {
		return nil
	}
	var out []Result
	for _, st := range ports.Check("", ps) {
		if st.Free {
			out = append(out, Result{Group: "ports", Check: fmt.Sprintf("port %d", st.Port), Status: Pass, Message: "free for the report API"})
			continue
		}
		holder := st.Holder
		if holder == "" {
			holder = "unknown process"
		}
		out = append(out, Result{Group: "ports", Check: fmt.Sprintf("port %d", st.Port), Status: Fail, Where: w.APIAddr,
			Message: "busy, held by " + holder, Fix: "stop that process or set API_ADDR in .local.env (or pass --api-addr to dev)"})
	}
	return out
}

func splitPort(addr string) (string, string, error) {
	i := strings.LastIndex(addr, ":")
	if i < 0 {
		return "", "", fmt.Errorf("no port in %q", addr)
	}
	return addr[:i], addr[i+1:], nil
}
