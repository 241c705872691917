package asynclog_test

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cascadeflow/cascadeflow-operator/proxy/asynclog"
)

// syncBuffer is an output safe to read while the flusher writes.
type syncBuffer struct {
	mu     sync.Mutex
	b      bytes.Buffer
	writes int
	delay  time.Duration // per write, as a slow terminal or pipe
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	time.Sleep(s.delay)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes++
	return s.b.Write(p)
}

func (s *syncBuffer) Writes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writes
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestEveryLineWrittenInOrderByClose(t *testing.T) {
	out := &syncBuffer{}
	w := asynclog.New(out, 0)
	var want strings.Builder
	for i := range 1000 {
		line := fmt.Sprintf("line %d\n", i)
		want.WriteString(line)
		if n, err := w.Write([]byte(line)); err != nil || n != len(line) {
			t.Fatalf("write: %d %v", n, err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if out.String() != want.String() {
		t.Fatalf("output differs: got %d bytes, want %d", len(out.String()), want.Len())
	}
	if w.Dropped() != 0 {
		t.Fatalf("dropped %d", w.Dropped())
	}
	if _, err := w.Write([]byte("late\n")); err != asynclog.ErrClosed {
		t.Fatalf("write after close: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
}

// blockedOutput never returns from Write until released.
type blockedOutput struct {
	release chan struct{}
	syncBuffer
}

func (b *blockedOutput) Write(p []byte) (int, error) {
	<-b.release
	return b.syncBuffer.Write(p)
}

func TestFullBufferDropsAndCountsWithoutBlocking(t *testing.T) {
	out := &blockedOutput{release: make(chan struct{})}
	w := asynclog.New(out, 100)
	line := []byte(strings.Repeat("x", 9) + "\n") // 10 bytes
	// The flusher may take one batch (at most 10 lines) before it blocks;
	// then 10 more fit; the rest must be dropped at once.
	for range 50 {
		if _, err := w.Write(line); err != nil {
			t.Fatal(err)
		}
	}
	if d := w.Dropped(); d < 30 || d > 40 {
		t.Fatalf("dropped %d lines, want 30 to 40", d)
	}
	close(out.release)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(out.String(), "\n"); uint64(got)+w.Dropped() != 50 {
		t.Fatalf("written %d + dropped %d != 50", got, w.Dropped())
	}
}

func TestConcurrentWritersBatch(t *testing.T) {
	out := &syncBuffer{delay: time.Millisecond}
	w := asynclog.New(out, 0)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				fmt.Fprintf(w, "g%d line %d\n", g, i)
			}
		})
	}
	wg.Wait()
	_ = w.Close()
	if n := strings.Count(out.String(), "\n"); n != 4000 {
		t.Fatalf("%d lines", n)
	}
	for _, l := range strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n") {
		if !strings.HasPrefix(l, "g") || !strings.Contains(l, " line ") {
			t.Fatalf("torn line %q", l)
		}
	}
	if n := out.Writes(); n >= 4000 {
		t.Fatalf("%d writes for 4000 lines: no batching", n)
	}
}

func BenchmarkWrite(b *testing.B) {
	w := asynclog.New(&syncBuffer{}, 0)
	defer w.Close()
	line := []byte(`{"time":"2026-12-03T14:00:00Z","level":"INFO","msg":"request","status":200}` + "\n")
	b.ReportAllocs()
	for b.Loop() {
		_, _ = w.Write(line)
	}
}

// Lines written in quick succession leave together (the flusher gathers
// them for a few milliseconds), and reach the output without a Close.
func TestLinesGatherIntoFewWrites(t *testing.T) {
	out := &syncBuffer{}
	w := asynclog.New(out, 0)
	defer w.Close()
	const lines = 200
	for i := range lines { // a line now and then, as requests end
		fmt.Fprintf(w, "line %d\n", i)
		time.Sleep(100 * time.Microsecond)
	}
	deadline := time.Now().Add(5 * time.Second)
	for strings.Count(out.String(), "\n") < lines {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d lines written without Close", strings.Count(out.String(), "\n"), lines)
		}
		time.Sleep(time.Millisecond)
	}
	if n := out.Writes(); n > lines/2 {
		t.Errorf("%d lines took %d writes, want them gathered", lines, n)
	}
}
