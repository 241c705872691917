package progress

import (
	"bytes"
	"os"
	"testing"
	"time"
)

// Off a terminal nothing is written, whatever is called.
func TestQuietWhenNotATerminal(t *testing.T) {
	var buf bytes.Buffer
	l := NewWriter(&buf, false)
	l.Show("replaying %d/%d", 1, 10)
	l.Println("row %d", 1)
	l.Done()
	if buf.Len() != 0 || l.Live() {
		t.Errorf("a quiet line wrote %q", buf.String())
	}
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	New(f).Show("x")
	if st, _ := f.Stat(); st.Size() != 0 {
		t.Errorf("a line on a file wrote %d bytes", st.Size())
	}
}

// On a terminal the line is redrawn in place with the time elapsed, kept
// lines go above it, and Done clears it.
func TestLineOnATerminal(t *testing.T) {
	var buf bytes.Buffer
	l := NewWriter(&buf, true)
	start := l.start
	l.now = func() time.Time { return start.Add(125 * time.Second) }
	l.Show("replaying %d/%d", 3, 10)
	l.Println("row %d done", 3)
	l.Show("phase\ntwo")
	l.Done()
	want := "\r\033[Kreplaying 3/10 (2m05s)" + "\r\033[Krow 3 done\n" + "\r\033[Kphase two (2m05s)" + "\r\033[K"
	if got := buf.String(); got != want {
		t.Errorf("wrote %q\nwant  %q", got, want)
	}
}

func TestElapsed(t *testing.T) {
	for d, want := range map[time.Duration]string{7 * time.Second: "7s", 125 * time.Second: "2m05s", 62 * time.Minute: "1h02m"} {
		if got := Elapsed(d); got != want {
			t.Errorf("Elapsed(%v) = %q, want %q", d, got, want)
		}
	}
}
