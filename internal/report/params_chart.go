package report

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/store"
)

// modelsParams serves GET /reports/models/params: rolling score means per
// model and scope_key (a series), computed by the store from the score
// rollups (store.ScoreRollup: per series and hour bucket (e - 1 h, e],
// written with the scores; store.RollupPointQuery), never from the scored
// predictions one by one. The rollups are read through rollupCache (per
// series and day, reused while the day's chart revision is unchanged, so
// the answer is what the store holds after the request arrived); a
// request needing more rollups than Options.ChartCacheSize asks the store
// for the points (RollupPoints), with the same answer.
//
// A point is one hour bucket of a series whose newest scored prediction
// was performed in [start, end]: the row of that prediction. (A bucket
// holding end whose newest prediction is after end is not a point, so a
// window ending inside an hour that has later predictions ends with the
// previous hour.) Its window keys (Options.Windows, by default
// score_recent / score_steady / score_anchor over 24 h / 72 h / 7 days)
// are the mean of the successful non-null score values of the series with
// performed_at in (e - window, e], e the end of the point's bucket (null
// when none; a window that is not a whole number of hours counts as the
// next whole number). For the usual predictions on whole minutes the
// newest prediction of a bucket is performed at e, so a point equals the
// row the per-prediction computation gives that prediction.
//
// Point budget: at most Options.MaxChartPoints rows in all; each of the n
// series keeps at most min(MaxSeriesPoints, max(1, MaxChartPoints / n))
// points (X-Point-Budget): the hours from the oldest point in [start, end]
// to end (not from start: a 30-day window over two days of data spends the
// budget on those two days) are cut, from the last one back, into cells of
// equal whole hours and a series keeps the newest point of each cell, so
// its newest point is always there (store.RollupPointsOf).
//
// Row: model_id, model_name, cruncher_name, scope_key, param (= scope_key,
// the UI's default groupByProperty), scope, the scope's keys flattened
// (asset, horizon, step, ... and subject = asset), performed_at,
// score_value (that prediction's score or null), score_metrics (window
// name without "score_" -> mean), the window keys, and count (successful
// scores in the longest window). Ordered by performed_at, then model_id
// and scope_key.
func (s *server) modelsParams(w http.ResponseWriter, r *http.Request) error {
	var p params
	cq := s.chartQuery(r, &p)
	if err := p.err(); err != nil {
		return err
	}
	idx, err := s.modelIndex(r.Context())
	if err != nil {
		return err
	}
	lengths := make([]time.Duration, len(s.opts.Windows))
	longest := 0
	for i, win := range s.opts.Windows {
		lengths[i] = win.Length
		if win.Length > lengths[longest] {
			longest = i
		}
	}
	ctx, cancel := s.ctx(r)
	defer cancel()
	q := store.RollupPointQuery{ModelIDs: cq.ids, From: cq.start, To: cq.end, Windows: lengths,
		MaxPoints: s.opts.MaxChartPoints, MaxSeriesPoints: s.opts.MaxSeriesPoints}
	var points []store.RollupPoint
	cached := false
	if s.opts.ChartCacheSize > 0 {
		points, cached, err = s.rollups.points(ctx, s.opts.Store, q)
	}
	if err == nil && !cached {
		points, err = s.opts.Store.RollupPoints(ctx, q)
	}
	if err != nil {
		return fmt.Errorf("reading the score rollups from %s to %s: %w", cq.start.Format(TimeLayout), cq.end.Format(TimeLayout), err)
	}
	per := q.PerSeries(0)
	if len(points) > 0 {
		per = points[0].PerSeries
	}
	w.Header().Set("X-Point-Budget", strconv.Itoa(per))
	scopes := scopeMemo{}
	writeCachedRows(w, &s.paramRows, len(points), func(i int, k rowKey) rowKey {
		pt, info := points[i], idx[points[i].ModelID]
		k = k.str(pt.ModelID).str(pt.ScopeKey).str(info.name).str(info.cruncher).bytes(pt.LastScope).
			time(pt.LastPerformedAt).optFloat(pt.LastValue)
		for w := range pt.Answered {
			k = k.int(pt.Answered[w]).float(pt.Sums[w])
		}
		return k
	}, func(i int) map[string]any {
		pt := points[i]
		info := idx[pt.ModelID]
		scope := scopes.get(pt.LastScope)
		metrics := make(map[string]any, len(s.opts.Windows))
		row := map[string]any{
			"model_id":      pt.ModelID,
			"model_name":    info.name,
			"cruncher_name": info.cruncher,
			"scope_key":     pt.ScopeKey,
			"param":         pt.ScopeKey,
			"scope":         scope,
			"performed_at":  ts(pt.LastPerformedAt),
			"score_value":   nil,
			"score_metrics": metrics,
			"count":         int(pt.Answered[longest]),
		}
		if pt.LastValue != nil {
			row["score_value"] = *pt.LastValue
		}
		for i, win := range s.opts.Windows {
			var mean any
			if n := pt.Answered[i]; n > 0 {
				mean = pt.Sums[i] / float64(n)
			}
			metrics[strings.TrimPrefix(win.Name, "score_")] = mean
			if _, taken := row[win.Name]; !taken {
				row[win.Name] = mean
			}
		}
		flattenScope(row, scope)
		return row
	})
	return nil
}
