package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cascadeflow/cascadeflow-operator/proxy/fakeupstream"
)

func TestKeyGateAcceptsListedKeysAndCountsThem(t *testing.T) {
	g, err := newKeyGate([]string{"sk-old-1111", " sk-new-2222 "}, fakeupstream.New(fakeupstream.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g)
	defer srv.Close()

	post := func(header, value string) int {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/messages",
			strings.NewReader(`{"model":"claude-haiku-5-5","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`))
		req.Header.Set("content-type", "application/json")
		req.Header.Set("anthropic-version", "2023-06-01")
		if header != "" {
			req.Header.Set(header, value)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if got := post("x-api-key", "sk-old-1111"); got != 200 {
		t.Fatalf("old key: %d", got)
	}
	if got := post("Authorization", "Bearer sk-new-2222"); got != 200 {
		t.Fatalf("new key as bearer: %d", got)
	}
	if got := post("x-api-key", "sk-other-3333"); got != 401 {
		t.Fatalf("unknown key: %d", got)
	}
	if got := post("", ""); got != 401 {
		t.Fatalf("no key: %d", got)
	}

	res, err := http.Get(srv.URL + "/_keys")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var counts map[string]int
	if err := json.NewDecoder(res.Body).Decode(&counts); err != nil {
		t.Fatal(err)
	}
	if counts["…1111"] != 1 || counts["…2222"] != 1 || len(counts) != 2 {
		t.Fatalf("counts = %v", counts)
	}
}

func TestKeyGateNeedsAKey(t *testing.T) {
	if _, err := newKeyGate([]string{"", " "}, http.NotFoundHandler()); err == nil {
		t.Fatal("no error without keys")
	}
}
