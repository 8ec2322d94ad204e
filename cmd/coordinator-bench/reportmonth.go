package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/crunch-coordinator/coordinator/host"
	"github.com/crunch-coordinator/coordinator/internal/clock"
	"github.com/crunch-coordinator/coordinator/internal/report"
	"github.com/crunch-coordinator/coordinator/internal/store"
	"github.com/crunch-coordinator/coordinator/sdk"
)

// The month of data behind the real UI (issue 16 item 3): monthModels
// models, one scored prediction each per minute for monthDays days, and a
// score point per model every monthScoreEvery (a leaderboard rebuild).
const (
	monthModels     = 20
	monthDays       = 28
	monthScoreEvery = 10 * time.Minute
)

// monthEnd is the end of the generated month (the API's "now").
var monthEnd = time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)

// monthPredictions is the size of the generated month.
const monthPredictions = monthModels * monthDays * 24 * 60

// seedMonth fills st through the store's own batch path: one
// SavePredictCycle per simulated day (28,800 pre-scored predictions sharing
// one small input) and one SaveLeaderboard per score point. Returns the
// load time.
func seedMonth(ctx context.Context, st store.Store) (time.Duration, error) {
	t := time.Now()
	if err := st.ReplaceSchedules(ctx, []store.ScheduleRow{baselineSchedule()}); err != nil {
		return 0, fmt.Errorf("month: seed schedule: %w", err)
	}
	models := benchModelRows(monthModels)
	if err := st.UpsertModels(ctx, models); err != nil {
		return 0, fmt.Errorf("month: seed models: %w", err)
	}
	start := monthEnd.Add(-monthDays * 24 * time.Hour)
	perDay := 24 * 60
	for d := range monthDays {
		batch := make([]store.Prediction, 0, perDay*monthModels)
		for m := range perDay {
			slot := start.Add(time.Duration(d*perDay+m) * time.Minute)
			k := d*perDay + m
			ps := cyclePredictions("CFG_baseline", monthModels, slot, func(i int) float64 { return float64((k*7919+i*31)%1000) / 1000 })
			for i := range ps {
				v := 1 - float64((k*13+i*101)%1000)/1000
				ps[i].Score = &store.Score{Value: &v, Success: true, ScoredAt: slot.Add(time.Minute)}
			}
			batch = append(batch, ps...)
		}
		if _, err := st.SavePredictCycle(ctx, nil, batch); err != nil {
			return 0, fmt.Errorf("month: day %d: %w", d, err)
		}
	}
	var last []sdk.LeaderboardEntry
	for at := start.Add(monthScoreEvery); !at.After(monthEnd); at = at.Add(monthScoreEvery) {
		scores := make([]store.ModelScore, monthModels)
		last = last[:0]
		for i := range scores {
			v := float64((int(at.Unix()/60)+i*37)%1000) / 1000
			env, _ := json.Marshal(map[string]any{
				"metrics": map[string]any{"recent": v, "steady": v, "anchor": v},
				"ranking": map[string]any{"key": "anchor", "value": v, "direction": "desc", "tie_breakers": []string{}},
				"payload": map[string]any{},
			})
			scores[i] = store.ModelScore{ID: fmt.Sprintf("MSC_%d_%s", at.Unix(), modelID(i)), ModelID: modelID(i), Score: env, ComputedAt: at}
			last = append(last, sdk.LeaderboardEntry{ModelID: modelID(i)})
		}
		entries, _ := json.Marshal(last)
		lb := store.Leaderboard{ID: fmt.Sprintf("LBR_%d", at.Unix()), CreatedAt: at, Entries: entries, Meta: json.RawMessage(`{}`)}
		if err := st.SaveLeaderboard(ctx, lb, scores); err != nil {
			return 0, fmt.Errorf("month: leaderboard at %s: %w", at.Format(time.RFC3339), err)
		}
	}
	return time.Since(t), nil
}

// monthURLs are the requests the real UI sends (its 30-day window ending
// at the browser's now, every model in projectIds); shift moves the
// window's end back from monthEnd, as browsers' clocks differ by
// milliseconds (the newest data is a minute older, so the answers are the
// same rows).
func monthURLs(base string, shift time.Duration) []string {
	end := monthEnd.Add(-shift)
	ids := make([]string, monthModels)
	for i := range ids {
		ids[i] = modelID(i)
	}
	q := url.Values{}
	q.Set("projectIds", strings.Join(ids, ","))
	q.Set("start", end.Add(-30*24*time.Hour).Format(report.TimeLayout))
	q.Set("end", end.Format(report.TimeLayout))
	w := q.Encode()
	return []string{
		base + "/reports/leaderboard",
		base + "/reports/models/global?" + w,
		base + "/reports/models/params?" + w,
		base + "/reports/predictions?" + w,
	}
}

// reportMonth measures every endpoint the real UI calls on a month of
// data, on each backend.
func (h *harness) reportMonth(ctx context.Context) {
	for _, backend := range h.backends() {
		progress("report API (month): seeding %d predictions on %s", monthPredictions, backend)
		st, err := h.openStore(ctx, backend, "month")
		if err != nil {
			h.rep.Results = append(h.rep.Results, &Result{Section: secAPI, Name: "Report API, a month of data", Backend: backend, Err: err})
			continue
		}
		seed, err := seedMonth(ctx, st)
		if err != nil {
			_ = st.Close()
			h.rep.Results = append(h.rep.Results, &Result{Section: secAPI, Name: "Report API, a month of data", Backend: backend, Err: err})
			continue
		}
		progress("report API (month): %s seeded in %s", backend, seed.Round(time.Second))
		h.rep.Results = append(h.rep.Results, &Result{Section: secAPI, Name: fmt.Sprintf("Seed a month (%d models × %d days, %d scored predictions, store batch path)", monthModels, monthDays, monthPredictions),
			Backend: backend, Metrics: []Metric{one("wall time", "s", seed.Seconds())}})
		schema, _ := sdk.Defaults{}.ReportSchema(ctx)
		states := make([]host.ModelState, monthModels)
		for i := range states {
			states[i] = host.ModelState{ID: modelID(i), Name: modelID(i), Running: true}
		}
		srv := httptest.NewServer(report.New(report.Options{Store: st, Schema: schema, Clock: clock.NewSimulated(monthEnd),
			ModelStates: func() []host.ModelState { return states }}))
		client := newLoadClient(h.sz.apiConcurrency)
		h.monthFloor(ctx, st, client, backend)
		var sent atomic.Int64
		for idx, u := range monthURLs(srv.URL, 0) {
			// Every chart request gets its own window end (1 ms apart,
			// cycling within 30 s): identical concurrent requests would
			// share one computation (report's coalescing), which 8
			// browsers with their own clocks never send.
			next := func() string {
				if idx == 0 {
					return u
				}
				return monthURLs(srv.URL, time.Duration(sent.Add(1)%30000)*time.Millisecond)[idx]
			}
			name := endpointName(u)
			if i := strings.Index(name, "?"); i >= 0 {
				name = name[:i] + " (UI: 30-day window, 20 projectIds)"
			}
			progress("report API (month): %s on %s", name, backend)
			h.repeat(secAPI, fmt.Sprintf("Month: GET %s (%d concurrent clients, %s per run)", name, h.sz.apiConcurrency, h.sz.apiDuration), backend,
				func(int) ([]Metric, error) {
					lr, err := loadEach(ctx, client, next, h.sz.apiConcurrency, h.sz.apiDuration)
					if err != nil {
						return nil, err
					}
					return []Metric{one("throughput", "requests/s", lr.RPS), one("p50", "ms", lr.P50), one("p99", "ms", lr.P99),
						one("answer size", "KB", float64(lr.Bytes)/1000)}, nil
				})
			if name == "/reports/leaderboard" {
				continue
			}
			// One client: the cost of a lone request, without concurrency.
			h.repeat(secAPI, fmt.Sprintf("Month, 1 client: GET %s (%s per run; no target)", name, h.sz.apiDuration), backend,
				func(int) ([]Metric, error) {
					lr, err := loadEach(ctx, client, next, 1, h.sz.apiDuration)
					if err != nil {
						return nil, err
					}
					return []Metric{one("throughput", "requests/s", lr.RPS), one("p50", "ms", lr.P50), one("p99", "ms", lr.P99)}, nil
				})
		}
		client.CloseIdleConnections()
		srv.Close()
		_ = st.Close()
	}
}

// monthFloor measures the floor of the month's endpoint rows on st: GET
// /healthz with the same clients, from a report server whose cached
// prediction count (/healthz shows it) lives an hour and is read once
// before the runs, so each request is one database ping and a small JSON
// answer through the same HTTP stack: the least an endpoint answer costs
// there.
func (h *harness) monthFloor(ctx context.Context, st store.Store, client *http.Client, backend string) {
	progress("report API (month): floor GET /healthz on %s", backend)
	schema, _ := sdk.Defaults{}.ReportSchema(ctx)
	srv := httptest.NewServer(report.New(report.Options{Store: st, Schema: schema, Clock: clock.NewSimulated(monthEnd), CacheTTL: time.Hour}))
	defer srv.Close()
	healthz := srv.URL + "/healthz"
	if _, err := loadEach(ctx, client, func() string { return healthz }, 1, 100*time.Millisecond); err != nil { // reads the count
		h.rep.Results = append(h.rep.Results, &Result{Section: secAPI, Name: monthFloorName(h.sz.apiConcurrency, h.sz.apiDuration), Backend: backend, Err: err})
		return
	}
	h.repeat(secAPI, monthFloorName(h.sz.apiConcurrency, h.sz.apiDuration), backend, func(int) ([]Metric, error) {
		lr, err := loadEach(ctx, client, func() string { return healthz }, h.sz.apiConcurrency, h.sz.apiDuration)
		if err != nil {
			return nil, err
		}
		return []Metric{one("throughput", "requests/s", lr.RPS), one("p50", "ms", lr.P50), one("p99", "ms", lr.P99)}, nil
	})
}

// monthFloorName names the floor of the month's endpoint rows (monthFloor).
func monthFloorName(clients int, d time.Duration) string {
	return fmt.Sprintf("Month floor: GET /healthz (%d concurrent clients, %s per run)", clients, d)
}
