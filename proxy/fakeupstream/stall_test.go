package fakeupstream_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cascadeflow/cascadeflow-operator/proxy/fakeupstream"
)

// StallAfterBytes sends exactly that many body bytes, then nothing: the
// client's read blocks until its own deadline, for JSON and for streams.
func TestHardeningStallAfterBytes(t *testing.T) {
	for _, stream := range []bool{false, true} {
		t.Run(map[bool]string{false: "json", true: "stream"}[stream], func(t *testing.T) {
			fake := fakeupstream.New(fakeupstream.Options{})
			defer fake.Close()
			url := fake.Start()
			fake.Enqueue(fakeupstream.Reply{Text: "hello there", StallAfterBytes: 40})
			body := `{"model":"m","max_tokens":10,"messages":[{"role":"user","content":"hi"}],"stream":` + map[bool]string{false: "false", true: "true"}[stream] + `}`
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url+"/v1/messages", strings.NewReader(body))
			req.Header.Set("content-type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			got, err := io.ReadAll(resp.Body)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("read ended with %v after %d bytes; want the client's deadline", err, len(got))
			}
			if len(got) != 40 {
				t.Fatalf("got %d bytes before the stall, want 40: %q", len(got), got)
			}
		})
	}
}
