package host

import (
	"bytes"
	"sync"

	"github.com/hashicorp/go-hclog"
)

// ringBuffer keeps the last size bytes of a plugin's raw stderr (go-plugin
// writes one line per Write, without its newline). It is what doctor and
// StartError show after a crash: Go panics write to fd 2 directly.
type ringBuffer struct {
	mu   sync.Mutex
	size int
	buf  []byte
}

func newRingBuffer(size int) *ringBuffer { return &ringBuffer{size: size} }

// Write appends p and a newline, dropping the oldest bytes beyond size.
func (r *ringBuffer) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.buf = append(r.buf, p...)
	r.buf = append(r.buf, '\n')
	if over := len(r.buf) - r.size; over > 0 {
		r.buf = append(r.buf[:0], r.buf[over:]...)
	}
	return len(p), nil
}

// Tail returns at most n of the newest bytes, starting at a line boundary
// when one is available.
func (r *ringBuffer) Tail(n int) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	b := r.buf
	if len(b) > n {
		b = b[len(b)-n:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 && i < len(b)-1 {
			b = b[i+1:]
		}
	}
	return string(b)
}

// lineLogger turns a byte stream (the plugin's os.Stdout/os.Stderr after
// Serve, streamed over GRPCStdio) into one host log line per line of text.
type lineLogger struct {
	mu     sync.Mutex
	log    hclog.Logger
	stream string
	part   []byte
}

func newLineLogger(l hclog.Logger, stream string) *lineLogger {
	return &lineLogger{log: l, stream: stream}
}

const maxLogLine = 16 << 10

// Write logs every complete line at Info with the stream name; partial
// lines wait for their end (or are flushed at maxLogLine bytes).
func (w *lineLogger) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.part = append(w.part, p...)
	for {
		i := bytes.IndexByte(w.part, '\n')
		if i < 0 {
			if len(w.part) >= maxLogLine {
				w.log.Info("plugin output", "stream", w.stream, "line", string(w.part))
				w.part = w.part[:0]
			}
			return len(p), nil
		}
		line := bytes.TrimRight(w.part[:i], "\r")
		if len(line) > 0 {
			w.log.Info("plugin output", "stream", w.stream, "line", string(line))
		}
		w.part = w.part[i+1:]
	}
}
