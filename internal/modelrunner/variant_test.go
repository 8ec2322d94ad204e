package modelrunner

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"os"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/crunch-coordinator/coordinator/proto/modelrunner/commonspb"
)

// goldenVariant is one entry of testdata/variants.json, shared with the
// Python runner's tests (sdk/python/tests): the protobuf bytes of a
// commons.Variant (field 2 = type, field 3 = value) per reference §6.2.
type goldenVariant struct {
	Name    string `json:"name"`
	Arg     string `json:"arg"`
	None    bool   `json:"none"`
	Hex     string `json:"hex"`
	Decoded string `json:"decoded"`
	Python  bool   `json:"python"`
}

func loadGolden(t *testing.T) []goldenVariant {
	t.Helper()
	b, err := os.ReadFile("testdata/variants.json")
	if err != nil {
		t.Fatal(err)
	}
	var g []goldenVariant
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	return g
}

func TestVariantGoldenBytes(t *testing.T) {
	for _, g := range loadGolden(t) {
		t.Run(g.Name, func(t *testing.T) {
			var v *commonspb.Variant
			if g.None {
				v = NoneVariant()
			} else {
				var err error
				v, err = ArgVariant(json.RawMessage(g.Arg))
				if err != nil {
					t.Fatalf("ArgVariant(%s): %v", g.Arg, err)
				}
			}
			got, err := proto.MarshalOptions{Deterministic: true}.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			want, err := hex.DecodeString(strings.ReplaceAll(g.Hex, " ", ""))
			if err != nil {
				t.Fatal(err)
			}
			if hex.EncodeToString(got) != hex.EncodeToString(want) {
				t.Fatalf("bytes of %s:\n got  %x\n want %x", g.Name, got, want)
			}
			// The same bytes decode back to the expected JSON value.
			var back commonspb.Variant
			if err := proto.Unmarshal(want, &back); err != nil {
				t.Fatal(err)
			}
			dec, err := Decode(&back)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if string(dec) != g.Decoded {
				t.Fatalf("Decode = %s, want %s", dec, g.Decoded)
			}
		})
	}
}

func TestVariantFieldNumbersAndEnumValues(t *testing.T) {
	// §6.1: Variant has no field 1; type is field 2, value field 3.
	fd := (&commonspb.Variant{}).ProtoReflect().Descriptor().Fields()
	if fd.ByName("type").Number() != 2 || fd.ByName("value").Number() != 3 || fd.ByNumber(1) != nil {
		t.Fatalf("Variant field numbers changed")
	}
	want := map[string]int32{"NONE": 0, "DOUBLE": 1, "INT": 2, "STRING": 3, "PARQUET": 4, "ARROW": 5, "JSON": 6}
	if len(commonspb.VariantType_value) != len(want) {
		t.Fatalf("VariantType has %d members, want %d", len(commonspb.VariantType_value), len(want))
	}
	for name, n := range want {
		if commonspb.VariantType_value[name] != n {
			t.Errorf("VariantType %s = %d, want %d", name, commonspb.VariantType_value[name], n)
		}
	}
}

func TestVariantRefusals(t *testing.T) {
	for _, f := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		if _, err := DoubleVariant(f); !errors.Is(err, ErrNonFinite) {
			t.Errorf("DoubleVariant(%v) err = %v, want ErrNonFinite", f, err)
		}
	}
	nan := make([]byte, 8)
	nan[6], nan[7] = 0xf8, 0x7f
	cases := []struct {
		name string
		v    *commonspb.Variant
		want error
	}{
		{"DOUBLE NaN", &commonspb.Variant{Type: commonspb.VariantType_DOUBLE, Value: nan}, ErrNonFinite},
		{"DOUBLE 4 bytes", &commonspb.Variant{Type: commonspb.VariantType_DOUBLE, Value: []byte{1, 2, 3, 4}}, ErrBadOutput},
		{"INT 3 bytes", &commonspb.Variant{Type: commonspb.VariantType_INT, Value: []byte{1, 2, 3}}, ErrBadOutput},
		{"STRING bad UTF-8", &commonspb.Variant{Type: commonspb.VariantType_STRING, Value: []byte{0xff}}, ErrBadOutput},
		{"JSON NaN token", &commonspb.Variant{Type: commonspb.VariantType_JSON, Value: []byte(`[NaN, Infinity]`)}, ErrNonFinite},
		{"JSON -Infinity", &commonspb.Variant{Type: commonspb.VariantType_JSON, Value: []byte(`{"value": -Infinity}`)}, ErrNonFinite},
		{"JSON truncated", &commonspb.Variant{Type: commonspb.VariantType_JSON, Value: []byte(`{"value": `)}, ErrBadOutput},
		{"PARQUET", &commonspb.Variant{Type: commonspb.VariantType_PARQUET, Value: []byte("PAR1")}, ErrUnsupportedVariant},
		{"ARROW", &commonspb.Variant{Type: commonspb.VariantType_ARROW}, ErrUnsupportedVariant},
		{"unknown type", &commonspb.Variant{Type: 42}, ErrUnsupportedVariant},
	}
	for _, c := range cases {
		if _, err := Decode(c.v); !errors.Is(err, c.want) {
			t.Errorf("%s: Decode err = %v, want %v", c.name, err, c.want)
		}
	}
	// A string containing "NaN" is fine.
	if out, err := Decode(&commonspb.Variant{Type: commonspb.VariantType_JSON, Value: []byte(`{"note": "NaN"}`)}); err != nil || string(out) != `{"note": "NaN"}` {
		t.Errorf("JSON with NaN inside a string: %s, %v", out, err)
	}
	if _, err := ArgVariant(json.RawMessage("null")); !errors.Is(err, ErrUnsupportedVariant) {
		t.Errorf("ArgVariant(null) err = %v, want ErrUnsupportedVariant", err)
	}
	if _, err := ArgVariant(json.RawMessage("NaN")); err == nil {
		t.Error("ArgVariant(NaN) succeeded")
	}
	if out, err := Decode(nil); err != nil || string(out) != "null" {
		t.Errorf("Decode(nil) = %s, %v; want null (a method that returned None)", out, err)
	}
}
