package doctor

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// apiChecks are the endpoints probed on a running node and the JSON shape
// each must have.
var apiChecks = []struct {
	path  string
	shape string // "object" or "array"
	check func(body []byte) error
}{
	{"/healthz", "object", func(b []byte) error {
		var h struct {
			Status string `json:"status"`
		}
		if err := json.Unmarshal(b, &h); err != nil || h.Status != "ok" {
			return fmt.Errorf(`expected {"status":"ok"}, found %s`, abbreviate(b))
		}
		return nil
	}},
	{"/reports/models", "array", func(b []byte) error {
		var rows []map[string]any
		if err := json.Unmarshal(b, &rows); err != nil {
			return fmt.Errorf("expected an array of models: %v", err)
		}
		for i, r := range rows {
			if id, _ := r["model_id"].(string); id == "" {
				return fmt.Errorf("row %d has no model_id (the report UI cannot name it)", i)
			}
		}
		return nil
	}},
	{"/reports/leaderboard", "array", func(b []byte) error {
		var rows []map[string]any
		if err := json.Unmarshal(b, &rows); err != nil {
			return fmt.Errorf("expected an array of leaderboard rows: %v", err)
		}
		last := 0.0
		for i, r := range rows {
			if r == nil {
				return fmt.Errorf("row %d is null (crashes the report UI)", i)
			}
			rank, ok := r["rank"].(float64)
			if !ok {
				return fmt.Errorf("row %d has no numeric rank", i)
			}
			if rank < last {
				return fmt.Errorf("rows are not sorted by rank (row %d)", i)
			}
			last = rank
		}
		return nil
	}},
	{"/reports/schema", "object", func(b []byte) error {
		var s struct {
			Columns []json.RawMessage `json:"leaderboard_columns"`
			Widgets []json.RawMessage `json:"metrics_widgets"`
		}
		if err := json.Unmarshal(b, &s); err != nil {
			return fmt.Errorf("expected {leaderboard_columns: [...], metrics_widgets: [...]}: %v", err)
		}
		if len(s.Columns) == 0 {
			return fmt.Errorf("leaderboard_columns is empty")
		}
		return nil
	}},
}

func checkAPI(ctx context.Context, opts Options, base string) (bool, []Result) {
	base = strings.TrimRight(base, "/")
	var out []Result
	for i, c := range apiChecks {
		url := base + c.path
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := opts.HTTPClient.Do(req)
		if err != nil {
			if i == 0 {
				if opts.APIExplicit {
					return false, []Result{{Group: "api", Check: "GET " + c.path, Status: Fail, Where: url,
						Message: "the node's API does not answer: " + err.Error(),
						Fix: "start the node (`coordinator dev`) or pass the right --api URL"}}
				}
				return false, []Result{{Group: "api", Check: "node", Status: Skip, Where: base, Message: "node not running (API does not answer); API checks skipped"}}
			}
			out = append(out, Result{Group: "api", Check: "GET " + c.path, Status: Fail, Where: url, Message: err.Error(), Fix: "see the node's log"})
			continue
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			out = append(out, Result{Group: "api", Check: "GET " + c.path, Status: Fail, Where: url,
				Message: fmt.Sprintf("HTTP %d: %s", resp.StatusCode, abbreviate(body)), Fix: "see the node's log for the error"})
			continue
		}
		if err := c.check(body); err != nil {
			out = append(out, Result{Group: "api", Check: "GET " + c.path, Status: Fail, Where: url, Message: err.Error(),
				Fix: "the report API answers a shape the report UI cannot read; check the challenge's report schema and the node version"})
			continue
		}
		out = append(out, Result{Group: "api", Check: "GET " + c.path, Status: Pass, Where: url, Message: "answers the expected " + c.shape})
	}
	return true, out
}

func abbreviate(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 120 {
		s = s[:120] + "…"
	}
	return s
}
