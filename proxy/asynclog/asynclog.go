// Package asynclog is a log sink that never makes a request wait: lines are
// appended to a bounded in-memory buffer and a goroutine writes them out in
// batches (one system call for many lines, gathered for a few milliseconds). When the buffer is full, lines
// are dropped and counted rather than blocking. Close flushes what is left.
package asynclog

import (
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultMaxBuffered bounds the bytes waiting to be written (1 MiB: a few
// thousand access log lines).
const DefaultMaxBuffered = 1 << 20

// batchCap is the initial capacity of the two buffers lines are batched in.
const batchCap = 64 << 10

// gatherFor is how long the flusher lets lines gather after the first of a
// batch before it writes them: under load one system call (and one wake of
// the flusher) then serves many requests instead of a few, and a line
// reaches the output at most this much later. A batch that reaches
// batchCap/2 is written at once.
const gatherFor = 5 * time.Millisecond

// Writer is an io.Writer for a log handler that writes each line (record)
// in one Write call, as slog's handlers do. Safe for concurrent use.
type Writer struct {
	out io.Writer
	max int

	mu      sync.Mutex
	pending []byte // lines waiting for the flusher
	closed  bool

	wake    chan struct{} // a line is pending (capacity 1)
	done    chan struct{} // the flusher has written everything and stopped
	dropped atomic.Uint64
	failed  atomic.Uint64
}

// New starts a Writer onto out holding at most maxBuffered bytes
// (DefaultMaxBuffered when <= 0).
func New(out io.Writer, maxBuffered int) *Writer {
	if maxBuffered <= 0 {
		maxBuffered = DefaultMaxBuffered
	}
	w := &Writer{out: out, max: maxBuffered, pending: make([]byte, 0, batchCap),
		wake: make(chan struct{}, 1), done: make(chan struct{})}
	go w.flush()
	return w
}

// ErrClosed is returned by Write after Close.
var ErrClosed = errors.New("asynclog: writer closed")

// Write queues p, a whole line. It never blocks on the output: when the
// buffer is full, the line is dropped and counted (and reported written, so
// a log handler does not retry or complain).
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return 0, ErrClosed
	}
	if len(w.pending)+len(p) > w.max {
		w.mu.Unlock()
		w.dropped.Add(1)
		return len(p), nil
	}
	first := len(w.pending) == 0
	w.pending = append(w.pending, p...)
	if first || len(w.pending) >= batchCap/2 {
		select { // under the lock: Close closes wake under it too
		case w.wake <- struct{}{}:
		default: // the flusher is already due
		}
	}
	w.mu.Unlock()
	return len(p), nil
}

// flush writes the pending lines out, a batch at a time, until Close.
func (w *Writer) flush() {
	defer close(w.done)
	spare := make([]byte, 0, batchCap)
	gather := time.NewTimer(gatherFor)
	gather.Stop()
	for {
		_, open := <-w.wake
		if open { // let more lines join the batch, unless it is already large
			gather.Reset(gatherFor)
			select {
			case <-gather.C:
			case _, open = <-w.wake: // large, or closed
				gather.Stop()
			}
		}
		w.mu.Lock()
		batch := w.pending
		w.pending = spare[:0]
		closed := w.closed
		w.mu.Unlock()
		if len(batch) > 0 {
			if _, err := w.out.Write(batch); err != nil {
				w.failed.Add(1)
			}
		}
		spare = batch
		if closed || !open {
			return
		}
	}
}

// Close stops accepting lines, writes out those pending and waits for it.
func (w *Writer) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		<-w.done
		return nil
	}
	w.closed = true
	close(w.wake)
	w.mu.Unlock()
	<-w.done
	return nil
}

// Dropped is the number of lines dropped because the buffer was full.
func (w *Writer) Dropped() uint64 { return w.dropped.Load() }

// Failed is the number of batches the output refused.
func (w *Writer) Failed() uint64 { return w.failed.Load() }
