package score_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/clock"
	"github.com/crunch-coordinator/coordinator/internal/score"
	"github.com/crunch-coordinator/coordinator/internal/store"
	"github.com/crunch-coordinator/coordinator/internal/store/dburl"
	"github.com/crunch-coordinator/coordinator/internal/testutil"
	"github.com/crunch-coordinator/coordinator/sdk"
)

// backends runs fn on a migrated SQLite store and, when TEST_DATABASE_URL
// is set, on a PostgreSQL one (a scratch schema), each seeded like
// openStore.
func backends(t *testing.T, fn func(t *testing.T, st store.Store)) {
	for _, b := range []string{"sqlite", "postgres"} {
		t.Run(b, func(t *testing.T) {
			if b == "sqlite" {
				fn(t, openStore(t))
				return
			}
			ctx := context.Background()
			st, err := dburl.Open(ctx, testutil.ScratchSchema(t, "score_gt"))
			if err != nil {
				t.Fatalf("open postgres store: %v", err)
			}
			t.Cleanup(func() { _ = st.Close() })
			if err := st.Migrate(ctx); err != nil {
				t.Fatalf("migrate: %v", err)
			}
			if err := st.ReplaceSchedules(ctx, []store.ScheduleRow{{ID: "btc", ScopeKey: "btc", Active: true,
				ScopeTemplate: json.RawMessage(`{}`), Schedule: json.RawMessage(`{"every_seconds":60,"resolve_after_seconds":60}`)}}); err != nil {
				t.Fatalf("seed schedule: %v", err)
			}
			fn(t, st)
		})
	}
}

// TestGroundTruthIsStoredWithTheOutcome: whatever the resolver returns is
// stored with the prediction, so its score (or why it has none) can be
// recomputed from the database alone.
func TestGroundTruthIsStoredWithTheOutcome(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		at := now0.Add(-5 * time.Minute)
		cases := []struct {
			name       string
			model      string
			pUp        float64
			result     sdk.GroundTruthResult
			wantStatus string
			wantScore  *float64 // nil: no score
			wantTruth  string   // "": none stored
		}{
			{"resolved up", "up", 0.8, sdk.GroundTruthResult{Resolved: true, GroundTruth: json.RawMessage(`{"y_up":1,"entry_price":100,"resolved_price":101}`)},
				store.StatusSuccess, ptr(brierOf(0.8, 1)), `{"y_up":1,"entry_price":100,"resolved_price":101}`},
			{"resolved down", "down", 0.8, sdk.GroundTruthResult{Resolved: true, GroundTruth: json.RawMessage(`{"y_up":0,"entry_price":100,"resolved_price":99}`)},
				store.StatusSuccess, ptr(brierOf(0.8, 0)), `{"y_up":0,"entry_price":100,"resolved_price":99}`},
			{"unresolvable with the prices seen", "gap", 0.8, sdk.GroundTruthResult{Error: "resolvable_at: feed gap", GroundTruth: json.RawMessage(`{"entry_price":100}`)},
				store.StatusUnresolved, nil, `{"entry_price":100}`},
			{"unresolvable without ground truth", "nogt", 0.8, sdk.GroundTruthResult{Error: "scope: expected a JSON object"},
				store.StatusUnresolved, nil, ""},
		}
		ch := &brier{}
		var models []string
		var preds []store.Prediction
		for _, c := range cases {
			p := pred(c.model, at, store.StatusSuccess, c.pUp, at)
			ch.setTruth(p.ID, c.result)
			models = append(models, c.model)
			preds = append(preds, p)
		}
		save(t, st, models, preds...)
		w := newWorker(t, st, ch, clock.NewSimulated(now0), nil)
		if _, err := w.Score(ctx); err != nil {
			t.Fatalf("Score: %v", err)
		}
		got := byID(t, st)
		for i, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				p := got[preds[i].ID]
				if p.Status != c.wantStatus {
					t.Errorf("status %s, expected %s", p.Status, c.wantStatus)
				}
				switch {
				case c.wantScore == nil && p.Score != nil:
					t.Errorf("expected no score, got %+v", p.Score)
				case c.wantScore != nil && (p.Score == nil || p.Score.Value == nil || *p.Score.Value != *c.wantScore):
					t.Errorf("expected score %v, got %+v", *c.wantScore, p.Score)
				}
				if c.wantTruth == "" && p.GroundTruth != nil {
					t.Errorf("expected no stored ground truth, got %s", p.GroundTruth)
				}
				if c.wantTruth != "" && !sameJSON(t, p.GroundTruth, c.wantTruth) {
					t.Errorf("stored ground truth %s, expected %s", p.GroundTruth, c.wantTruth)
				}
				if c.wantScore != nil {
					// Recomputed from the stored row alone: output and ground truth.
					items := []sdk.ScoreItem{{PredictionID: p.ID, Prediction: p.InferenceOutput, GroundTruth: p.GroundTruth}}
					re, err := ch.ScorePredictions(ctx, items)
					if err != nil || re[0].Value == nil || *re[0].Value != *p.Score.Value {
						t.Errorf("recomputing the score from the stored row: got %+v (%v), stored %v", re, err, *p.Score.Value)
					}
				}
			})
		}
	})
}

func ptr(v float64) *float64 { return &v }

// sameJSON reports whether got and want are the same JSON value (PostgreSQL
// jsonb re-spaces objects and orders keys).
func sameJSON(t *testing.T, got json.RawMessage, want string) bool {
	t.Helper()
	var a, b any
	if err := json.Unmarshal(got, &a); err != nil {
		t.Errorf("stored ground truth %q is not JSON: %v", got, err)
		return false
	}
	if err := json.Unmarshal([]byte(want), &b); err != nil {
		t.Fatalf("want %q: %v", want, err)
	}
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

// TestFinishLeavesNoPredictionUnscored: at the end of a replay every
// unscored SUCCESS prediction is scored when its ground truth is available
// and UNRESOLVED otherwise, whatever its resolvable_at, and counted.
func TestFinishLeavesNoPredictionUnscored(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		cases := []struct {
			name       string
			model      string
			resolvable time.Time
			result     *sdk.GroundTruthResult // nil: resolved up
			wantStatus string
			wantScored bool
		}{
			{"due and resolvable", "a", now0.Add(-time.Minute), nil, store.StatusSuccess, true},
			{"due, ground truth missing", "b", now0.Add(-time.Minute), &sdk.GroundTruthResult{}, store.StatusUnresolved, false},
			{"resolvable after the end", "c", now0.Add(time.Minute), &sdk.GroundTruthResult{}, store.StatusUnresolved, false},
			{"resolvable long after the end", "d", now0.Add(48 * time.Hour), &sdk.GroundTruthResult{}, store.StatusUnresolved, false},
		}
		ch := &brier{}
		var models []string
		var preds []store.Prediction
		for _, c := range cases {
			p := pred(c.model, c.resolvable.Add(-time.Minute), store.StatusSuccess, 0.5, c.resolvable)
			if c.result != nil {
				ch.setTruth(p.ID, *c.result)
			}
			models = append(models, c.model)
			preds = append(preds, p)
		}
		save(t, st, models, preds...)
		w := newWorker(t, st, ch, clock.NewSimulated(now0), func(c *score.Config) { c.BatchSize = 2 })
		r, err := w.Finish(ctx, "the replay ended")
		if err != nil {
			t.Fatalf("Finish: %v", err)
		}
		if r.Scored != 1 || r.Unresolved != 3 || r.Waiting != 0 {
			t.Errorf("Finish: scored %d unresolved %d waiting %d, expected 1, 3, 0", r.Scored, r.Unresolved, r.Waiting)
		}
		got := byID(t, st)
		for i, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				p := got[preds[i].ID]
				if p.Status != c.wantStatus || (p.Score != nil) != c.wantScored {
					t.Errorf("status %s scored %v, expected %s scored %v", p.Status, p.Score != nil, c.wantStatus, c.wantScored)
				}
			})
		}
		n, err := st.CountPredictions(ctx, store.StatusSuccess)
		if err != nil {
			t.Fatal(err)
		}
		left, err := st.ListPredictions(ctx, store.PredictionQuery{Status: store.StatusSuccess})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range left {
			if p.Score == nil {
				t.Errorf("after Finish, %s is SUCCESS without a score (%d SUCCESS rows)", p.ID, n)
			}
		}
		if r, err := w.Finish(ctx, "again"); err != nil || r.Claimed != 0 {
			t.Errorf("a second Finish claimed %d (%v), expected nothing left", r.Claimed, err)
		}
	})
}

// brierOf is brier's score in float64 arithmetic (a constant expression
// would be computed exactly and differ in the last bit).
func brierOf(p, y float64) float64 { return 1 - (p-y)*(p-y) }

// recordingResolver is brier, recording the records its resolver gets.
type recordingResolver struct {
	*brier
	mu   sync.Mutex
	seen []sdk.PredictionRecord
}

func (r *recordingResolver) ResolveGroundTruth(ctx context.Context, now time.Time, preds []sdk.PredictionRecord, data sdk.HostData) ([]sdk.GroundTruthResult, error) {
	r.mu.Lock()
	r.seen = append(r.seen, preds...)
	r.mu.Unlock()
	return r.brier.ResolveGroundTruth(ctx, now, preds, data)
}

// TestResolverGetsRecordsWithoutInput: ResolveGroundTruth receives every
// field of the stored prediction except its inference input (null), as
// sdk.Challenge documents.
func TestResolverGetsRecordsWithoutInput(t *testing.T) {
	backends(t, func(t *testing.T, st store.Store) {
		at := now0.Add(-5 * time.Minute)
		p := pred("m1", at, store.StatusSuccess, 0.7, at)
		p.InferenceInput = json.RawMessage(`{"candles":[1,2,3]}`)
		p.Meta = json.RawMessage(`{"slot":"x"}`)
		save(t, st, []string{"m1"}, p)
		ch := &recordingResolver{brier: &brier{}}
		w := newWorker(t, st, ch, clock.NewSimulated(now0), nil)
		if res, err := w.Score(context.Background()); err != nil || res.Scored != 1 {
			t.Fatalf("Score: %+v, %v; expected 1 scored", res, err)
		}
		if len(ch.seen) != 1 {
			t.Fatalf("resolver got %d records, expected 1", len(ch.seen))
		}
		r := ch.seen[0]
		if r.InferenceInput != nil {
			t.Errorf("resolver got inference_input %s, expected none", r.InferenceInput)
		}
		if r.ID != p.ID || r.ModelID != "m1" || r.PredictionConfigID != "btc" || r.ScopeKey != "btc" || r.Status != store.StatusSuccess ||
			!sameJSON(t, r.Scope, `{}`) || !sameJSON(t, r.InferenceOutput, `{"p_up":0.7}`) || !sameJSON(t, r.Meta, `{"slot":"x"}`) ||
			!r.PerformedAt.Equal(p.PerformedAt) || !r.ResolvableAt.Equal(p.ResolvableAt) {
			t.Errorf("resolver got %+v, expected the stored prediction %+v without its input", r, p)
		}
	})
}
