package server

import (
	"bytes"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"testing/iotest"
	"unsafe"

	"github.com/cascadeflow/cascadeflow-operator/proxy/dialect/anthropic"
)

func TestReadAllGrowsToTheAnnouncedLength(t *testing.T) {
	for _, n := range []int{1, 100, bodyFirstBuffer - 1, bodyFirstBuffer, bodyFirstBuffer + 1, 3<<20 + 7} {
		body := bytes.Repeat([]byte("abcdefg"), n/7+1)[:n]
		got, err := readAll(iotest.HalfReader(bytes.NewReader(body)), int64(n))
		if err != nil || !bytes.Equal(got, body) {
			t.Fatalf("%d bytes: %v (read %d)", n, err, len(got))
		}
		if _, err := readAll(bytes.NewReader(body[:n-1]), int64(n)); err == nil || !strings.Contains(err.Error(), "shorter") {
			t.Fatalf("%d bytes announced, one fewer sent: %v", n, err)
		}
		if _, err := readAll(bytes.NewReader(append(body, 'x')), int64(n)); err == nil || !strings.Contains(err.Error(), "longer") {
			t.Fatalf("%d bytes announced, one more sent: %v", n, err)
		}
	}
	got, err := readAll(strings.NewReader("unannounced"), -1)
	if err != nil || string(got) != "unannounced" {
		t.Fatalf("no Content-Length: %q %v", got, err)
	}
}

// The buffers a large body outgrows are reused: reading one costs about its
// size, not a third more (64 KiB + 256 KiB + 1 MiB given up for 3 MiB);
// the bound leaves room for what the runtime allocates meanwhile.
func TestReadAllAllocatesAboutTheBody(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector drops pooled buffers at random")
	}
	body := bytes.Repeat([]byte("abcdefg"), (3<<20)/7)
	read := func() {
		if _, err := readAll(iotest.HalfReader(bytes.NewReader(body)), int64(len(body))); err != nil {
			t.Fatal(err)
		}
	}
	defer debug.SetGCPercent(debug.SetGCPercent(-1)) // a collection would empty the pools
	read()                                           // fills the stage pools
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	const runs = 4
	for range runs {
		read()
	}
	runtime.ReadMemStats(&after)
	if perByte := float64(after.TotalAlloc-before.TotalAlloc) / runs / float64(len(body)); perByte > 1.2 {
		t.Errorf("reading a %d byte body allocates %.2f bytes per body byte, want about 1", len(body), perByte)
	}
}

// A decoded request's text shares the body's bytes (jsonenc.DecodeStringShared),
// so the buffer readAll returns must never be one the stage pools hand out
// again: reading more bodies through the same pools leaves the text intact.
func TestReadAllBodyOutlivesLaterReads(t *testing.T) {
	latest := strings.Repeat("a prompt without escapes ", (3<<20)/25)
	body := []byte(`{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"` + latest + `"}]}`)
	got, err := readAll(iotest.HalfReader(bytes.NewReader(body)), int64(len(body)))
	if err != nil {
		t.Fatal(err)
	}
	req, err := anthropic.Codec{}.DecodeRequest(got)
	if err != nil {
		t.Fatal(err)
	}
	text := req.Messages[0].Content[0].Text
	start := uintptr(unsafe.Pointer(unsafe.SliceData(got)))
	if p := uintptr(unsafe.Pointer(unsafe.StringData(text))); p < start || p >= start+uintptr(len(got)) {
		t.Fatal("the decoded text is a copy: this test checks text that shares the body")
	}
	other := bytes.Repeat([]byte("Z"), len(body))
	for range 4 { // every stage buffer is taken from the pools and filled again
		if _, err := readAll(iotest.HalfReader(bytes.NewReader(other)), int64(len(other))); err != nil {
			t.Fatal(err)
		}
	}
	if text != latest {
		t.Fatalf("the decoded text changed after later bodies were read: %.40q…", text)
	}
}

// RaceEnabled tells the external tests whether the race detector is on.
const RaceEnabled = raceEnabled
