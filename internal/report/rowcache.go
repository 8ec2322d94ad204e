package report

import (
	"bytes"
	"encoding/binary"
	"math"
	"net/http"
	"sync"
	"time"
)

// rowCache holds encoded chart rows (the bytes writeRows writes for one
// row) keyed by everything the row is computed from (rowKey): a row read
// again, such as the newest row of a bucket a chart cache reused, is not
// built and encoded again. Content keyed, so never stale: a changed score,
// status or model name is another key. Bounded: two generations of at
// most max rows each (a row not used for a generation is dropped).
//
// It also keeps the last answer written (the keys of its rows, in order,
// and its body): the same rows again, as while nothing is written, are the
// same bytes.
type rowCache struct {
	max       int
	mu        sync.Mutex
	cur, prev map[string][]byte
	lastKeys  []byte // the length-prefixed row keys of lastBody, in order
	lastBody  []byte // shared, never modified
}

// defaultRowCacheRows bounds one generation of a rowCache: a few chart
// answers (1,000 rows each by default).
const defaultRowCacheRows = 8192

// rowKey builds a row's key: each part length-prefixed, so two different
// sequences of parts never give the same key.
type rowKey []byte

func (k rowKey) str(s string) rowKey {
	k = binary.AppendUvarint(k, uint64(len(s)))
	return append(k, s...)
}

func (k rowKey) bytes(b []byte) rowKey {
	k = binary.AppendUvarint(k, uint64(len(b)))
	return append(k, b...)
}

func (k rowKey) time(t time.Time) rowKey {
	if t.IsZero() {
		return append(k, 0)
	}
	k = append(k, 1)
	return binary.AppendVarint(k, t.UnixNano())
}

func (k rowKey) float(f float64) rowKey {
	return binary.LittleEndian.AppendUint64(k, math.Float64bits(f))
}

func (k rowKey) optFloat(f *float64) rowKey {
	if f == nil {
		return append(k, 0)
	}
	return append(k, 1).float(*f)
}

func (k rowKey) flag(b bool) rowKey {
	if b {
		return append(k, 1)
	}
	return append(k, 0)
}

func (k rowKey) int(n int64) rowKey { return binary.AppendVarint(k, n) }

// writeCachedRows writes n chart rows as writeRows would: row i is read
// from c by key(i) (appended to the buffer it is given) or built by
// row(i) (nil: the row is left out) and encoded. On an encoding error
// every row is built and writeRows reports it.
func writeCachedRows(w http.ResponseWriter, c *rowCache, n int, key func(i int, k rowKey) rowKey, row func(i int) map[string]any) {
	var all rowKey // every row's key, length-prefixed, in order
	ends := make([]int, n)
	for i := range n {
		start := len(all)
		all = append(all, 0, 0, 0, 0)
		all = key(i, all)
		binary.LittleEndian.PutUint32(all[start:], uint32(len(all)-start-4))
		ends[i] = len(all)
	}
	c.mu.Lock()
	if c.lastBody != nil && bytes.Equal(all, c.lastKeys) {
		body := c.lastBody
		c.mu.Unlock()
		writeBody(w, http.StatusOK, body)
		return
	}
	c.mu.Unlock()
	keys := make([]string, n)
	for i := range n {
		start := 0
		if i > 0 {
			start = ends[i-1]
		}
		keys[i] = string(all[start+4 : ends[i]])
	}
	enc := make([][]byte, n)
	found := make([]bool, n)
	c.mu.Lock()
	for i, k := range keys {
		if b, ok := c.cur[k]; ok {
			enc[i], found[i] = b, true
		} else if b, ok := c.prev[k]; ok {
			enc[i], found[i] = b, true
		}
	}
	c.mu.Unlock()
	var jenc jsonEncoder
	size := 2
	for i := range n {
		if !found[i] {
			r := row(i)
			if r != nil {
				b, err := appendValue(nil, r, &jenc)
				if err != nil {
					rows := make([]map[string]any, 0, n)
					for j := range n {
						if r := row(j); r != nil {
							rows = append(rows, r)
						}
					}
					writeRows(w, http.StatusOK, rows)
					return
				}
				enc[i] = b
			} else {
				enc[i] = []byte{} // left out
			}
		}
		size += len(enc[i]) + 1
	}
	c.mu.Lock()
	if c.cur == nil {
		c.cur = make(map[string][]byte, c.max)
	}
	for i, k := range keys {
		if _, ok := c.cur[k]; ok {
			continue
		}
		if len(c.cur) >= c.max {
			c.prev, c.cur = c.cur, make(map[string][]byte, c.max)
		}
		c.cur[k] = enc[i]
	}
	c.mu.Unlock()
	buf := make([]byte, 0, size+1)
	buf = append(buf, '[')
	first := true
	for _, b := range enc {
		if len(b) == 0 {
			continue
		}
		if !first {
			buf = append(buf, ',')
		}
		first = false
		buf = append(buf, b...)
	}
	buf = append(buf, ']', '\n')
	c.mu.Lock()
	c.lastKeys, c.lastBody = all, buf
	c.mu.Unlock()
	writeBody(w, http.StatusOK, buf)
}
