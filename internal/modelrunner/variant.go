package modelrunner

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/crunch-coordinator/coordinator/proto/modelrunner/commonspb"
)

// Errors of the Variant encoding (match with errors.Is).
var (
	// ErrNonFinite: a NaN or infinite number was to be encoded or was
	// decoded (DOUBLE bytes, or NaN/Infinity tokens in JSON text).
	ErrNonFinite = errors.New("non-finite number (NaN or Infinity) refused")
	// ErrUnsupportedVariant: a Variant type this side cannot encode or
	// decode (PARQUET, ARROW, unknown values; NONE as an argument).
	ErrUnsupportedVariant = errors.New("unsupported variant type")
	// ErrBadOutput: a model's result does not decode as its declared
	// Variant type (wrong length, invalid UTF-8 or JSON).
	ErrBadOutput = errors.New("model result does not decode")
	// ErrArgument: the host could not encode a call's argument (a call
	// builder value such as null or a non-finite number); the call was not
	// sent and nothing is charged to the model.
	ErrArgument = errors.New("argument cannot be encoded")
)

// NoneVariant returns the NONE Variant (empty value).
func NoneVariant() *commonspb.Variant {
	return &commonspb.Variant{Type: commonspb.VariantType_NONE}
}

// DoubleVariant encodes f as DOUBLE: 8 bytes, IEEE-754 binary64,
// little-endian. NaN and ±Inf are refused with ErrNonFinite.
func DoubleVariant(f float64) (*commonspb.Variant, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, fmt.Errorf("encode DOUBLE %v: %w", f, ErrNonFinite)
	}
	b := make([]byte, 8)
	binary.LittleEndian.PutUint64(b, math.Float64bits(f))
	return &commonspb.Variant{Type: commonspb.VariantType_DOUBLE, Value: b}, nil
}

// IntVariant encodes i as INT: 8 bytes, two's-complement, little-endian.
func IntVariant(i int64) *commonspb.Variant {
	b := make([]byte, 8)
	binary.LittleEndian.PutUint64(b, uint64(i))
	return &commonspb.Variant{Type: commonspb.VariantType_INT, Value: b}
}

// StringVariant encodes s as STRING (its UTF-8 bytes). Invalid UTF-8 is
// refused.
func StringVariant(s string) (*commonspb.Variant, error) {
	if !utf8.ValidString(s) {
		return nil, fmt.Errorf("encode STRING: %d bytes that are not valid UTF-8", len(s))
	}
	return &commonspb.Variant{Type: commonspb.VariantType_STRING, Value: []byte(s)}, nil
}

// JSONVariant encodes one JSON value as JSON (its UTF-8 text, unchanged).
// raw must be valid JSON; strict JSON cannot hold NaN or Infinity.
func JSONVariant(raw json.RawMessage) (*commonspb.Variant, error) {
	if !json.Valid(raw) {
		return nil, fmt.Errorf("encode JSON: %d bytes that are not one valid JSON value%s", len(raw), nonFiniteHint(raw))
	}
	return &commonspb.Variant{Type: commonspb.VariantType_JSON, Value: bytes.TrimSpace(raw)}, nil
}

// ArgVariant encodes one call-builder argument (a JSON value) by its JSON
// kind: string → STRING, integer in int64 range → INT, other number →
// DOUBLE, object, array or boolean → JSON. null is refused
// (ErrUnsupportedVariant): the protocol's servers cannot receive NONE.
func ArgVariant(raw json.RawMessage) (*commonspb.Variant, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || !json.Valid(raw) {
		return nil, fmt.Errorf("encode argument: %d bytes that are not one valid JSON value%s", len(raw), nonFiniteHint(raw))
	}
	switch c := raw[0]; {
	case c == '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, fmt.Errorf("encode argument: %w", err)
		}
		return StringVariant(s)
	case c == 'n':
		return nil, fmt.Errorf("encode argument null: %w (NONE cannot be sent as an argument)", ErrUnsupportedVariant)
	case c == '-' || (c >= '0' && c <= '9'):
		if !bytes.ContainsAny(raw, ".eE") {
			if i, err := strconv.ParseInt(string(raw), 10, 64); err == nil {
				return IntVariant(i), nil
			}
			return JSONVariant(raw) // an integer beyond int64 keeps its digits
		}
		f, err := strconv.ParseFloat(string(raw), 64)
		if err != nil {
			return nil, fmt.Errorf("encode argument %s: %w", raw, err)
		}
		return DoubleVariant(f)
	default: // object, array, true, false
		return JSONVariant(raw)
	}
}

// Decode turns a model's result into one JSON value. A nil Variant (the
// method returned None, so the response has no methodResponse) and NONE
// decode as null. Errors wrap ErrBadOutput (wrong length, invalid UTF-8 or
// JSON), ErrNonFinite or ErrUnsupportedVariant, and say what was expected
// and found.
func Decode(v *commonspb.Variant) (json.RawMessage, error) {
	if v == nil {
		return json.RawMessage("null"), nil
	}
	b := v.GetValue()
	switch t := v.GetType(); t {
	case commonspb.VariantType_NONE:
		return json.RawMessage("null"), nil
	case commonspb.VariantType_DOUBLE:
		if len(b) != 8 {
			return nil, fmt.Errorf("%w: DOUBLE: expected 8 bytes, found %d", ErrBadOutput, len(b))
		}
		f := math.Float64frombits(binary.LittleEndian.Uint64(b))
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("decode DOUBLE %v: %w", f, ErrNonFinite)
		}
		out, _ := json.Marshal(f)
		return out, nil
	case commonspb.VariantType_INT:
		if len(b) != 8 {
			return nil, fmt.Errorf("%w: INT: expected 8 bytes, found %d", ErrBadOutput, len(b))
		}
		return strconv.AppendInt(nil, int64(binary.LittleEndian.Uint64(b)), 10), nil
	case commonspb.VariantType_STRING:
		if !utf8.Valid(b) {
			return nil, fmt.Errorf("%w: STRING: expected UTF-8, found %d bytes that are not", ErrBadOutput, len(b))
		}
		out, _ := json.Marshal(string(b))
		return out, nil
	case commonspb.VariantType_JSON:
		if !json.Valid(b) {
			if hint := nonFiniteHint(b); hint != "" {
				return nil, fmt.Errorf("decode JSON result: %w%s", ErrNonFinite, hint)
			}
			return nil, fmt.Errorf("%w: JSON: expected one valid JSON value, found %d bytes that are not (%.60q)", ErrBadOutput, len(b), b)
		}
		return json.RawMessage(bytes.TrimSpace(b)), nil
	default:
		return nil, fmt.Errorf("decode %s result: %w (expected NONE, DOUBLE, INT, STRING or JSON)", t, ErrUnsupportedVariant)
	}
}

// nonFiniteHint names the non-standard tokens Python's JSON writer emits
// for non-finite floats when b holds one outside a string.
func nonFiniteHint(b []byte) string {
	inString, escaped := false, false
	for i := 0; i < len(b); i++ {
		c := b[i]
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		if c == '"' {
			inString = true
			continue
		}
		for _, tok := range []string{"NaN", "Infinity"} {
			if bytes.HasPrefix(b[i:], []byte(tok)) {
				return fmt.Sprintf(" (found the non-standard token %s at byte %d: NaN and Infinity are not JSON)", tok, i)
			}
		}
	}
	return ""
}
