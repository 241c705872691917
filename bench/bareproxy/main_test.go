package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestForwardsWithTheProxysKeyAndStreams(t *testing.T) {
	var gotKey, gotAuth, gotBody string
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		gotKey, gotAuth, gotBody = r.Header.Get("X-Api-Key"), r.Header.Get("Authorization"), string(b)
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = w.Write([]byte("data: one\n\n"))
		w.(http.Flusher).Flush()
		time.Sleep(300 * time.Millisecond)
		_, _ = w.Write([]byte("data: two\n\n"))
	}))
	defer upstream.Close()
	target, _ := url.Parse(upstream.URL)
	proxy := httptest.NewServer(newHandler(target, "sk-upstream", 0))
	defer proxy.Close()

	req, _ := http.NewRequest(http.MethodPost, proxy.URL+"/v1/messages", strings.NewReader(`{"model":"m"}`))
	req.Header.Set("X-Api-Key", "sk-client")
	req.Header.Set("Authorization", "Bearer sk-client")
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	first := make([]byte, 11)
	if _, err := io.ReadFull(resp.Body, first); err != nil || string(first) != "data: one\n\n" {
		t.Fatalf("first event %q, %v", first, err)
	}
	if d := time.Since(start); d > 250*time.Millisecond {
		t.Fatalf("first event after %v: the stream was not flushed per event", d)
	}
	rest, _ := io.ReadAll(resp.Body)
	if string(rest) != "data: two\n\n" {
		t.Fatalf("rest %q", rest)
	}
	if gotKey != "sk-upstream" || gotAuth != "" || gotBody != `{"model":"m"}` {
		t.Fatalf("upstream saw key %q, authorization %q, body %q", gotKey, gotAuth, gotBody)
	}
}
