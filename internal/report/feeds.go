package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/store"
)

// Feed tail limits (reference-system.md 9.2).
const (
	tailDefaultLimit = 20
	tailMaxLimit     = 200
)

// granularityDuration parses "<n>s", "<n>m", "<n>h" or "<n>d"; 0 when
// unparsable.
func granularityDuration(g string) time.Duration {
	g = strings.TrimSpace(g)
	if len(g) < 2 {
		return 0
	}
	n, err := strconv.Atoi(g[:len(g)-1])
	if err != nil || n <= 0 {
		return 0
	}
	unit := map[byte]time.Duration{'s': time.Second, 'm': time.Minute, 'h': time.Hour, 'd': 24 * time.Hour}[g[len(g)-1]]
	return time.Duration(n) * unit
}

type feedKey struct{ provider, asset, kind, granularity string }

// feeds serves GET /reports/feeds: one row per feed that has records or a
// live FeedHealth entry, ordered by provider, asset, kind, granularity.
// Row: provider, asset, source (= provider), subject (= asset), kind,
// granularity (always a string), record_count (always a number),
// oldest_ts, newest_ts, watermark_ts, watermark_updated_at (or null),
// stale (bool: the feed worker's verdict when known, else watermark older
// than max(FeedStaleAfter, 6 x granularity)), last_error (string or null),
// last_event_at (or null). When a live feed worker knows the feed, also:
// health ("ok", "stale" or "failing": the latest poll failed),
// last_error_at, consecutive_errors, next_attempt_at, gaps, and the row
// counters rows_malformed, rows_conflicting, rows_duplicate (collapsed),
// stale_prices (rejected, older than FEED_MAX_AGE_SECONDS) and
// zero_volume_candles (placeholders stored), with last_dropped_row
// ({"reason","row"} or null); without one these keys are null.
func (s *server) feeds(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := s.ctx(r)
	defer cancel()
	sums, err := s.opts.Store.FeedSummaries(ctx)
	if err != nil {
		return fmt.Errorf("summarising feeds: %w", err)
	}
	health := map[feedKey]FeedHealth{}
	if s.opts.FeedHealth != nil {
		for _, h := range s.opts.FeedHealth() {
			health[feedKey{h.Provider, h.Asset, h.Kind, h.Granularity}] = h
		}
	}
	now := s.opts.Clock.Now()
	rows := make([]map[string]any, 0, len(sums)+len(health))
	keys := make([]feedKey, 0, len(sums)+len(health))
	seen := map[feedKey]bool{}
	for _, fs := range sums {
		k := feedKey{fs.Provider, fs.Asset, fs.Kind, fs.Granularity}
		seen[k] = true
		keys = append(keys, k)
		h, ok := health[k]
		rows = append(rows, s.feedRow(fs, h, ok, now))
	}
	for k, h := range health {
		if !seen[k] {
			keys = append(keys, k)
			rows = append(rows, s.feedRow(store.FeedSummary{Provider: k.provider, Asset: k.asset, Kind: k.kind, Granularity: k.granularity}, h, true, now))
		}
	}
	order := make([]int, len(rows))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		ka, kb := keys[a], keys[b]
		return strings.Compare(ka.provider+"\x00"+ka.asset+"\x00"+ka.kind+"\x00"+ka.granularity,
			kb.provider+"\x00"+kb.asset+"\x00"+kb.kind+"\x00"+kb.granularity)
	})
	out := make([]map[string]any, len(rows))
	for i, j := range order {
		out[i] = rows[j]
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// feedStale applies the UI's rule when the feed worker has no verdict.
func (s *server) feedStale(fs store.FeedSummary, now time.Time) bool {
	last := fs.NewestTs
	if fs.WatermarkTs != nil {
		last = *fs.WatermarkTs
	}
	if last.IsZero() {
		return true
	}
	bound := max(s.opts.FeedStaleAfter, 6*granularityDuration(fs.Granularity))
	return now.Sub(last) > bound
}

func (s *server) feedRow(fs store.FeedSummary, h FeedHealth, known bool, now time.Time) map[string]any {
	row := map[string]any{
		"provider":             fs.Provider,
		"asset":                fs.Asset,
		"source":               fs.Provider,
		"subject":              fs.Asset,
		"kind":                 fs.Kind,
		"granularity":          fs.Granularity,
		"record_count":         fs.RecordCount,
		"oldest_ts":            ts(fs.OldestTs),
		"newest_ts":            ts(fs.NewestTs),
		"watermark_ts":         tsPtr(fs.WatermarkTs),
		"watermark_updated_at": tsPtr(fs.WatermarkUpdatedAt),
		"stale":                s.feedStale(fs, now),
		"last_error":           nil,
		"last_event_at":        nil,
		"health":               nil,
		"last_error_at":        nil,
		"consecutive_errors":   nil,
		"next_attempt_at":      nil,
		"gaps":                 nil,
		"rows_malformed":       nil,
		"rows_conflicting":     nil,
		"rows_duplicate":       nil,
		"stale_prices":         nil,
		"zero_volume_candles":  nil,
		"last_dropped_row":     nil,
	}
	if known {
		row["stale"] = h.Stale
		health := "ok"
		if h.Stale {
			health = "stale"
		}
		if h.LastError != "" {
			row["last_error"] = h.LastError
			row["last_error_at"] = ts(h.LastErrorAt)
			health = "failing"
		}
		row["health"] = health
		row["last_event_at"] = ts(h.LastEventAt)
		row["consecutive_errors"] = h.ConsecutiveErrors
		row["next_attempt_at"] = ts(h.NextAttemptAt)
		row["gaps"] = h.Gaps
		row["rows_malformed"] = h.Malformed
		row["rows_conflicting"] = h.Conflicts
		row["rows_duplicate"] = h.Duplicates
		row["stale_prices"] = h.StalePrices
		row["zero_volume_candles"] = h.Placeholders
		if h.LastDropReason != "" {
			row["last_dropped_row"] = map[string]string{"reason": h.LastDropReason, "row": h.LastDropRow}
		}
	}
	return row
}

// jsonObject decodes raw as an object; anything else gives {}.
func jsonObject(raw json.RawMessage) any {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || t[0] != '{' {
		return map[string]any{}
	}
	var obj map[string]any
	if err := json.Unmarshal(t, &obj); err != nil || obj == nil {
		return map[string]any{}
	}
	return obj
}

// feedsTail serves GET /reports/feeds/tail: the newest market records,
// newest ts_event first. Filters (optional, empty = any): provider (alias
// source), asset (alias subject), kind, granularity; limit 1 to 200,
// default 20. Row: provider, asset, source, subject, kind, granularity,
// ts_event, ts_ingested, values (object), meta (object).
func (s *server) feedsTail(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	var p params
	mq := store.MarketQuery{
		Provider:    aliasParam(q, &p, "provider", "source"),
		Asset:       aliasParam(q, &p, "asset", "subject"),
		Kind:        strings.TrimSpace(q.Get("kind")),
		Granularity: strings.TrimSpace(q.Get("granularity")),
		Limit:       intParam(q, &p, "limit", tailDefaultLimit, 1, tailMaxLimit),
		Descending:  true,
	}
	if err := p.err(); err != nil {
		return err
	}
	ctx, cancel := s.ctx(r)
	defer cancel()
	recs, err := s.opts.Store.QueryMarketRecords(ctx, mq)
	if err != nil {
		return fmt.Errorf("querying market records (provider %q, asset %q, kind %q, granularity %q): %w",
			mq.Provider, mq.Asset, mq.Kind, mq.Granularity, err)
	}
	if len(recs) > mq.Limit {
		recs = recs[:mq.Limit]
	}
	rows := make([]map[string]any, 0, len(recs))
	for _, rec := range recs {
		rows = append(rows, map[string]any{
			"provider":    rec.Provider,
			"asset":       rec.Asset,
			"source":      rec.Provider,
			"subject":     rec.Asset,
			"kind":        rec.Kind,
			"granularity": rec.Granularity,
			"ts_event":    ts(rec.TsEvent),
			"ts_ingested": ts(rec.TsIngested),
			"values":      jsonObject(rec.Values),
			"meta":        jsonObject(rec.Meta),
		})
	}
	writeJSON(w, http.StatusOK, rows)
	return nil
}
