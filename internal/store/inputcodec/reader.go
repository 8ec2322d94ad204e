package inputcodec

import (
	"container/list"
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/crunch-coordinator/coordinator/internal/store"
)

// Fetch returns the stored rows of ids (any order; an id not stored is
// left out). It is the driver's one read of table inputs.
type Fetch func(ctx context.Context, ids []string) ([]Row, error)

// Read returns the JSON text of each stored input of ids, byte for byte as
// it was written (a Plain row written by PostgreSQL before migration 00007
// comes back as its jsonb column renders it). An id not stored is absent
// from the result (store.AttachInputs reports it). Bases of deltas are
// fetched level by level (one Fetch per level for the whole set) and every
// decoded input is checked against its content id; cache (nil: none) holds
// recently decoded inputs, so reading consecutive inputs decodes each
// once. Errors name the input: a missing base, a chain longer than
// MaxChain, an unknown codec, a frame that is corrupt or decodes to more
// than MaxInputBytes, a content id mismatch.
func Read(ctx context.Context, ids []string, fetch Fetch, cache *Cache) (map[string]json.RawMessage, error) {
	out := make(map[string]json.RawMessage, len(ids))
	rows := map[string]Row{}
	var need []string
	for _, id := range ids {
		if _, dup := out[id]; dup {
			continue
		}
		if text, ok := cache.get(id); ok {
			out[id] = text
			continue
		}
		need = append(need, id)
	}
	wanted := need
	for level := 0; len(need) > 0; level++ {
		if level > MaxChain {
			return nil, fmt.Errorf("input %s: chain of more than %d frames (inputcodec.MaxChain)", need[0], MaxChain)
		}
		got, err := fetch(ctx, need)
		if err != nil {
			return nil, err
		}
		var next []string
		queued := map[string]bool{}
		for _, r := range got {
			rows[r.ID] = r
		}
		for _, r := range got {
			b := r.BaseID
			if r.Codec != ZstdDelta || b == "" || queued[b] {
				continue
			}
			if _, ok := rows[b]; ok {
				continue
			}
			if _, ok := cache.get(b); ok {
				continue
			}
			queued[b] = true
			next = append(next, b)
		}
		need = next
	}
	d := decoder{rows: rows, cache: cache, done: map[string][]byte{}}
	for _, id := range wanted {
		if _, ok := rows[id]; !ok {
			continue // not stored
		}
		text, err := d.text(id, 0)
		if err != nil {
			return nil, err
		}
		out[id] = text
	}
	return out, nil
}

type decoder struct {
	rows  map[string]Row
	cache *Cache
	done  map[string][]byte
}

// text decodes the input id, depth frames below the one asked for.
func (d *decoder) text(id string, depth int) ([]byte, error) {
	if t, ok := d.done[id]; ok {
		return t, nil
	}
	if t, ok := d.cache.get(id); ok {
		return t, nil
	}
	if depth >= MaxChain {
		return nil, fmt.Errorf("input %s: chain of more than %d frames (inputcodec.MaxChain)", id, MaxChain)
	}
	r, ok := d.rows[id]
	if !ok {
		return nil, fmt.Errorf("input %s: not stored (the base of a zstd-delta row)", id)
	}
	var base []byte
	if r.Codec == ZstdDelta {
		var err error
		if base, err = d.text(r.BaseID, depth+1); err != nil {
			return nil, fmt.Errorf("input %s: base: %w", id, err)
		}
	}
	text, err := decode(r, base)
	if err != nil {
		return nil, fmt.Errorf("input %s: %w", id, err)
	}
	if r.Codec != Plain {
		if got := store.InputID(text); got != id {
			return nil, fmt.Errorf("input %s: %s row decodes to content id %s (corrupt row)", id, r.Codec, got)
		}
	}
	d.done[id] = text
	d.cache.put(id, text)
	return text, nil
}

// Cache holds recently decoded or written inputs by id, up to a total size
// in bytes, least recently used first out. A nil *Cache holds nothing.
// Safe for concurrent use. The texts it returns are shared: callers must
// not modify them (predictions sharing an input share its backing array).
type Cache struct {
	mu    sync.Mutex
	max   int
	size  int
	order *list.List // of *entry, most recent first
	byID  map[string]*list.Element
}

type entry struct {
	id   string
	text []byte
}

// DefaultCacheBytes is the size of a driver's Cache: 8 MiB, about 600
// inputs of the baseline pack (10 hours of one stream).
const DefaultCacheBytes = 8 << 20

// NewCache returns a Cache of at most maxBytes of JSON text (an input over
// a quarter of it is not cached).
func NewCache(maxBytes int) *Cache {
	return &Cache{max: maxBytes, order: list.New(), byID: map[string]*list.Element{}}
}

func (c *Cache) get(id string) ([]byte, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.byID[id]
	if !ok {
		return nil, false
	}
	c.order.MoveToFront(el)
	return el.Value.(*entry).text, true
}

func (c *Cache) put(id string, text []byte) {
	if c == nil || len(text) > c.max/4 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.byID[id]; ok {
		c.order.MoveToFront(el)
		return
	}
	c.byID[id] = c.order.PushFront(&entry{id: id, text: text})
	c.size += len(text)
	for c.size > c.max {
		el := c.order.Back()
		e := el.Value.(*entry)
		c.order.Remove(el)
		delete(c.byID, e.id)
		c.size -= len(e.text)
	}
}
