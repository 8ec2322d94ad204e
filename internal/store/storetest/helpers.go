package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"reflect"
	"testing"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/store"
)

// base is the suite's reference instant: whole microseconds, because both
// backends store microsecond precision.
var base = time.Date(2026, 2, 12, 10, 15, 0, 123456000, time.UTC)

// otherZone is a fixed non-UTC zone (no tzdata needed) used to check that
// times are converted to UTC on the way in and come back in UTC.
var otherZone = time.FixedZone("UTC-05:30", -(5*3600 + 30*60))

func ctxT(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// migrated opens a store on t's fresh database and migrates it.
func migrated(t *testing.T, open func(t *testing.T) store.Store) store.Store {
	t.Helper()
	s := open(t)
	if err := s.Migrate(ctxT(t)); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return s
}

func must(t *testing.T, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: unexpected error: %v", what, err)
	}
}

func wantErrIs(t *testing.T, err, target error, what string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: expected an error wrapping %q, got nil", what, target)
	}
	if !errors.Is(err, target) {
		t.Fatalf("%s: expected an error wrapping %q, got %v", what, target, err)
	}
}

func model(id string) store.Model {
	return store.Model{ID: id, Name: "name-" + id, DeploymentID: "dep-" + id, PlayerID: "player-" + id, PlayerName: "Player " + id}
}

// pred builds a SUCCESS prediction of modelID without schedule.
func pred(id, modelID string, performed, resolvable time.Time) store.Prediction {
	return store.Prediction{
		ID: id, ModelID: modelID, ScopeKey: "BTC-60-60", Scope: json.RawMessage(`{"asset":"BTC","horizon":60}`),
		Status: store.StatusSuccess, ExecTimeMs: 12.5,
		InferenceInput: json.RawMessage(`{"close":[1,2,3]}`), InferenceOutput: json.RawMessage(`{"value":1.5}`),
		PerformedAt: performed, ResolvableAt: resolvable,
	}
}

func f64(v float64) *float64 { return &v }

func ids(ps []store.Prediction) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.ID
	}
	return out
}

func sameStrings(a, b []string) bool {
	if len(a) == 0 && len(b) == 0 {
		return true
	}
	return reflect.DeepEqual(a, b)
}

// wantTime checks that got is in UTC and the same instant as want.
func wantTime(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	if got.Location() != time.UTC {
		t.Errorf("%s: expected a UTC time, got location %q (%v)", what, got.Location(), got)
	}
	if !got.Equal(want) {
		t.Errorf("%s: expected %v, got %v", what, want.UTC(), got)
	}
}

// jsonSame reports whether a and b are the same JSON value: same structure,
// same strings, numbers equal as exact decimals (so 12345678901234567890
// must survive exactly; 1.5e-7 equals 0.00000015, as JSONB renders it).
func jsonSame(a, b []byte) (bool, error) {
	na, err := normJSON(a)
	if err != nil {
		return false, fmt.Errorf("first: %w", err)
	}
	nb, err := normJSON(b)
	if err != nil {
		return false, fmt.Errorf("second: %w", err)
	}
	return reflect.DeepEqual(na, nb), nil
}

func normJSON(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return normValue(v)
}

func normValue(v any) (any, error) {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			n, err := normValue(e)
			if err != nil {
				return nil, err
			}
			out[k] = n
		}
		return out, nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			n, err := normValue(e)
			if err != nil {
				return nil, err
			}
			out[i] = n
		}
		return out, nil
	case json.Number:
		r, ok := new(big.Rat).SetString(string(x))
		if !ok {
			return nil, fmt.Errorf("number %q is not a decimal", x)
		}
		return "num:" + r.RatString(), nil
	}
	return v, nil
}

func wantJSON(t *testing.T, what string, got json.RawMessage, want string) {
	t.Helper()
	ok, err := jsonSame(got, []byte(want))
	if err != nil {
		t.Errorf("%s: comparing JSON %s with %s: %v", what, got, want, err)
		return
	}
	if !ok {
		t.Errorf("%s: expected JSON %s, got %s", what, want, got)
	}
}
