package report

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/store"
)

// sampleRow is what bruteSample needs of a chart row.
type sampleRow struct {
	series, id string
	at         time.Time
}

// bruteSample is chartGrid's rule computed from every row: rows are the
// window's rows (status applied), days the (series, day end) holding any
// row; it returns the kept ids in answer order and the budget.
func bruteSample(rows []sampleRow, days map[[2]string]bool, from, to time.Time, buckets, maxPoints int) ([]string, int) {
	series := map[string]bool{}
	dlo, dhi := store.ChartDayEnd(from), store.ChartDayEnd(to)
	for d := range days {
		if at, _ := time.Parse(time.RFC3339Nano, d[1]); !at.Before(dlo) && !at.After(dhi) {
			series[d[0]] = true
		}
	}
	var in []sampleRow
	for _, r := range rows {
		if !r.at.Before(from) && !r.at.After(to) {
			in = append(in, r)
		}
	}
	slices.SortFunc(in, func(a, b sampleRow) int { return cmp.Or(a.at.Compare(b.at), cmp.Compare(a.id, b.id)) })
	if len(in) == 0 {
		return nil, max(1, min(buckets, maxPoints/max(len(series), 1)))
	}
	g, ok := newChartGrid(in[0].at, to, len(series), buckets, maxPoints)
	newest := map[string]sampleRow{}
	for _, r := range in {
		k := r.series
		if ok {
			k += fmt.Sprint("|", floorDiv(r.at.UnixMicro(), g.width))
		}
		newest[k] = r // in answer order: the last is the newest
	}
	var kept []sampleRow
	for _, r := range newest {
		kept = append(kept, r)
	}
	slices.SortFunc(kept, func(a, b sampleRow) int { return cmp.Or(a.at.Compare(b.at), cmp.Compare(a.id, b.id)) })
	ids := make([]string, len(kept))
	for i, r := range kept {
		ids[i] = r.id
	}
	return ids, g.perSeries
}

// TestChartSamplesMatchEveryRow: /reports/predictions and
// /reports/models/global through their chart caches equal the same
// requests answered without them (Options.ChartCacheSize < 0) and the
// rule computed from every row of the window (bruteSample), on every
// backend, for the UI's 30-day window and narrower ones, a status filter,
// some models, a small budget, and again after writes landing in the
// newest bucket and in an old one (a late prediction, a score), with
// windows whose ends differ by seconds (browsers' clocks).
func TestChartSamplesMatchEveryRow(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			st := openBackend(t, backend)
			ctx := context.Background()
			seed := st.(seeder)
			models := []store.Model{{ID: "m1", Name: "alpha"}, {ID: "m2", Name: "beta"}, {ID: "m3", Name: "gamma"}}
			var ps []store.Prediction
			for i := range 5 * 24 * 60 / 7 {
				for mi, m := range models {
					for si, sk := range []string{"BTC-60", "ETH-300"} {
						if mi == 2 && si == 1 && i < 300 { // a series starting later
							continue
						}
						p := pred(m.ID, sk, btcScope, time.Duration(i*7+mi)*time.Minute+time.Duration(si)*time.Second, store.StatusSuccess, nil)
						p.ID = fmt.Sprintf("S-%s-%s-%04d", m.ID, sk, i)
						if (i+mi)%9 == 0 {
							p.Status = store.StatusTimeout
						}
						ps = append(ps, p)
					}
				}
			}
			if _, err := seed.SavePredictCycle(ctx, models, ps); err != nil {
				t.Fatal(err)
			}
			for i := range 5 * 24 * 6 {
				at := fixtureNow.Add(-time.Duration(i*10) * time.Minute)
				var pts []store.ModelScore
				for mi, m := range models {
					if mi == 1 && i%3 == 0 {
						continue
					}
					pts = append(pts, store.ModelScore{ID: fmt.Sprintf("MS-%s-%04d", m.ID, i), ModelID: m.ID, Score: envelope(float64(i%50)/10, 1, 2, nil), ComputedAt: at})
				}
				if err := seed.SaveLeaderboard(ctx, store.Leaderboard{ID: fmt.Sprintf("L-%d", i), CreatedAt: at, Entries: json.RawMessage(`[]`)}, pts); err != nil {
					t.Fatal(err)
				}
			}
			tweak := func(o *Options) { o.MaxChartPoints = 200 }
			cached := newTestServer(t, st, tweak)
			direct := newTestServer(t, st, func(o *Options) { tweak(o); o.ChartCacheSize = -1 })
			small := newTestServer(t, st, func(o *Options) { o.MaxChartPoints = 40 })

			check := func(what string, end time.Time, span time.Duration, extra string) {
				t.Helper()
				start := end.Add(-span)
				q := "start=" + url.QueryEscape(ts(start).(string)) + "&end=" + url.QueryEscape(ts(end).(string)) + extra
				vals, _ := url.ParseQuery(q)
				ids, status := projectIDs(vals), vals.Get("status")
				for _, srv := range []struct {
					name string
					max  int
					c, d bool
				}{{"cached", 200, true, false}, {"small budget", 40, true, false}} {
					target := cached
					if srv.name == "small budget" {
						target = small
					}
					// /reports/predictions
					var rows []sampleRow
					days := map[[2]string]bool{}
					all, err := st.ListPredictions(ctx, store.PredictionQuery{ModelIDs: ids, Limit: 1 << 20, WithoutInput: true})
					if err != nil {
						t.Fatal(err)
					}
					for _, p := range all {
						s := p.ModelID + "/" + p.ScopeKey
						days[[2]string{s, store.ChartDayEnd(p.PerformedAt).Format(time.RFC3339Nano)}] = true
						if status == "" || p.Status == status {
							rows = append(rows, sampleRow{s, p.ID, p.PerformedAt})
						}
					}
					want, budget := bruteSample(rows, days, start, end, DefaultMaxSeriesPoints, srv.max)
					_, h, body := get(t, target, "GET", "/reports/predictions?"+q)
					got := column(decodeRows(t, "predictions", body), "id")
					if fmt.Sprint(got) != fmt.Sprint(want) || h.Get("X-Point-Budget") != fmt.Sprint(budget) {
						t.Fatalf("%s, %s: /reports/predictions?%s: %d rows, budget %s; want %d, budget %d\n got %v\nwant %v",
							what, srv.name, q, len(got), h.Get("X-Point-Budget"), len(want), budget, got, want)
					}
					if srv.name == "cached" {
						_, _, dbody := get(t, direct, "GET", "/reports/predictions?"+q)
						if string(dbody) != string(body) {
							t.Fatalf("%s: /reports/predictions?%s: the cached answer differs from the uncached one", what, q)
						}
					}
					if status != "" {
						continue
					}
					// /reports/models/global
					rows, days = nil, map[[2]string]bool{}
					hist, err := st.ModelScoreHistory(ctx, ids, fixtureNow.Add(-60*24*time.Hour), fixtureNow.Add(24*time.Hour), 1<<20)
					if err != nil {
						t.Fatal(err)
					}
					for _, ms := range hist {
						days[[2]string{ms.ModelID, store.ChartDayEnd(ms.ComputedAt).Format(time.RFC3339Nano)}] = true
						rows = append(rows, sampleRow{ms.ModelID, ms.ModelID + "@" + ts(ms.ComputedAt).(string), ms.ComputedAt})
					}
					want, budget = bruteSample(rows, days, start, end, DefaultMaxSeriesPoints, srv.max)
					_, h, body = get(t, target, "GET", "/reports/models/global?"+q)
					var gotG []string
					for _, r := range decodeRows(t, "global", body) {
						gotG = append(gotG, fmt.Sprint(r["model_id"], "@", r["performed_at"]))
					}
					slices.Sort(gotG)
					slices.Sort(want)
					if fmt.Sprint(gotG) != fmt.Sprint(want) || h.Get("X-Point-Budget") != fmt.Sprint(budget) {
						t.Fatalf("%s, %s: /reports/models/global?%s: %d rows, budget %s; want %d, budget %d", what, srv.name, q, len(gotG), h.Get("X-Point-Budget"), len(want), budget)
					}
					if srv.name == "cached" {
						_, _, dbody := get(t, direct, "GET", "/reports/models/global?"+q)
						if string(dbody) != string(body) {
							t.Fatalf("%s: /reports/models/global?%s: the cached answer differs from the uncached one", what, q)
						}
					}
				}
			}
			windows := func(what string, shift time.Duration) {
				t.Helper()
				end := fixtureNow.Add(-shift)
				check(what+": the UI's 30 days", end, 30*24*time.Hour, "")
				check(what+": the UI's 30 days again, 3 s earlier", end.Add(-3*time.Second), 30*24*time.Hour, "")
				check(what+": 2 days", end.Add(-5*time.Hour), 48*time.Hour, "")
				check(what+": 2 projectIds", end, 30*24*time.Hour, "&projectIds=m1,m3")
				check(what+": timeouts", end, 30*24*time.Hour, "&status=TIMEOUT")
			}
			windows("first answers", 0)
			windows("repeats, ends 1 s later", -time.Second)
			// A late prediction at the very end of a bucket three days back
			// (of the UI window's grid after the writes): the newest of its
			// bucket, so the answer changes there.
			oldest := fixtureNow
			for _, p := range ps {
				oldest = minTime(oldest, p.PerformedAt)
			}
			g, _ := newChartGrid(oldest, fixtureNow.Add(3*time.Second), 6, DefaultMaxSeriesPoints, 200)
			lateAt := time.UnixMicro((floorDiv(fixtureNow.Add(-3*24*time.Hour).UnixMicro(), g.width)+1)*g.width - 1).UTC()
			late := pred("m2", "BTC-60", btcScope, fixtureNow.Sub(lateAt), store.StatusSuccess, nil)
			late.ID = "S-late"
			newest := pred("m3", "ETH-300", btcScope, -2*time.Second, store.StatusTimeout, nil)
			newest.ID = "S-newest"
			if _, err := seed.SavePredictCycle(ctx, nil, []store.Prediction{late, newest}); err != nil {
				t.Fatal(err)
			}
			if err := seed.SaveLeaderboard(ctx, store.Leaderboard{ID: "L-late", CreatedAt: fixtureNow, Entries: json.RawMessage(`[]`)},
				[]store.ModelScore{{ID: "MS-late", ModelID: "m2", Score: envelope(9, 9, 9, nil), ComputedAt: fixtureNow.Add(-2*24*time.Hour - time.Second)}}); err != nil {
				t.Fatal(err)
			}
			windows("after a late and a newest prediction", -3*time.Second)
			if full, ok := st.(store.Store); ok {
				n, err := full.ClaimAndScore(ctx, fixtureNow.Add(time.Hour), 1, func(_ context.Context, claimed []store.Prediction) ([]store.ScoreUpdate, error) {
					return []store.ScoreUpdate{{PredictionID: claimed[0].ID, Score: &store.Score{Value: f64(3), Success: true}}}, nil
				})
				if err != nil || n != 1 {
					t.Fatalf("ClaimAndScore: %d, %v", n, err)
				}
				windows("after a score", -4*time.Second)
			}
		})
	}
}
