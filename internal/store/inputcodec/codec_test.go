package inputcodec

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/crunch-coordinator/coordinator/internal/store"
)

// table is an in-memory table inputs: what a driver stores and returns.
type table struct {
	rows    map[string]Row
	fetches int
}

func (tb *table) fetch(_ context.Context, ids []string) ([]Row, error) {
	tb.fetches++
	var out []Row
	for _, id := range ids {
		if r, ok := tb.rows[id]; ok {
			// A copy, as a driver returns fresh bytes.
			r.Data = append([]byte(nil), r.Data...)
			out = append(out, r)
		}
	}
	return out, nil
}

// write encodes inputs as one transaction that inserts every row not
// already stored, then commits.
func (tb *table) write(t *testing.T, w *Writer, inputs ...store.Input) *Batch {
	t.Helper()
	b, err := w.Encode(inputs)
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	for i, r := range b.Rows {
		if _, ok := tb.rows[r.ID]; !ok {
			tb.rows[r.ID] = r
			b.Inserted(i)
		}
	}
	w.Commit(b)
	return b
}

func input(stream string, text []byte) store.Input {
	return store.Input{ID: store.InputID(text), Input: text, Stream: stream}
}

// window returns the baseline pack's input for minute i: the scope
// envelope and the last n one-minute candles of a random walk (prices
// from walk, which holds at least i+n entries).
func window(walk []float64, i, n int) []byte {
	var b strings.Builder
	b.WriteString(`{"_scope":{"scope_key":"default","scope":{"asset":"BTC","horizon_seconds":60,"step_seconds":60}},"asset":"BTC","candles":[`)
	t0 := time.Date(2023, 3, 1, 0, 0, 0, 0, time.UTC)
	for k := i; k < i+n; k++ {
		if k > i {
			b.WriteByte(',')
		}
		p := walk[k]
		fmt.Fprintf(&b, `{"ts":%q,"open":%v,"high":%v,"low":%v,"close":%v,"volume":%v}`,
			t0.Add(time.Duration(k)*time.Minute).Format(time.RFC3339), p, p+1.25, p-0.5, walk[k+1], float64(k%97)/7)
	}
	b.WriteString(`]}`)
	return []byte(b.String())
}

func randomWalk(r *rand.Rand, n int) []float64 {
	w := make([]float64, n)
	p := 23140.48
	for i := range w {
		p += float64(r.IntN(2001)-1000) / 100
		w[i] = p
	}
	return w
}

// chainLen is the number of frames a read of id decodes.
func chainLen(tb *table, id string) int {
	n := 0
	for r := tb.rows[id]; ; r = tb.rows[r.BaseID] {
		n++
		if r.Codec != ZstdDelta {
			return n
		}
	}
}

// TestRoundTrip: sliding windows (two interleaved streams), random texts
// and repeated contents read back byte for byte, one at a time without a
// cache (every chain decoded from its keyframe) and all at once; every
// KeyframeInterval-th input of a stream is a keyframe and no read decodes
// more than KeyframeInterval frames.
func TestRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	const cycles = 3*KeyframeInterval + 5
	walkA, walkB := randomWalk(r, cycles+200), randomWalk(r, cycles+200)
	tb := &table{rows: map[string]Row{}}
	w := NewWriter(nil)
	var want [][]byte
	var ids []string
	add := func(in store.Input) {
		want = append(want, in.Input)
		ids = append(ids, in.ID)
	}
	for i := range cycles {
		a := input("cfg|BTC", window(walkA, i, 120))
		b := input("cfg|ETH", window(walkB, i, 1+i%40)) // a growing then shrinking window
		batch := tb.write(t, w, a, b)
		add(a)
		add(b)
		wantCodec := ZstdDelta
		if i%KeyframeInterval == 0 {
			wantCodec = Zstd
		}
		if got := batch.Rows[0].Codec; got != wantCodec {
			t.Fatalf("cycle %d: stream A stored as %s, want %s", i, got, wantCodec)
		}
		if n := chainLen(tb, a.ID); n != i%KeyframeInterval+1 {
			t.Fatalf("cycle %d: chain of %d frames, want %d", i, n, i%KeyframeInterval+1)
		}
		if i%7 == 3 { // random bytes and random JSON in a third stream
			text := make([]byte, r.IntN(3000))
			for k := range text {
				text[k] = byte(r.UintN(256))
			}
			rnd := input("cfg|rnd", text)
			js, _ := json.Marshal(map[string]any{"x": r.Float64(), "s": strings.Repeat("ab", r.IntN(500)), "n": r.IntN(1e6)})
			rjs := input("cfg|rnd", js)
			tb.write(t, w, rnd)
			tb.write(t, w, rjs)
			add(rnd)
			add(rjs)
		}
	}
	// The same content again (a retried cycle): not inserted, so the stream
	// restarts at a keyframe.
	again := input("cfg|BTC", want[len(want)-2])
	tb.write(t, w, again)
	next := input("cfg|BTC", window(walkA, cycles, 120))
	if b := tb.write(t, w, next); b.Rows[0].Codec != Zstd {
		t.Fatalf("input after a not-inserted one stored as %s, want a keyframe", b.Rows[0].Codec)
	}
	add(next)

	for i, id := range ids {
		got, err := Read(context.Background(), []string{id}, tb.fetch, nil)
		if err != nil {
			t.Fatalf("Read %s: %v", id, err)
		}
		if !bytes.Equal(got[id], want[i]) {
			t.Fatalf("Read %s: %d bytes differ from the %d written", id, len(got[id]), len(want[i]))
		}
	}
	tb.fetches = 0
	cache := NewCache(DefaultCacheBytes)
	all, err := Read(context.Background(), append(ids, "INP_absent"), tb.fetch, cache)
	if err != nil {
		t.Fatalf("Read all: %v", err)
	}
	if len(all) != len(ids) {
		t.Fatalf("Read all: %d inputs, want %d (an absent id is left out)", len(all), len(ids))
	}
	for i, id := range ids {
		if !bytes.Equal(all[id], want[i]) {
			t.Fatalf("Read all %s: differs", id)
		}
	}
	if tb.fetches != 1 {
		t.Errorf("Read all: %d fetches, want 1 (every base is among the ids)", tb.fetches)
	}
	// Cached: no fetch at all.
	tb.fetches = 0
	if _, err := Read(context.Background(), ids[:50], tb.fetch, cache); err != nil || tb.fetches != 0 {
		t.Errorf("cached Read: %d fetches, %v; want 0, nil", tb.fetches, err)
	}

	// Size: the sliding window of stream A costs far less than its text.
	var plain, stored int
	for i := range cycles {
		a := window(walkA, i, 120)
		plain += len(a)
		stored += len(tb.rows[store.InputID(a)].Data)
	}
	if stored*10 > plain {
		t.Errorf("stream A: %d bytes stored for %d of JSON, want under a tenth", stored, plain)
	}
	t.Logf("stream A: %d inputs, %d bytes of JSON stored in %d (%.0f B per input)", cycles, plain, stored, float64(stored)/cycles)
}

// TestPlain: an empty input, one that zstd does not shrink and one over
// MaxInputBytes are stored as their text.
func TestPlain(t *testing.T) {
	big := bytes.Repeat([]byte("a"), MaxInputBytes+1)
	for _, text := range [][]byte{{}, []byte(`1`), big} {
		row, err := Encode("INP_x", text, "", nil)
		if err != nil || row.Codec != Plain || !bytes.Equal(row.Data, text) {
			t.Errorf("Encode %d bytes: %s, %v; want plain", len(text), row.Codec, err)
		}
	}
	// Read caps a plain row too.
	tb := &table{rows: map[string]Row{"INP_big": {ID: "INP_big", Codec: Plain, Data: big}}}
	if _, err := Read(context.Background(), []string{"INP_big"}, tb.fetch, nil); err == nil || !strings.Contains(err.Error(), "INP_big") {
		t.Errorf("Read of a plain row over MaxInputBytes: %v; want an error naming INP_big", err)
	}
}

// TestHostileRows: corrupt or hostile rows give an error naming the input,
// and never decode more than MaxInputBytes.
func TestHostileRows(t *testing.T) {
	good := []byte(`{"candles":[` + strings.Repeat(`{"close":23140.5},`, 50) + `1]}`)
	goodID := store.InputID(good)
	key, err := Encode(goodID, good, "", nil)
	if err != nil || key.Codec != Zstd {
		t.Fatalf("Encode: %s, %v", key.Codec, err)
	}
	enc, _ := zstd.NewWriter(nil)
	bomb := enc.EncodeAll(make([]byte, MaxInputBytes+1<<20), nil) // declares its size
	var stream bytes.Buffer                                       // no content size in the header
	sw, _ := zstd.NewWriter(&stream)
	zero := make([]byte, 1<<20)
	for range MaxInputBytes/len(zero) + 2 {
		_, _ = sw.Write(zero)
	}
	_ = sw.Close()
	other := []byte(`{"other":true}`)
	otherKey, _ := Encode("INP_wrong", bytes.Repeat(other, 20), "", nil)
	cases := []struct {
		name string
		rows []Row
		read string
		want string
	}{
		{"declared bomb", []Row{{ID: "INP_bomb", Codec: Zstd, Data: bomb}}, "INP_bomb", "more than"},
		{"streamed bomb", []Row{{ID: "INP_stream", Codec: Zstd, Data: stream.Bytes()}}, "INP_stream", "more than"},
		{"truncated frame", []Row{{ID: "INP_trunc", Codec: Zstd, Data: key.Data[:len(key.Data)-3]}}, "INP_trunc", "INP_trunc"},
		{"garbage", []Row{{ID: "INP_junk", Codec: Zstd, Data: []byte("not a zstd frame")}}, "INP_junk", "INP_junk"},
		{"wrong content", []Row{{ID: "INP_wrong", Codec: Zstd, Data: otherKey.Data}}, "INP_wrong", "content id"},
		{"unknown codec", []Row{{ID: "INP_new", Codec: 9, Data: good}}, "INP_new", "unknown codec 9"},
		{"missing base", []Row{{ID: "INP_d", Codec: ZstdDelta, BaseID: "INP_gone", Data: key.Data}}, "INP_d", "INP_gone"},
		{"base cycle", []Row{
			{ID: "INP_a", Codec: ZstdDelta, BaseID: "INP_b", Data: key.Data},
			{ID: "INP_b", Codec: ZstdDelta, BaseID: "INP_a", Data: key.Data},
		}, "INP_a", "chain of more than"},
		{"corrupt base", []Row{
			{ID: "INP_top", Codec: ZstdDelta, BaseID: "INP_junk", Data: key.Data},
			{ID: "INP_junk", Codec: Zstd, Data: []byte("junk")},
		}, "INP_top", "INP_junk"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tb := &table{rows: map[string]Row{}}
			for _, r := range tc.rows {
				tb.rows[r.ID] = r
			}
			_, err := Read(context.Background(), []string{tc.read}, tb.fetch, NewCache(DefaultCacheBytes))
			if err == nil || !strings.Contains(err.Error(), tc.read) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Read %s: %v; want an error naming it and containing %q", tc.read, err, tc.want)
			}
			if tb.fetches > MaxChain+1 {
				t.Errorf("%d fetches, want at most %d", tb.fetches, MaxChain+1)
			}
		})
	}
}

// TestCacheBound: the cache never holds more than its size.
func TestCacheBound(t *testing.T) {
	c := NewCache(1000)
	for i := range 100 {
		c.put(fmt.Sprint(i), make([]byte, 100+i))
		if c.size > 1000 {
			t.Fatalf("after %d puts: %d bytes cached, want at most 1000", i+1, c.size)
		}
	}
	if _, ok := c.get("99"); !ok {
		t.Error("the newest entry was evicted")
	}
	if _, ok := c.get("0"); ok {
		t.Error("the oldest entry is still cached")
	}
	c.put("huge", make([]byte, 300))
	if _, ok := c.get("huge"); ok {
		t.Error("an entry over a quarter of the cache was cached")
	}
}

// TestBlockChainsInBatch: a block of a stream's inputs encoded in one batch
// (a replay saving 15 cycles in one transaction) is a chain of deltas of
// one another, as small as the same inputs saved one batch each, with a
// keyframe every KeyframeInterval inputs; CheckBases refuses a batch whose
// inserted delta has an in-batch base the transaction did not insert, and
// EncodeAgainstCommitted never chains inside the batch.
func TestBlockChainsInBatch(t *testing.T) {
	walk := randomWalk(rand.New(rand.NewPCG(7, 8)), 400)
	const n = KeyframeInterval + 8
	inputs := make([]store.Input, n)
	for i := range inputs {
		inputs[i] = input("btc", window(walk, i, 120))
	}
	size := func(b *Batch) (total int) {
		for _, r := range b.Rows {
			total += len(r.Data)
		}
		return total
	}
	// One at a time (a live node's cycles).
	one := NewWriter(nil)
	tb := &table{rows: map[string]Row{}}
	oneSize := 0
	for _, in := range inputs {
		oneSize += size(tb.write(t, one, in))
	}
	// One block.
	w := NewWriter(nil)
	b, err := w.Encode(inputs)
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	blockTB := &table{rows: map[string]Row{}}
	for i, r := range b.Rows {
		blockTB.rows[r.ID] = r
		b.Inserted(i)
		if want := i%KeyframeInterval != 0; (r.Codec == ZstdDelta) != want {
			t.Fatalf("row %d: codec %v, want a delta: %v", i, r.Codec, want)
		}
		if i > 0 && r.Codec == ZstdDelta && r.BaseID != b.Rows[i-1].ID {
			t.Fatalf("row %d: base %s, want the previous input of the block %s", i, r.BaseID, b.Rows[i-1].ID)
		}
	}
	if err := b.CheckBases(); err != nil {
		t.Fatalf("CheckBases with every row inserted: %v", err)
	}
	if got := size(b); got > oneSize+oneSize/10 {
		t.Fatalf("block of %d inputs: %d bytes; one at a time: %d", n, got, oneSize)
	}
	for _, r := range b.Rows {
		if l := chainLen(blockTB, r.ID); l > KeyframeInterval {
			t.Fatalf("%s: chain of %d frames, want at most %d", r.ID, l, KeyframeInterval)
		}
	}
	// Row 3 was already stored by another writer: row 4, its delta, must
	// not commit.
	b2, err := NewWriter(nil).Encode(inputs[:6])
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	for i := range b2.Rows {
		if i != 3 {
			b2.Inserted(i)
		}
	}
	if err := b2.CheckBases(); !errors.Is(err, ErrForeignBase) {
		t.Fatalf("CheckBases with an in-batch base not inserted = %v, want ErrForeignBase", err)
	}
	b3, err := NewWriter(nil).EncodeAgainstCommitted(inputs[:6])
	if err != nil {
		t.Fatalf("EncodeAgainstCommitted: %v", err)
	}
	for i, r := range b3.Rows {
		if r.Codec == ZstdDelta {
			t.Fatalf("EncodeAgainstCommitted with nothing committed: row %d is a delta of %s", i, r.BaseID)
		}
		if i != 3 {
			b3.Inserted(i)
		}
	}
	if err := b3.CheckBases(); err != nil {
		t.Fatalf("CheckBases of EncodeAgainstCommitted = %v", err)
	}
}

// TestPooledEncodersMatchFresh: frames written by the pooled encoders
// (keyframes, and deltas against a different dictionary each time, from
// several goroutines at once) are byte for byte the frames a fresh encoder
// with the same options and dictionary writes, and decode back through the
// pooled decoders.
func TestPooledEncodersMatchFresh(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	walk := randomWalk(r, 400)
	texts := make([][]byte, 60)
	for i := range texts {
		texts[i] = window(walk, i*3, 120)
	}
	fresh := func(input, dict []byte) []byte {
		opts := encoderOptions()
		if dict != nil {
			opts = append(opts, zstd.WithEncoderDictRaw(0, dict))
		}
		enc, err := zstd.NewWriter(nil, opts...)
		if err != nil {
			t.Fatal(err)
		}
		defer enc.Close()
		return enc.EncodeAll(input, nil)
	}
	errs := make(chan error, 4)
	for g := range 4 {
		go func() {
			errs <- func() error {
				for i, in := range texts {
					var dict []byte
					// Alternate keyframes with deltas against near and far
					// bases, differently per goroutine.
					if (i+g)%3 != 0 {
						dict = texts[(i*7+g)%len(texts)]
					}
					got, err := compress(in, dict)
					if err != nil {
						return err
					}
					if want := fresh(in, dict); !bytes.Equal(got, want) {
						return fmt.Errorf("goroutine %d input %d (dict %v): pooled frame %d bytes differs from a fresh encoder's %d bytes", g, i, dict != nil, len(got), len(want))
					}
					codec := Zstd
					if dict != nil {
						codec = ZstdDelta
					}
					back, err := decode(Row{ID: "x", Codec: codec, BaseID: "b", Data: got}, dict)
					if err != nil {
						return fmt.Errorf("goroutine %d input %d: decode: %w", g, i, err)
					}
					if !bytes.Equal(back, in) {
						return fmt.Errorf("goroutine %d input %d: decoded text differs", g, i)
					}
				}
				return nil
			}()
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
