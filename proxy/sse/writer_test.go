package sse

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// recorder is a ResponseWriter that records what reached it, in order.
type recorder struct {
	header      http.Header
	statuses    []int
	body        strings.Builder
	flushes     int
	flushedBody []string // body as it was at each flush
	writeErr    error
}

func newRecorder() *recorder { return &recorder{header: http.Header{}} }

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(code int) {
	r.statuses = append(r.statuses, code)
}
func (r *recorder) Write(p []byte) (int, error) {
	if r.writeErr != nil {
		return 0, r.writeErr
	}
	if len(r.statuses) == 0 {
		r.WriteHeader(http.StatusOK) // as net/http does
	}
	return r.body.Write(p)
}
func (r *recorder) Flush() {
	r.flushes++
	r.flushedBody = append(r.flushedBody, r.body.String())
}

func TestWriterFlushesEveryWrite(t *testing.T) {
	rec := newRecorder()
	w := NewWriter(rec)
	if w.Started() {
		t.Fatal("Started before anything was written")
	}
	events := []string{
		"event: message_start\ndata: {}\n\n",
		"event: ping\ndata: {\"type\":\"ping\"}\n\n",
		"event: message_stop\ndata: {}\n\n",
	}
	for i, e := range events {
		n, err := w.Write([]byte(e))
		if err != nil || n != len(e) {
			t.Fatalf("Write = %d, %v", n, err)
		}
		if rec.flushes != i+1 {
			t.Fatalf("after %d writes: %d flushes", i+1, rec.flushes)
		}
		if want := strings.Join(events[:i+1], ""); rec.flushedBody[i] != want {
			t.Errorf("flush %d saw %q, want %q", i, rec.flushedBody[i], want)
		}
	}
	if !w.Started() {
		t.Error("Started = false after writes")
	}
	if len(rec.statuses) != 1 || rec.statuses[0] != http.StatusOK {
		t.Errorf("statuses = %v, want [200] (headers once, implicitly on first Write)", rec.statuses)
	}
}

func TestWriterStartSetsHeadersOnce(t *testing.T) {
	rec := newRecorder()
	rec.header.Set("Content-Length", "123") // set by someone before; wrong for a stream
	rec.header.Set("X-Request-Id", "abc")
	w := NewWriter(rec)
	w.Start(http.StatusCreated)
	w.Start(http.StatusInternalServerError) // ignored
	if _, err := w.Write([]byte("data: x\n\n")); err != nil {
		t.Fatal(err)
	}
	w.Start(http.StatusBadGateway) // ignored
	if len(rec.statuses) != 1 || rec.statuses[0] != http.StatusCreated {
		t.Errorf("statuses = %v, want [201]", rec.statuses)
	}
	want := map[string]string{
		"Content-Type":      "text/event-stream; charset=utf-8",
		"Cache-Control":     "no-cache",
		"X-Accel-Buffering": "no",
		"X-Request-Id":      "abc",
		"Content-Length":    "",
	}
	for k, v := range want {
		if got := rec.header.Get(k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
	if vs := rec.header.Values("Content-Type"); len(vs) != 1 {
		t.Errorf("Content-Type values = %q, want one", vs)
	}
}

func TestWriterWithHTTPTestRecorder(t *testing.T) {
	rec := httptest.NewRecorder()
	w := NewWriter(rec)
	if _, err := w.Write([]byte("data: a\n\n")); err != nil {
		t.Fatal(err)
	}
	if !rec.Flushed || rec.Code != http.StatusOK || rec.Body.String() != "data: a\n\n" {
		t.Errorf("flushed=%v code=%d body=%q", rec.Flushed, rec.Code, rec.Body.String())
	}
	if ct := rec.Result().Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Errorf("Content-Type = %q", ct)
	}
}

// noFlush is a ResponseWriter that cannot flush.
type noFlush struct{ http.ResponseWriter }

func TestWriterReportsFlushUnsupported(t *testing.T) {
	w := NewWriter(noFlush{httptest.NewRecorder()})
	_, err := w.Write([]byte("data: a\n\n"))
	if !errors.Is(err, http.ErrNotSupported) {
		t.Errorf("err = %v, want one wrapping http.ErrNotSupported", err)
	}
}

func TestWriterReportsWriteError(t *testing.T) {
	rec := newRecorder()
	rec.writeErr = errors.New("broken pipe")
	w := NewWriter(rec)
	_, err := w.Write([]byte("data: a\n\n"))
	if !errors.Is(err, rec.writeErr) {
		t.Errorf("err = %v, want one wrapping %v", err, rec.writeErr)
	}
	if rec.flushes != 0 {
		t.Errorf("flushed %d times after a failed write", rec.flushes)
	}
}

// The Writer over a real server: each event reaches the client before the
// handler writes the next one.
func TestWriterOverHTTP(t *testing.T) {
	next := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w := NewWriter(rw)
		for i := 0; i < 3; i++ {
			if _, err := w.Write([]byte("data: " + string(rune('a'+i)) + "\n\n")); err != nil {
				return
			}
			<-next // the client must have seen the event for the test to continue
		}
	}))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := NewReader(resp.Body, 0)
	for i := 0; i < 3; i++ {
		e, err := r.Next()
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if want := string(rune('a' + i)); string(e.Data) != want {
			t.Errorf("event %d = %q, want %q", i, e.Data, want)
		}
		next <- struct{}{}
	}
}
