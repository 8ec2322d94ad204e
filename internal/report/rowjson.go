package report

import (
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
)

// writeRows writes chart rows as writeJSON would (the same bytes: keys
// sorted, HTML characters not escaped, numbers formatted as encoding/json
// does), without reflection: chart answers hold thousands of rows and
// encoding/json spent more time on them than reading them from the store.
// A value of a type appendValue does not know goes through encoding/json.
func writeRows(w http.ResponseWriter, status int, rows []map[string]any) {
	buf := make([]byte, 0, 512*len(rows)+3)
	buf = append(buf, '[')
	var err error
	var enc jsonEncoder
	for i, r := range rows {
		if i > 0 {
			buf = append(buf, ',')
		}
		if buf, err = appendValue(buf, r, &enc); err != nil {
			writeJSON(w, status, rows) // reports the encoding error as writeJSON does
			return
		}
	}
	buf = append(buf, ']', '\n')
	writeBody(w, status, buf)
}

// appendValue appends the JSON encoding of v, exactly as encoding/json
// with SetEscapeHTML(false) encodes it.
func appendValue(b []byte, v any, enc *jsonEncoder) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case string:
		return appendJSONString(b, x), nil
	case bool:
		return strconv.AppendBool(b, x), nil
	case int:
		return strconv.AppendInt(b, int64(x), 10), nil
	case int64:
		return strconv.AppendInt(b, x, 10), nil
	case float64:
		return appendFloat(b, x)
	case map[string]any:
		keys := enc.sortedKeys(x)
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, k)
			b = append(b, ':')
			var err error
			if b, err = appendValue(b, x[k], enc); err != nil {
				return b, err
			}
		}
		return append(b, '}'), nil
	case []any:
		if x == nil {
			return append(b, "null"...), nil
		}
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = appendValue(b, e, enc); err != nil {
				return b, err
			}
		}
		return append(b, ']'), nil
	}
	return enc.append(b, v)
}

// appendFloat formats f as encoding/json does (shortest representation,
// exponent form below 1e-6 and from 1e21, "e-7" rather than "e-07");
// NaN and ±Inf are an error, as there.
func appendFloat(b []byte, f float64) ([]byte, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return b, fmt.Errorf("json: unsupported value: %v", f)
	}
	format := byte('f')
	if a := math.Abs(f); a != 0 && (a < 1e-6 || a >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b, nil
}

// sortedKeys returns the keys of m in byte order. The rows of a chart
// answer share a few key sets, so the sorted keys of the last map of each
// size are reused when m has exactly those keys (same size, every key
// present); the result must not be modified.
func (e *jsonEncoder) sortedKeys(m map[string]any) []string {
	if ks, ok := e.keys[len(m)]; ok {
		same := true
		for _, k := range ks {
			if _, in := m[k]; !in {
				same = false
				break
			}
		}
		if same {
			return ks
		}
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if e.keys == nil {
		e.keys = map[int][]string{}
	}
	e.keys[len(m)] = keys
	return keys
}
