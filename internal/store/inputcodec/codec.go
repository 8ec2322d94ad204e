// Package inputcodec is the one place that decides how a stored inference
// input (table inputs, migration 00005) is encoded, and that decodes it
// back byte for byte.
//
// A predict cycle's input is usually a sliding window over the same feed
// (the baseline pack: the last 120 one-minute candles as 13 KB of JSON), so
// consecutive inputs of one stream share all but a few records. An input is
// stored as a zstd frame that uses the previous stored input of its stream
// as a raw dictionary (a delta: about 70 bytes for the baseline pack),
// except every KeyframeInterval-th input of a stream, which is a zstd frame
// of its own (a keyframe: about 2.8 KB), so reading any input decodes a
// chain of at most KeyframeInterval frames. Rows written before this codec
// existed hold the JSON text itself (Plain) and read back unchanged.
//
// Drivers only store and return Rows (id, codec, base id, bytes); the
// Writer chooses keyframes and bases, the Reader walks chains, bounds them
// and checks every decoded input against its content id (store.InputID).
package inputcodec

import (
	"errors"
	"fmt"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// Codec is the encoding of one stored input (column inputs.codec).
type Codec uint8

const (
	// Plain is the JSON text itself: rows written before migration 00007
	// and inputs that zstd does not shrink or that exceed MaxInputBytes.
	Plain Codec = 0
	// Zstd is a zstd frame of the JSON text (a keyframe).
	Zstd Codec = 1
	// ZstdDelta is a zstd frame of the JSON text compressed with the JSON
	// text of the input BaseID names as a raw dictionary (zstd "prefix").
	ZstdDelta Codec = 2
)

// String names the codec as error messages show it.
func (c Codec) String() string {
	switch c {
	case Plain:
		return "plain"
	case Zstd:
		return "zstd"
	case ZstdDelta:
		return "zstd-delta"
	}
	return fmt.Sprintf("codec(%d)", uint8(c))
}

const (
	// KeyframeInterval is how often a stream's input is written as a
	// keyframe: a delta's chain back to its keyframe holds at most
	// KeyframeInterval-1 deltas. 32 measured on the baseline pack: 2.8 KB
	// keyframe / 32 + 70 B deltas ≈ 160 B per input on average (about a
	// third of it for 16, a tenth less for 64 at twice the read chain).
	KeyframeInterval = 32
	// MaxChain is the longest chain (keyframe plus deltas) a read follows;
	// a longer one (a corrupt row, a cycle of base ids) is an error. Twice
	// KeyframeInterval, so that a later, larger interval stays readable.
	MaxChain = 2 * KeyframeInterval
	// MaxInputBytes caps the decoded size of one input: twice the 16 MiB
	// message cap of a plugin's gRPC server (sdk/serve.go), since the
	// stored input adds the scope envelope to what BuildInferenceInput
	// returned. A frame declaring or producing more is an error, so a
	// hostile row cannot make a read allocate without bound; the Writer
	// stores a larger input Plain.
	MaxInputBytes = 32 << 20
	// windowSize is the encoder's window. A delta reaches back into its
	// dictionary within it: 64 KiB covers the baseline's 13 KB input and
	// dictionary with room, and keeps a fresh encoder cheap (≈150 µs on the
	// loaded 2-core benchmark machine against ≈1 ms at the default window).
	windowSize = 64 << 10
)

// Row is one row of table inputs as a driver writes and reads it. ID is the
// content id of the decoded JSON (store.InputID). BaseID is set for
// ZstdDelta only. Data is the JSON text (Plain) or the zstd frame.
type Row struct {
	ID     string
	Codec  Codec
	BaseID string
	Data   []byte
}

// keyDecoder decodes keyframes; DecodeAll is safe for concurrent use.
var keyDecoder = mustDecoder()

func mustDecoder(opts ...zstd.DOption) *zstd.Decoder {
	d, err := zstd.NewReader(nil, append([]zstd.DOption{zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
		zstd.WithDecoderMaxMemory(MaxInputBytes), zstd.WithDecoderMaxWindow(MaxInputBytes)}, opts...)...)
	if err != nil {
		panic(fmt.Sprintf("inputcodec: zstd decoder options: %v", err))
	}
	return d
}

// encoderOptions are the options of every encoder; a fresh encoder with
// them and the same dictionary writes the same frame as a pooled one.
func encoderOptions() []zstd.EOption {
	return []zstd.EOption{zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1),
		zstd.WithLowerEncoderMem(true), zstd.WithWindowSize(windowSize), zstd.WithEncoderCRC(false)}
}

// Pools of encoders and delta decoders: a fresh encoder allocates its
// match tables (about 0.5 MB with a dictionary), which cost ≈0.16 ms per
// stored input on the benchmark machine. A keyframe encoder is used as it
// is; a delta encoder or decoder gets its dictionary by ResetWithOptions
// before each use (the library rebuilds its dictionary table for every new
// dictionary, so the frame does not depend on what it encoded before).
// A pooled delta coder holds on to the last dictionary it used (one
// input's JSON text, at most MaxInputBytes) until the pool drops it.
var (
	keyEncoders   = sync.Pool{New: func() any { return mustEncoder() }}
	deltaEncoders = sync.Pool{New: func() any { return mustEncoder(zstd.WithEncoderDictRaw(0, nil)) }}
	deltaDecoders = sync.Pool{New: func() any { return mustDecoder(zstd.WithDecoderDictRaw(0, nil)) }}
)

func mustEncoder(opts ...zstd.EOption) *zstd.Encoder {
	enc, err := zstd.NewWriter(nil, append(encoderOptions(), opts...)...)
	if err != nil {
		panic(fmt.Sprintf("inputcodec: zstd encoder options: %v", err))
	}
	return enc
}

// compress returns the zstd frame of input, with dict as a raw dictionary
// when non-nil.
func compress(input, dict []byte) ([]byte, error) {
	dst := make([]byte, 0, len(input)/4+64)
	if dict == nil {
		enc := keyEncoders.Get().(*zstd.Encoder)
		defer keyEncoders.Put(enc)
		return enc.EncodeAll(input, dst), nil
	}
	enc := deltaEncoders.Get().(*zstd.Encoder)
	if err := enc.ResetWithOptions(nil, zstd.WithEncoderDictRaw(0, dict)); err != nil {
		// The encoder is left as it was; drop it rather than reuse it.
		return nil, fmt.Errorf("zstd encoder dictionary: %w", err)
	}
	defer deltaEncoders.Put(enc)
	return enc.EncodeAll(input, dst), nil
}

// Encode returns the row of input (content id id): a ZstdDelta against
// base (base's JSON text, baseID its id) when base is non-nil, else a Zstd
// keyframe; Plain when the frame is not smaller than the text or the text
// exceeds MaxInputBytes. The JSON text is stored as given, byte for byte.
func Encode(id string, input []byte, baseID string, base []byte) (Row, error) {
	if len(input) > MaxInputBytes || len(input) == 0 {
		return Row{ID: id, Codec: Plain, Data: input}, nil
	}
	row := Row{ID: id, Codec: Zstd}
	if base != nil {
		row.Codec, row.BaseID = ZstdDelta, baseID
	}
	frame, err := compress(input, base)
	if err != nil {
		return Row{}, fmt.Errorf("encode input %s: %w", id, err)
	}
	if len(frame) >= len(input) {
		return Row{ID: id, Codec: Plain, Data: input}, nil
	}
	row.Data = frame
	return row, nil
}

// errTooLarge is returned when a frame decodes to more than MaxInputBytes.
var errTooLarge = fmt.Errorf("decodes to more than %d bytes (inputcodec.MaxInputBytes)", MaxInputBytes)

// decode returns the JSON text of r, given base, the decoded JSON text of
// r.BaseID for a ZstdDelta row (nil otherwise). The result may share
// r.Data (Plain).
func decode(r Row, base []byte) ([]byte, error) {
	switch r.Codec {
	case Plain:
		if len(r.Data) > MaxInputBytes {
			return nil, errTooLarge
		}
		return r.Data, nil
	case Zstd, ZstdDelta:
		var fh zstd.Header
		if err := fh.Decode(r.Data); err != nil {
			return nil, fmt.Errorf("%s frame header: %w", r.Codec, err)
		}
		if fh.HasFCS && fh.FrameContentSize > MaxInputBytes {
			return nil, errTooLarge
		}
		dec := keyDecoder
		if r.Codec == ZstdDelta {
			if base == nil {
				return nil, fmt.Errorf("zstd-delta row without its base %q", r.BaseID)
			}
			dec = deltaDecoders.Get().(*zstd.Decoder)
			if err := dec.ResetWithOptions(nil, zstd.WithDecoderDictRaw(0, base)); err != nil {
				return nil, fmt.Errorf("zstd decoder dictionary: %w", err)
			}
		}
		size := MaxInputBytes
		if fh.HasFCS {
			size = int(fh.FrameContentSize)
		}
		out, err := dec.DecodeAll(r.Data, make([]byte, 0, min(size, 1<<20)))
		if r.Codec == ZstdDelta && err == nil {
			// Only a decoder that decoded a whole frame goes back to the
			// pool; one a hostile frame failed is left to the collector.
			deltaDecoders.Put(dec)
		}
		if errors.Is(err, zstd.ErrDecoderSizeExceeded) || len(out) > MaxInputBytes {
			return nil, errTooLarge
		}
		if err != nil {
			return nil, fmt.Errorf("%s frame: %w", r.Codec, err)
		}
		return out, nil
	}
	return nil, fmt.Errorf("unknown codec %d (this build reads %s, %s and %s)", uint8(r.Codec), Plain, Zstd, ZstdDelta)
}
