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
// covers the whole window, downsampled by the store
// (store.SampleQuery): the window, from its oldest prediction to end, is
// cut into equal time buckets and each series (model, scope_key) keeps its
// newest prediction of every bucket, so the window's newest prediction is
// always included. Point budget: at most Options.MaxChartPoints rows in
// all (default 1000), each series at most min(MaxSeriesPoints, max(1,
// MaxChartPoints / series)) buckets; the header X-Point-Budget gives the
// budget per series.
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
		preds, err = s.opts.Store.SamplePredictions(ctx, store.SampleQuery{
			ModelIDs: cq.ids, From: cq.start, To: cq.end, Status: status,
			Buckets: min(s.opts.MaxSeriesPoints, store.MaxSampleBuckets), MaxPoints: s.opts.MaxChartPoints,
		})
		// Every series with a prediction in the window has one in the
		// answer, so this is the per-series budget the store applied.
		series := map[[2]string]bool{}
		for _, pr := range preds {
			series[[2]string{pr.ModelID, pr.ScopeKey}] = true
		}
		w.Header().Set("X-Point-Budget", strconv.Itoa(s.seriesBudget(len(series))))
	}
	if err != nil {
		return fmt.Errorf("listing predictions from %s to %s: %w", cq.start.Format(TimeLayout), cq.end.Format(TimeLayout), err)
	}
	rows := make([]map[string]any, 0, len(preds))
	scopes := scopeMemo{}
	for _, pr := range preds {
		rows = append(rows, predictionRow(pr, idx[pr.ModelID], scopes))
	}
	if paged && len(preds) >= limit {
		w.Header().Set("X-Next-Offset", strconv.Itoa(offset+len(preds)))
	}
	writeRows(w, http.StatusOK, rows)
	return nil
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
