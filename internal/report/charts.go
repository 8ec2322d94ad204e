package report

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/store"
)

// chartQuery is the parsed projectIds/start/end of a chart request.
type chartQuery struct {
	ids        []string
	start, end time.Time
}

func (s *server) chartQuery(r *http.Request, p *params) chartQuery {
	q := r.URL.Query()
	start, end := timeRange(q, p, s.opts.Clock.Now(), s.opts.MaxRange)
	return chartQuery{ids: projectIDs(q), start: start, end: end}
}

// scoreHistory reads every score point of ids (all when empty) with
// computed_at in [from, to], paging through the store with a time cursor:
// the next page starts at the last instant read, skipping the points of
// that instant already taken. A page holding a single instant cannot be
// paged within, so the cursor moves 1 µs past it (store times have
// microsecond precision) and truncated is set, since points beyond a page
// at that instant may be missing. truncated is also set when MaxScanRows
// is reached.
func (s *server) scoreHistory(ctx context.Context, ids []string, from, to time.Time) (out []store.ModelScore, truncated bool, err error) {
	page := s.opts.MaxPageSize
	cursor := from
	seen := map[string]bool{} // points taken at the cursor instant
	key := func(ms store.ModelScore) string { return ms.ID + "|" + ms.ModelID }
	for {
		batch, err := s.opts.Store.ModelScoreHistory(ctx, ids, cursor, to, page)
		if err != nil {
			return nil, false, fmt.Errorf("reading model score history from %s to %s: %w", cursor.Format(TimeLayout), to.Format(TimeLayout), err)
		}
		for _, ms := range batch {
			if !(ms.ComputedAt.Equal(cursor) && seen[key(ms)]) {
				out = append(out, ms)
			}
		}
		if len(batch) < page {
			return out, truncated, nil
		}
		if len(out) >= s.opts.MaxScanRows {
			return out, true, nil
		}
		last := batch[len(batch)-1].ComputedAt
		if batch[0].ComputedAt.Equal(last) {
			truncated = true
			cursor, seen = last.Add(time.Microsecond), map[string]bool{}
			continue
		}
		cursor, seen = last, map[string]bool{}
		for _, ms := range batch {
			if ms.ComputedAt.Equal(last) {
				seen[key(ms)] = true
			}
		}
	}
}

// scanPredictions reads every prediction matching q (Limit and Offset are
// set here), page by page, up to MaxScanRows.
func (s *server) scanPredictions(ctx context.Context, q store.PredictionQuery) (out []store.Prediction, truncated bool, err error) {
	q.Limit = s.opts.MaxPageSize
	seen := map[string]bool{}
	for q.Offset = 0; ; q.Offset += q.Limit {
		batch, err := s.opts.Store.ListPredictions(ctx, q)
		if err != nil {
			return nil, false, fmt.Errorf("listing predictions from %s to %s (offset %d): %w", q.From.Format(TimeLayout), q.To.Format(TimeLayout), q.Offset, err)
		}
		for _, p := range batch {
			if !seen[p.ID] {
				seen[p.ID] = true
				out = append(out, p)
			}
		}
		if len(batch) < q.Limit {
			return out, false, nil
		}
		if len(out) >= s.opts.MaxScanRows {
			return out, true, nil
		}
	}
}

// thin keeps at most max rows of one series, evenly spaced, always the
// first and the last.
func thin[T any](rows []T, max int) []T {
	n := len(rows)
	if n <= max || max <= 0 {
		return rows
	}
	if max == 1 {
		return rows[n-1:]
	}
	out := make([]T, 0, max)
	for i := range max {
		out = append(out, rows[i*(n-1)/(max-1)])
	}
	return out
}

// seriesRow is one chart row with its series key and sort keys.
type seriesRow struct {
	series string
	at     time.Time
	row    map[string]any
}

// finishSeries thins each series, orders rows by time then series key and
// writes them, with X-Downsampled-From / X-Truncated headers when rows were
// dropped.
func (s *server) finishSeries(w http.ResponseWriter, rows []seriesRow, truncated bool) {
	bySeries := map[string][]seriesRow{}
	var order []string
	for _, r := range rows {
		if _, ok := bySeries[r.series]; !ok {
			order = append(order, r.series)
		}
		bySeries[r.series] = append(bySeries[r.series], r)
	}
	kept := make([]seriesRow, 0, len(rows))
	for _, k := range order {
		kept = append(kept, thin(bySeries[k], s.opts.MaxSeriesPoints)...)
	}
	slices.SortStableFunc(kept, func(a, b seriesRow) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return cmp.Compare(a.series, b.series)
	})
	if len(kept) < len(rows) {
		w.Header().Set("X-Downsampled-From", strconv.Itoa(len(rows)))
	}
	if truncated {
		w.Header().Set("X-Truncated", "true")
	}
	out := make([]map[string]any, len(kept))
	for i, r := range kept {
		out[i] = r.row
	}
	writeJSON(w, http.StatusOK, out)
}

// modelsGlobal serves GET /reports/models/global: a time series, one flat
// row per model per score point (model_scores, written at every
// leaderboard rebuild) with performed_at (the point's computed_at) in
// [start, end]. Row: model_id, model_name, cruncher_name, performed_at,
// score_metrics, score_ranking, then score_<metric> for each metric
// (score_recent, score_steady, score_anchor with the default aggregation).
// Ordered by performed_at, then model_id.
func (s *server) modelsGlobal(w http.ResponseWriter, r *http.Request) error {
	var p params
	cq := s.chartQuery(r, &p)
	if err := p.err(); err != nil {
		return err
	}
	idx, err := s.modelIndex(r.Context())
	if err != nil {
		return err
	}
	ctx, cancel := s.ctx(r)
	defer cancel()
	points, truncated, err := s.scoreHistory(ctx, cq.ids, cq.start, cq.end)
	if err != nil {
		return err
	}
	rows := make([]seriesRow, 0, len(points))
	for _, ms := range points {
		score, err := decodeScore(ms.Score)
		if err != nil {
			s.log.Warn("skipping malformed model score point", "model_id", ms.ModelID, "computed_at", ms.ComputedAt, "error", err)
			continue
		}
		info := idx[ms.ModelID]
		row := map[string]any{
			"model_id":      ms.ModelID,
			"model_name":    info.name,
			"cruncher_name": info.cruncher,
			"performed_at":  ts(ms.ComputedAt),
			"score_metrics": score.Metrics,
			"score_ranking": score.Ranking,
		}
		flattenMetrics(row, score.Metrics)
		rows = append(rows, seriesRow{series: ms.ModelID, at: ms.ComputedAt, row: row})
	}
	s.finishSeries(w, rows, truncated)
	return nil
}

// scopeObject decodes a scope; anything but a JSON object gives {}.
func scopeObject(raw json.RawMessage) map[string]any {
	var obj map[string]any
	if t := bytes.TrimSpace(raw); len(t) > 0 {
		if err := json.Unmarshal(t, &obj); err != nil || obj == nil {
			return map[string]any{}
		}
	}
	if obj == nil {
		obj = map[string]any{}
	}
	return obj
}

// scopeAliases are the UI's filter names (report-ui-contract.md,
// filterConfig[].property) added to a chart row when its scope holds the
// value under the pack's name only: the real UI's default Asset and Horizon
// filters read "subject"/"asset" and "horizon", while the packs' scope
// templates say asset, horizon_seconds and step_seconds. The alias carries
// the same value (seconds for horizon and step).
var scopeAliases = []struct{ alias, source string }{
	{"subject", "asset"},
	{"horizon", "horizon_seconds"},
	{"step", "step_seconds"},
}

// flattenScope copies the scope's top-level keys (asset, horizon_seconds,
// step_seconds, ...) into row without replacing keys already set, then adds
// each scopeAliases alias the row does not have yet.
func flattenScope(row map[string]any, scope map[string]any) {
	keys := make([]string, 0, len(scope))
	for k := range scope {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if _, taken := row[k]; !taken && k != "" {
			row[k] = scope[k]
		}
	}
	for _, a := range scopeAliases {
		if _, taken := row[a.alias]; taken {
			continue
		}
		if v, ok := scope[a.source]; ok {
			row[a.alias] = v
		}
	}
}
