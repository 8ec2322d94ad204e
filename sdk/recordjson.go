package sdk

import (
	"bytes"
	"encoding/json"
	"strconv"
	"time"
)

// fastRecord decodes one JSON prediction record into r exactly as
// json.Unmarshal would, when b has the shape the host encodes
// (encoding/json of a PredictionRecord: known keys, no whitespace, ASCII
// strings without escapes, no score), and reports whether it did. The
// ResolveGroundTruth of a 1000-prediction batch decodes 1000 records: this
// path takes no reflection and no second scan of the whole record. When
// it reports false, r holds partial values: the caller resets it and
// decodes b with json.Unmarshal (its values and errors).
func fastRecord(b []byte, r *PredictionRecord) bool {
	if len(b) < 2 || b[0] != '{' || b[len(b)-1] != '}' {
		return false
	}
	i := 1
	if b[i] == '}' {
		return i+1 == len(b)
	}
	for {
		key, next, ok := plainString(b, i)
		if !ok || next >= len(b) || b[next] != ':' {
			return false
		}
		i = next + 1
		end := valueEnd(b, i)
		if end < 0 {
			return false
		}
		v := b[i:end]
		switch string(key) {
		case "id", "model_id", "prediction_config_id", "scope_key", "status":
			s, n, ok := plainString(v, 0)
			if !ok || n != len(v) {
				return false
			}
			switch string(key) {
			case "id":
				r.ID = string(s)
			case "model_id":
				r.ModelID = string(s)
			case "prediction_config_id":
				r.PredictionConfigID = string(s)
			case "scope_key":
				r.ScopeKey = string(s)
			case "status":
				r.Status = string(s)
			}
		case "exec_time_ms":
			if !json.Valid(v) || (v[0] != '-' && (v[0] < '0' || v[0] > '9')) {
				return false
			}
			f, err := strconv.ParseFloat(string(v), 64)
			if err != nil {
				return false
			}
			r.ExecTimeMs = f
		case "scope", "inference_input", "inference_output", "meta":
			if !json.Valid(v) {
				return false
			}
			raw := json.RawMessage(bytes.Clone(v))
			switch string(key) {
			case "scope":
				r.Scope = raw
			case "inference_input":
				r.InferenceInput = raw
			case "inference_output":
				r.InferenceOutput = raw
			case "meta":
				r.Meta = raw
			}
		case "performed_at", "resolvable_at":
			var t time.Time
			if _, n, ok := plainString(v, 0); !ok || n != len(v) || t.UnmarshalJSON(v) != nil {
				return false
			}
			if string(key) == "performed_at" {
				r.PerformedAt = t
			} else {
				r.ResolvableAt = t
			}
		default: // score and unknown keys: encoding/json's rules
			return false
		}
		i = end
		switch {
		case b[i] == ',':
			i++
		case b[i] == '}' && i+1 == len(b):
			return true
		default:
			return false
		}
	}
}

// plainString returns the contents of the JSON string starting at b[i]
// and the index after its closing quote, when it is a string of printable
// ASCII without escapes (ok false otherwise).
func plainString(b []byte, i int) (s []byte, next int, ok bool) {
	if i >= len(b) || b[i] != '"' {
		return nil, 0, false
	}
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			return b[i+1 : j], j + 1, true
		case c == '\\' || c < 0x20 || c >= 0x80:
			return nil, 0, false
		}
	}
	return nil, 0, false
}

// valueEnd returns the index just after the JSON value starting at b[i]
// (its syntax is checked by the caller), or -1 when it does not end before
// the closing brace of the record: the value ends at the first ',' or '}'
// outside strings, objects and arrays.
func valueEnd(b []byte, i int) int {
	depth := 0
	for j := i; j < len(b); j++ {
		switch b[j] {
		case '"':
			for j++; j < len(b) && b[j] != '"'; j++ {
				if b[j] == '\\' {
					j++
				}
			}
			if j >= len(b) {
				return -1
			}
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				if j == i {
					return -1
				}
				return j
			}
			depth--
		case ',':
			if depth == 0 {
				if j == i {
					return -1
				}
				return j
			}
		}
	}
	return -1
}
