package report

import (
	"context"
	"fmt"
	"math"
	"net/url"
	"testing"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/store"
	"github.com/crunch-coordinator/coordinator/internal/store/dburl"
)

// seedParamsData writes 3 models × 2 scopes of predictions every 10
// minutes over 9 days before fixtureNow (model m3's on minutes 5, 15, ...,
// so the newest prediction of an hour is not at the hour's end), a third
// stored with a score and the rest scored by ClaimAndScore (failures and
// answers without a value included), and returns the scored rows.
func seedParamsData(t *testing.T, st seeder) []store.Prediction {
	t.Helper()
	ctx := context.Background()
	models := []store.Model{{ID: "m1", Name: "alpha"}, {ID: "m2", Name: "beta"}, {ID: "m3", Name: "gamma"}}
	var ps []store.Prediction
	for i := range 9 * 24 * 6 {
		for mi, m := range models {
			at := fixtureNow.Add(-9 * 24 * time.Hour).Add(time.Duration(i*10) * time.Minute)
			if m.ID == "m3" {
				at = at.Add(5 * time.Minute)
			}
			for si, sk := range []string{"BTC-60", "ETH-300"} {
				scope := btcScope
				if si == 1 {
					scope = ethScope
				}
				p := pred(m.ID, sk, scope, fixtureNow.Sub(at), store.StatusSuccess, nil)
				p.ID = fmt.Sprintf("G-%s-%s-%05d", m.ID, sk, i)
				k := i*7 + mi*3 + si
				switch {
				case k%3 == 0:
					p.Score = ok(float64(k%97) / 32)
				case k%3 == 1 && k%5 == 0:
					p.Score = &store.Score{Success: false, FailedReason: "bad output"}
				}
				ps = append(ps, p)
			}
		}
	}
	if _, err := st.SavePredictCycle(ctx, models, ps); err != nil {
		t.Fatal(err)
	}
	full, ok := st.(store.Store)
	if !ok {
		return nil
	}
	for {
		n, err := full.ClaimAndScore(ctx, fixtureNow.Add(time.Hour), 500, func(_ context.Context, claimed []store.Prediction) ([]store.ScoreUpdate, error) {
			var out []store.ScoreUpdate
			for j, p := range claimed {
				switch {
				case j%11 == 0:
					out = append(out, store.ScoreUpdate{PredictionID: p.ID, Score: &store.Score{Success: true}}) // no value
				default:
					out = append(out, store.ScoreUpdate{PredictionID: p.ID, Score: &store.Score{Value: f64(float64(j%40) / 16), Success: true}})
				}
			}
			return out, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
	}
	scored, err := full.ListPredictions(ctx, store.PredictionQuery{ScoredOnly: true, Limit: 1 << 20, WithoutInput: true})
	if err != nil {
		t.Fatal(err)
	}
	return scored
}

// directParams computes the /reports/models/params points of series
// (model, scope) from the scored rows themselves: per hour bucket, the
// newest scored prediction, a point when performed in [start, end], with
// the window means over (e - W, e].
func directParams(scored []store.Prediction, start, end time.Time) map[string]map[string]any {
	out := map[string]map[string]any{}
	newest := map[string]store.Prediction{}
	for _, p := range scored {
		k := p.ModelID + "|" + p.ScopeKey + "|" + store.RollupBucketEnd(p.PerformedAt).Format(time.RFC3339)
		if q, ok := newest[k]; !ok || p.PerformedAt.After(q.PerformedAt) || (p.PerformedAt.Equal(q.PerformedAt) && p.ID > q.ID) {
			newest[k] = p
		}
	}
	for _, p := range newest {
		if p.PerformedAt.Before(start) || p.PerformedAt.After(end) {
			continue
		}
		e := store.RollupBucketEnd(p.PerformedAt)
		row := map[string]any{}
		for _, win := range DefaultWindows {
			n, sum := 0, 0.0
			for _, q := range scored {
				if q.ModelID == p.ModelID && q.ScopeKey == p.ScopeKey && q.PerformedAt.After(e.Add(-win.Length)) && !q.PerformedAt.After(e) &&
					q.Score.Success && q.Score.Value != nil {
					n++
					sum += *q.Score.Value
				}
			}
			row[win.Name] = nil
			if n > 0 {
				row[win.Name] = sum / float64(n)
			}
			row["count"] = n
		}
		row["score_value"] = nil
		if p.Score.Success && p.Score.Value != nil {
			row["score_value"] = *p.Score.Value
		}
		out[p.ModelID+"|"+p.ScopeKey+"|"+ts(p.PerformedAt).(string)] = row
	}
	return out
}

// TestParamsFromRollupsMatchRawRows: /reports/models/params read from the
// score rollups equals the direct computation from the scored rows, on
// every backend, for a window ending on an hour and one ending inside an
// hour with predictions after it.
func TestParamsFromRollupsMatchRawRows(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			st := openBackend(t, backend)
			scored := seedParamsData(t, st.(seeder))
			if backend == "fake" {
				scored = fakeScored(t, st.(*fakeStore))
			}
			srv := newTestServer(t, st, func(o *Options) { o.MaxChartPoints = 1 << 20 })
			for _, w := range []struct{ start, end time.Time }{
				{ago(50 * time.Hour), ago(2 * time.Hour)},
				{ago(30*time.Hour + 17*time.Minute), ago(3*time.Hour + 33*time.Minute)},
			} {
				want := directParams(scored, w.start, w.end)
				q := "start=" + url.QueryEscape(ts(w.start).(string)) + "&end=" + url.QueryEscape(ts(w.end).(string))
				_, _, body := get(t, srv, "GET", "/reports/models/params?"+q)
				rows := decodeRows(t, "params", body)
				if len(rows) != len(want) || len(rows) < 100 {
					t.Fatalf("%s: %d rows, want %d", q, len(rows), len(want))
				}
				aligned := 0
				for _, r := range rows {
					k := fmt.Sprint(r["model_id"], "|", r["scope_key"], "|", r["performed_at"])
					wr, ok := want[k]
					if !ok {
						t.Fatalf("%s: unexpected point %s", q, k)
					}
					for _, key := range []string{"score_recent", "score_steady", "score_anchor", "score_value", "count"} {
						if !sameNumber(r[key], wr[key]) {
							t.Fatalf("%s: point %s: %s = %v, want %v", q, k, key, r[key], wr[key])
						}
					}
					if at, _ := time.Parse(TimeLayout, r["performed_at"].(string)); at.Equal(store.RollupBucketEnd(at)) {
						aligned++ // here the window is (p - W, p]: the per-prediction rule
					}
				}
				if aligned == 0 || aligned == len(rows) {
					t.Errorf("%s: %d of %d points at their bucket end, want some of each", q, aligned, len(rows))
				}
			}
		})
	}
}

// TestParamsPointBudget: a series is cut, from its newest point back, into
// cells of whole hours keeping each cell's newest point; the answer's rows
// stay within MaxChartPoints.
func TestParamsPointBudget(t *testing.T) {
	st := openMigrated(t, "sqlite://"+t.TempDir()+"/b.db")
	scored := seedParamsData(t, st.(seeder))
	srv := newTestServer(t, st, func(o *Options) { o.MaxChartPoints = 60 })
	q := "start=" + url.QueryEscape(ts(ago(7*24*time.Hour)).(string)) + "&end=" + url.QueryEscape(ts(fixtureNow).(string))
	_, h, body := get(t, srv, "GET", "/reports/models/params?"+q)
	rows := decodeRows(t, "params", body)
	if h.Get("X-Point-Budget") != "10" || len(rows) > 60 || len(rows) < 54 {
		t.Fatalf("%d rows, budget %q; want up to 60 in all, 10 per series", len(rows), h.Get("X-Point-Budget"))
	}
	var newest time.Time
	for _, p := range scored {
		if p.ModelID == "m1" && p.ScopeKey == "BTC-60" && p.PerformedAt.After(newest) {
			newest = p.PerformedAt
		}
	}
	m1 := rowsWhere(rows, "model_id", "m1", "scope_key", "BTC-60")
	if len(m1) == 0 || len(m1) > 10 || m1[len(m1)-1]["performed_at"] != ts(newest) {
		t.Fatalf("m1 BTC-60: %d points ending %v, want up to 10 ending with the newest %v", len(m1), m1[len(m1)-1]["performed_at"], ts(newest))
	}
	// The 169 hours ending 12:00 in cells of 17 hours, counted from 12:00:
	// each point is the newest hour of its cell.
	for i := 1; i < len(m1); i++ {
		a, _ := time.Parse(TimeLayout, m1[i-1]["performed_at"].(string))
		b, _ := time.Parse(TimeLayout, m1[i]["performed_at"].(string))
		if d := store.RollupBucketEnd(b).Sub(store.RollupBucketEnd(a)); d != 17*time.Hour {
			t.Errorf("points %d and %d are %s apart, want 17h", i-1, i, d)
		}
	}
}

func sameNumber(a, b any) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	x, ok1 := a.(float64)
	var y float64
	switch v := b.(type) {
	case float64:
		y = v
	case int:
		y = float64(v)
	default:
		return false
	}
	return ok1 && math.Abs(x-y) < 1e-9
}

// fakeScored returns the fake's scored predictions.
func fakeScored(t *testing.T, f *fakeStore) []store.Prediction {
	t.Helper()
	out, err := f.ListPredictions(context.Background(), store.PredictionQuery{ScoredOnly: true, Limit: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// openMigrated opens and migrates the store at rawURL (closed at cleanup).
func openMigrated(t *testing.T, rawURL string) Store {
	t.Helper()
	st, err := dburl.Open(context.Background(), rawURL)
	if err != nil {
		t.Fatalf("opening store: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if err := st.Migrate(context.Background()); err != nil {
		t.Fatalf("migrating %s store: %v", st.Backend(), err)
	}
	return st
}

// TestParamsCacheFollowsWrites: /reports/models/params answered through
// the rollup cache equals the answer read from the store alone
// (Options.ChartCacheSize < 0), on every backend, before and after writes
// that change an old day (a late score) and the newest hour (predictions
// stored, then scored by ClaimAndScore), and on a repeat (all days
// cached).
func TestParamsCacheFollowsWrites(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			st := openBackend(t, backend)
			seedParamsData(t, st.(seeder))
			cached := newTestServer(t, st, nil)
			direct := newTestServer(t, st, func(o *Options) { o.ChartCacheSize = -1 })
			q := "/reports/models/params?start=" + url.QueryEscape(ts(ago(30*24*time.Hour)).(string)) + "&end=" + url.QueryEscape(ts(fixtureNow).(string))
			var last []byte
			check := func(what string, changed bool) {
				t.Helper()
				_, h1, want := get(t, direct, "GET", q)
				_, h2, got := get(t, cached, "GET", q)
				if string(got) != string(want) || h1.Get("X-Point-Budget") != h2.Get("X-Point-Budget") {
					t.Fatalf("%s: cached answer (%d bytes, budget %s) differs from the store's (%d bytes, budget %s)",
						what, len(got), h2.Get("X-Point-Budget"), len(want), h1.Get("X-Point-Budget"))
				}
				if len(decodeRows(t, "params", got)) < 100 {
					t.Fatalf("%s: fewer than 100 rows", what)
				}
				if changed == (string(got) == string(last)) {
					t.Fatalf("%s: answer changed = %v, want %v", what, !changed, changed)
				}
				last = got
			}
			check("first request", true)
			check("repeat", false)
			// Ends (and starts) moving inside one hour, across the newest
			// predictions of its rollups (m1 and m2 at :50, m3 at :55): the
			// reused points only while no rollup enters or leaves.
			hour := fixtureNow.Add(-5 * time.Hour)
			for _, off := range []time.Duration{0, 49 * time.Minute, 50 * time.Minute, 51 * time.Minute, 54 * time.Minute, 55 * time.Minute, 55*time.Minute + time.Second, 59 * time.Minute, 59 * time.Minute} {
				end := hour.Add(off)
				wq := "/reports/models/params?start=" + url.QueryEscape(ts(end.Add(-3*24*time.Hour)).(string)) + "&end=" + url.QueryEscape(ts(end).(string))
				_, _, want := get(t, direct, "GET", wq)
				_, _, got := get(t, cached, "GET", wq)
				if string(got) != string(want) {
					t.Fatalf("window ending %s: cached answer (%d bytes) differs from the store's (%d bytes)", ts(end), len(got), len(want))
				}
			}
			ctx := context.Background()
			late := pred("m2", "BTC-60", btcScope, 3*24*time.Hour+2*time.Minute, store.StatusSuccess, ok(40))
			late.ID = "late"
			if _, err := st.(seeder).SavePredictCycle(ctx, nil, []store.Prediction{late}); err != nil {
				t.Fatal(err)
			}
			check("a late score three days back", true)
			full, isStore := st.(store.Store)
			if !isStore {
				return
			}
			var fresh []store.Prediction
			for i, m := range []string{"m1", "m3"} {
				p := pred(m, "ETH-300", ethScope, time.Duration(i+1)*time.Minute, store.StatusSuccess, nil)
				p.ID, p.ResolvableAt = "fresh-"+m, fixtureNow
				fresh = append(fresh, p)
			}
			if _, err := full.SavePredictCycle(ctx, nil, fresh); err != nil {
				t.Fatal(err)
			}
			check("unscored predictions in the newest hour", false)
			n, err := full.ClaimAndScore(ctx, fixtureNow, 10, func(_ context.Context, claimed []store.Prediction) ([]store.ScoreUpdate, error) {
				var out []store.ScoreUpdate
				for _, p := range claimed {
					out = append(out, store.ScoreUpdate{PredictionID: p.ID, Score: &store.Score{Value: f64(7), Success: true}})
				}
				return out, nil
			})
			if err != nil || n != 2 {
				t.Fatalf("ClaimAndScore: %d claimed, %v; want 2", n, err)
			}
			check("their scores", true)
			check("repeat after the writes", false)
		})
	}
}
