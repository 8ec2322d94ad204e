package host

import (
	"bytes"
	"fmt"
	"sync"
	"time"

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

// Output rate limits of one plugin stream (stdout or stderr): per
// LogInterval at most LogLinesPerInterval lines and LogBytesPerInterval
// bytes are re-logged; the rest is dropped and counted, and one line
// "suppressed N lines (M bytes)" is logged when the next interval starts
// (at the stream's next write) or when the plugin stops.
const (
	LogInterval         = time.Second
	LogLinesPerInterval = 100
	LogBytesPerInterval = 64 << 10
)

// lineLogger turns a byte stream (the plugin's os.Stdout/os.Stderr after
// Serve, streamed over GRPCStdio) into one host log line per line of text,
// rate-limited (LogInterval).
type lineLogger struct {
	mu     sync.Mutex
	log    hclog.Logger
	stream string
	part   []byte

	now         func() time.Time
	windowStart time.Time
	lines       int // logged in the current window
	bytes       int
	dropLines   int // suppressed since the last report
	dropBytes   int
}

func newLineLogger(l hclog.Logger, stream string) *lineLogger {
	return &lineLogger{log: l, stream: stream, now: time.Now}
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
				w.emit(w.part)
				w.part = w.part[:0]
			}
			return len(p), nil
		}
		line := bytes.TrimRight(w.part[:i], "\r")
		if len(line) > 0 {
			w.emit(line)
		}
		w.part = w.part[i+1:]
	}
}

// emit logs line unless the window's budget is spent (w.mu held).
func (w *lineLogger) emit(line []byte) {
	now := w.now()
	if now.Sub(w.windowStart) >= LogInterval {
		w.reportLocked()
		w.windowStart, w.lines, w.bytes = now, 0, 0
	}
	if w.lines >= LogLinesPerInterval || w.bytes+len(line) > LogBytesPerInterval {
		w.dropLines++
		w.dropBytes += len(line)
		return
	}
	w.lines++
	w.bytes += len(line)
	w.log.Info("plugin output", "stream", w.stream, "line", string(line))
}

// reportLocked logs the suppression summary, if anything was dropped.
func (w *lineLogger) reportLocked() {
	if w.dropLines == 0 {
		return
	}
	w.log.Warn(fmt.Sprintf("plugin output: suppressed %d lines (%d bytes)", w.dropLines, w.dropBytes),
		"stream", w.stream, "suppressed_lines", w.dropLines, "suppressed_bytes", w.dropBytes,
		"limit", fmt.Sprintf("%d lines or %d bytes per %s", LogLinesPerInterval, LogBytesPerInterval, LogInterval))
	w.dropLines, w.dropBytes = 0, 0
}

// Flush logs a pending suppression summary (at the plugin's stop).
func (w *lineLogger) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.reportLocked()
}
