package doctor

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/jsonx"
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
			return fmt.Errorf(`expected {"status":"ok"}, found %s`, jsonx.Abbreviate(b))
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
		// Ranked rows come first, by rank; a model without a score in the
		// ranking window has rank null and is listed after them.
		last, unranked := 0.0, -1
		for i, r := range rows {
			if r == nil {
				return fmt.Errorf("row %d is null (crashes the report UI)", i)
			}
			v, present := r["rank"]
			if present && v == nil {
				if unranked < 0 {
					unranked = i
				}
				continue
			}
			rank, ok := v.(float64)
			if !ok {
				return fmt.Errorf("row %d: rank: expected a number or null, found %v", i, v)
			}
			if unranked >= 0 {
				return fmt.Errorf("row %d is ranked but listed after the unranked row %d (null ranks come last)", i, unranked)
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
						Fix:     "start the node (`coordinator dev`) or pass the right --api URL"}}
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
				Message: fmt.Sprintf("HTTP %d: %s", resp.StatusCode, jsonx.Abbreviate(body)), Fix: "see the node's log for the error"})
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

// VerifyNode is the end-to-end check `coordinator dev` runs once the node
// is up: every API check of doctor, plus a non-empty leaderboard in which
// every row is ranked and at least one scored prediction in the API's
// default window (the last 24 hours of the node's clock). The results say
// what is missing.
//
// expectModels, when set, are the models the node is configured with: each
// must be on the leaderboard (ranked, or listed unscored at the end).
func VerifyNode(ctx context.Context, client *http.Client, base string, expectModels ...string) []Result {
	if client == nil {
		client = &http.Client{Timeout: 5 * time.Second}
	}
	base = strings.TrimRight(base, "/")
	running, out := checkAPI(ctx, Options{HTTPClient: client, APIExplicit: true}, base)
	if !running {
		return out
	}
	get := func(path string, v any) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			return fmt.Errorf("HTTP %d: %s", resp.StatusCode, jsonx.Abbreviate(b))
		}
		return json.NewDecoder(resp.Body).Decode(v)
	}
	var lb []map[string]any
	switch err := get("/reports/leaderboard", &lb); {
	case err != nil:
		out = append(out, Result{Group: "e2e", Check: "leaderboard", Status: Fail, Where: base + "/reports/leaderboard", Message: err.Error(), Fix: "see the node's log"})
	case len(lb) == 0:
		out = append(out, Result{Group: "e2e", Check: "leaderboard", Status: Fail, Where: base + "/reports/leaderboard", Message: "empty: no leaderboard has been built",
			Fix: "let the node run past the first horizon (predictions must resolve and be scored), or check the score worker's log lines"})
	default:
		on := map[string]bool{}
		for _, r := range lb {
			if id, ok := r["model_id"].(string); ok {
				on[id] = true
			}
		}
		var missing []string
		for _, m := range expectModels {
			if !on[m] {
				missing = append(missing, m)
			}
		}
		if len(missing) > 0 {
			out = append(out, Result{Group: "e2e", Check: "leaderboard", Status: Fail, Where: base + "/reports/leaderboard",
				Message: fmt.Sprintf("configured models missing from the leaderboard: %s (%d rows)", strings.Join(missing, ", "), len(lb)),
				Fix:     "a model that never took part in a predict cycle is not on the leaderboard: check its log lines, and that the store is not reused from an earlier run whose slots are already predicted"})
		} else {
			out = append(out, Result{Group: "e2e", Check: "leaderboard", Status: Pass, Message: fmt.Sprintf("%d models ranked", len(lb))})
		}
	}
	var preds []map[string]any
	if err := get("/reports/predictions?status=SUCCESS&limit=1000", &preds); err != nil {
		out = append(out, Result{Group: "e2e", Check: "scored predictions", Status: Fail, Where: base + "/reports/predictions", Message: err.Error(), Fix: "see the node's log"})
		return out
	}
	scored := 0
	for _, p := range preds {
		if v, ok := p["score_value"].(float64); ok && !math.IsNaN(v) {
			scored++
		}
	}
	if scored == 0 {
		out = append(out, Result{Group: "e2e", Check: "scored predictions", Status: Fail, Where: base + "/reports/predictions",
			Message: fmt.Sprintf("%d successful predictions, none scored yet", len(preds)),
			Fix:     "predictions are scored once resolvable_at has passed and ground truth exists; check the feed and the ground-truth resolver"})
	} else {
		out = append(out, Result{Group: "e2e", Check: "scored predictions", Status: Pass, Message: fmt.Sprintf("%d scored in the first page", scored)})
	}
	return out
}
