package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/crunch-coordinator/coordinator/internal/redact"
	"github.com/crunch-coordinator/coordinator/internal/store"
	"github.com/crunch-coordinator/coordinator/internal/testutil"
)

func TestRedact(t *testing.T) {
	tests := []struct{ in, want string }{
		{"postgres://u:s3cret@h:5432/db?sslmode=disable", "postgres://u:xxxxx@h:5432/db?sslmode=disable"},
		{"postgres://u@h/db", "postgres://u@h/db"},
		{"postgres://h/db?password=s3cret&sslmode=disable", "postgres://h/db?password=xxxxx&sslmode=disable"},
		{"host=h user=u password=s3cret dbname=db", "host=h user=u password=xxxxx dbname=db"},
		{"host=h password='s 3cret' dbname=db", "host=h password=xxxxx dbname=db"},
		{"postgres://u:s3cret@h:notaport/db", "postgres://u:xxxxx@h:notaport/db"},
	}
	for _, tt := range tests {
		if got := redact.URL(tt.in); got != tt.want {
			t.Errorf("redact.URL(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if strings.Contains(redact.URL(tt.in), "s3cret") {
			t.Errorf("redact.URL(%q) leaks the password", tt.in)
		}
	}
}

func TestOpenFaults(t *testing.T) {
	base := testutil.TestDatabaseURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	t.Run("connection refused", func(t *testing.T) {
		_, err := Open(ctx, "postgres://postgres:topsecret@127.0.0.1:1/test?sslmode=disable&connect_timeout=5")
		if err == nil {
			t.Fatal("Open on a closed port: expected an error, found nil")
		}
		if !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("expected ErrUnavailable, found %v", err)
		}
		if strings.Contains(err.Error(), "topsecret") || !strings.Contains(err.Error(), "postgres://postgres:xxxxx@127.0.0.1:1/test") {
			t.Errorf("error must name the redacted URL and not the password: %v", err)
		}
	})
	t.Run("unknown database", func(t *testing.T) {
		u := strings.Replace(newDatabase(t), "coordinator_test_", "coordinator_missing_", 1)
		u = strings.Replace(u, "postgres://postgres@", "postgres://postgres:topsecret@", 1)
		_, err := Open(ctx, u)
		if err == nil {
			t.Fatal("Open on an unknown database: expected an error, found nil")
		}
		if errors.Is(err, store.ErrUnavailable) {
			t.Errorf("an unknown database is not retryable, found ErrUnavailable: %v", err)
		}
		if strings.Contains(err.Error(), "topsecret") || !strings.Contains(err.Error(), "coordinator_missing_") {
			t.Errorf("error must name the redacted URL and not the password: %v", err)
		}
	})
	t.Run("invalid URL", func(t *testing.T) {
		_, err := Open(ctx, "postgres://u:topsecret@h:notaport/db")
		if err == nil || strings.Contains(err.Error(), "topsecret") {
			t.Errorf("expected an error without the password, found %v", err)
		}
	})
	_ = base
}

func TestNotMigratedAndMigrate(t *testing.T) {
	ctx := context.Background()
	dbURL := newDatabase(t)
	s := openDB(t, dbURL)
	cur, exp, err := s.SchemaVersion(ctx)
	if err != nil || cur != 0 || exp != ExpectedVersion() || exp < 1 {
		t.Fatalf("SchemaVersion on an empty database = %d, %d, %v; want 0, %d, nil", cur, exp, err, ExpectedVersion())
	}
	if _, err := s.ListModels(ctx); !errors.Is(err, store.ErrNotMigrated) {
		t.Fatalf("ListModels before Migrate: expected ErrNotMigrated, found %v", err)
	}
	if _, err := s.SavePredictCycle(ctx, nil, nil); !errors.Is(err, store.ErrNotMigrated) {
		t.Fatalf("SavePredictCycle before Migrate: expected ErrNotMigrated, found %v", err)
	}
	// Two processes migrating at once: both succeed, each migration applied once.
	other := openDB(t, dbURL)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, st := range []*Store{s, other} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = st.Migrate(ctx)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("concurrent Migrate %d: %v", i, err)
		}
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	cur, exp, err = s.SchemaVersion(ctx)
	if err != nil || cur != exp {
		t.Fatalf("SchemaVersion after Migrate = %d, %d, %v; want equal", cur, exp, err)
	}
	var applied int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM goose_db_version WHERE version_id = 1`).Scan(&applied); err != nil || applied != 1 {
		t.Fatalf("migration 1 recorded %d times (%v); want once", applied, err)
	}
	if _, err := s.ListModels(ctx); err != nil {
		t.Fatalf("ListModels after Migrate: %v", err)
	}
	// Data survives re-migration (never drop-and-recreate).
	if err := s.UpsertModels(ctx, []store.Model{{ID: "m1", Name: "one"}}); err != nil {
		t.Fatal(err)
	}
	if err := other.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if ms, err := s.ListModels(ctx); err != nil || len(ms) != 1 {
		t.Fatalf("models after re-Migrate = %v, %v; want 1", ms, err)
	}
	// A schema dropped under a running Store is reported as not migrated.
	if _, err := s.pool.Exec(ctx, `DROP TABLE leaderboards`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.LatestLeaderboard(ctx); !errors.Is(err, store.ErrNotMigrated) {
		t.Fatalf("LatestLeaderboard without its table: expected ErrNotMigrated, found %v", err)
	}
}

func pred(id, model string, performed, resolvable time.Time, status string) store.Prediction {
	return store.Prediction{
		ID: id, ModelID: model, ScopeKey: "BTC-60-60", Status: status, ExecTimeMs: 1.5,
		Scope:           json.RawMessage(`{"asset":"BTC","horizon":60}`),
		InferenceOutput: json.RawMessage(`{"value":1}`),
		PerformedAt:     performed, ResolvableAt: resolvable,
	}
}

func TestJSONFidelity(t *testing.T) {
	s, _ := openMigrated(t)
	ctx := context.Background()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 123456000, time.FixedZone("X", 3*3600))
	p := pred("p1", "m1", t0, t0.Add(time.Minute), store.StatusSuccess)
	p.InferenceInput = json.RawMessage(`{"big":123456789012345678901234567890,"id":9007199254740993,"f":0.1,"s":"é\u00e9"}`)
	if n, err := s.SavePredictCycle(ctx, []store.Model{{ID: "m1", Name: "one"}}, []store.Prediction{p}); err != nil || n != 1 {
		t.Fatalf("SavePredictCycle = %d, %v; want 1, nil", n, err)
	}
	got, err := s.ListPredictions(ctx, store.PredictionQuery{})
	if err != nil || len(got) != 1 {
		t.Fatalf("ListPredictions = %v, %v", got, err)
	}
	in := string(got[0].InferenceInput)
	for _, want := range []string{"123456789012345678901234567890", "9007199254740993", "0.1"} {
		if !strings.Contains(in, want) {
			t.Errorf("inference input %s lost %s", in, want)
		}
	}
	if got[0].PerformedAt.Location() != time.UTC || !got[0].PerformedAt.Equal(t0) {
		t.Errorf("PerformedAt = %v; want %v in UTC", got[0].PerformedAt, t0)
	}

}

func TestSaveAndQueries(t *testing.T) {
	s, _ := openMigrated(t)
	ctx := context.Background()
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	if err := s.ReplaceSchedules(ctx, []store.ScheduleRow{
		{ID: "CFG_001", ScopeKey: "a", Active: true, Order: 2},
		{ID: "CFG_002", ScopeKey: "b", Active: true, Order: 1},
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.ReplaceSchedules(ctx, []store.ScheduleRow{{ID: "CFG_001", ScopeKey: "a2", Active: true, Order: 2}}); err != nil {
		t.Fatal(err)
	}
	all, err := s.ListSchedules(ctx, false)
	if err != nil || len(all) != 2 || all[0].ID != "CFG_002" || all[0].Active || all[1].ScopeKey != "a2" {
		t.Fatalf("ListSchedules(all) = %+v, %v", all, err)
	}
	active, _ := s.ListSchedules(ctx, true)
	if len(active) != 1 || active[0].ID != "CFG_001" {
		t.Fatalf("ListSchedules(active) = %+v", active)
	}

	models := []store.Model{{ID: "m1", Name: "one", Meta: json.RawMessage(`{"k":1}`)}, {ID: "m2", Name: "two"}}
	var preds []store.Prediction
	for i := range 10 {
		for _, m := range []string{"m1", "m2"} {
			slot := t0.Add(time.Duration(i) * time.Minute)
			p := pred(store.PredictionID("CFG_001", m, slot), m, slot, slot.Add(time.Minute), store.StatusSuccess)
			p.PredictionConfigID = "CFG_001"
			preds = append(preds, p)
		}
	}
	n, err := s.SavePredictCycle(ctx, models, preds)
	if err != nil || n != 20 {
		t.Fatalf("SavePredictCycle = %d, %v; want 20", n, err)
	}
	// Retried cycle: nothing new; nil Meta keeps the stored meta.
	models[0].Meta = nil
	if n, err := s.SavePredictCycle(ctx, models, preds); err != nil || n != 0 {
		t.Fatalf("retried SavePredictCycle = %d, %v; want 0", n, err)
	}
	ms, _ := s.ListModels(ctx)
	if len(ms) != 2 || string(ms[0].Meta) != `{"k": 1}` || string(ms[1].Meta) != `{}` {
		t.Fatalf("models = %+v", ms)
	}
	last, err := s.LatestPerformedAt(ctx, "CFG_001")
	if err != nil || !last.Equal(t0.Add(9*time.Minute)) {
		t.Fatalf("LatestPerformedAt = %v, %v", last, err)
	}
	if _, err := s.LatestPerformedAt(ctx, "CFG_002"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("LatestPerformedAt(no rows): expected ErrNotFound, found %v", err)
	}
	page, err := s.ListPredictions(ctx, store.PredictionQuery{ModelIDs: []string{"m2"}, Limit: 3, Offset: 3})
	if err != nil || len(page) != 3 || !page[0].PerformedAt.Equal(t0.Add(3*time.Minute)) || page[0].ModelID != "m2" {
		t.Fatalf("ListPredictions page = %+v, %v", page, err)
	}

	// Score everything due at t0+5m: slots 0..4 for both models.
	claimed, err := s.ClaimAndScore(ctx, t0.Add(5*time.Minute), 100, func(ctx context.Context, c []store.Prediction) ([]store.ScoreUpdate, error) {
		var ups []store.ScoreUpdate
		for i, p := range c {
			if i == 0 {
				ups = append(ups, store.ScoreUpdate{PredictionID: p.ID, Status: store.StatusUnresolved, Reason: "no ground truth"})
				continue
			}
			v := float64(i)
			ups = append(ups, store.ScoreUpdate{PredictionID: p.ID, Score: &store.Score{Value: &v, Success: true, ScoredAt: t0.Add(6 * time.Minute)}})
		}
		return ups, nil
	})
	if err != nil || claimed != 10 {
		t.Fatalf("ClaimAndScore = %d, %v; want 10", claimed, err)
	}
	if n, _ := s.CountPredictions(ctx, store.StatusUnresolved); n != 1 {
		t.Fatalf("UNRESOLVED count = %d; want 1", n)
	}
	scored, err := s.ListPredictions(ctx, store.PredictionQuery{ScoredOnly: true})
	if err != nil || len(scored) != 9 {
		t.Fatalf("scored = %d, %v; want 9", len(scored), err)
	}
	stats, err := s.ModelScoreStats(ctx, time.Time{}, time.Time{})
	if err != nil || len(stats) != 2 {
		t.Fatalf("ModelScoreStats = %+v, %v", stats, err)
	}
	total := 0
	for _, st := range stats {
		total += st.Count
	}
	if total != 9 {
		t.Fatalf("stat counts = %d; want 9", total)
	}
	sp, err := s.WindowPredictions(ctx, "m1", time.Time{}, time.Time{}, 0)
	if err != nil || len(sp) == 0 || sp[0].Score == nil || sp[0].Score.ScoredAt.Location() != time.UTC {
		t.Fatalf("WindowPredictions = %+v, %v", sp, err)
	}
	// Nothing left due at the same time.
	if c, err := s.ClaimAndScore(ctx, t0.Add(5*time.Minute), 100, func(context.Context, []store.Prediction) ([]store.ScoreUpdate, error) {
		return nil, errors.New("must not be called")
	}); err != nil || c != 0 {
		t.Fatalf("second ClaimAndScore = %d, %v", c, err)
	}
	// fn errors and invalid updates roll back.
	boom := errors.New("boom")
	if _, err := s.ClaimAndScore(ctx, t0.Add(time.Hour), 5, func(context.Context, []store.Prediction) ([]store.ScoreUpdate, error) {
		return nil, boom
	}); !errors.Is(err, boom) {
		t.Fatalf("fn error: expected boom, found %v", err)
	}
	if _, err := s.ClaimAndScore(ctx, t0.Add(time.Hour), 5, func(_ context.Context, c []store.Prediction) ([]store.ScoreUpdate, error) {
		nan := math.NaN()
		v := 1.0
		return []store.ScoreUpdate{{PredictionID: c[0].ID, Score: &store.Score{Value: &v, Success: true}}, {PredictionID: c[1].ID, Score: &store.Score{Value: &nan}}}, nil
	}); !errors.Is(err, store.ErrInvalidValue) {
		t.Fatalf("NaN score: expected ErrInvalidValue, found %v", err)
	}
	if n, _ := s.ListPredictions(ctx, store.PredictionQuery{ScoredOnly: true}); len(n) != 9 {
		t.Fatalf("a refused score batch wrote rows: %d scored", len(n))
	}

	// Leaderboards: newest wins; history in order.
	for i := range 3 {
		at := t0.Add(time.Duration(i) * time.Hour)
		err := s.SaveLeaderboard(ctx, store.Leaderboard{ID: fmt.Sprintf("LBR_%d", i), CreatedAt: at, Entries: json.RawMessage(fmt.Sprintf(`[{"rank":%d}]`, i))},
			[]store.ModelScore{{ID: fmt.Sprintf("S%d", i), ModelID: "m1", ComputedAt: at, Score: json.RawMessage(`{"metrics":{"x":1}}`)}})
		if err != nil {
			t.Fatal(err)
		}
	}
	lb, err := s.LatestLeaderboard(ctx)
	if err != nil || lb.ID != "LBR_2" || lb.CreatedAt.Location() != time.UTC {
		t.Fatalf("LatestLeaderboard = %+v, %v", lb, err)
	}
	hist, err := s.ModelScoreHistory(ctx, []string{"m1"}, t0.Add(time.Hour), time.Time{}, 0)
	if err != nil || len(hist) != 2 || hist[0].ID != "S1" {
		t.Fatalf("ModelScoreHistory = %+v, %v", hist, err)
	}

	// Market records: upsert by event key, watermark never goes back.
	recs := []store.MarketRecord{
		{Provider: "binance", Asset: "BTC", Kind: "candle", Granularity: "1m", TsEvent: t0.Add(time.Minute), Values: json.RawMessage(`{"close":1}`)},
		{Provider: "binance", Asset: "BTC", Kind: "candle", Granularity: "1m", TsEvent: t0, Values: json.RawMessage(`{"close":0}`)},
	}
	if w, err := s.UpsertMarketRecords(ctx, recs); err != nil || w != 2 {
		t.Fatalf("UpsertMarketRecords = %d, %v", w, err)
	}
	recs[1].Values = json.RawMessage(`{"close":5}`)
	if _, err := s.UpsertMarketRecords(ctx, recs[1:]); err != nil {
		t.Fatal(err)
	}
	got, err := s.QueryMarketRecords(ctx, store.MarketQuery{Asset: "BTC", Descending: true, Limit: 1})
	if err != nil || len(got) != 1 || !got[0].TsEvent.Equal(t0.Add(time.Minute)) {
		t.Fatalf("QueryMarketRecords(desc) = %+v, %v", got, err)
	}
	got, _ = s.QueryMarketRecords(ctx, store.MarketQuery{})
	if len(got) != 2 || string(got[0].Values) != `{"close": 5}` {
		t.Fatalf("QueryMarketRecords = %+v", got)
	}
	sum, err := s.FeedSummaries(ctx)
	if err != nil || len(sum) != 1 || sum[0].RecordCount != 2 || sum[0].WatermarkTs == nil || !sum[0].WatermarkTs.Equal(t0.Add(time.Minute)) {
		t.Fatalf("FeedSummaries = %+v, %v", sum, err)
	}

	// Checkpoints: newest first with emission.
	for i := range 3 {
		at := t0.Add(time.Duration(i) * time.Hour)
		c := store.Checkpoint{ID: fmt.Sprintf("CKP_%d", i), Kind: "emission", IntervalSeconds: 3600, LastRunAt: &at,
			Emission: &store.EmissionCheckpoint{ID: fmt.Sprintf("EM_%d", i), EmittedAt: at, Payload: json.RawMessage(`{"r":[1]}`)}}
		if err := s.SaveCheckpoint(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	cps, err := s.ListCheckpoints(ctx, "emission", 2)
	if err != nil || len(cps) != 2 || cps[0].ID != "CKP_2" || cps[0].Emission == nil || cps[0].Emission.ID != "EM_2" {
		t.Fatalf("ListCheckpoints = %+v, %v", cps, err)
	}
	if _, err := s.LatestCheckpoint(ctx, "other"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("LatestCheckpoint(other): expected ErrNotFound, found %v", err)
	}
}

// TestClaimAndScoreConcurrent claims from two Stores (two pools) and
// several goroutines each; no prediction may be handed out twice.
func TestClaimAndScoreConcurrent(t *testing.T) {
	a, dbURL := openMigrated(t)
	b := openDB(t, dbURL)
	ctx := context.Background()
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	const total = 2000
	preds := make([]store.Prediction, total)
	for i := range preds {
		preds[i] = pred(fmt.Sprintf("p%05d", i), "m1", t0, t0.Add(time.Duration(i)*time.Second), store.StatusSuccess)
	}
	if n, err := a.SavePredictCycle(ctx, []store.Model{{ID: "m1"}}, preds); err != nil || n != total {
		t.Fatalf("SavePredictCycle = %d, %v", n, err)
	}
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		st := a
		if w%2 == 1 {
			st = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				n, err := st.ClaimAndScore(ctx, t0.Add(time.Hour), 37, func(_ context.Context, c []store.Prediction) ([]store.ScoreUpdate, error) {
					ups := make([]store.ScoreUpdate, len(c))
					mu.Lock()
					for i, p := range c {
						seen[p.ID]++
						v := 1.0
						ups[i] = store.ScoreUpdate{PredictionID: p.ID, Score: &store.Score{Value: &v, Success: true}}
					}
					mu.Unlock()
					return ups, nil
				})
				if err != nil {
					errs <- err
					return
				}
				if n == 0 {
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("ClaimAndScore: %v", err)
	}
	if len(seen) != total {
		t.Fatalf("scored %d distinct predictions; want %d", len(seen), total)
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("prediction %s handed out %d times", id, n)
		}
	}
}

func TestWithLeaderLock(t *testing.T) {
	a, dbURL := openMigrated(t)
	b := openDB(t, dbURL)
	ctx := context.Background()
	inside := make(chan struct{})
	release := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		ran, err := a.WithLeaderLock(ctx, "score", func(context.Context) error {
			close(inside)
			<-release
			return nil
		})
		if err == nil && !ran {
			err = errors.New("first holder did not run")
		}
		done <- err
	}()
	<-inside
	for _, st := range []*Store{a, b} {
		ran, err := st.WithLeaderLock(ctx, "score", func(context.Context) error { return nil })
		if err != nil || ran {
			t.Fatalf("second holder: ran=%v err=%v; want false, nil", ran, err)
		}
	}
	ran, err := b.WithLeaderLock(ctx, "other", func(context.Context) error { return nil })
	if err != nil || !ran {
		t.Fatalf("different lock name: ran=%v err=%v; want true", ran, err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	ran, err = b.WithLeaderLock(ctx, "score", func(context.Context) error { return boom })
	if !ran || !errors.Is(err, boom) {
		t.Fatalf("after release: ran=%v err=%v; want true, boom", ran, err)
	}
}

// TestConnectionLoss terminates every backend of the test database while
// a worker writes batches: each call either succeeds or fails with a
// retryable ErrUnavailable, no batch is half written, and the next call
// succeeds on the same Store.
func TestConnectionLoss(t *testing.T) {
	s, dbURL := openMigrated(t)
	killer := openDB(t, dbURL)
	ctx := context.Background()
	if err := s.UpsertModels(ctx, []store.Model{{ID: "m1"}}); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	const batch = 500
	var unavailable int
	for round := range 12 {
		preds := make([]store.Prediction, batch)
		for i := range preds {
			preds[i] = pred(fmt.Sprintf("r%02d-%04d", round, i), "m1", t0, t0, store.StatusSuccess)
		}
		errc := make(chan error, 1)
		go func() {
			_, err := s.SavePredictCycle(ctx, nil, preds)
			errc <- err
		}()
		if round%2 == 0 {
			// Give the write a head start on some rounds only.
			time.Sleep(time.Duration(round) * time.Millisecond)
		}
		if _, err := killer.pool.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
			WHERE datname = current_database() AND pid <> pg_backend_pid()`); err != nil {
			t.Fatalf("terminate backends: %v", err)
		}
		err := <-errc
		if err != nil {
			if round == 0 || unavailable == 0 {
				t.Logf("round %d error: %v", round, err)
			}
			if !errors.Is(err, store.ErrUnavailable) {
				t.Fatalf("round %d: expected success or ErrUnavailable, found %v", round, err)
			}
			unavailable++
		}
		var n int
		if err := killer.pool.QueryRow(ctx, `SELECT count(*) FROM predictions WHERE id LIKE $1`, fmt.Sprintf("r%02d-%%", round)).Scan(&n); err != nil {
			t.Fatalf("count: %v", err)
		}
		if n != 0 && n != batch {
			t.Fatalf("round %d: half-written batch: %d of %d rows", round, n, batch)
		}
		if err == nil && n != batch {
			t.Fatalf("round %d: success reported but %d rows written", round, n)
		}
		// The next call works on the same Store, without reopening.
		if c, err := s.CountPredictions(ctx, ""); err != nil {
			t.Fatalf("round %d: call after the connection loss: %v", round, err)
		} else if c < int64(n) {
			t.Fatalf("round %d: count %d < %d", round, c, n)
		}
	}
	t.Logf("%d of 12 rounds saw ErrUnavailable", unavailable)
}

func TestClassify(t *testing.T) {
	pg := func(code string) error { return &pgconn.PgError{Code: code, Message: "m"} }
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"admin shutdown", pg("57P01"), store.ErrUnavailable},
		{"connection failure", pg("08006"), store.ErrUnavailable},
		{"too many connections", pg("53300"), store.ErrUnavailable},
		{"serialization failure", pg("40001"), store.ErrUnavailable},
		{"undefined table", pg("42P01"), store.ErrNotMigrated},
		{"untranslatable character", pg("22P05"), store.ErrInvalidValue},
		{"foreign key", pg("23503"), store.ErrInvalidValue},
		{"syntax error", pg("42601"), nil},
		{"unexpected EOF", fmt.Errorf("read: %w", io.ErrUnexpectedEOF), store.ErrUnavailable},
		{"connection refused", &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, store.ErrUnavailable},
		{"cancelled", context.Canceled, nil},
	}
	for _, tt := range tests {
		if got := classify(tt.err); got != tt.want {
			t.Errorf("classify(%s) = %v, want %v", tt.name, got, tt.want)
		}
	}
	// Permanent connect failures are not retryable.
	for _, code := range []string{"28P01", "28000", "3D000"} {
		if err := classifyConnect(pg(code)); errors.Is(err, store.ErrUnavailable) {
			t.Errorf("classifyConnect(%s) = %v; want not ErrUnavailable", code, err)
		}
	}
	if err := classifyConnect(pg("57P03")); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("classifyConnect(57P03) = %v; want ErrUnavailable", err)
	}
}
