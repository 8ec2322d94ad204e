package report

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/crunch-coordinator/coordinator/internal/store"
)

// predictionStatuses are the accepted values of /reports/predictions?status=.
var predictionStatuses = []string{
	store.StatusSuccess, store.StatusFailed, store.StatusTimeout, store.StatusCrashed,
	store.StatusAbsent, store.StatusBadImplementation, store.StatusUnresolved,
}

// notScoredReason is score_failed_reason of a prediction awaiting its score
// (the reference's wording).
const notScoredReason = "Prediction not scored"

// predictions serves GET /reports/predictions: scored AND unscored
// predictions with performed_at in [start, end]. Parameters: projectIds,
// start, end, status (a prediction status such as SUCCESS or TIMEOUT,
// case-insensitive; empty = all), limit and offset.
//
// Without limit and offset (the report UI's chart request) the answer
// covers the whole window, downsampled (chartGrid): each series (model,
// scope_key) keeps its newest prediction of every bucket of a grid aligned
// on whole bucket widths, from the bucket of the window's oldest
// prediction to the bucket of end, so the window's newest prediction is
// always included. Point budget: with n series having predictions in the
// window's days (store.ChartRevision), each keeps at most b =
// min(MaxSeriesPoints, max(1, MaxChartPoints / n)) buckets (header
// X-Point-Budget), so the answer has at most MaxChartPoints rows (default
// 1000; n rows when n is larger, each series' newest prediction). The
// buckets are read through sampleCache: those of an earlier answer whose
// days have not changed since are reused, the rest is read from the store
// (store.SampleQuery with Width), so the answer is the one the store gives
// after the request arrived.
//
// With limit (1 to MaxPageSize, default MaxPageSize) or offset (>= 0,
// default 0) it pages through every prediction of the window instead; a
// full page sets the X-Next-Offset header.
//
// Rows are ordered by performed_at then id. Row: id, model_id, model_name,
// cruncher_name, prediction_config_id (string or null), scope_key, param
// (= scope_key), scope (object), the scope's keys flattened (asset,
// horizon, step, ..., subject = asset), status, exec_time_ms,
// performed_at, resolvable_at, scored (bool), score_value (number or null),
// score_success (bool: scored successfully), score_failed (= !score_success,
// the reference's key), score_failed_reason (string or null), scored_at
// (or null).
func (s *server) predictions(w http.ResponseWriter, r *http.Request) error {
	var p params
	cq := s.chartQuery(r, &p)
	q := r.URL.Query()
	paged := q.Has("limit") || q.Has("offset")
	limit := intParam(q, &p, "limit", s.opts.MaxPageSize, 1, s.opts.MaxPageSize)
	offset := intParam(q, &p, "offset", 0, 0, 1<<31-1)
	status := strings.ToUpper(strings.TrimSpace(q.Get("status")))
	if status != "" && !slices.Contains(predictionStatuses, status) {
		p.add("status", fmt.Sprintf("expected one of %s, found %q", strings.Join(predictionStatuses, ", "), q.Get("status")))
	}
	if err := p.err(); err != nil {
		return err
	}
	idx, err := s.modelIndex(r.Context())
	if err != nil {
		return err
	}
	ctx, cancel := s.ctx(r)
	defer cancel()
	var preds []store.Prediction
	if paged {
		preds, err = s.opts.Store.ListPredictions(ctx, store.PredictionQuery{
			ModelIDs: cq.ids, From: cq.start, To: cq.end, Status: status, Limit: limit, Offset: offset,
		})
	} else {
		sq := store.SampleQuery{ModelIDs: cq.ids, From: cq.start, To: cq.end, Status: status,
			Buckets: min(s.opts.MaxSeriesPoints, store.MaxSampleBuckets), MaxPoints: s.opts.MaxChartPoints}
		var ans sampleAnswer[store.Prediction]
		ans, err = s.predSample.get(ctx, s.opts.Store, sq)
		preds = ans.rows
		if err == nil && !ans.ok { // one bucket per series: its newest prediction
			preds, err = s.opts.Store.SamplePredictions(ctx, sq)
		}
		w.Header().Set("X-Point-Budget", strconv.Itoa(ans.perSeries))
	}
	if err != nil {
		return fmt.Errorf("listing predictions from %s to %s: %w", cq.start.Format(TimeLayout), cq.end.Format(TimeLayout), err)
	}
	scopes := scopeMemo{}
	if paged && len(preds) >= limit {
		w.Header().Set("X-Next-Offset", strconv.Itoa(offset+len(preds)))
	}
	writeCachedRows(w, &s.predRows, len(preds), func(i int, k rowKey) rowKey {
		return predictionKey(k, preds[i], idx[preds[i].ModelID])
	}, func(i int) map[string]any {
		return predictionRow(preds[i], idx[preds[i].ModelID], scopes)
	})
	return nil
}

// predictionKey is the rowCache key of predictionRow(pr, info): every
// field the row is made of.
func predictionKey(k rowKey, pr store.Prediction, info modelInfo) rowKey {
	k = k.str(pr.ID).str(pr.ModelID).str(info.name).str(info.cruncher).str(pr.PredictionConfigID).str(pr.ScopeKey).
		bytes(pr.Scope).str(pr.Status).float(pr.ExecTimeMs).time(pr.PerformedAt).time(pr.ResolvableAt)
	if sc := pr.Score; sc != nil {
		return k.flag(true).optFloat(sc.Value).flag(sc.Success).str(sc.FailedReason).time(sc.ScoredAt)
	}
	return k.flag(false)
}

func predictionRow(pr store.Prediction, info modelInfo, scopes scopeMemo) map[string]any {
	scope := scopes.get(pr.Scope)
	row := map[string]any{
		"id":                   pr.ID,
		"model_id":             pr.ModelID,
		"model_name":           info.name,
		"cruncher_name":        info.cruncher,
		"prediction_config_id": nil,
		"scope_key":            pr.ScopeKey,
		"param":                pr.ScopeKey,
		"scope":                scope,
		"status":               pr.Status,
		"exec_time_ms":         pr.ExecTimeMs,
		"performed_at":         ts(pr.PerformedAt),
		"resolvable_at":        ts(pr.ResolvableAt),
		"scored":               pr.Score != nil,
		"score_value":          nil,
		"score_success":        false,
		"score_failed":         true,
		"score_failed_reason":  nil,
		"scored_at":            nil,
	}
	if pr.PredictionConfigID != "" {
		row["prediction_config_id"] = pr.PredictionConfigID
	}
	switch sc := pr.Score; {
	case sc != nil:
		if sc.Value != nil {
			row["score_value"] = *sc.Value
		}
		row["score_success"] = sc.Success
		row["score_failed"] = !sc.Success
		row["scored_at"] = ts(sc.ScoredAt)
		if !sc.Success {
			reason := sc.FailedReason
			if reason == "" {
				reason = "scoring failed"
			}
			row["score_failed_reason"] = reason
		}
	case pr.Status == store.StatusSuccess:
		row["score_failed_reason"] = notScoredReason
	default:
		row["score_failed_reason"] = "prediction " + pr.Status
	}
	flattenScope(row, scope)
	return row
}
