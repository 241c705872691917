package server_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/cascadeflow/cascadeflow-operator/proxy/fakeupstream"
)

// The TestHardening tests play a hostile client or a failing upstream
// against the proxy's HTTP shell (make reliability runs them alone).

// rawRequest opens a connection to the proxy and writes head (a request
// line and headers, without the blank line) and then body.
func rawRequest(t *testing.T, url, head, body string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := io.WriteString(conn, head+"\r\n\r\n"+body); err != nil {
		t.Fatal(err)
	}
	return conn
}

// readRawResponse reads one response from conn within d.
func readRawResponse(t *testing.T, conn net.Conn, d time.Duration) (*http.Response, string) {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(d))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no response within %s: %v", d, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A client announcing a large body and sending nothing must not make the
// proxy allocate the announced size.
func TestHardeningAnnouncedLengthDoesNotAllocate(t *testing.T) {
	h := newHarness(t, passthroughRules("anth", ""), harnessOptions{bodyTimeout: 10 * time.Second})
	const conns, announced = 8, 32<<20 - 1024
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range conns {
		rawRequest(t, h.url, "POST /v1/messages HTTP/1.1\r\nHost: proxy\r\nContent-Type: application/json\r\n"+
			"Anthropic-Version: 2023-06-01\r\nContent-Length: "+strconv.Itoa(announced), `{"model":`)
	}
	waitFor(t, "the requests to be in flight", func() bool { return testutil.ToFloat64(h.metrics.InFlight) == conns })
	time.Sleep(50 * time.Millisecond) // let every handler reach its body read
	runtime.GC()
	runtime.ReadMemStats(&after)
	growth := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	if limit := int64(conns) << 20; growth > limit {
		t.Fatalf("%d idle connections announcing %d MiB each grew the heap by %d MiB (limit %d MiB)",
			conns, announced>>20, growth>>20, limit>>20)
	}
}

// A client that sends its headers and then dribbles (or withholds) the body
// gets a 408 in its own dialect once the body read timeout passes; a stream
// that outlasts that timeout is not affected.
func TestHardeningBodyReadTimeout(t *testing.T) {
	h := newHarness(t, passthroughRules("anth", ""), harnessOptions{bodyTimeout: 300 * time.Millisecond})
	for _, c := range []struct{ name, path, header string }{
		{"anthropic", "/v1/messages", "Anthropic-Version: 2023-06-01\r\n"},
		{"openai", "/v1/chat/completions", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			conn := rawRequest(t, h.url, "POST "+c.path+" HTTP/1.1\r\nHost: proxy\r\nContent-Type: application/json\r\n"+
				c.header+"Content-Length: 1000", `{"model":"claude-haiku-5-5",`)
			resp, body := readRawResponse(t, conn, 3*time.Second)
			if resp.StatusCode != http.StatusRequestTimeout {
				t.Fatalf("status %d, want 408: %s", resp.StatusCode, body)
			}
			if c.name == "anthropic" {
				anthropicEnvelope(t, body, "timeout_error")
			} else {
				openAIEnvelope(t, body)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Fatalf("answered after %s", d)
			}
		})
	}
	t.Run("long stream", func(t *testing.T) {
		h.fake.Enqueue(fakeupstream.Reply{Text: "one two three four five six", ChunkDelay: 80 * time.Millisecond})
		msg, _, err := streamAnthropic(t, h.anthropic(), userParams("claude-haiku-5-5", "count"))
		if err != nil || len(msg.Content) == 0 || msg.Content[0].Text != "one two three four five six" {
			t.Fatalf("a stream longer than the body read timeout: %v %+v", err, msg.Content)
		}
	})
}
