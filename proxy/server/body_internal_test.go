package server

import (
	"bytes"
	"strings"
	"testing"
	"testing/iotest"
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
