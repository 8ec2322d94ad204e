// Package jsonx holds the small JSON helpers the workers and checkers share:
// null and object checks, compaction and a UTF-8-safe abbreviation of raw
// bytes for error messages.
package jsonx

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
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

// CompactObject returns Compact(b) and its members as DecodeObject
// returns them (keys unescaped, the last of duplicate keys winning), each
// value the compacted member (a sub-slice of the compacted object), or
// DecodeObject's error. It scans b once to compact it, where DecodeObject
// then Compact scan it three times.
func CompactObject(b json.RawMessage) (json.RawMessage, map[string]json.RawMessage, error) {
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return nil, nil, fmt.Errorf("expected a JSON object, found %s", Abbreviate(b))
	}
	c := buf.Bytes()
	if len(c) == 0 || c[0] != '{' {
		return nil, nil, fmt.Errorf("expected a JSON object, found %s", Abbreviate(b))
	}
	m := map[string]json.RawMessage{}
	// c is valid compact JSON: {"key":value,...}.
	for i := 1; c[i] != '}'; {
		end := stringEnd(c, i)
		key := string(c[i+1 : end-1])
		if plainString(c[i+1:end-1]) != len(key) {
			if err := json.Unmarshal(c[i:end], &key); err != nil {
				return nil, nil, fmt.Errorf("expected a JSON object, found %s", Abbreviate(b))
			}
		}
		i = end + 1 // past ':'
		vend := valueEnd(c, i)
		m[key] = c[i:vend:vend]
		i = vend
		if c[i] == ',' {
			i++
		}
	}
	return c, m, nil
}

// stringEnd returns the index after the JSON string starting at c[i] (c
// valid JSON).
func stringEnd(c []byte, i int) int {
	for j := i + 1; ; j++ {
		switch c[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
}

// valueEnd returns the index after the JSON value starting at c[i] (c
// valid compact JSON).
func valueEnd(c []byte, i int) int {
	switch c[i] {
	case '"':
		return stringEnd(c, i)
	case '{', '[':
		depth := 0
		for j := i; ; j++ {
			switch c[j] {
			case '"':
				j = stringEnd(c, j) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1
				}
			}
		}
	}
	j := i // a number, true, false or null
	for c[j] != ',' && c[j] != '}' && c[j] != ']' {
		j++
	}
	return j
}

// plainString returns the length of the prefix of s made of printable
// ASCII that json.Marshal writes as itself in a string (no quote,
// backslash or HTML character).
func plainString(s []byte) int {
	for i, c := range s {
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return i
		}
	}
	return len(s)
}

// MarshalObject returns json.Marshal(m), byte for byte (keys sorted, HTML
// characters escaped), for a map whose values are compact JSON (as
// CompactObject and json.Marshal return them); it copies the values
// instead of scanning them again when no key or value needs an escape.
func MarshalObject(m map[string]json.RawMessage) ([]byte, error) {
	if m == nil {
		return json.Marshal(m)
	}
	keys := make([]string, 0, len(m))
	n := 1
	for k, v := range m {
		if plainString([]byte(k)) != len(k) || bytes.ContainsAny(v, "<>&\u2028\u2029") || len(v) == 0 {
			return json.Marshal(m)
		}
		keys = append(keys, k)
		n += len(k) + len(v) + 4
	}
	slices.Sort(keys)
	b := make([]byte, 0, n+1)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, k...)
		b = append(b, '"', ':')
		b = append(b, m[k]...)
	}
	return append(b, '}'), nil
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
