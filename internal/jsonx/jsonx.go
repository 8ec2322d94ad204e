// Package jsonx holds the small JSON helpers the workers and checkers share:
// null and object checks, compaction and a UTF-8-safe abbreviation of raw
// bytes for error messages.
package jsonx

import (
	"bytes"
	"encoding/json"
	"fmt"
	"unicode/utf8"

	"github.com/crunch-coordinator/coordinator/sdk"
)

// AbbrevRunes is the number of characters (runes) Abbreviate keeps.
const AbbrevRunes = 80

// Abbreviate returns b for an error message: surrounding white space
// trimmed, "nothing" when empty, and cut after AbbrevRunes characters with
// a trailing "…". It never cuts a UTF-8 character in half; invalid bytes
// count as one character each.
func Abbreviate(b []byte) string {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return "nothing"
	}
	n := 0
	for i := 0; i < len(b); {
		if n == AbbrevRunes {
			return string(b[:i]) + "…"
		}
		_, size := utf8.DecodeRune(b[i:])
		i += size
		n++
	}
	return string(b)
}

// IsNull reports whether b is the JSON literal null (white space allowed).
func IsNull(b []byte) bool { return string(bytes.TrimSpace(b)) == "null" }

// Compact returns b without insignificant white space, or b unchanged when
// it is not valid JSON.
func Compact(b json.RawMessage) json.RawMessage {
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return b
	}
	return buf.Bytes()
}

// DecodeObject decodes b as a JSON object. The error says "expected a JSON
// object, found <abbreviated b>".
func DecodeObject(b json.RawMessage) (map[string]json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil || m == nil {
		return nil, fmt.Errorf("expected a JSON object, found %s", Abbreviate(b))
	}
	return m, nil
}

// CheckObject returns nil when b is a JSON object and DecodeObject's error
// otherwise, without decoding a valid object.
func CheckObject(b json.RawMessage) error {
	if sdk.IsJSONObject(b) {
		return nil
	}
	_, err := DecodeObject(b)
	return err
}
