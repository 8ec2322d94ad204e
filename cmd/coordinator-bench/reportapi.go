package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/crunch-coordinator/coordinator/host"
	"github.com/crunch-coordinator/coordinator/internal/clock"
	"github.com/crunch-coordinator/coordinator/internal/report"
	"github.com/crunch-coordinator/coordinator/internal/score"
	"github.com/crunch-coordinator/coordinator/internal/store"
	"github.com/crunch-coordinator/coordinator/internal/store/dburl"
	"github.com/crunch-coordinator/coordinator/internal/store/postgres"
	"github.com/crunch-coordinator/coordinator/sdk"
)

// Size of the generated report database.
const (
	apiModels      = 1000
	apiPredictions = 1_000_000
	apiSlotEvery   = 10 * time.Minute // 1,000 slots of 10 min ≈ 6.9 days
)

// apiStart is the first slot of the generated predictions.
var apiStart = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

// apiNow is "now" for the generated database: one minute after the last
// prediction resolved.
func apiNow() time.Time {
	return apiStart.Add(time.Duration(apiPredictions/apiModels)*apiSlotEvery + 2*time.Minute)
}

// generateReportDB fills st with apiModels models and apiPredictions
// scored predictions (and their scores) with PostgreSQL COPY: see
// generateReportRows.
func generateReportDB(ctx context.Context, st *postgres.Store) (time.Duration, error) {
	return generateReportRows(ctx, st, apiModels, apiPredictions)
}

// generateReportRows fills st with models models and n scored predictions
// (prediction k belongs to model k%models, slot k/models), and their
// scores, with PostgreSQL COPY. The secondary indexes of predictions are
// dropped before the COPY and recreated from their own definitions after
// it (then ANALYZE), the usual way to bulk load; the schema is the
// migrated one at the end. Scores are keyed by the prediction's generated
// seq (migration 00022), so they are copied into a temporary table keyed
// by prediction id and inserted joined to predictions; every prediction
// gets a chart_revisions row (what SamplePredictions enumerates series
// from). Returns the load time.
func generateReportRows(ctx context.Context, st *postgres.Store, models, n int) (time.Duration, error) {
	t := time.Now()
	if err := st.ReplaceSchedules(ctx, []store.ScheduleRow{baselineSchedule()}); err != nil {
		return 0, fmt.Errorf("report database: seed schedule: %w", err)
	}
	if err := st.UpsertModels(ctx, benchModelRows(models)); err != nil {
		return 0, fmt.Errorf("report database: seed %d models: %w", models, err)
	}
	pool := st.Pool()
	rows, err := pool.Query(ctx, `SELECT indexname, indexdef FROM pg_indexes
		WHERE tablename = 'predictions' AND schemaname = current_schema() AND indexname <> 'predictions_pkey'`)
	if err != nil {
		return 0, fmt.Errorf("report database: list prediction indexes: %w", err)
	}
	type index struct{ name, def string }
	idx, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (index, error) {
		var i index
		return i, r.Scan(&i.name, &i.def)
	})
	if err != nil {
		return 0, fmt.Errorf("report database: list prediction indexes: %w", err)
	}
	for _, i := range idx {
		if _, err := pool.Exec(ctx, "DROP INDEX "+pgx.Identifier{i.name}.Sanitize()); err != nil {
			return 0, fmt.Errorf("report database: drop index %s before COPY: %w", i.name, err)
		}
	}
	scope := `{"asset":"BTC","horizon_seconds":60,"step_seconds":60}`
	input := `{"_scope":{"scope_key":"default","scope":{"asset":"BTC","horizon_seconds":60,"step_seconds":60}}}`
	// Prediction k and its score (a row of prediction_scores keyed by the
	// prediction's id here; the INSERT below turns the id into its seq),
	// computed again for each COPY.
	prediction := func(k int) (pred, score []any) {
		slot := apiStart.Add(time.Duration(k/models) * apiSlotEvery)
		m := modelID(k % models)
		// A model-dependent skill plus noise, so the leaderboard has an order.
		p := float64((k*7919+(k%models)*31)%1000) / 1000
		v := 1 - (p-float64(k%2))*(p-float64(k%2))
		res := slot.Add(time.Minute)
		id := store.PredictionID("CFG_baseline", m, slot)
		return []any{
			id, m, "CFG_baseline", "default", scope, store.StatusSuccess, 0.4,
			input, fmt.Sprintf(`{"p_up":%g}`, p), fmt.Sprintf(`{"slot":%q}`, slot.Format(time.RFC3339)),
			slot, res,
		}, []any{id, v, true, nil, res}
	}
	k := 0
	src := pgx.CopyFromFunc(func() ([]any, error) {
		if k >= n {
			return nil, nil
		}
		row, _ := prediction(k)
		k++
		return row, nil
	})
	copied, err := pool.CopyFrom(ctx, pgx.Identifier{"predictions"}, []string{
		"id", "model_id", "prediction_config_id", "scope_key", "scope_jsonb", "status", "exec_time_ms",
		"inference_input_jsonb", "inference_output_jsonb", "meta_jsonb", "performed_at", "resolvable_at",
	}, src)
	if err != nil {
		return 0, fmt.Errorf("report database: COPY %d predictions: %w", n, err)
	}
	if copied != int64(n) {
		return 0, fmt.Errorf("report database: COPY wrote %d predictions, expected %d", copied, n)
	}
	// The temporary table lives on one connection: hold it for the COPY
	// and the INSERT that reads it.
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return 0, fmt.Errorf("report database: acquire a connection for the scores: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `CREATE TEMPORARY TABLE bench_scores (
		id text PRIMARY KEY, value double precision, success boolean, failed_reason text, scored_at timestamptz)`); err != nil {
		return 0, fmt.Errorf("report database: create temporary score table: %w", err)
	}
	k = 0
	src = pgx.CopyFromFunc(func() ([]any, error) {
		if k >= n {
			return nil, nil
		}
		_, row := prediction(k)
		k++
		return row, nil
	})
	copied, err = conn.CopyFrom(ctx, pgx.Identifier{"bench_scores"}, []string{"id", "value", "success", "failed_reason", "scored_at"}, src)
	if err != nil {
		return 0, fmt.Errorf("report database: COPY %d scores: %w", n, err)
	}
	if copied != int64(n) {
		return 0, fmt.Errorf("report database: COPY wrote %d scores, expected %d", copied, n)
	}
	tag, err := conn.Exec(ctx, `INSERT INTO prediction_scores (prediction_seq, value, success, failed_reason, scored_at)
		SELECT p.seq, s.value, s.success, s.failed_reason, s.scored_at FROM bench_scores s JOIN predictions p ON p.id = s.id`)
	if err != nil {
		return 0, fmt.Errorf("report database: insert %d scores by prediction seq: %w", n, err)
	}
	if tag.RowsAffected() != int64(n) {
		return 0, fmt.Errorf("report database: expected %d scores written, found %d", n, tag.RowsAffected())
	}
	if _, err := conn.Exec(ctx, "DROP TABLE bench_scores"); err != nil {
		return 0, fmt.Errorf("report database: drop temporary score table: %w", err)
	}
	// The chart revisions of every (series, day), as migration 00013
	// backfills them: SamplePredictions enumerates series from them.
	if _, err := pool.Exec(ctx, `INSERT INTO chart_revisions (kind, model_id, scope_key, day_end, rev)
		SELECT DISTINCT $1::text, model_id, scope_key, to_timestamp(ceil(EXTRACT(EPOCH FROM performed_at) / 86400) * 86400), 1 FROM predictions`,
		store.ChartPredictions); err != nil {
		return 0, fmt.Errorf("report database: chart revisions of %d predictions: %w", n, err)
	}
	for _, i := range idx {
		if _, err := pool.Exec(ctx, i.def); err != nil {
			return 0, fmt.Errorf("report database: recreate index %s (%s): %w", i.name, i.def, err)
		}
	}
	if _, err := pool.Exec(ctx, "ANALYZE predictions, prediction_scores"); err != nil {
		return 0, fmt.Errorf("report database: ANALYZE predictions, prediction_scores: %w", err)
	}
	return time.Since(t), nil
}

// rebuildLeaderboard runs the score worker's leaderboard rebuild (default
// windowed aggregation from SQL aggregates over the 1M predictions,
// default ranking) and returns its wall time.
func rebuildLeaderboard(ctx context.Context, st store.Store, at time.Time) (time.Duration, error) {
	w, err := score.New(score.Config{Challenge: sdk.Defaults{}, Store: st, Clock: clock.NewSimulated(at),
		UseDefaultAggregation: true, UseDefaultRanking: true})
	if err != nil {
		return 0, fmt.Errorf("leaderboard rebuild: %w", err)
	}
	t := time.Now()
	res, err := w.RebuildLeaderboard(ctx)
	d := time.Since(t)
	if err != nil {
		return 0, fmt.Errorf("leaderboard rebuild over %d predictions: %w", apiPredictions, err)
	}
	if !res.Ran || len(res.Entries) != apiModels || res.ScoredModels != apiModels {
		return 0, fmt.Errorf("leaderboard rebuild: expected %d scored entries, found ran=%v entries=%d scored=%d", apiModels, res.Ran, len(res.Entries), res.ScoredModels)
	}
	return d, nil
}

// apiServer serves report.New over real loopback HTTP.
func apiServer(ctx context.Context, st store.Store) (*httptest.Server, error) {
	schema, err := sdk.Defaults{}.ReportSchema(ctx)
	if err != nil {
		return nil, fmt.Errorf("report API: default report schema: %w", err)
	}
	states := make([]host.ModelState, apiModels)
	for i := range states {
		states[i] = host.ModelState{ID: modelID(i), Name: modelID(i), Running: true}
	}
	h := report.New(report.Options{Store: st, Schema: schema, Clock: clock.NewSimulated(apiNow()),
		ModelStates: func() []host.ModelState { return states }})
	return httptest.NewServer(h), nil
}

// loadResult is one load run against one endpoint.
type loadResult struct {
	RPS      float64
	P50, P99 float64 // ms
	Bytes    int     // size of one answer
}

// load sends GET url from conc concurrent clients for dur (after a short
// warm-up) and returns requests per second and the latency percentiles.
// Any answer other than 200 is an error.
func load(ctx context.Context, client *http.Client, url string, conc int, dur time.Duration) (loadResult, error) {
	return loadEach(ctx, client, func() string { return url }, conc, dur)
}

// loadEach is load with the URL of every request from next (safe for
// concurrent calls): distinct requests, as different browsers send.
func loadEach(ctx context.Context, client *http.Client, next func() string, conc int, dur time.Duration) (loadResult, error) {
	url := next()
	get := func() (int, error) {
		url := next()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return 0, err
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		n, err := io.Copy(io.Discard, resp.Body)
		if err != nil {
			return 0, fmt.Errorf("GET %s: read body: %w", url, err)
		}
		if resp.StatusCode != http.StatusOK {
			return 0, fmt.Errorf("GET %s: expected status 200, found %d", url, resp.StatusCode)
		}
		return int(n), nil
	}
	size, err := get() // warm-up (fills the leaderboard cache like a running node)
	if err != nil {
		return loadResult{}, err
	}
	var mu sync.Mutex
	var lat Latencies
	var firstErr error
	deadline := time.Now().Add(dur)
	start := time.Now()
	var wg sync.WaitGroup
	for range conc {
		wg.Go(func() {
			var mine Latencies
			for time.Now().Before(deadline) {
				t := time.Now()
				if _, err := get(); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
				mine = append(mine, time.Since(t))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if firstErr != nil {
		return loadResult{}, firstErr
	}
	if len(lat) == 0 {
		return loadResult{}, errors.New("GET " + url + ": no request completed")
	}
	return loadResult{RPS: float64(len(lat)) / elapsed.Seconds(), P50: lat.P(50), P99: lat.P(99), Bytes: size}, nil
}

// newLoadClient returns a keep-alive client for conc concurrent requests.
func newLoadClient(conc int) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = conc * 2
	tr.MaxIdleConnsPerHost = conc * 2
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// endpointName trims the server URL from a request URL.
func endpointName(u string) string {
	if i := strings.Index(u, "/reports/"); i >= 0 {
		return u[i:]
	}
	return u
}

// reportAPI loads the generated 1M-prediction database and measures the
// leaderboard and models endpoints.
func (h *harness) reportAPI(ctx context.Context) {
	if h.pg == nil {
		h.rep.Results = append(h.rep.Results, &Result{Section: secAPI, Name: "Report API", Backend: dburl.BackendPostgres,
			Err: errors.New("not measured: -skip-pg")})
		return
	}
	progress("report API: generating %d models and %d predictions with COPY", apiModels, apiPredictions)
	st, err := h.openStore(ctx, dburl.BackendPostgres, "api")
	if err != nil {
		h.rep.Results = append(h.rep.Results, &Result{Section: secAPI, Name: "Report API", Backend: dburl.BackendPostgres, Err: err})
		return
	}
	defer st.Close()
	pgst, ok := st.(*postgres.Store)
	if !ok {
		h.rep.Results = append(h.rep.Results, &Result{Section: secAPI, Name: "Report API", Err: fmt.Errorf("expected a *postgres.Store, found %T", st)})
		return
	}
	gen, err := generateReportDB(ctx, pgst)
	if err != nil {
		h.rep.Results = append(h.rep.Results, &Result{Section: secAPI, Name: "Report API", Backend: dburl.BackendPostgres, Err: err})
		return
	}
	h.rep.APIGenerate = gen
	progress("report API: database generated in %s; leaderboard rebuilds", gen.Round(time.Second))
	at := apiNow()
	h.repeat(secAPI, fmt.Sprintf("Leaderboard rebuild over %d predictions, %d models (score worker, default aggregation)", apiPredictions, apiModels),
		dburl.BackendPostgres, func(run int) ([]Metric, error) {
			d, err := rebuildLeaderboard(ctx, st, at.Add(time.Duration(run)*time.Second))
			if err != nil {
				return nil, err
			}
			return []Metric{one("wall time", "ms", ms(d))}, nil
		})
	srv, err := apiServer(ctx, st)
	if err != nil {
		h.rep.Results = append(h.rep.Results, &Result{Section: secAPI, Name: "Report API", Err: err})
		return
	}
	defer srv.Close()
	client := newLoadClient(h.sz.apiConcurrency)
	defer client.CloseIdleConnections()
	for _, path := range []string{"/reports/leaderboard", "/reports/models"} {
		progress("report API: %s", path)
		url := srv.URL + path
		r := h.repeat(secAPI, fmt.Sprintf("GET %s (%d concurrent clients, %s per run)", endpointName(url), h.sz.apiConcurrency, h.sz.apiDuration),
			dburl.BackendPostgres, func(int) ([]Metric, error) {
				lr, err := load(ctx, client, url, h.sz.apiConcurrency, h.sz.apiDuration)
				if err != nil {
					return nil, err
				}
				return []Metric{one("throughput", "requests/s", lr.RPS), one("p50", "ms", lr.P50), one("p99", "ms", lr.P99),
					one("answer size", "KB", float64(lr.Bytes)/1000)}, nil
			})
		if r.Err != nil || (r.median("throughput") >= 5000 && r.median("p99") <= 20) {
			continue
		}
		progress("report API: %s misses the leaderboard target; profiling one more run", path)
		top, err := profileTop(ctx, h.profileDir(), "api"+strings.ReplaceAll(path, "/", "-"), func() error {
			_, err := load(ctx, client, url, h.sz.apiConcurrency, h.sz.apiDuration)
			return err
		})
		if err != nil {
			top = "profile failed: " + err.Error()
		}
		h.rep.APIProfiles = append(h.rep.APIProfiles, apiProfile{Path: path, Top: top})
	}
}
