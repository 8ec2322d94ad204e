package inputcodec

import (
	"sync"

	"github.com/crunch-coordinator/coordinator/internal/store"
)

// maxStreams bounds the streams a Writer remembers (one JSON text each);
// past it, the memory is cleared and every stream restarts at a keyframe.
const maxStreams = 1024

// Writer chooses how each new input is stored. It remembers, per stream
// (store.Input.Stream), the last input this process stored and committed:
// its id, JSON text and depth in its chain. The next input of the stream
// becomes a delta of it, or a keyframe when the chain would reach
// KeyframeInterval or nothing is remembered (after a restart, or when the
// last one was already stored by someone else, so its depth is unknown).
// A base is always a row that exists: the memory only advances on Commit,
// after the transaction that inserted it committed. Safe for concurrent use.
type Writer struct {
	mu      sync.Mutex
	streams map[string]last
	cache   *Cache
}

type last struct {
	id    string
	text  []byte
	depth int
}

// NewWriter returns a Writer that also puts every committed input into
// cache (nil: none), since the score worker reads it back soon.
func NewWriter(cache *Cache) *Writer {
	return &Writer{streams: map[string]last{}, cache: cache}
}

// Batch is the encoded inputs of one write transaction: Rows[i] is the row
// of the i-th input given to Encode.
type Batch struct {
	Rows     []Row
	streams  []string
	texts    [][]byte
	depths   []int
	inserted []bool
}

// Encode encodes inputs (store.PredictionInputs) against the remembered
// inputs of their streams. Every input of one batch uses the stream's
// committed base, never another input of the same batch.
func (w *Writer) Encode(inputs []store.Input) (*Batch, error) {
	b := &Batch{Rows: make([]Row, len(inputs)), streams: make([]string, len(inputs)),
		texts: make([][]byte, len(inputs)), depths: make([]int, len(inputs)), inserted: make([]bool, len(inputs))}
	for i, in := range inputs {
		w.mu.Lock()
		base, ok := w.streams[in.Stream]
		w.mu.Unlock()
		var baseText []byte
		depth := 0
		if ok && base.depth+1 < KeyframeInterval && base.id != in.ID {
			baseText, depth = base.text, base.depth+1
		}
		row, err := Encode(in.ID, in.Input, base.id, baseText)
		if err != nil {
			return nil, err
		}
		if row.Codec != ZstdDelta {
			depth = 0
		}
		b.Rows[i], b.streams[i], b.texts[i], b.depths[i] = row, in.Stream, in.Input, depth
	}
	return b, nil
}

// Inserted records that the transaction inserted Rows[i] (it was not
// already stored).
func (b *Batch) Inserted(i int) { b.inserted[i] = true }

// InsertedID records that the transaction inserted the row with id.
func (b *Batch) InsertedID(id string) {
	for i := range b.Rows {
		if b.Rows[i].ID == id {
			b.inserted[i] = true
		}
	}
}

// Commit is called after the transaction that wrote b committed: each
// inserted row becomes the base of its stream's next input. A stream whose
// input of this batch was already stored is forgotten (the stored row's
// depth is unknown), so its next input is a keyframe.
func (w *Writer) Commit(b *Batch) {
	if b == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for i, r := range b.Rows {
		if !b.inserted[i] {
			delete(w.streams, b.streams[i])
			continue
		}
		if _, ok := w.streams[b.streams[i]]; !ok && len(w.streams) >= maxStreams {
			clear(w.streams)
		}
		w.streams[b.streams[i]] = last{id: r.ID, text: b.texts[i], depth: b.depths[i]}
		w.cache.put(r.ID, b.texts[i])
	}
}
