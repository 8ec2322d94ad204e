package sdk_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/crunch-coordinator/coordinator/sdk"
	"github.com/crunch-coordinator/coordinator/sdk/sdktest"
	"github.com/crunch-coordinator/coordinator/sdk/wire"
)

// scripted is a model whose Tick and Predict errors are chosen per test;
// Tick waits for its context when block is set. It records the deadline
// each call saw and whether Predict ran after Tick.
type scripted struct {
	tickErr, predErr error
	block            bool

	mu                     sync.Mutex
	tickLeft, predLeft     time.Duration // time to the deadline at the call's start
	tickDone, predictAfter bool
}

func (m *scripted) Tick(ctx context.Context, _ json.RawMessage) error {
	m.mu.Lock()
	m.tickLeft = left(ctx)
	m.mu.Unlock()
	if m.block {
		<-ctx.Done()
		return ctx.Err()
	}
	m.mu.Lock()
	m.tickDone = true
	m.mu.Unlock()
	return m.tickErr
}

func (m *scripted) Predict(ctx context.Context, args []json.RawMessage, kwargs json.RawMessage) (json.RawMessage, error) {
	m.mu.Lock()
	m.predLeft = left(ctx)
	m.predictAfter = m.tickDone || m.block
	m.mu.Unlock()
	if m.predErr != nil {
		return nil, m.predErr
	}
	return json.RawMessage(fmt.Sprintf(`{"n":%d,"kwargs":%s}`, len(args), kwargs)), nil
}

func left(ctx context.Context) time.Duration {
	d, ok := ctx.Deadline()
	if !ok {
		return -1
	}
	return time.Until(d)
}

// TestTickPredictAnswersLikeTickAndPredict: the combined method answers
// exactly what the Tick and Predict methods answer (outputs, status codes
// and messages), runs Predict also after a failed Tick, and gives each
// call its own deadline.
func TestTickPredictAnswersLikeTickAndPredict(t *testing.T) {
	args := []json.RawMessage{json.RawMessage(`"BTC"`), json.RawMessage(`60`)}
	kwargs := json.RawMessage(`{"h":60}`)
	input := json.RawMessage(`{"price":1}`)
	tests := []struct {
		name             string
		tickErr, predErr error
		tickCode         codes.Code
		predCode         codes.Code
	}{
		{"both succeed", nil, nil, codes.OK, codes.OK},
		{"tick fails", errors.New("no tick today"), nil, codes.Unknown, codes.OK},
		{"tick invalid input", fmt.Errorf("bad: %w", sdk.ErrInvalidInput), nil, codes.InvalidArgument, codes.OK},
		{"predict fails", nil, errors.New("no prediction"), codes.OK, codes.Unknown},
		{"predict not ready", nil, sdk.ErrNotReady, codes.OK, codes.FailedPrecondition},
		{"both fail", errors.New("t"), errors.New("p"), codes.Unknown, codes.Unknown},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := &scripted{tickErr: tc.tickErr, predErr: tc.predErr}
			c := sdktest.StartModel(t, m)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			desc, err := c.Describe(ctx)
			if err != nil || !slices.Equal(desc.OptionalMethods, sdk.OptionalModelMethods) {
				t.Fatalf("Describe: optional methods %v, %v; want %v", desc.OptionalMethods, err, sdk.OptionalModelMethods)
			}
			tickErr := c.Tick(ctx, input)
			out, predErr := c.Predict(ctx, args, kwargs)

			call, err := c.OpenTickPredict(ctx, input, args, kwargs, 2*time.Second, 5*time.Second)
			if err != nil {
				t.Fatalf("OpenTickPredict: %v", err)
			}
			gotTick := call.Tick()
			gotOut, gotPred := call.Predict()
			if status.Code(gotTick) != tc.tickCode || status.Code(tickErr) != tc.tickCode || fmt.Sprint(gotTick) != fmt.Sprint(tickErr) {
				t.Errorf("Tick: combined %v, alone %v; want code %s and the same error", gotTick, tickErr, tc.tickCode)
			}
			if status.Code(gotPred) != tc.predCode || status.Code(predErr) != tc.predCode || fmt.Sprint(gotPred) != fmt.Sprint(predErr) {
				t.Errorf("Predict: combined %v, alone %v; want code %s and the same error", gotPred, predErr, tc.predCode)
			}
			if string(gotOut) != string(out) {
				t.Errorf("Predict output: combined %s, alone %s", gotOut, out)
			}

			// The batch: two cycles of Tick and two Predict calls each
			// (Tick with the first in one request, then the second), one
			// request at a time, answer the same, call by call.
			bc, err := c.OpenTickPredictBatch(ctx, 2*time.Second, 5*time.Second)
			if err != nil {
				t.Fatalf("OpenTickPredictBatch: %v", err)
			}
			for i := range 6 {
				var a wire.BatchAnswer
				var err error
				switch i % 3 {
				case 0:
					a, err = bc.TickPredict(input, wire.PredictArgs{Args: args, Kwargs: kwargs})
				case 1:
					a, err = bc.ThenPredict()
				default:
					a, err = bc.Predict(wire.PredictArgs{Args: args, Kwargs: kwargs})
				}
				if err != nil {
					t.Fatalf("batch answer %d: %v", i, err)
				}
				if isTick := i%3 == 0; a.Tick != isTick {
					t.Fatalf("batch answer %d: Tick %v, want %v", i, a.Tick, isTick)
				}
				wantErr, wantOut := tickErr, json.RawMessage(nil)
				if !a.Tick {
					wantErr, wantOut = predErr, out
				}
				if fmt.Sprint(a.Err) != fmt.Sprint(wantErr) || string(a.Output) != string(wantOut) {
					t.Errorf("batch answer %d: %s, %v; want %s, %v", i, a.Output, a.Err, wantOut, wantErr)
				}
			}
			if err := bc.CloseSend(); err != nil {
				t.Fatalf("CloseSend: %v", err)
			}
			if _, err := bc.Next(); err != io.EOF {
				t.Errorf("after the last batch answer: %v, want io.EOF", err)
			}
			m.mu.Lock()
			defer m.mu.Unlock()
			if m.tickLeft < time.Second || m.tickLeft > 2*time.Second || m.predLeft < 4*time.Second || m.predLeft > 5*time.Second {
				t.Errorf("deadlines seen: Tick %s (want ≤ 2s), Predict %s (want ≤ 5s)", m.tickLeft, m.predLeft)
			}
		})
	}
}

// TestTickPredictTickTimeout: a Tick that outlives its deadline answers
// DeadlineExceeded as Tick's outcome, and Predict still runs with its own.
func TestTickPredictTickTimeout(t *testing.T) {
	m := &scripted{block: true}
	c := sdktest.StartModel(t, m)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	call, err := c.OpenTickPredict(ctx, json.RawMessage(`{}`), nil, nil, 100*time.Millisecond, 3*time.Second)
	if err != nil {
		t.Fatalf("OpenTickPredict: %v", err)
	}
	start := time.Now()
	if err := call.Tick(); status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("Tick = %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Tick answered after %s, want about 100ms", d)
	}
	out, err := call.Predict()
	if err != nil || string(out) != `{"n":0,"kwargs":{}}` {
		t.Fatalf("Predict after a timed-out Tick = %s, %v", out, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.predictAfter || m.predLeft < 2*time.Second {
		t.Errorf("Predict ran after Tick %v with %s left, want after and about 3s", m.predictAfter, m.predLeft)
	}
}
