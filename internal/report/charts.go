package report

import (
	"bytes"
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

// modelsGlobal serves GET /reports/models/global: a time series, one flat
// row per model per score point (model_scores, written at every
// leaderboard rebuild) with performed_at (the point's computed_at) in
// [start, end], downsampled as /reports/predictions is (chartGrid,
// through sampleCache), the models being the series: each model keeps its
// newest point of every bucket, so the newest point is always included.
// Point budget: with n models having points in the window's days, each
// keeps at most min(MaxSeriesPoints, max(1, MaxChartPoints / n)) points
// (X-Point-Budget).
// Row: model_id, model_name, cruncher_name, performed_at, score_metrics,
// score_ranking, then score_<metric> for each metric (score_recent,
// score_steady, score_anchor with the default aggregation). Ordered by
// performed_at, then model_id.
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
	sq := store.SampleQuery{ModelIDs: cq.ids, From: cq.start, To: cq.end,
		Buckets: min(s.opts.MaxSeriesPoints, store.MaxSampleBuckets), MaxPoints: s.opts.MaxChartPoints}
	ans, err := s.msSample.get(ctx, s.opts.Store, sq)
	points := ans.rows
	if err == nil && !ans.ok { // one bucket per model: its newest point
		points, err = s.opts.Store.SampleModelScores(ctx, sq)
	}
	if err != nil {
		return fmt.Errorf("sampling the model score history from %s to %s: %w", cq.start.Format(TimeLayout), cq.end.Format(TimeLayout), err)
	}
	w.Header().Set("X-Point-Budget", strconv.Itoa(ans.perSeries))
	writeCachedRows(w, &s.globalRows, len(points), func(i int, k rowKey) rowKey {
		ms, info := points[i], idx[points[i].ModelID]
		return k.str(ms.ModelID).str(info.name).str(info.cruncher).time(ms.ComputedAt).bytes(ms.Score)
	}, func(i int) map[string]any {
		ms := points[i]
		score, err := decodeScore(ms.Score)
		if err != nil {
			s.log.Warn("skipping malformed model score point", "model_id", ms.ModelID, "computed_at", ms.ComputedAt, "error", err)
			return nil
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
		return row
	})
	return nil
}

// scopeMemo decodes the scopes of one answer's rows, each distinct scope
// once (a chart's rows repeat a few scopes hundreds of times). The maps it
// returns are shared between rows and must not be modified.
type scopeMemo map[string]map[string]any

func (m scopeMemo) get(raw json.RawMessage) map[string]any {
	if obj, ok := m[string(raw)]; ok {
		return obj
	}
	obj := scopeObject(raw)
	m[string(raw)] = obj
	return obj
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
