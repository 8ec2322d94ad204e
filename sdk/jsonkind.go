package sdk

import (
	"bytes"
	"encoding/json"
)

// JSONKind names the kind of a JSON document: "null" (also for empty
// input), "object", "array", "string", "number", "bool", or "invalid JSON".
// Diagnostics use it to say what was found where an object was expected.
func JSONKind(b []byte) string {
	t := bytes.TrimSpace(b)
	if len(t) == 0 {
		return "null"
	}
	if !json.Valid(t) {
		return "invalid JSON"
	}
	switch t[0] {
	case 'n':
		return "null"
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "bool"
	}
	return "number"
}

// IsJSONObject reports whether b is valid JSON whose top-level value is an
// object: exactly the documents json.Unmarshal decodes into a non-nil
// map[string]json.RawMessage. It does not decode the document.
func IsJSONObject(b []byte) bool {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		case '{':
			return json.Valid(b)
		}
		return false
	}
	return false
}
