package sdk

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

func fp(v float64) *float64 { return &v }

func TestDefaultsSimpleCallables(t *testing.T) {
	ctx := context.Background()
	var d Defaults
	raw, err := d.ProvideRawInput(ctx, time.Now(), nil)
	if err != nil || string(raw) != "{}" {
		t.Fatalf("ProvideRawInput = %s, %v; want {}", raw, err)
	}
	v, err := d.ValidateInferenceOutput(ctx, []ValidationItem{{ModelID: "a"}, {ModelID: "b"}})
	if err != nil || !reflect.DeepEqual(v, []ValidationResult{{}, {}}) {
		t.Fatalf("ValidateInferenceOutput = %+v, %v; want two empty results (keep)", v, err)
	}
	gt, err := d.ResolveGroundTruth(ctx, time.Now(), []PredictionRecord{{ID: "p"}}, nil)
	if err != nil || len(gt) != 1 || !gt[0].Resolved || string(gt[0].GroundTruth) != "{}" {
		t.Fatalf("ResolveGroundTruth = %+v, %v; want resolved {}", gt, err)
	}
	s, err := d.ScorePredictions(ctx, []ScoreItem{{PredictionID: "p1"}, {PredictionID: "p2"}})
	if err != nil || len(s) != 2 || s[1].PredictionID != "p2" || s[1].Value == nil || *s[1].Value != 0 || !s[1].Success {
		t.Fatalf("ScorePredictions = %+v, %v; want value 0 success", s, err)
	}
}

func TestDefaultBuildInferenceInput(t *testing.T) {
	tests := []struct {
		in, want string
		invalid  bool
	}{
		{``, `{}`, false},
		{`null`, `{}`, false},
		{` null `, `{}`, false},
		{`{"a":[1,2]}`, `{"a":[1,2]}`, false},
		{`[1]`, ``, true},
		{`"x"`, ``, true},
		{`3`, ``, true},
		{`{bad`, ``, true},
	}
	for _, tt := range tests {
		out, err := Defaults{}.BuildInferenceInput(context.Background(), json.RawMessage(tt.in))
		if tt.invalid {
			if !errors.Is(err, ErrInvalidInput) {
				t.Errorf("BuildInferenceInput(%q) = %s, %v; want ErrInvalidInput", tt.in, out, err)
			}
			continue
		}
		if err != nil || string(out) != tt.want {
			t.Errorf("BuildInferenceInput(%q) = %s, %v; want %s", tt.in, out, err, tt.want)
		}
	}
}

func TestDefaultBuildPredictionScope(t *testing.T) {
	tests := []struct {
		name     string
		config   ScheduleConfig
		key      string
		scope    string
		errorSub string
	}{
		{"from config", ScheduleConfig{ScopeKey: "btc-60", ScopeTemplate: json.RawMessage(`{"asset":"BTC","horizon":60}`)}, "btc-60", `{"asset":"BTC","horizon":60}`, ""},
		{"default key and scope", ScheduleConfig{}, DefaultScopeKey, `{}`, ""},
		{"null template", ScheduleConfig{ScopeKey: "k", ScopeTemplate: json.RawMessage(`null`)}, "k", `{}`, ""},
		{"array template", ScheduleConfig{ID: "CFG_1", ScopeTemplate: json.RawMessage(`[1]`)}, "", "", `schedule "CFG_1" scope_template`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, err := Defaults{}.BuildPredictionScope(context.Background(), tt.config, nil)
			if tt.errorSub != "" {
				if !errors.Is(err, ErrInvalidInput) || !strings.Contains(err.Error(), tt.errorSub) {
					t.Fatalf("got %+v, %v; want ErrInvalidInput mentioning %q", env, err, tt.errorSub)
				}
				return
			}
			if err != nil || env.ScopeKey != tt.key || string(env.Scope) != tt.scope {
				t.Fatalf("got %+v (%s), %v; want %s %s", env, env.Scope, err, tt.key, tt.scope)
			}
		})
	}
	// The scope is a copy: changing it does not touch the template.
	tmpl := json.RawMessage(`{"a":1}`)
	env, _ := Defaults{}.BuildPredictionScope(context.Background(), ScheduleConfig{ScopeTemplate: tmpl}, nil)
	env.Scope[1] = 'X'
	if string(tmpl) != `{"a":1}` {
		t.Fatalf("template modified through the scope: %s", tmpl)
	}
}

func TestDefaultBuildPredictCall(t *testing.T) {
	tests := []struct {
		scope    string
		args     string
		errorSub string
	}{
		{`{}`, `["BTC",60,60]`, ""},
		{`null`, `["BTC",60,60]`, ""},
		{`{"asset":"ETH","horizon":300}`, `["ETH",300,300]`, ""},
		{`{"asset":null,"horizon_seconds":900,"step_seconds":60}`, `["BTC",900,60]`, ""},
		{`{"horizon":120,"horizon_seconds":900,"step":30,"step_seconds":60}`, `["BTC",120,30]`, ""},
		{`{"horizon":"300","step":"15"}`, `["BTC",300,15]`, ""},
		{`{"horizon":300.0}`, `["BTC",300,300]`, ""},
		{`{"horizon":null,"step":5}`, `["BTC",60,5]`, ""},
		{`{"asset":{"symbol":"SOL"}}`, `["BTC",60,60]`, ""},
		{`{"horizon":0}`, ``, `"horizon"`},
		{`{"horizon":59.5}`, ``, `"horizon"`},
		{`{"step":true}`, ``, `"step"`},
		{`{"step_seconds":"soon"}`, ``, `"step_seconds"`},
		{`[1]`, ``, `expected a JSON object`},
	}
	for _, tt := range tests {
		t.Run(tt.scope, func(t *testing.T) {
			call, err := Defaults{}.BuildPredictCall(context.Background(), ScheduleConfig{}, nil, ScopeEnvelope{ScopeKey: "s", Scope: json.RawMessage(tt.scope)})
			if tt.errorSub != "" {
				if !errors.Is(err, ErrInvalidInput) || !strings.Contains(err.Error(), tt.errorSub) {
					t.Fatalf("got %+v, %v; want ErrInvalidInput mentioning %s", call, err, tt.errorSub)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			args, _ := json.Marshal(call.Args)
			want := tt.args
			if tt.scope == `{"asset":{"symbol":"SOL"}}` {
				want = `[{"symbol":"SOL"},60,60]` // a non-null asset is passed as given
			}
			if string(args) != want || string(call.Kwargs) != `{}` {
				t.Fatalf("args %s kwargs %s; want %s {}", args, call.Kwargs, want)
			}
		})
	}
}

func TestDefaultAggregateModelScoresWindows(t *testing.T) {
	now := time.Date(2023, 3, 21, 12, 0, 0, 0, time.UTC)
	scored := func(model string, age time.Duration, v *float64, ok bool) PredictionRecord {
		return PredictionRecord{ModelID: model, ResolvableAt: now.Add(-age), Score: &PredictionScore{Value: v, Success: ok}}
	}
	day := 24 * time.Hour
	preds := []PredictionRecord{
		// m1: one value in every window plus edges.
		scored("m1", 0, fp(1), true),                                             // at now: in all windows
		scored("m1", day, fp(2), true),                                           // exactly 24 h: in recent (inclusive edge)
		scored("m1", day+time.Nanosecond, fp(4), true),                           // just outside recent
		scored("m1", 3*day, fp(8), true),                                         // exactly 72 h: in steady
		scored("m1", 7*day, fp(16), true),                                        // exactly 7 d: in anchor
		scored("m1", 7*day+time.Nanosecond, fp(1000), true),                      // outside every window
		scored("m1", -time.Minute, fp(5000), true),                               // resolvable in the future: ignored
		scored("m1", time.Hour, nil, true),                                       // null value: a non-answer
		scored("m1", time.Hour, fp(-100), false),                                 // failed: a non-answer
		{ModelID: "m1", ResolvableAt: now.Add(-time.Hour)},                       // unscored: pending, ignored
		{ModelID: "m1", Status: "UNRESOLVED", ResolvableAt: now.Add(-time.Hour)}, // no ground truth: ignored
		scored("m2", 5*day, fp(0.5), true),                                       // only in anchor
		scored("m3", 30*day, fp(3), true),                                        // successful but outside all windows: no entry
		scored("m4", time.Hour, fp(7), false),                                    // only non-answers: metrics null, coverage 0
		{ModelID: "m5", Status: "FAILED", ResolvableAt: now.Add(-time.Hour)},     // only non-answers
	}
	models := map[string]ModelRecord{"m1": {ID: "m1", Name: "alpha", PlayerName: "ann"}}
	entries, err := Defaults{}.AggregateModelScores(context.Background(), now, preds, models)
	if err != nil {
		t.Fatal(err)
	}
	type want struct {
		id                     string
		recent, steady, anchor *float64
		coverage               [3]*float64
		n                      int
	}
	// Window-worst rule: a non-answer scores the lowest answered score of
	// the window over all models: 1 in recent and steady, 0.5 in anchor.
	wants := []want{
		{"m1", fp((1 + 2 + 2*1) / 4.0), fp((1 + 2 + 4 + 8 + 2*1) / 6.0), fp((1 + 2 + 4 + 8 + 16 + 2*0.5) / 7.0),
			[3]*float64{fp(2 / 4.0), fp(4 / 6.0), fp(5 / 7.0)}, 5},
		{"m2", nil, nil, fp(0.5), [3]*float64{nil, nil, fp(1)}, 1},
		{"m4", nil, nil, nil, [3]*float64{fp(0), fp(0), fp(0)}, 0},
		{"m5", nil, nil, nil, [3]*float64{fp(0), fp(0), fp(0)}, 0},
	}
	if len(entries) != len(wants) {
		t.Fatalf("got %d entries %+v, want %d", len(entries), entries, len(wants))
	}
	same := func(a, b *float64) bool {
		return (a == nil) == (b == nil) && (a == nil || math.Abs(*a-*b) < 1e-12)
	}
	for i, w := range wants {
		e := entries[i]
		if e.ModelID != w.id {
			t.Fatalf("entry %d model %q, want %q", i, e.ModelID, w.id)
		}
		for j, name := range []string{"recent", "steady", "anchor"} {
			v := []*float64{w.recent, w.steady, w.anchor}[j]
			got, present := e.Score.Metrics[name]
			if !present || !same(got, v) {
				t.Errorf("%s metric %s = %v (present %v), want %v", w.id, name, deref(got), present, deref(v))
			}
			cov, present := e.Score.Metrics[CoverageMetric(name)]
			if !present || !same(cov, w.coverage[j]) {
				t.Errorf("%s metric %s = %v (present %v), want %v", w.id, CoverageMetric(name), deref(cov), present, deref(w.coverage[j]))
			}
		}
		if e.Score.Ranking.Key != "anchor" || e.Score.Ranking.Direction != DirectionDesc || !same(e.Score.Ranking.Value, w.anchor) {
			t.Errorf("%s ranking = %+v", w.id, e.Score.Ranking)
		}
		var payload struct {
			Predictions int    `json:"predictions"`
			NonAnswer   string `json:"non_answer"`
		}
		if err := json.Unmarshal(e.Score.Payload, &payload); err != nil || payload.Predictions != w.n || payload.NonAnswer != NonAnswerWindowWorst {
			t.Errorf("%s payload = %s, want predictions %d, non_answer window_worst", w.id, e.Score.Payload, w.n)
		}
		if err := e.Score.Validate(); err != nil {
			t.Errorf("%s score does not validate: %v", w.id, err)
		}
	}
	if entries[0].ModelName != "alpha" || entries[0].CruncherName != "ann" || entries[1].ModelName != "" {
		t.Errorf("names = %+v", entries)
	}
	b, _ := json.Marshal(entries[0].Score)
	if !strings.Contains(string(b), `"tie_breakers":[]`) {
		t.Errorf("score JSON %s: want tie_breakers []", b)
	}
}

func deref(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

func TestDefaultWindows(t *testing.T) {
	w := DefaultWindows()
	want := []Window{{"recent", 24 * time.Hour}, {"steady", 72 * time.Hour}, {"anchor", 168 * time.Hour}}
	if !reflect.DeepEqual(w, want) {
		t.Fatalf("DefaultWindows = %v, want %v", w, want)
	}
	w[0].Length = 0
	if DefaultWindows()[0].Length != 24*time.Hour {
		t.Fatal("DefaultWindows returns shared state")
	}
}

func entry(id string, metrics map[string]*float64, ranking Ranking) LeaderboardEntry {
	return LeaderboardEntry{ModelID: id, Score: ScoreEnvelope{Metrics: metrics, Ranking: ranking}}
}

func TestDefaultRankLeaderboard(t *testing.T) {
	desc := func(key string, tb ...string) Ranking {
		return Ranking{Key: key, Direction: DirectionDesc, TieBreakers: tb}
	}
	tests := []struct {
		name    string
		entries []LeaderboardEntry
		want    []string
		ranks   []int // nil: 1..n
	}{
		{"desc by key", []LeaderboardEntry{
			entry("a", map[string]*float64{"s": fp(1)}, desc("s")),
			entry("b", map[string]*float64{"s": fp(3)}, desc("s")),
			entry("c", map[string]*float64{"s": fp(2)}, desc("s")),
		}, []string{"b", "c", "a"}, nil},
		{"asc negates (case-insensitive)", []LeaderboardEntry{
			entry("a", map[string]*float64{"loss": fp(0.3)}, Ranking{Key: "loss", Direction: "ASC"}),
			entry("b", map[string]*float64{"loss": fp(0.1)}, Ranking{Key: "loss", Direction: "asc"}),
			entry("c", map[string]*float64{"loss": fp(-0.2)}, Ranking{Key: "loss", Direction: "asc"}),
		}, []string{"c", "b", "a"}, nil},
		{"explicit value beats key", []LeaderboardEntry{
			entry("a", map[string]*float64{"s": fp(10)}, Ranking{Key: "s", Value: fp(1), Direction: DirectionDesc}),
			entry("b", map[string]*float64{"s": fp(2)}, desc("s")),
		}, []string{"b", "a"}, nil},
		{"missing or null rank value sorts last", []LeaderboardEntry{
			entry("a", map[string]*float64{"s": nil}, desc("s")),
			entry("b", map[string]*float64{}, desc("s")),
			entry("c", map[string]*float64{"s": fp(-5)}, desc("s")),
			entry("d", nil, Ranking{Direction: DirectionDesc}),
		}, []string{"c", "a", "b", "d"}, []int{1, 0, 0, 0}},
		{"tie-breakers in order, 0.0 is a value, missing last", []LeaderboardEntry{
			entry("a", map[string]*float64{"s": fp(1), "t1": fp(0), "t2": fp(9)}, desc("s", "t1", "t2")),
			entry("b", map[string]*float64{"s": fp(1), "t1": nil, "t2": fp(100)}, desc("s", "t1", "t2")),
			entry("c", map[string]*float64{"s": fp(1), "t1": fp(-1), "t2": fp(50)}, desc("s", "t1", "t2")),
			entry("d", map[string]*float64{"s": fp(1), "t1": fp(0), "t2": fp(10)}, desc("s", "t1", "t2")),
		}, []string{"d", "a", "c", "b"}, nil},
		{"tie-breakers follow asc", []LeaderboardEntry{
			entry("a", map[string]*float64{"s": fp(1), "t": fp(2)}, Ranking{Key: "s", Direction: DirectionAsc, TieBreakers: []string{"t"}}),
			entry("b", map[string]*float64{"s": fp(1), "t": fp(1)}, Ranking{Key: "s", Direction: DirectionAsc, TieBreakers: []string{"t"}}),
		}, []string{"b", "a"}, nil},
		{"full tie shares the rank, listed by model_id", []LeaderboardEntry{
			entry("m10", map[string]*float64{"s": fp(1)}, desc("s")),
			entry("m02", map[string]*float64{"s": fp(1)}, desc("s")),
			entry("m1", map[string]*float64{"s": fp(1)}, desc("s")),
		}, []string{"m02", "m1", "m10"}, []int{1, 1, 1}},
		{"ties share, next rank skips (1, 1, 3)", []LeaderboardEntry{
			entry("z", map[string]*float64{"s": fp(0.75)}, desc("s")),
			entry("a", map[string]*float64{"s": fp(0.5)}, desc("s")),
			entry("y", map[string]*float64{"s": fp(0.75)}, desc("s")),
			entry("b", map[string]*float64{"s": fp(0.4)}, desc("s")),
		}, []string{"y", "z", "a", "b"}, []int{1, 1, 3, 4}},
		{"a declared tie-breaker splits a tie", []LeaderboardEntry{
			entry("a", map[string]*float64{"s": fp(1), "t": fp(1)}, desc("s", "t")),
			entry("b", map[string]*float64{"s": fp(1), "t": fp(2)}, desc("s", "t")),
			entry("c", map[string]*float64{"s": fp(1), "t": fp(2)}, desc("s", "t")),
		}, []string{"b", "c", "a"}, []int{1, 1, 3}},
		{"empty", nil, []string{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := append([]LeaderboardEntry(nil), tt.entries...)
			out, err := Defaults{}.RankLeaderboard(context.Background(), in)
			if err != nil {
				t.Fatal(err)
			}
			got := []string{}
			for i, e := range out {
				got = append(got, e.ModelID)
				want := i + 1
				if tt.ranks != nil {
					want = tt.ranks[i]
				}
				if e.Rank != want {
					t.Errorf("%s rank %d, want %d", e.ModelID, e.Rank, want)
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("order %v, want %v", got, tt.want)
			}
			for i := range in {
				if in[i].Rank != 0 || in[i].ModelID != tt.entries[i].ModelID {
					t.Fatal("input entries were modified")
				}
			}
		})
	}
}

func TestDefaultReportSchema(t *testing.T) {
	s, err := Defaults{}.ReportSchema(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(); err != nil {
		t.Fatalf("default schema does not validate: %v", err)
	}
	cols := map[string]LeaderboardColumn{}
	for _, c := range s.LeaderboardColumns {
		cols[c.Property] = c
	}
	if c := cols["model_id"]; c.Type != ColumnProject || string(c.NativeConfiguration) != `{"type":"model","statusProperty":"status"}` {
		t.Errorf("model column = %+v", c)
	}
	for prop, tip := range map[string]string{"score_recent": "24 hours", "score_steady": "72 hours", "score_anchor": "7 days"} {
		c := cols[prop]
		if c.Type != ColumnValue || c.Format == nil || *c.Format != "decimal-4" || c.Tooltip == nil || !strings.Contains(*c.Tooltip, "over the last "+tip) {
			t.Errorf("column %s = %+v", prop, c)
		}
	}
	widgets := map[string]MetricsWidget{}
	for _, w := range s.MetricsWidgets {
		widgets[w.EndpointURL] = w
	}
	var global, preds struct {
		Type  string `json:"type"`
		XAxis struct {
			Name string `json:"name"`
		} `json:"xAxis"`
		YAxis struct {
			Series []struct{ Name string } `json:"series"`
		} `json:"yAxis"`
		DisplayEvolution *bool `json:"displayEvolution"`
		AlertConfig      struct {
			Field, ReasonField string
		} `json:"alertConfig"`
		FilterConfig []struct{ Property string } `json:"filterConfig"`
	}
	w := widgets["/reports/models/global"]
	if w.DisplayName != "Score Metrics" || json.Unmarshal(w.NativeConfiguration, &global) != nil ||
		global.Type != "line" || global.XAxis.Name != "performed_at" || len(global.YAxis.Series) != 3 ||
		global.YAxis.Series[2].Name != "score_anchor" || global.DisplayEvolution == nil || *global.DisplayEvolution {
		t.Errorf("global widget = %+v %s", w, w.NativeConfiguration)
	}
	w = widgets["/reports/predictions"]
	if w.DisplayName != "Predictions" || json.Unmarshal(w.NativeConfiguration, &preds) != nil ||
		preds.YAxis.Series[0].Name != "score_value" || preds.AlertConfig.Field != "score_success" ||
		preds.AlertConfig.ReasonField != "score_failed_reason" || len(preds.FilterConfig) != 2 ||
		preds.FilterConfig[0].Property != "asset" || preds.FilterConfig[1].Property != "horizon" {
		t.Errorf("predictions widget = %+v %s", w, w.NativeConfiguration)
	}
	if w := widgets["/reports/models/params"]; w.DisplayName != "Rolling score by parameters" || w.Type != WidgetChart {
		t.Errorf("params widget = %+v", w)
	}
}
