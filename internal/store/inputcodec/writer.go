package inputcodec

import (
	"errors"
	"fmt"
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
// Within one batch (Encode), a stream's later inputs are deltas of its
// earlier ones. A base is always a row that exists and whose depth is
// known: the memory only advances on Commit, after the transaction that
// inserted it committed, and an in-batch base that another writer had
// already stored fails the transaction (Batch.CheckBases) before it
// commits. Safe for concurrent use.
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
	// inBatch[i] is the index of the earlier input of the same batch that
	// Rows[i] is a delta of, or -1 when its base (if any) is a committed
	// row.
	inBatch []int
}

// ErrForeignBase is returned by Batch.CheckBases when an input of the
// batch is a delta of an earlier input of the same batch that the
// transaction did not insert (another writer had stored it): that base's
// chain depth is unknown, so the batch must be encoded again with
// EncodeAgainstCommitted and the transaction retried.
var ErrForeignBase = errors.New("inputcodec: an input's in-batch base was already stored by another writer")

// Encode encodes inputs (store.PredictionInputs, in the order the cycles
// produced them) against the remembered inputs of their streams: the
// first input of a stream in the batch is a delta of the stream's
// committed base, every later one a delta of the previous input of the
// same stream in the batch (a replay's block of cycles saved in one
// transaction compresses as well as one cycle per transaction). The
// transaction must call CheckBases after inserting the rows and before
// committing.
func (w *Writer) Encode(inputs []store.Input) (*Batch, error) {
	return w.encode(inputs, true)
}

// EncodeAgainstCommitted encodes inputs against the committed bases of
// their streams only, never another input of the same batch: what a
// transaction retries with after CheckBases returned ErrForeignBase.
func (w *Writer) EncodeAgainstCommitted(inputs []store.Input) (*Batch, error) {
	return w.encode(inputs, false)
}

func (w *Writer) encode(inputs []store.Input, chain bool) (*Batch, error) {
	b := &Batch{Rows: make([]Row, len(inputs)), streams: make([]string, len(inputs)),
		texts: make([][]byte, len(inputs)), depths: make([]int, len(inputs)), inserted: make([]bool, len(inputs)),
		inBatch: make([]int, len(inputs))}
	latest := map[string]int{} // stream -> index of its latest input in b
	for i, in := range inputs {
		b.inBatch[i] = -1
		var base last
		var ok bool
		k, inB := latest[in.Stream]
		if chain && inB {
			base, ok = last{id: b.Rows[k].ID, text: b.texts[k], depth: b.depths[k]}, true
		} else {
			w.mu.Lock()
			base, ok = w.streams[in.Stream]
			w.mu.Unlock()
		}
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
		} else if chain && inB {
			b.inBatch[i] = k
		}
		b.Rows[i], b.streams[i], b.texts[i], b.depths[i] = row, in.Stream, in.Input, depth
		latest[in.Stream] = i
	}
	return b, nil
}

// CheckBases returns ErrForeignBase when a row the transaction inserted is
// a delta of an earlier row of the batch that it did not insert (see
// Inserted): call it after the inserts, before committing, and roll back
// on the error.
func (b *Batch) CheckBases() error {
	if b == nil {
		return nil
	}
	for i, k := range b.inBatch {
		if k >= 0 && b.inserted[i] && !b.inserted[k] {
			return fmt.Errorf("input %s (delta of %s): %w", b.Rows[i].ID, b.Rows[k].ID, ErrForeignBase)
		}
	}
	return nil
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
