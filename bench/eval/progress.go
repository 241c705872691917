package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// progress shows on a terminal which file and phase the eval is in, the
// rows replayed and the time elapsed, on one line rewritten in place. It is
// silent when its writer is not a terminal (CI logs stay clean) and safe for
// concurrent use; a nil *progress does nothing.
type progress struct {
	w     io.Writer
	start time.Time

	mu          sync.Mutex
	file, phase string
	done, total int
	shown       time.Time
}

// newProgress returns a progress line on w when w is a terminal, else nil.
func newProgress(w io.Writer) *progress {
	f, ok := w.(*os.File)
	if !ok {
		return nil
	}
	st, err := f.Stat()
	if err != nil || st.Mode()&os.ModeCharDevice == 0 {
		return nil
	}
	return &progress{w: w, start: time.Now()}
}

// Phase starts a phase of total rows.
func (p *progress) Phase(file, phase string, total int) {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.file, p.phase, p.done, p.total = file, phase, 0, total
	p.mu.Unlock()
	p.show(true)
}

// Row counts one row replayed.
func (p *progress) Row() {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.done++
	p.mu.Unlock()
	p.show(false)
}

// Done clears the line.
func (p *progress) Done() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "\r\033[K")
}

func (p *progress) show(force bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !force && time.Since(p.shown) < 100*time.Millisecond && p.done != p.total {
		return
	}
	p.shown = time.Now()
	fmt.Fprintf(p.w, "\r\033[K%s | %s | %d/%d rows | %s", p.file, p.phase, p.done, p.total, time.Since(p.start).Truncate(time.Second))
}
