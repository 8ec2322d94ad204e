package score_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/crunch-coordinator/coordinator/internal/clock"
	"github.com/crunch-coordinator/coordinator/internal/score"
	"github.com/crunch-coordinator/coordinator/internal/store"
	"github.com/crunch-coordinator/coordinator/internal/store/dburl"
)

// benchStoreURL returns a fresh store URL of backend: a new SQLite file, or
// a new database on the TEST_DATABASE_URL server (dropped at cleanup;
// skipped when TEST_DATABASE_URL is unset).
func benchStoreURL(b *testing.B, backend string) string {
	b.Helper()
	if backend == "sqlite" {
		return "sqlite://" + b.TempDir() + "/bench.db"
	}
	base := os.Getenv("TEST_DATABASE_URL")
	if base == "" {
		b.Skip("TEST_DATABASE_URL not set: skipping the PostgreSQL scoring benchmark")
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		b.Fatalf("connecting to TEST_DATABASE_URL %s: %v", dburl.Redact(base), err)
	}
	name := fmt.Sprintf("score_bench_%d_%d", os.Getpid(), time.Now().UnixNano())
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		_ = conn.Close(ctx)
		b.Fatalf("creating database %s: %v", name, err)
	}
	b.Cleanup(func() {
		if _, err := conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			b.Errorf("dropping database %s: %v", name, err)
		}
		_ = conn.Close(context.Background())
	})
	u, err := url.Parse(base)
	if err != nil {
		b.Fatalf("parsing TEST_DATABASE_URL %s: %v", dburl.Redact(base), err)
	}
	u.Path = "/" + name
	return u.String()
}

// BenchmarkScore measures Worker.Score (claim, in-process ground truth and
// Brier scoring, score write) over 10,000 due predictions of 10 models per
// iteration, on both backends and for two batch sizes, in predictions/s.
// The challenge runs in-process, so this is the worker's and the store's
// share of a scoring cycle (the harness in cmd/coordinator-bench adds the gRPC
// plugin call).
func BenchmarkScore(b *testing.B) {
	const perIter, models = 10000, 10
	for _, backend := range []string{"sqlite", "postgres"} {
		for _, bc := range [][2]int{{100, 1}, {100, 2}, {1000, 1}, {1000, 2}} {
			batch, conc := bc[0], bc[1]
			b.Run(fmt.Sprintf("%s/batch=%d/concurrency=%d", backend, batch, conc), func(b *testing.B) {
				ctx := context.Background()
				st, err := dburl.Open(ctx, benchStoreURL(b, backend))
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { _ = st.Close() })
				if err := st.Migrate(ctx); err != nil {
					b.Fatal(err)
				}
				if err := st.ReplaceSchedules(ctx, []store.ScheduleRow{{ID: "btc", ScopeKey: "btc", Active: true,
					ScopeTemplate: json.RawMessage(`{}`), Schedule: json.RawMessage(`{"every_seconds":60,"resolve_after_seconds":60}`)}}); err != nil {
					b.Fatal(err)
				}
				var ms []store.Model
				for i := range models {
					ms = append(ms, store.Model{ID: fmt.Sprintf("m%02d", i), Name: "n", PlayerName: "p"})
				}
				if err := st.UpsertModels(ctx, ms); err != nil {
					b.Fatal(err)
				}
				base := time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC)
				slot := 0
				for b.Loop() {
					b.StopTimer()
					preds := make([]store.Prediction, 0, perIter)
					for range perIter / models {
						at := base.Add(time.Duration(slot) * time.Minute)
						slot++
						for _, m := range ms {
							preds = append(preds, pred(m.ID, at, store.StatusSuccess, float64(slot%100)/100, at.Add(time.Minute)))
						}
					}
					if _, err := st.SavePredictCycle(ctx, nil, preds); err != nil {
						b.Fatal(err)
					}
					w, err := score.New(score.Config{Challenge: &brier{}, Store: st, BatchSize: batch, Concurrency: conc,
						Clock: clock.NewSimulated(base.Add(time.Duration(slot+10) * time.Minute)), GroundTruthMaxWait: 365 * 24 * time.Hour})
					if err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
					res, err := w.Score(ctx)
					if err != nil || res.Scored != perIter {
						b.Fatalf("Score = %+v, %v; want %d scored", res, err, perIter)
					}
				}
				b.ReportMetric(float64(perIter*b.N)/b.Elapsed().Seconds(), "predictions/s")
			})
		}
	}
}
