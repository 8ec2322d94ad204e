package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/crunch-coordinator/coordinator/host"
	"github.com/crunch-coordinator/coordinator/internal/store"
)

// dateLike finds every JSON string that starts like a date-time.
var dateLike = regexp.MustCompile(`"(\d{4}-\d{2}-\d{2}[T ][^"]*)"`)

// zTime is the only timestamp form the API may emit.
var zTime = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$`)

// checkTimestamps fails on any date-time string in body not in TimeLayout.
func checkTimestamps(t *testing.T, path string, body []byte) {
	t.Helper()
	for _, m := range dateLike.FindAllSubmatch(body, -1) {
		if !zTime.Match(m[1]) {
			t.Errorf("%s: timestamp %q is not RFC 3339 UTC with Z and milliseconds", path, m[1])
		}
	}
}

// decodeRows decodes a top-level array and checks it is not null and has
// no null elements.
func decodeRows(t *testing.T, path string, body []byte) []map[string]any {
	t.Helper()
	if !bytes.HasPrefix(bytes.TrimSpace(body), []byte("[")) {
		t.Fatalf("%s: expected a top-level JSON array, got %.200s", path, body)
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatalf("%s: decoding array: %v", path, err)
	}
	rows := make([]map[string]any, 0, len(raw))
	for i, r := range raw {
		if string(bytes.TrimSpace(r)) == "null" {
			t.Fatalf("%s: element %d is null", path, i)
		}
		var m map[string]any
		if err := json.Unmarshal(r, &m); err != nil {
			t.Fatalf("%s: element %d is not an object: %v", path, i, err)
		}
		rows = append(rows, m)
	}
	return rows
}

func column(rows []map[string]any, key string) []any {
	out := make([]any, len(rows))
	for i, r := range rows {
		out[i] = r[key]
	}
	return out
}

func near(a any, want float64) bool {
	f, ok := a.(float64)
	return ok && math.Abs(f-want) < 1e-9
}

func rowsWhere(rows []map[string]any, kv ...any) []map[string]any {
	var out []map[string]any
	for _, r := range rows {
		match := true
		for i := 0; i < len(kv); i += 2 {
			if fmt.Sprint(r[kv[i].(string)]) != fmt.Sprint(kv[i+1]) {
				match = false
			}
		}
		if match {
			out = append(out, r)
		}
	}
	return out
}

// Chart ranges used below (the fixture's now is 2026-11-30T12:00:00Z).
const (
	uiRange = "start=2026-10-31T12%3A00%3A00.000Z&end=2026-11-30T12%3A00%3A00.000Z" // what the UI sends: 30 days, encoded
)

func TestEndpoints(t *testing.T) {
	type check func(t *testing.T, rows []map[string]any, obj map[string]any, h http.Header)
	cases := []struct {
		name   string
		path   string
		status int
		array  bool
		check  check
	}{
		{"healthz", "/healthz", 200, false, func(t *testing.T, _ []map[string]any, o map[string]any, _ http.Header) {
			if o["status"] != "ok" || o["feeds_stale"] != true || o["schema_version"] != "1" || o["backend"] == "" {
				t.Errorf("healthz = %v", o)
			}
			if !near(o["predictions"], 15) || !near(o["models_running"], 2) {
				t.Errorf("healthz counts = predictions %v, models_running %v; want 15, 2", o["predictions"], o["models_running"])
			}
			if fmt.Sprint(o["stale_feeds"]) != "[pyth/ETH/tick/1s]" {
				t.Errorf("stale_feeds = %v", o["stale_feeds"])
			}
		}},
		{"schema", "/reports/schema", 200, false, func(t *testing.T, _ []map[string]any, o map[string]any, _ http.Header) {
			cols, _ := o["leaderboard_columns"].([]any)
			wids, _ := o["metrics_widgets"].([]any)
			if len(cols) != 2 || len(wids) != 1 || o["schema_version"] != "1" {
				t.Fatalf("schema = %v", o)
			}
			if typ := cols[0].(map[string]any)["type"]; typ != "PROJECT" {
				t.Errorf("MODEL column served as %v, want PROJECT", typ)
			}
		}},
		{"schema columns", "/reports/schema/leaderboard-columns", 200, true, func(t *testing.T, rows []map[string]any, _ map[string]any, _ http.Header) {
			if got := column(rows, "property"); fmt.Sprint(got) != "[model_id score_recent]" {
				t.Errorf("properties = %v", got)
			}
		}},
		{"schema widgets", "/reports/schema/metrics-widgets", 200, true, func(t *testing.T, rows []map[string]any, _ map[string]any, _ http.Header) {
			if len(rows) != 1 || rows[0]["endpointUrl"] != "/reports/models/global" {
				t.Errorf("widgets = %v", rows)
			}
		}},
		{"models", "/reports/models", 200, true, func(t *testing.T, rows []map[string]any, _ map[string]any, _ http.Header) {
			if got := fmt.Sprint(column(rows, "model_id")); got != "[m1 m2 m3 m4]" {
				t.Fatalf("model ids = %s, want [m1 m2 m3 m4]", got)
			}
			if got := fmt.Sprint(column(rows, "status")); got != "[running failed unknown running]" {
				t.Errorf("statuses = %s", got)
			}
			m2 := rows[1]
			if m2["model_name"] != "beta" || m2["cruncher_name"] != "bob" || m2["cruncher_id"] != "p2" || m2["deployment_id"] != "d2" ||
				m2["stop_reason"] != "MULTIPLE_TIMEOUT" || m2["last_error"] != "deadline exceeded" || m2["active"] != false {
				t.Errorf("m2 row = %v", m2)
			}
			if rows[3]["model_name"] != "delta" || rows[0]["restarts"] != float64(1) {
				t.Errorf("m4 / m1 rows = %v / %v", rows[3], rows[0])
			}
		}},
		{"leaderboard", "/reports/leaderboard", 200, true, func(t *testing.T, rows []map[string]any, _ map[string]any, h http.Header) {
			if got := fmt.Sprint(column(rows, "model_id")); got != "[m2 m1 m3]" {
				t.Fatalf("leaderboard order = %s, want [m2 m1 m3] (null entry dropped, unranked last)", got)
			}
			if got := fmt.Sprint(column(rows, "rank")); got != "[1 2 <nil>]" {
				t.Errorf("ranks = %s", got)
			}
			if got := fmt.Sprint(column(rows, "ranked_models"), column(rows, "scores_exist")); got != "[2 2 2] [true true true]" {
				t.Errorf("ranked_models, scores_exist = %s", got)
			}
			if h.Get("X-Ranked-Models") != "2" || h.Get("X-Scores-Exist") != "true" {
				t.Errorf("headers X-Ranked-Models %q X-Scores-Exist %q, want 2 and true", h.Get("X-Ranked-Models"), h.Get("X-Scores-Exist"))
			}
			m2 := rows[0]
			// Metrics named rank, model_id, metrics, status, score_recent must not
			// overwrite fixed keys.
			if m2["model_id"] != "m2" || m2["rank"] != float64(1) || m2["status"] != "failed" {
				t.Errorf("fixed keys overwritten: %v", m2)
			}
			if _, ok := m2["score_metrics"].(map[string]any); !ok {
				t.Errorf("score_metrics overwritten by metric \"metrics\": %v", m2["score_metrics"])
			}
			if !near(m2["score_rank"], 99) || !near(m2["score_model_id"], 7) || !near(m2["score_recent"], 0.5) || !near(m2["score_anchor"], 0.5) {
				t.Errorf("flattened metrics = %v", m2)
			}
			if rows[1]["status"] != "active" || rows[1]["username"] != "alice" || rows[1]["created_at"] != "2026-11-30T11:00:00.000Z" {
				t.Errorf("m1 row = %v", rows[1])
			}
			if rows[2]["model_name"] != "gamma" || rows[2]["cruncher_name"] != "carol" {
				t.Errorf("m3 names not joined from models: %v", rows[2])
			}
		}},
		{"global default range", "/reports/models/global", 200, true, func(t *testing.T, rows []map[string]any, _ map[string]any, _ http.Header) {
			// Points at -3h, -2h, -1h for m1 and m2; the -48h point is outside 24 h.
			if len(rows) != 6 {
				t.Fatalf("got %d rows, want 6: %v", len(rows), rows)
			}
			if got := fmt.Sprint(column(rows, "model_id")); got != "[m1 m2 m1 m2 m1 m2]" {
				t.Errorf("order = %s", got)
			}
			m1 := rowsWhere(rows, "model_id", "m1")
			if got := fmt.Sprint(column(m1, "performed_at")); got != "[2026-11-30T09:00:00.000Z 2026-11-30T10:00:00.000Z 2026-11-30T11:00:00.000Z]" {
				t.Errorf("m1 series times = %s", got)
			}
			if !near(m1[0]["score_recent"], 0.2) || !near(m1[2]["score_anchor"], 0.4) || m1[0]["model_name"] != "alpha" {
				t.Errorf("m1 series = %v", m1)
			}
		}},
		{"global UI request one model", "/reports/models/global?projectIds=m2%2C%20&" + uiRange, 200, true, func(t *testing.T, rows []map[string]any, _ map[string]any, _ http.Header) {
			if len(rows) != 4 || len(rowsWhere(rows, "model_id", "m2")) != 4 {
				t.Errorf("got %v, want 4 m2 points", column(rows, "performed_at"))
			}
		}},
		{"global repeated projectIds", "/reports/models/global?projectIds=m1&projectIds=m2,m1&" + uiRange, 200, true, func(t *testing.T, rows []map[string]any, _ map[string]any, _ http.Header) {
			if len(rows) != 8 {
				t.Errorf("got %d rows, want 8", len(rows))
			}
		}},
		{"global unknown model", "/reports/models/global?projectIds=nope", 200, true, func(t *testing.T, rows []map[string]any, _ map[string]any, _ http.Header) {
			if len(rows) != 0 {
				t.Errorf("got %v", rows)
			}
		}},
		{"params", "/reports/models/params?projectIds=m1", 200, true, func(t *testing.T, rows []map[string]any, _ map[string]any, _ http.Header) {
			btc := rowsWhere(rows, "scope_key", "BTC-60")
			eth := rowsWhere(rows, "scope_key", "ETH-300")
			// Scored BTC predictions in the last 24 h: -3h, -2.5h, -2h, -1.5h,
			// -1h, in the hour buckets ending at 09:00, 10:00 and 11:00: one
			// point each, the newest prediction of the bucket (at its end).
			if len(btc) != 3 || len(eth) != 2 {
				t.Fatalf("got %d BTC and %d ETH rows, want 3 and 2", len(btc), len(eth))
			}
			if got := fmt.Sprint(column(btc, "performed_at")); got != "[2026-11-30T09:00:00.000Z 2026-11-30T10:00:00.000Z 2026-11-30T11:00:00.000Z]" {
				t.Errorf("BTC points at %s", got)
			}
			// At 10:00: recent {0.2, 0.4, 0.6}, anchor {0.0, 0.2, 0.4, 0.6}.
			if mid := btc[1]; !near(mid["score_value"], 0.6) || !near(mid["score_recent"], 0.4) || !near(mid["score_anchor"], 0.3) || !near(mid["count"], 4) {
				t.Errorf("middle BTC row = %v", mid)
			}
			first := btc[0]
			// Window means at -3h: recent (24 h) {0.2}; anchor (7 d) {0.0, 0.2}.
			if !near(first["score_recent"], 0.2) || !near(first["score_steady"], 0.1) || !near(first["score_anchor"], 0.1) || !near(first["count"], 2) {
				t.Errorf("first BTC row = %v", first)
			}
			last := btc[2] // the failed one: no own value, means over {0.2..0.8} / {0..0.8}
			if last["score_value"] != nil || !near(last["score_recent"], 0.5) || !near(last["score_anchor"], 0.4) {
				t.Errorf("last BTC row = %v", last)
			}
			if first["asset"] != "BTC" || first["subject"] != "BTC" || !near(first["horizon"], 60) || !near(first["step"], 60) || first["param"] != "BTC-60" {
				t.Errorf("scope keys not flattened: %v", first)
			}
			if eth[0]["model_id"] != "m1" || eth[0]["performed_at"] != "2026-11-30T10:00:00.000Z" || !near(eth[1]["score_recent"], 0.8) {
				t.Errorf("scope keys overwrote fixed keys or wrong means: %v", eth)
			}
			if sm, _ := first["score_metrics"].(map[string]any); !near(sm["recent"], 0.2) {
				t.Errorf("score_metrics = %v", first["score_metrics"])
			}
		}},
		{"predictions default", "/reports/predictions", 200, true, func(t *testing.T, rows []map[string]any, _ map[string]any, _ http.Header) {
			if len(rows) != 14 {
				t.Fatalf("got %d predictions, want 14 (scored and unscored, last 24 h)", len(rows))
			}
			pending := rowsWhere(rows, "model_id", "m1", "scope_key", "BTC-60", "scored", false)
			if len(pending) != 1 || pending[0]["score_failed_reason"] != notScoredReason || pending[0]["score_success"] != false || pending[0]["scored_at"] != nil {
				t.Errorf("unscored prediction row = %v", pending)
			}
			failed := rowsWhere(rows, "score_failed_reason", "bad output")
			if len(failed) != 1 || failed[0]["score_failed"] != true || failed[0]["score_value"] != nil {
				t.Errorf("failed prediction rows = %v", failed)
			}
			timeout := rowsWhere(rows, "status", "TIMEOUT")
			if len(timeout) != 1 || timeout[0]["score_failed_reason"] != "prediction TIMEOUT" {
				t.Errorf("timeout rows = %v", timeout)
			}
			good := rows[0]
			if good["score_success"] != true || good["score_failed"] != false || good["asset"] != "BTC" || !near(good["exec_time_ms"], 12.5) ||
				good["prediction_config_id"] != nil || good["resolvable_at"] == nil {
				t.Errorf("first row = %v", good)
			}
			times := column(rows, "performed_at")
			if !slices.IsSortedFunc(times, func(a, b any) int { return strings.Compare(a.(string), b.(string)) }) {
				t.Errorf("not sorted by performed_at: %v", times)
			}
			if evil := rowsWhere(rows, "scope_key", "ETH-300"); len(evil) != 2 || evil[0]["model_id"] != "m1" {
				t.Errorf("scope key model_id overwrote the row's: %v", evil)
			}
		}},
		{"predictions status limit offset", "/reports/predictions?status=success&limit=3&offset=2&projectIds=m2", 200, true, func(t *testing.T, rows []map[string]any, _ map[string]any, h http.Header) {
			if len(rows) != 3 || h.Get("X-Next-Offset") != "5" {
				t.Fatalf("got %d rows, next offset %q; want 3, 5", len(rows), h.Get("X-Next-Offset"))
			}
			if rows[0]["performed_at"] != "2026-11-30T10:00:00.000Z" {
				t.Errorf("offset 2 starts at %v", rows[0]["performed_at"])
			}
		}},
		{"predictions last page", "/reports/predictions?projectIds=m2&offset=4", 200, true, func(t *testing.T, rows []map[string]any, _ map[string]any, h http.Header) {
			if len(rows) != 2 || h.Get("X-Next-Offset") != "" {
				t.Errorf("got %d rows, next offset %q; want 2, none", len(rows), h.Get("X-Next-Offset"))
			}
		}},
		{"predictions epoch and offset times", fmt.Sprintf("/reports/predictions?start=%d&end=2026-11-30T13:00:00+01:00", ago(2*time.Hour).Unix()), 200, true, func(t *testing.T, rows []map[string]any, _ map[string]any, _ http.Header) {
			// [-2h, now]: m1 BTC 4, m1 ETH 2, m2 4.
			if len(rows) != 10 {
				t.Errorf("got %d rows, want 10", len(rows))
			}
		}},
		{"feeds", "/reports/feeds", 200, true, func(t *testing.T, rows []map[string]any, _ map[string]any, _ http.Header) {
			if got := fmt.Sprint(column(rows, "subject")); got != "[BTCUSDT BTC ETH]" {
				t.Fatalf("feeds = %s", got)
			}
			for _, r := range rows {
				if _, ok := r["granularity"].(string); !ok {
					t.Errorf("granularity not a string: %v", r)
				}
				if _, ok := r["record_count"].(float64); !ok {
					t.Errorf("record_count not a number: %v", r)
				}
			}
			bin, pyth, eth := rows[0], rows[1], rows[2]
			if bin["stale"] != true || !near(bin["record_count"], 5) || bin["source"] != "binance" || bin["oldest_ts"] != "2026-11-30T09:56:00.000Z" {
				t.Errorf("binance row = %v", bin)
			}
			if pyth["stale"] != false || !near(pyth["record_count"], 30) || pyth["watermark_ts"] != "2026-11-30T11:59:50.000Z" || pyth["last_event_at"] == nil {
				t.Errorf("pyth row = %v", pyth)
			}
			if eth["stale"] != true || !near(eth["record_count"], 0) || eth["last_error"] == nil || eth["newest_ts"] != nil {
				t.Errorf("health-only row = %v", eth)
			}
			// Per-asset health and row counters from the live feed worker.
			if pyth["health"] != "ok" || !near(pyth["rows_malformed"], 2) || !near(pyth["rows_conflicting"], 1) || !near(pyth["stale_prices"], 3) ||
				!near(pyth["rows_duplicate"], 4) || !near(pyth["zero_volume_candles"], 0) || pyth["last_error_at"] != nil {
				t.Errorf("pyth counters = %v", pyth)
			}
			if d, ok := pyth["last_dropped_row"].(map[string]any); !ok || d["row"] != `{"id":"e62d"}` || !strings.Contains(fmt.Sprint(d["reason"]), "expected an integer") {
				t.Errorf("pyth last dropped row = %v", pyth["last_dropped_row"])
			}
			if eth["health"] != "failing" || !near(eth["consecutive_errors"], 4) || eth["last_error_at"] == nil || eth["next_attempt_at"] == nil || eth["last_dropped_row"] != nil {
				t.Errorf("eth health = %v", eth)
			}
			if bin["health"] != nil || bin["rows_malformed"] != nil {
				t.Errorf("a feed without a live worker has counters: %v", bin)
			}
		}},
		{"feeds tail UI request", "/reports/feeds/tail?source=pyth&subject=BTC&kind=tick&granularity=1s&limit=20", 200, true, func(t *testing.T, rows []map[string]any, _ map[string]any, _ http.Header) {
			if len(rows) != 20 {
				t.Fatalf("got %d rows, want 20", len(rows))
			}
			if rows[0]["ts_event"] != "2026-11-30T11:59:50.000Z" || rows[0]["ts_ingested"] != "2026-11-30T11:59:50.200Z" || rows[0]["provider"] != "pyth" {
				t.Errorf("newest row = %v", rows[0])
			}
			if v, _ := rows[0]["values"].(map[string]any); !near(v["price"], 90029) {
				t.Errorf("values = %v", rows[0]["values"])
			}
			if _, ok := rows[0]["meta"].(map[string]any); !ok {
				t.Errorf("meta not an object: %v", rows[0]["meta"])
			}
		}},
		{"feeds tail default limit and provider filter", "/reports/feeds/tail?provider=binance", 200, true, func(t *testing.T, rows []map[string]any, _ map[string]any, _ http.Header) {
			if len(rows) != 5 || rows[0]["kind"] != "candle" || rows[0]["ts_event"] != "2026-11-30T10:00:00.000Z" {
				t.Errorf("rows = %v", rows)
			}
			if _, ok := rows[0]["meta"].(map[string]any); !ok {
				t.Errorf("absent meta not served as {}: %v", rows[0]["meta"])
			}
		}},
		{"feeds tail all", "/reports/feeds/tail", 200, true, func(t *testing.T, rows []map[string]any, _ map[string]any, _ http.Header) {
			if len(rows) != 20 {
				t.Errorf("got %d rows, want 20", len(rows))
			}
		}},
		{"checkpoints", "/reports/checkpoints", 200, true, func(t *testing.T, rows []map[string]any, _ map[string]any, _ http.Header) {
			if got := fmt.Sprint(column(rows, "id")); got != "[CKP_2 CKP_1]" {
				t.Fatalf("checkpoints = %s", got)
			}
			c2, c1 := rows[0], rows[1]
			if c2["status"] != "SUBMITTED" || c2["tx_hash"] != "0xabc" || c2["submitted_at"] != "2026-11-30T11:30:00.000Z" || len(c2["entries"].([]any)) != 1 {
				t.Errorf("CKP_2 = %v", c2)
			}
			if c1["period_start"] != "2026-11-30T09:00:00.000Z" || c1["period_end"] != "2026-11-30T10:00:00.000Z" || c1["created_at"] != "2026-11-30T10:00:00.000Z" {
				t.Errorf("CKP_1 = %v", c1)
			}
			if e := c1["entries"].([]any); len(e) != 1 || e[0].(map[string]any)["crunch"] != "c1" {
				t.Errorf("CKP_1 entries = %v", c1["entries"])
			}
		}},
		{"checkpoints status filter", "/reports/checkpoints?status=pending", 200, true, func(t *testing.T, rows []map[string]any, _ map[string]any, _ http.Header) {
			if got := fmt.Sprint(column(rows, "id")); got != "[CKP_1]" {
				t.Errorf("checkpoints = %s", got)
			}
		}},
		{"checkpoints kind and limit", "/reports/checkpoints?kind=other&limit=1", 200, true, func(t *testing.T, rows []map[string]any, _ map[string]any, _ http.Header) {
			if got := fmt.Sprint(column(rows, "id")); got != "[CKP_3]" || fmt.Sprint(rows[0]["entries"]) != "[]" {
				t.Errorf("checkpoints = %v", rows)
			}
		}},
		{"leaderboard with query string", "/reports/leaderboard?include_ensembles=true", 200, true, nil},
		{"HEAD", "/reports/models", 200, false, nil},
	}
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			srv := newTestServer(t, newFixtureStore(t, backend), nil)
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					method := http.MethodGet
					if tc.name == "HEAD" {
						method = http.MethodHead
					}
					status, h, body := get(t, srv, method, tc.path)
					if status != tc.status {
						t.Fatalf("%s: status %d, want %d; body %s", tc.path, status, tc.status, body)
					}
					if ct := h.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
						t.Errorf("Content-Type = %q", ct)
					}
					if h.Get("Access-Control-Allow-Origin") != "*" {
						t.Errorf("missing CORS header")
					}
					if method == http.MethodHead {
						return
					}
					checkTimestamps(t, tc.path, body)
					var rows []map[string]any
					var obj map[string]any
					if tc.array {
						rows = decodeRows(t, tc.path, body)
					} else if err := json.Unmarshal(body, &obj); err != nil {
						t.Fatalf("%s: expected an object: %v", tc.path, err)
					}
					if tc.check != nil {
						tc.check(t, rows, obj, h)
					}
				})
			}
		})
	}
}

func TestBadParameters(t *testing.T) {
	cases := []struct {
		path  string
		param string
	}{
		{"/reports/models/global?start=yesterday", "start"},
		{"/reports/models/global?end=2026-13-01T00:00:00Z", "end"},
		{"/reports/models/global?start=2026-11-30T12:00:00Z&end=2026-11-29T12:00:00Z", "end"},
		{"/reports/models/global?start=2026-10-01T00:00:00Z&end=2026-11-30T00:00:00Z", "start"},
		{"/reports/models/params?start=2026-12-01T00:00:00Z", "end"}, // end defaults to now, before start
		{"/reports/models/params?end=nope", "end"},
		{"/reports/predictions?limit=0", "limit"},
		{"/reports/predictions?limit=1001", "limit"},
		{"/reports/predictions?limit=ten", "limit"},
		{"/reports/predictions?offset=-1", "offset"},
		{"/reports/predictions?status=SCORED", "status"},
		{"/reports/predictions?start=1e400", "start"},
		{"/reports/feeds/tail?limit=0", "limit"},
		{"/reports/feeds/tail?limit=201", "limit"},
		{"/reports/feeds/tail?limit=1.5", "limit"},
		{"/reports/feeds/tail?provider=pyth&source=binance", "source"},
		{"/reports/feeds/tail?asset=BTC&subject=ETH", "subject"},
		{"/reports/checkpoints?limit=101", "limit"},
		{"/reports/checkpoints?limit=x", "limit"},
	}
	srv := newTestServer(t, newFixtureStore(t, "fake"), nil)
	for _, tc := range cases {
		t.Run(tc.path, func(t *testing.T) {
			status, _, body := get(t, srv, http.MethodGet, tc.path)
			if status != http.StatusBadRequest {
				t.Fatalf("status %d, want 400; body %s", status, body)
			}
			var eb struct {
				Error  string `json:"error"`
				Detail []struct {
					Param   string `json:"param"`
					Problem string `json:"problem"`
				} `json:"detail"`
			}
			if err := json.Unmarshal(body, &eb); err != nil {
				t.Fatalf("error body %s: %v", body, err)
			}
			if eb.Error == "" || len(eb.Detail) == 0 || eb.Detail[0].Param != tc.param || eb.Detail[0].Problem == "" {
				t.Errorf("error body = %s, want detail naming %q", body, tc.param)
			}
		})
	}
	// Several problems are all reported.
	_, _, body := get(t, srv, http.MethodGet, "/reports/predictions?start=x&end=y&limit=0")
	if n := strings.Count(string(body), `"param"`); n != 3 {
		t.Errorf("got %d problems, want 3: %s", n, body)
	}
}

func TestMethodsAndUnknownPaths(t *testing.T) {
	srv := newTestServer(t, newFixtureStore(t, "fake"), nil)
	cases := []struct {
		method, path string
		status       int
	}{
		{http.MethodPost, "/reports/leaderboard", 405},
		{http.MethodDelete, "/reports/models", 405},
		{http.MethodPut, "/healthz", 405},
		{http.MethodPatch, "/reports/checkpoints", 405},
		{http.MethodGet, "/reports/nope", 404},
		{http.MethodGet, "/reports/models/", 404},
		{http.MethodGet, "/", 404},
		{http.MethodPost, "/reports/nope", 404},
	}
	for _, tc := range cases {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			status, h, body := get(t, srv, tc.method, tc.path)
			if status != tc.status {
				t.Fatalf("status %d, want %d", status, tc.status)
			}
			var eb errorBody
			if err := json.Unmarshal(body, &eb); err != nil || eb.Error == "" || eb.Detail == nil {
				t.Errorf("body %s is not a JSON error (%v)", body, err)
			}
			if tc.status == 405 && h.Get("Allow") != "GET, HEAD" {
				t.Errorf("Allow = %q", h.Get("Allow"))
			}
		})
	}
	// A CORS preflight is answered.
	req, _ := http.NewRequest(http.MethodOptions, srv.URL+"/reports/leaderboard", nil)
	req.Header.Set("Origin", "http://localhost:3000")
	req.Header.Set("Access-Control-Request-Method", "GET")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("preflight: status %d, headers %v", resp.StatusCode, resp.Header)
	}
}

func TestEmptyStoreGivesArrays(t *testing.T) {
	srv := newTestServer(t, newFakeStore(), func(o *Options) {
		o.FeedHealth, o.ModelStates = nil, nil
		o.Schema.LeaderboardColumns, o.Schema.MetricsWidgets = nil, nil
	})
	for _, path := range []string{
		"/reports/models", "/reports/leaderboard", "/reports/models/global", "/reports/models/params",
		"/reports/predictions", "/reports/feeds", "/reports/feeds/tail", "/reports/checkpoints",
		"/reports/schema/leaderboard-columns", "/reports/schema/metrics-widgets",
	} {
		status, _, body := get(t, srv, http.MethodGet, path)
		if status != 200 || strings.TrimSpace(string(body)) != "[]" {
			t.Errorf("%s: status %d body %s, want 200 []", path, status, body)
		}
	}
	_, h, _ := get(t, srv, http.MethodGet, "/reports/leaderboard")
	if h.Get("X-Ranked-Models") != "0" || h.Get("X-Scores-Exist") != "false" {
		t.Errorf("empty leaderboard headers X-Ranked-Models %q X-Scores-Exist %q, want 0 and false", h.Get("X-Ranked-Models"), h.Get("X-Scores-Exist"))
	}
	_, _, body := get(t, srv, http.MethodGet, "/reports/schema")
	if !bytes.Contains(body, []byte(`"leaderboard_columns":[]`)) || !bytes.Contains(body, []byte(`"metrics_widgets":[]`)) {
		t.Errorf("schema with nil lists = %s", body)
	}
}

func TestStoreErrors(t *testing.T) {
	f := newFakeStore()
	// The driver's text names where the database is: it must not reach a
	// public body.
	where := "dial tcp db.internal:5433: user=coord database=crunch"
	f.err = fmt.Errorf("postgres list models (%s): %w", where, store.ErrUnavailable)
	f.pingErr = f.err
	srv := newTestServer(t, f, nil)
	for _, path := range []string{"/reports/models", "/reports/leaderboard", "/reports/predictions", "/reports/feeds", "/healthz"} {
		status, _, body := get(t, srv, http.MethodGet, path)
		if status != http.StatusServiceUnavailable || !bytes.Contains(body, []byte("database unavailable")) {
			t.Errorf("%s: status %d body %s, want 503 database unavailable", path, status, body)
		}
		for _, leak := range []string{"db.internal", "5433", "coord", "crunch"} {
			if bytes.Contains(body, []byte(leak)) {
				t.Errorf("%s: body %s shows %q", path, body, leak)
			}
		}
	}
	f.err, f.pingErr = fmt.Errorf("disk on fire at %s", where), nil
	if status, _, body := get(t, srv, http.MethodGet, "/reports/feeds/tail"); status != 500 || bytes.Contains(body, []byte("db.internal")) {
		t.Errorf("plain store error: status %d body %s, want 500 without the detail", status, body)
	}
}

func TestKeepModelColumnType(t *testing.T) {
	srv := newTestServer(t, newFakeStore(), func(o *Options) { o.KeepModelColumnType = true })
	_, _, body := get(t, srv, http.MethodGet, "/reports/schema/leaderboard-columns")
	if !bytes.Contains(body, []byte(`"type":"MODEL"`)) {
		t.Errorf("columns = %s, want MODEL kept", body)
	}
}

func TestChartPagingAndThinning(t *testing.T) {
	f := newFakeStore()
	var pts []store.ModelScore
	var preds []store.Prediction
	for i := range 250 {
		at := ago(time.Duration(i) * time.Minute)
		for _, m := range []string{"a", "b"} {
			pts = append(pts, store.ModelScore{ID: fmt.Sprintf("%s%d", m, i), ModelID: m, ComputedAt: at, Score: envelope(float64(i), 0, 0, nil)})
		}
		preds = append(preds, store.Prediction{ID: fmt.Sprintf("P%03d", i), ModelID: "a", ScopeKey: "k", Status: store.StatusSuccess,
			PerformedAt: at, ResolvableAt: at, Score: ok(1)})
	}
	if err := f.SaveLeaderboard(t.Context(), store.Leaderboard{ID: "x", CreatedAt: fixtureNow}, pts); err != nil {
		t.Fatal(err)
	}
	if _, err := f.SavePredictCycle(t.Context(), nil, preds); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name                  string
		pageSize, seriesMax   int
		wantGlobal, wantParam int
		downsampled           bool
	}{
		{"pages of 7 read everything", 7, 1000, 500, 250, false},
		{"pages of 2 (one instant per page)", 2, 1000, 500, 250, false},
		{"thinned to 10 per series", 50, 10, 20, 10, true},
	}
	// /reports/models/params: one point per hour bucket (07:51..12:00 is
	// in the five buckets ending 08:00..12:00); the cells are sized over
	// the span of the points (the oldest point's bucket to the end), not
	// the default 24-hour range, so 10 points per series keep all five.
	wantParamsPoints := map[int]int{1000: 5, 10: 5}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := newTestServer(t, f, func(o *Options) { o.MaxPageSize, o.MaxSeriesPoints = tc.pageSize, tc.seriesMax })
			_, h, body := get(t, srv, http.MethodGet, "/reports/models/global")
			rows := decodeRows(t, "global", body)
			if len(rows) != tc.wantGlobal || h.Get("X-Point-Budget") != strconv.Itoa(min(tc.seriesMax, DefaultMaxChartPoints/2)) {
				t.Fatalf("global: %d rows (budget %q), want %d", len(rows), h.Get("X-Point-Budget"), tc.wantGlobal)
			}
			seen := map[string]bool{}
			for _, r := range rows {
				k := fmt.Sprint(r["model_id"], r["performed_at"])
				if seen[k] {
					t.Fatalf("duplicate point %s", k)
				}
				seen[k] = true
			}
			a := rowsWhere(rows, "model_id", "a")
			// The newest point always; the first from the first bucket.
			if a[len(a)-1]["performed_at"] != "2026-11-30T12:00:00.000Z" || a[0]["performed_at"].(string) > ts(ago(224*time.Minute)).(string) {
				t.Errorf("series a spans %v..%v, want the whole window up to the newest", a[0]["performed_at"], a[len(a)-1]["performed_at"])
			}
			_, _, body = get(t, srv, http.MethodGet, "/reports/models/params")
			if rows := decodeRows(t, "params", body); len(rows) != wantParamsPoints[tc.seriesMax] {
				t.Errorf("params: %d rows, want %d", len(rows), wantParamsPoints[tc.seriesMax])
			}
			// The predictions chart covers the whole window (no page of the
			// oldest rows), one row per time bucket, the newest included.
			window := "start=" + url.QueryEscape(ts(ago(250*time.Minute)).(string)) + "&end=" + url.QueryEscape(ts(fixtureNow).(string))
			_, h, body = get(t, srv, http.MethodGet, "/reports/predictions?"+window)
			rows = decodeRows(t, "predictions", body)
			if len(rows) != tc.wantParam || h.Get("X-Next-Offset") != "" || h.Get("X-Point-Budget") != strconv.Itoa(tc.seriesMax) {
				t.Fatalf("predictions: %d rows (next offset %q, budget %q), want %d", len(rows), h.Get("X-Next-Offset"), h.Get("X-Point-Budget"), tc.wantParam)
			}
			if rows[len(rows)-1]["id"] != "P000" || rows[0]["performed_at"].(string) > ts(ago(224*time.Minute)).(string) {
				t.Errorf("predictions span %v..%v, want the whole window up to the newest (P000)", rows[0]["performed_at"], rows[len(rows)-1]["id"])
			}
		})
	}
}

func TestParseTime(t *testing.T) {
	want := time.Date(2026, 11, 30, 8, 3, 11, 678_000_000, time.UTC)
	cases := []struct {
		in   string
		want time.Time
		bad  bool
	}{
		{in: "2026-11-30T08:03:11.678Z", want: want},
		{in: "2026-11-30T09:03:11.678+01:00", want: want},
		{in: "2026-11-30T09:03:11.678 01:00", want: want}, // "+" decoded to a space
		{in: "2026-11-30T03:03:11.678-05:00", want: want},
		{in: "2026-11-30T08:03:11.678", want: want},
		{in: "2026-11-30 08:03:11.678+00:00", want: want},
		{in: fmt.Sprintf("%d.678", want.Unix()), want: want},
		{in: "2026-11-30", want: time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)},
		{in: fmt.Sprint(want.Unix()), want: want.Truncate(time.Second)},
		{in: "", bad: true},
		{in: "now", bad: true},
		{in: "2026", bad: true},
		{in: "2026-11-30T25:00:00Z", bad: true},
		{in: "99999999999999", bad: true},
	}
	for _, tc := range cases {
		got, err := parseTime(tc.in)
		if tc.bad {
			if err == nil {
				t.Errorf("parseTime(%q) = %v, want an error", tc.in, got)
			}
			continue
		}
		if err != nil || !got.Equal(tc.want) || got.Location() != time.UTC {
			t.Errorf("parseTime(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestProjectIDs(t *testing.T) {
	cases := []struct {
		query string
		want  string
	}{
		{"", "[]"},
		{"projectIds=", "[]"},
		{"projectIds=a,b", "[a b]"},
		{"projectIds=a%2C%20b%2C%2C", "[a b]"},
		{"projectIds=a&projectIds=b,a&projectIds=%20c%20", "[a b c]"},
	}
	for _, tc := range cases {
		q, err := url.ParseQuery(tc.query)
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprint(projectIDs(q)); got != tc.want {
			t.Errorf("projectIds(%q) = %s, want %s", tc.query, got, tc.want)
		}
	}
}

func TestModelRowCoolingDown(t *testing.T) {
	since := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	st := host.ModelState{ID: "m", CoolingDown: true, Reason: host.StopMultipleFailed, Cooldowns: 2,
		StateSince: since, NextRetry: since.Add(2 * time.Minute), LastError: "invalid model output: p_up: 7"}
	row := modelRow(store.Model{ID: "m"}, st, true)
	if row.Status != ModelCooling || row.StopReason == nil || *row.StopReason != "MULTIPLE_FAILED" || row.Active || row.Cooldowns != 2 {
		t.Fatalf("row = %+v, want cooling_down with stop_reason MULTIPLE_FAILED", row)
	}
	if row.StateSince == nil || *row.StateSince != "2026-11-30T10:00:00.000Z" || row.NextRetryAt == nil || *row.NextRetryAt != "2026-11-30T10:02:00.000Z" {
		t.Fatalf("state_since %v next_retry_at %v", row.StateSince, row.NextRetryAt)
	}
}
