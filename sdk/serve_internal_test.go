package sdk

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	modelv1 "github.com/crunch-coordinator/coordinator/proto/model/v1"
)

func TestWatchParent(t *testing.T) {
	t.Run("parent changes", func(t *testing.T) {
		var calls atomic.Int32
		getppid := func() int {
			if calls.Add(1) >= 3 {
				return 1 // reparented to init
			}
			return 4242
		}
		if !watchParent(context.Background(), 4242, getppid, time.Millisecond) {
			t.Fatal("watchParent returned false, want true after the parent changed")
		}
		if calls.Load() != 3 {
			t.Fatalf("getppid called %d times, want 3", calls.Load())
		}
	})
	t.Run("stopped by context", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan bool)
		go func() { done <- watchParent(ctx, 7, func() int { return 7 }, time.Millisecond) }()
		cancel()
		if <-done {
			t.Fatal("watchParent returned true without a parent change")
		}
	})
}

func TestPluginLogLevel(t *testing.T) {
	tests := []struct{ env, want string }{
		{"", "info"}, {"debug", "debug"}, {"ERROR", "error"}, {"nonsense", "info"}, {"trace", "trace"},
	}
	for _, tt := range tests {
		t.Setenv(EnvPluginLogLevel, tt.env)
		l := newPluginLogger("x", nil)
		if got := l.GetLevel().String(); got != tt.want {
			t.Errorf("%s=%q: level %s, want %s", EnvPluginLogLevel, tt.env, got, tt.want)
		}
	}
}

func TestFeedQueryEffectiveLimit(t *testing.T) {
	for _, tt := range []struct{ limit, want int }{{0, 1000}, {1, 1}, {10000, 10000}, {10001, 10000}, {-1, 0}} {
		if got := (FeedQuery{Limit: tt.limit}).EffectiveLimit(); got != tt.want {
			t.Errorf("EffectiveLimit(%d) = %d, want %d", tt.limit, got, tt.want)
		}
	}
}

// tickPredictStream records the messages of one TickPredict call.
type tickPredictStream struct {
	grpc.ServerStream
	ctx  context.Context
	sent []*modelv1.TickPredictResponse
}

func (s *tickPredictStream) Context() context.Context { return s.ctx }
func (s *tickPredictStream) Send(m *modelv1.TickPredictResponse) error {
	s.sent = append(s.sent, m)
	return nil
}

type panicky struct{}

func (panicky) Tick(context.Context, json.RawMessage) error { return nil }
func (panicky) Predict(context.Context, []json.RawMessage, json.RawMessage) (json.RawMessage, error) {
	panic("boom in Predict")
}

// TestTickPredictPanicInPredict: a Predict that panics inside TickPredict
// is reported after Tick's outcome as Predict's crash (Unavailable with the
// panic value), and the process exits with status 2 afterwards.
func TestTickPredictPanicInPredict(t *testing.T) {
	exited := make(chan int, 1)
	exitProcess = func(code int) { exited <- code }
	t.Cleanup(func() { exitProcess = os.Exit })
	srv := newModelServer(panicky{}, ModelInfo{Name: "p"})
	stream := &tickPredictStream{ctx: context.Background()}
	err := srv.TickPredict(&modelv1.TickPredictRequest{Tick: &modelv1.TickRequest{InputJson: []byte(`{}`)}}, stream)
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "Predict: panic: boom in Predict") {
		t.Fatalf("TickPredict = %v, want Unavailable naming the panic", err)
	}
	if len(stream.sent) != 1 || stream.sent[0].GetTick() == nil || stream.sent[0].GetTick().GetCode() != 0 {
		t.Fatalf("sent %v, want Tick's OK outcome only", stream.sent)
	}
	select {
	case code := <-exited:
		if code != 2 {
			t.Fatalf("exit status %d, want 2", code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the process did not exit after the panic")
	}
}

// recordingModel keeps the last Tick input.
type recordingModel struct{ tick json.RawMessage }

func (m *recordingModel) Tick(_ context.Context, in json.RawMessage) error {
	m.tick = in
	return nil
}
func (m *recordingModel) Predict(context.Context, []json.RawMessage, json.RawMessage) (json.RawMessage, error) {
	return nil, nil
}

// TestTickInputPassedAsReceived: Tick's input reaches the model as the
// host sent it (the host checked it; it is not parsed again), empty as
// null; Predict's args are still checked.
func TestTickInputPassedAsReceived(t *testing.T) {
	m := &recordingModel{}
	srv := newModelServer(m, ModelInfo{Name: "r"})
	for in, want := range map[string]string{`{"a":[1,2]}`: `{"a":[1,2]}`, ``: `null`} {
		if _, err := srv.Tick(context.Background(), &modelv1.TickRequest{InputJson: []byte(in)}); err != nil || string(m.tick) != want {
			t.Errorf("Tick(%q): model got %q, %v; want %q", in, m.tick, err, want)
		}
	}
	_, err := srv.Predict(context.Background(), &modelv1.PredictRequest{ArgsJson: [][]byte{[]byte(`{nope`)}})
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("Predict with args that are not JSON = %v, want InvalidArgument", err)
	}
}
