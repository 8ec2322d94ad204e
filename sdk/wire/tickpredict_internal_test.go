package wire

import (
	"errors"
	"io"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	modelv1 "github.com/crunch-coordinator/coordinator/proto/model/v1"
)

// scriptedStream answers Recv from a script of messages and errors; after
// an error it answers that error again, as a gRPC stream does.
type scriptedStream struct {
	grpc.ClientStream
	script []any // *modelv1.TickPredictResponse or error
	err    error
}

func (s *scriptedStream) Recv() (*modelv1.TickPredictResponse, error) {
	if s.err != nil {
		return nil, s.err
	}
	if len(s.script) == 0 {
		return nil, io.EOF
	}
	next := s.script[0]
	s.script = s.script[1:]
	if err, ok := next.(error); ok {
		s.err = err
		return nil, err
	}
	return next.(*modelv1.TickPredictResponse), nil
}

func tickMsg(code codes.Code, msg string) *modelv1.TickPredictResponse {
	return &modelv1.TickPredictResponse{Result: &modelv1.TickPredictResponse_Tick{Tick: &modelv1.TickOutcome{Code: int32(code), Message: msg}}}
}

func predMsg(out string) *modelv1.TickPredictResponse {
	return &modelv1.TickPredictResponse{Result: &modelv1.TickPredictResponse_Predict{Predict: &modelv1.PredictResponse{ResultJson: []byte(out)}}}
}

// TestTickPredictCallReadsTheStream: what a TickPredict stream's messages,
// in any order, give the host.
func TestTickPredictCallReadsTheStream(t *testing.T) {
	unimpl := status.Error(codes.Unimplemented, "unknown method TickPredict")
	crashed := status.Error(codes.Unavailable, "error reading from server: EOF")
	tests := []struct {
		name     string
		script   []any
		tickCode codes.Code
		tickIs   error
		out      string
		predCode codes.Code
		predIs   error
	}{
		{"tick then predict", []any{tickMsg(codes.OK, ""), predMsg(`{"p":1}`)}, codes.OK, nil, `{"p":1}`, codes.OK, nil},
		{"failed tick keeps its status", []any{tickMsg(codes.InvalidArgument, "Tick: bad"), predMsg(`1`)}, codes.InvalidArgument, nil, `1`, codes.OK, nil},
		{"empty answer is null", []any{tickMsg(codes.OK, ""), predMsg(``)}, codes.OK, nil, `null`, codes.OK, nil},
		{"predict status ends the stream", []any{tickMsg(codes.OK, ""), status.Error(codes.Unknown, "Predict: no")}, codes.OK, nil, ``, codes.Unknown, nil},
		{"crash before tick", []any{crashed}, codes.Unavailable, nil, ``, codes.Unavailable, nil},
		{"unimplemented", []any{unimpl}, codes.Unimplemented, ErrNoTickPredict, ``, codes.OK, io.EOF},
		{"predict first", []any{predMsg(`1`), predMsg(`1`)}, codes.Unknown, ErrBadOutput, `1`, codes.OK, nil},
		{"tick twice", []any{tickMsg(codes.OK, ""), tickMsg(codes.OK, "")}, codes.OK, nil, ``, codes.Unknown, ErrBadOutput},
		{"no predict", []any{tickMsg(codes.OK, "")}, codes.OK, nil, ``, codes.Unknown, ErrBadOutput},
		{"extra message", []any{tickMsg(codes.OK, ""), predMsg(`1`), predMsg(`2`)}, codes.OK, nil, ``, codes.Unknown, ErrBadOutput},
		{"not JSON", []any{tickMsg(codes.OK, ""), predMsg(`{nope`)}, codes.OK, nil, ``, codes.Unknown, ErrBadOutput},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := &TickPredictCall{stream: &scriptedStream{script: tc.script}}
			err := c.Tick()
			if tc.tickIs != nil {
				if !errors.Is(err, tc.tickIs) {
					t.Errorf("Tick = %v, want it to wrap %v", err, tc.tickIs)
				}
			} else if status.Code(err) != tc.tickCode {
				t.Errorf("Tick = %v, want code %s", err, tc.tickCode)
			}
			if tc.name == "unimplemented" {
				return // the caller falls back to Tick and Predict
			}
			out, err := c.Predict()
			switch {
			case tc.predIs != nil:
				if !errors.Is(err, tc.predIs) {
					t.Errorf("Predict = %s, %v; want it to wrap %v", out, err, tc.predIs)
				}
			case status.Code(err) != tc.predCode:
				t.Errorf("Predict = %s, %v; want code %s", out, err, tc.predCode)
			case string(out) != tc.out:
				t.Errorf("Predict output %s, want %s", out, tc.out)
			}
		})
	}
}
