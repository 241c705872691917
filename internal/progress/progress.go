// Package progress shows how far a long command has got — its phase, a
// count, the time elapsed — on one terminal line rewritten in place. When
// the output is not a terminal (a CI log, a file, a pipe) it writes nothing,
// so logs hold results only.
package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"
)

// Line is a progress line. A nil or quiet Line ignores every call. Safe for
// concurrent use.
type Line struct {
	w     io.Writer
	start time.Time
	now   func() time.Time

	mu    sync.Mutex
	shown bool
}

// New returns a line on f, live only when f is a terminal.
func New(f *os.File) *Line {
	return NewWriter(f, term.IsTerminal(int(f.Fd())))
}

// NewWriter returns a line on w, live when on is true.
func NewWriter(w io.Writer, on bool) *Line {
	if !on {
		return nil
	}
	return &Line{w: w, start: time.Now(), now: time.Now}
}

// Live reports whether the line is shown.
func (l *Line) Live() bool { return l != nil }

// Show replaces the line with the formatted text and the time elapsed.
func (l *Line) Show(format string, args ...any) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	text := strings.ReplaceAll(fmt.Sprintf(format, args...), "\n", " ")
	fmt.Fprintf(l.w, "\r\033[K%s (%s)", text, Elapsed(l.now().Sub(l.start)))
	l.shown = true
}

// Println clears the line and prints text on a line of its own (a result
// worth keeping on the terminal); the next Show draws below it.
func (l *Line) Println(format string, args ...any) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.clear()
	fmt.Fprintf(l.w, format+"\n", args...)
}

// Done clears the line.
func (l *Line) Done() {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.clear()
}

func (l *Line) clear() {
	if l.shown {
		fmt.Fprint(l.w, "\r\033[K")
		l.shown = false
	}
}

// Elapsed says a duration to the second: 7s, 2m05s, 1h02m.
func Elapsed(d time.Duration) string {
	d = d.Round(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}
