package sdk

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

// TestFastRecordMatchesEncodingJSON: whenever fastRecord decodes a record,
// it decodes exactly what json.Unmarshal decodes, and the host's usual
// records take the fast path.
func TestFastRecordMatchesEncodingJSON(t *testing.T) {
	at := time.Date(2023, 1, 2, 3, 4, 5, 123456000, time.UTC)
	v := 0.25
	base := PredictionRecord{ID: "PRE_1", ModelID: "model-1", PredictionConfigID: "CFG_baseline", ScopeKey: "default",
		Scope: json.RawMessage(`{"asset":"BTC","horizon_seconds":60,"step_seconds":60}`), Status: "SUCCESS", ExecTimeMs: 1.5,
		InferenceOutput: json.RawMessage(`{"p_up":0.53,"s":"a,}b\"c"}`), Meta: json.RawMessage(`{}`), PerformedAt: at, ResolvableAt: at.Add(time.Minute)}
	usual := []PredictionRecord{base}
	r := base
	r.PredictionConfigID, r.Scope, r.InferenceOutput, r.Meta, r.ExecTimeMs = "", nil, json.RawMessage(`[1,[2,{"a":[]}]]`), json.RawMessage(`null`), 0
	usual = append(usual, r)
	r = base
	r.PerformedAt = time.Date(2023, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600))
	r.ExecTimeMs = -1e-7
	usual = append(usual, r)
	r = base
	r.InferenceInput = json.RawMessage(`{"candles":[{"ts":1,"close":16500.5}]}`)
	usual = append(usual, r)
	for i, rec := range usual {
		b, err := json.Marshal(rec)
		if err != nil {
			t.Fatal(err)
		}
		var fast PredictionRecord
		if !fastRecord(b, &fast) {
			t.Errorf("usual record %d %s: expected the fast path to decode it", i, b)
			continue
		}
		var slow PredictionRecord
		if err := json.Unmarshal(b, &slow); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Errorf("usual record %d %s:\nfast %+v\nslow %+v", i, b, fast, slow)
		}
	}
	scored := base
	scored.Score = &PredictionScore{Value: &v, Success: true, ScoredAt: at}
	b, _ := json.Marshal(scored)
	others := []string{
		string(b), // a score: encoding/json decodes it
		`{"id":"a\u00e9"}`, `{"id":"é"}`, `{"ID":"x"}`, `{"id":"x","extra":1}`, `{ "id":"x"}`, `{"id":"x"} `,
		`{"exec_time_ms":01}`, `{"exec_time_ms":1e999}`, `{"exec_time_ms":null}`, `{"exec_time_ms":"1"}`, `{"exec_time_ms":+1}`,
		`{"scope":{"a":}`, `{"scope":{"a":1}`, `{"scope":}`, `{"scope":nul}`, `{"meta":[1,2}`, `{"meta":"a\"}`,
		`{"performed_at":"2023-01-02"}`, `{"performed_at":null}`, `{"performed_at":"2023-01-02T03:04:05Z"}`,
		`{}`, `{`, `}`, ``, `[]`, `{"id":"x",}`, `{"id":"x","id":"y"}`, `{"status":"SUCCESS","scope_key":"k"}`,
	}
	for _, s := range others {
		var fast PredictionRecord
		ok := fastRecord([]byte(s), &fast)
		var slow PredictionRecord
		err := json.Unmarshal([]byte(s), &slow)
		if ok && (err != nil || !reflect.DeepEqual(fast, slow)) {
			t.Errorf("%s: fast path decoded %+v, encoding/json %+v (%v)", s, fast, slow, err)
		}
	}
	// Random records of the host's shape.
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 500 {
		rec := base
		rec.ID = fmt.Sprintf("PRE_%d_%x", i, rng.Uint64())
		rec.ExecTimeMs = rng.NormFloat64() * 1e3
		rec.PerformedAt = at.Add(time.Duration(rng.Int64N(1e15)))
		rec.ResolvableAt = rec.PerformedAt.Add(time.Duration(rng.Int64N(1e12)))
		rec.InferenceOutput = json.RawMessage(fmt.Sprintf(`{"p_up":%v}`, rng.Float64()))
		b, _ := json.Marshal(rec)
		var fast, slow PredictionRecord
		if !fastRecord(b, &fast) {
			t.Fatalf("%s: expected the fast path", b)
		}
		if err := json.Unmarshal(b, &slow); err != nil || !reflect.DeepEqual(fast, slow) {
			t.Fatalf("%s:\nfast %+v\nslow %+v (%v)", b, fast, slow, err)
		}
	}
}

func BenchmarkDecodeRecord(b *testing.B) {
	rec := PredictionRecord{ID: "PRE_CFG_baseline_model-07_20230101T030000Z", ModelID: "model-07", PredictionConfigID: "CFG_baseline", ScopeKey: "default",
		Scope: json.RawMessage(`{"asset":"BTC","horizon_seconds":60,"step_seconds":60}`), Status: "SUCCESS", ExecTimeMs: 1.25,
		InferenceOutput: json.RawMessage(`{"p_up":0.53}`), Meta: json.RawMessage(`{}`), PerformedAt: time.Now().UTC(), ResolvableAt: time.Now().UTC()}
	data, _ := json.Marshal(rec)
	b.Run("fast", func(b *testing.B) {
		for b.Loop() {
			var r PredictionRecord
			fastRecord(data, &r)
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		for b.Loop() {
			var r PredictionRecord
			_ = json.Unmarshal(data, &r)
		}
	})
}
