package host

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// DefaultMaxOutputBytes is the default Options.MaxOutputBytes (64 KiB).
const DefaultMaxOutputBytes = 64 << 10

// outputFramingBytes is what a model's connection may receive beyond
// Options.MaxOutputBytes: the message framing around the output (protobuf
// fields, the model runner's encoding). A bigger message is refused by gRPC
// from its length prefix, before its body is read.
const outputFramingBytes = 16 << 10

// modelDialOption caps every message a model connection receives at
// MaxOutputBytes plus framing, so an oversized answer is never buffered.
func (o Options) modelDialOption() grpc.DialOption {
	return grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(o.MaxOutputBytes + outputFramingBytes))
}

// tooLarge matches grpc-go's client-side "received message larger than max
// (N vs. M)" to recover N for the row's message (the classification itself
// uses the status code).
var tooLarge = regexp.MustCompile(`larger than max \((\d+) vs\. \d+\)`)

// boundOutput turns an answer over limit bytes into an ErrInvalidOutput
// error "output N bytes exceeds limit L": either out itself is too long,
// or err is gRPC's refusal of a message over the connection's receive cap
// (N is then the message size). Any other err is returned unchanged.
func boundOutput(out []byte, err error, limit int) error {
	if err != nil {
		if status.Code(err) != codes.ResourceExhausted {
			return err
		}
		var st interface{ GRPCStatus() *status.Status }
		n := "more than " + strconv.Itoa(limit+outputFramingBytes)
		if errors.As(err, &st) {
			if m := tooLarge.FindStringSubmatch(st.GRPCStatus().Message()); m != nil {
				n = m[1]
			}
		}
		return fmt.Errorf("%w: output %s bytes exceeds limit %d (MAX_MODEL_OUTPUT_BYTES); not read", ErrInvalidOutput, n, limit)
	}
	if len(out) > limit {
		return fmt.Errorf("%w: output %d bytes exceeds limit %d (MAX_MODEL_OUTPUT_BYTES)", ErrInvalidOutput, len(out), limit)
	}
	return nil
}
