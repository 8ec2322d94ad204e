package report

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/jackc/pgx/v5"

	"github.com/crunch-coordinator/coordinator/host"
	"github.com/crunch-coordinator/coordinator/internal/clock"
	"github.com/crunch-coordinator/coordinator/internal/store"
	"github.com/crunch-coordinator/coordinator/internal/store/dburl"
	"github.com/crunch-coordinator/coordinator/sdk"
)

// fixtureNow is "now" for every test (simulated clock).
var fixtureNow = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

// seeder is what the fixture writes through: both fakeStore and the real
// stores have these methods.
type seeder interface {
	UpsertModels(ctx context.Context, models []store.Model) error
	SavePredictCycle(ctx context.Context, models []store.Model, predictions []store.Prediction) (int, error)
	SaveLeaderboard(ctx context.Context, lb store.Leaderboard, scores []store.ModelScore) error
	UpsertMarketRecords(ctx context.Context, records []store.MarketRecord) (int, error)
	SaveCheckpoint(ctx context.Context, c store.Checkpoint) error
}

func f64(v float64) *float64 { return &v }

func ago(d time.Duration) time.Time { return fixtureNow.Add(-d) }

// fixtureModels: m3 has no predictions; m4 is only known to the supervisor.
var fixtureModels = []store.Model{
	{ID: "m1", Name: "alpha", DeploymentID: "d1", PlayerID: "p1", PlayerName: "alice"},
	{ID: "m2", Name: "beta", DeploymentID: "d2", PlayerID: "p2", PlayerName: "bob"},
	{ID: "m3", Name: "gamma", DeploymentID: "d3", PlayerID: "p3", PlayerName: "carol"},
}

var fixtureStates = []host.ModelState{
	{ID: "m1", Name: "alpha", Version: "1.0", Running: true, Restarts: 1},
	{ID: "m2", Name: "beta", Stopped: true, Reason: host.StopMultipleTimeout, ConsecutiveTimeouts: 3, LastError: "deadline exceeded"},
	{ID: "m4", Name: "delta", Running: true},
}

var fixtureFeedHealth = []FeedHealth{
	{Provider: "pyth", Asset: "BTC", Kind: "tick", Granularity: "1s", LastEventAt: ago(10 * time.Second),
		Malformed: 2, Conflicts: 1, StalePrices: 3, Duplicates: 4, LastDropReason: "parsed[0] (feed e62d): price: \"abc\": expected an integer", LastDropRow: `{"id":"e62d"}`},
	{Provider: "pyth", Asset: "ETH", Kind: "tick", Granularity: "1s", Stale: true, LastError: "GET https://hermes.example/v2: HTTP 503",
		LastErrorAt: ago(5 * time.Second), ConsecutiveErrors: 4, NextAttemptAt: ago(-8 * time.Second)},
}

var btcScope = json.RawMessage(`{"asset":"BTC","horizon":60,"step":60}`)

// ethScope carries keys that collide with fixed row keys: they must not
// overwrite them.
var ethScope = json.RawMessage(`{"asset":"ETH","horizon":300,"step":60,"model_id":"evil","performed_at":"not-a-time"}`)

func pred(model, scopeKey string, scope json.RawMessage, at time.Duration, status string, sc *store.Score) store.Prediction {
	performed := ago(at)
	if sc != nil && sc.ScoredAt.IsZero() {
		sc.ScoredAt = performed.Add(time.Minute)
	}
	return store.Prediction{
		ID:                 fmt.Sprintf("PRE_%s_%s_%d", model, scopeKey, int(at.Minutes())),
		ModelID:            model,
		PredictionConfigID: "",
		ScopeKey:           scopeKey,
		Scope:              scope,
		Status:             status,
		ExecTimeMs:         12.5,
		InferenceOutput:    json.RawMessage(`{"p_up":0.6}`),
		PerformedAt:        performed,
		ResolvableAt:       performed.Add(time.Minute),
		Score:              sc,
	}
}

func ok(v float64) *store.Score { return &store.Score{Value: f64(v), Success: true} }

func fixturePredictions() []store.Prediction {
	h := time.Hour
	return []store.Prediction{
		// m1 BTC-60: one 48 h back (outside the default range, inside the
		// anchor window), then every 30 min; the -1h one failed scoring and
		// the newest is not scored yet.
		pred("m1", "BTC-60", btcScope, 48*h, store.StatusSuccess, ok(0.0)),
		pred("m1", "BTC-60", btcScope, 3*h, store.StatusSuccess, ok(0.2)),
		pred("m1", "BTC-60", btcScope, 150*time.Minute, store.StatusSuccess, ok(0.4)),
		pred("m1", "BTC-60", btcScope, 2*h, store.StatusSuccess, ok(0.6)),
		pred("m1", "BTC-60", btcScope, 90*time.Minute, store.StatusSuccess, ok(0.8)),
		pred("m1", "BTC-60", btcScope, 1*h, store.StatusSuccess, &store.Score{Success: false, FailedReason: "bad output"}),
		pred("m1", "BTC-60", btcScope, 30*time.Minute, store.StatusSuccess, nil),
		pred("m1", "ETH-300", ethScope, 2*h, store.StatusSuccess, ok(0.9)),
		pred("m1", "ETH-300", ethScope, 1*h, store.StatusSuccess, ok(0.7)),
		// m2 BTC-60: five scored 0.5, the newest timed out.
		pred("m2", "BTC-60", btcScope, 3*h, store.StatusSuccess, ok(0.5)),
		pred("m2", "BTC-60", btcScope, 150*time.Minute, store.StatusSuccess, ok(0.5)),
		pred("m2", "BTC-60", btcScope, 2*h, store.StatusSuccess, ok(0.5)),
		pred("m2", "BTC-60", btcScope, 90*time.Minute, store.StatusSuccess, ok(0.5)),
		pred("m2", "BTC-60", btcScope, 1*h, store.StatusSuccess, ok(0.5)),
		pred("m2", "BTC-60", btcScope, 30*time.Minute, store.StatusTimeout, nil),
	}
}

func envelope(recent, steady, anchor float64, extra map[string]any) json.RawMessage {
	metrics := map[string]any{"recent": recent, "steady": steady, "anchor": anchor}
	for k, v := range extra {
		metrics[k] = v
	}
	return mustJSON(map[string]any{
		"metrics": metrics,
		"ranking": map[string]any{"key": "anchor", "value": anchor, "direction": "desc", "tie_breakers": []string{}},
		"payload": map[string]any{},
	})
}

func seedFixture(t testing.TB, s seeder) {
	t.Helper()
	ctx := context.Background()
	if err := s.UpsertModels(ctx, fixtureModels); err != nil {
		t.Fatalf("seeding models: %v", err)
	}
	if _, err := s.SavePredictCycle(ctx, nil, fixturePredictions()); err != nil {
		t.Fatalf("seeding predictions: %v", err)
	}
	// An older leaderboard with its score points, then the latest one.
	old := store.Leaderboard{ID: "LBR_old", CreatedAt: ago(2 * time.Hour),
		Entries: mustJSON([]any{map[string]any{"model_id": "m1", "rank": 1, "score": json.RawMessage(envelope(1, 1, 1, nil))}})}
	var hist []store.ModelScore
	for i, at := range []time.Duration{48 * time.Hour, 3 * time.Hour, 2 * time.Hour} {
		for _, m := range []string{"m1", "m2"} {
			v := 0.1 * float64(i+1)
			hist = append(hist, store.ModelScore{ID: fmt.Sprintf("MSC_%s_%d", m, i), ModelID: m, ComputedAt: ago(at), Score: envelope(v, v, v, nil)})
		}
	}
	if err := s.SaveLeaderboard(ctx, old, hist); err != nil {
		t.Fatalf("seeding old leaderboard: %v", err)
	}
	// Latest: stored out of rank order, with an unranked entry, a null
	// entry and metrics whose names collide with fixed row keys.
	latestEntries := json.RawMessage(`[
		{"model_id":"m1","rank":2,"model_name":"alpha","cruncher_name":"alice","score":` + string(envelope(0.4, 0.3, 0.2, nil)) + `},
		{"model_id":"m3","score":{"metrics":{},"ranking":{"direction":"desc"}}},
		null,
		{"model_id":"m2","rank":1,"model_name":"beta","cruncher_name":"bob","score":` + string(envelope(0.5, 0.5, 0.5, map[string]any{"rank": 99, "model_id": 7, "metrics": 1, "score_recent": 0.123, "status": 3})) + `}
	]`)
	latest := store.Leaderboard{ID: "LBR_latest", CreatedAt: ago(time.Hour), Entries: latestEntries}
	var pts []store.ModelScore
	for _, m := range []string{"m1", "m2"} {
		pts = append(pts, store.ModelScore{ID: "MSC_" + m + "_latest", ModelID: m, ComputedAt: ago(time.Hour), Score: envelope(0.4, 0.4, 0.4, nil)})
	}
	if err := s.SaveLeaderboard(ctx, latest, pts); err != nil {
		t.Fatalf("seeding latest leaderboard: %v", err)
	}
	var recs []store.MarketRecord
	for i := range 30 {
		at := ago(time.Duration(10+29-i) * time.Second)
		recs = append(recs, store.MarketRecord{Provider: "pyth", Asset: "BTC", Kind: "tick", Granularity: "1s",
			TsEvent: at, TsIngested: at.Add(200 * time.Millisecond), Values: mustJSON(map[string]any{"price": 90000 + i}), Meta: json.RawMessage(`{}`)})
	}
	for i := range 5 {
		at := ago(2*time.Hour + time.Duration(4-i)*time.Minute)
		recs = append(recs, store.MarketRecord{Provider: "binance", Asset: "BTCUSDT", Kind: "candle", Granularity: "1m",
			TsEvent: at, TsIngested: at.Add(time.Minute), Values: mustJSON(map[string]any{"open": 1, "high": 2, "low": 0.5, "close": 1.5, "volume": 10})})
	}
	if _, err := s.UpsertMarketRecords(ctx, recs); err != nil {
		t.Fatalf("seeding market records: %v", err)
	}
	t1, t2, t3 := ago(2*time.Hour), ago(time.Hour), ago(30*time.Minute)
	cps := []store.Checkpoint{
		{ID: "CKP_1", Kind: "emission", IntervalSeconds: 3600, LastRunAt: &t1,
			Meta: json.RawMessage(`{"status":"PENDING","period_start":"2026-11-30T09:00:00+00:00","period_end":"2026-11-30T10:00:00+00:00"}`),
			Emission: &store.EmissionCheckpoint{ID: "EMC_1", CheckpointID: "CKP_1", EmittedAt: t1,
				Payload: json.RawMessage(`{"entries":[{"crunch":"c1","cruncher_rewards":[{"cruncher_index":0,"reward_pct":1000000000}]}]}`)}},
		{ID: "CKP_2", Kind: "emission", IntervalSeconds: 3600, LastRunAt: &t2,
			Meta: json.RawMessage(`{"status":"SUBMITTED","tx_hash":"0xabc","submitted_at":"2026-11-30T11:30:00Z"}`),
			Emission: &store.EmissionCheckpoint{ID: "EMC_2", CheckpointID: "CKP_2", EmittedAt: t2,
				Payload: json.RawMessage(`[{"crunch":"c2","cruncher_rewards":[]}]`)}},
		{ID: "CKP_3", Kind: "other", IntervalSeconds: 60, LastRunAt: &t3},
	}
	for _, c := range cps {
		if err := s.SaveCheckpoint(ctx, c); err != nil {
			t.Fatalf("seeding checkpoint %s: %v", c.ID, err)
		}
	}
}

// fixtureSchema is the scaffold default schema (reference-system.md 8.6)
// with the legacy MODEL column type.
func fixtureSchema() sdk.ReportSchema {
	d2 := "decimal-2"
	return sdk.ReportSchema{
		SchemaVersion: "1",
		LeaderboardColumns: []sdk.LeaderboardColumn{
			{ID: 1, Type: sdk.ColumnModel, Property: "model_id", DisplayName: "Model", NativeConfiguration: json.RawMessage(`{"type":"model","statusProperty":"status"}`)},
			{ID: 2, Type: sdk.ColumnValue, Property: "score_recent", Format: &d2, DisplayName: "Recent Score", Order: 20},
		},
		MetricsWidgets: []sdk.MetricsWidget{
			{ID: 1, Type: sdk.WidgetChart, DisplayName: "Score Metrics", Order: 10, EndpointURL: "/reports/models/global",
				NativeConfiguration: json.RawMessage(`{"type":"line","xAxis":{"name":"performed_at"}}`)},
		},
	}
}

// newFixtureStore returns a seeded store of the named backend ("fake" or
// "sqlite").
func newFixtureStore(t testing.TB, backend string) Store {
	t.Helper()
	switch backend {
	case "fake":
		f := newFakeStore()
		seedFixture(t, f)
		return f
	case "sqlite":
		return openSeeded(t, "sqlite://"+filepath.Join(t.TempDir(), "r.db"))
	case "postgres":
		return openSeeded(t, tempPostgres(t))
	}
	t.Fatalf("unknown backend %q", backend)
	return nil
}

var backends = []string{"fake", "sqlite", "postgres"}

// openBackend returns an empty migrated store of the named backend (one
// of backends).
func openBackend(t *testing.T, backend string) Store {
	t.Helper()
	switch backend {
	case "fake":
		return newFakeStore()
	case "sqlite":
		return openMigrated(t, "sqlite://"+filepath.Join(t.TempDir(), "store.db"))
	case "postgres":
		return openMigrated(t, tempPostgres(t))
	}
	t.Fatalf("unknown backend %q", backend)
	return nil
}

// openSeeded opens, migrates and seeds the store at rawURL.
func openSeeded(t testing.TB, rawURL string) Store {
	t.Helper()
	ctx := context.Background()
	st, err := dburl.Open(ctx, rawURL)
	if err != nil {
		t.Fatalf("opening store: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatalf("migrating %s store: %v", st.Backend(), err)
	}
	seedFixture(t, st)
	return st
}

// tempPostgres creates a fresh database on the server of TEST_DATABASE_URL
// (so other packages' tests sharing that server cannot disturb the
// fixture), drops it at cleanup and returns its URL. It skips when
// TEST_DATABASE_URL is unset and fails when the server is unreachable.
func tempPostgres(t testing.TB) string {
	t.Helper()
	base := os.Getenv("TEST_DATABASE_URL")
	if base == "" {
		t.Skip("TEST_DATABASE_URL not set: skipping the PostgreSQL report tests")
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connecting to TEST_DATABASE_URL %s: %v", dburl.Redact(base), err)
	}
	name := fmt.Sprintf("report_test_%d_%d", os.Getpid(), time.Now().UnixNano())
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		_ = conn.Close(ctx)
		t.Fatalf("creating database %s: %v", name, err)
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("parsing TEST_DATABASE_URL %s: %v", dburl.Redact(base), err)
	}
	u.Path = "/" + name
	// Registered before openSeeded's Close, so it runs after it.
	t.Cleanup(func() {
		if _, err := conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("dropping database %s: %v", name, err)
		}
		_ = conn.Close(context.Background())
	})
	return u.String()
}

// newTestServer serves the report API over st with the fixture states,
// feed health, schema and a simulated clock at fixtureNow.
func newTestServer(t testing.TB, st Store, tweak func(*Options)) *httptest.Server {
	t.Helper()
	opts := Options{
		Store:       st,
		Schema:      fixtureSchema(),
		FeedHealth:  func() []FeedHealth { return fixtureFeedHealth },
		ModelStates: func() []host.ModelState { return fixtureStates },
		Clock:       clock.NewSimulated(fixtureNow),
		Logger:      hclog.NewNullLogger(),
	}
	if tweak != nil {
		tweak(&opts)
	}
	srv := httptest.NewServer(New(opts))
	t.Cleanup(srv.Close)
	return srv
}

// get performs a request and returns status, headers and body.
func get(t testing.TB, srv *httptest.Server, method, path string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, nil)
	if err != nil {
		t.Fatalf("building %s %s: %v", method, path, err)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	buf, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading %s %s: %v", method, path, err)
	}
	return resp.StatusCode, resp.Header, buf
}
