package server_test

import (
	"bufio"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/cascadeflow/cascadeflow-operator/proxy/fakeupstream"
)

type nativeAnswer struct {
	Content       string  `json:"content"`
	ModelUsed     string  `json:"model_used"`
	Cost          float64 `json:"cost"`
	LatencyMS     float64 `json:"latency_ms"`
	Cascaded      bool    `json:"cascaded"`
	DraftAccepted *bool   `json:"draft_accepted"`
}

func TestNativeQueryAPI(t *testing.T) {
	h := newHarness(t, cascadeRules(""), harnessOptions{})
	h.fake.SetReply("claude-haiku-5-5", fakeupstream.Reply{Text: goodAnswer})

	status, _, body := h.post("/api/query", `{"query": "What is the capital of France? Answer in two sentences.", "max_tokens": 120}`, nil)
	var a nativeAnswer
	if err := json.Unmarshal([]byte(body), &a); err != nil || status != 200 {
		t.Fatalf("%d %s", status, body)
	}
	if a.Content != goodAnswer || a.ModelUsed != "claude-haiku-5-5" || !a.Cascaded || a.DraftAccepted == nil || !*a.DraftAccepted || a.Cost <= 0 {
		t.Fatalf("accepted answer: %+v", a)
	}
	var sent struct {
		MaxTokens int `json:"max_tokens"`
	}
	_ = json.Unmarshal(h.fake.Requests()[0].Body, &sent)
	if sent.MaxTokens != 120 {
		t.Fatalf("max_tokens not passed: %d", sent.MaxTokens)
	}

	status, _, body = h.post("/api/query", `{"query": "What is the capital of France?", "force_direct": true}`, nil)
	a = nativeAnswer{}
	_ = json.Unmarshal([]byte(body), &a)
	if status != 200 || a.ModelUsed != "claude-opus-5-5" || a.Cascaded || a.DraftAccepted != nil {
		t.Fatalf("force_direct: %d %s", status, body)
	}
	for _, bad := range []string{`{}`, `{"query": ""}`, `{"query": "x", "max_tokens": 0}`, `{"query": "x", "temperature": 3}`, `not json`} {
		if status, _, body := h.post("/api/query", bad, nil); status != 422 || !strings.Contains(body, `"detail"`) {
			t.Fatalf("%s: %d %s", bad, status, body)
		}
	}

	// Streaming: chunk events then one complete event carrying the result.
	h.fake.SetReply("claude-haiku-5-5", fakeupstream.Reply{Text: refusal})
	resp, err := http.Get(h.url + "/api/query/stream?query=" + url.QueryEscape("What is the capital of France?") + "&max_tokens=50")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var chunks strings.Builder
	var complete map[string]any
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		var ev struct {
			Type    string         `json:"type"`
			Content string         `json:"content"`
			Data    map[string]any `json:"data"`
		}
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("bad event %q", line)
		}
		switch ev.Type {
		case "chunk":
			chunks.WriteString(ev.Content)
		case "complete":
			complete = ev.Data["result"].(map[string]any)
		default:
			t.Fatalf("unexpected event %s", line)
		}
	}
	if chunks.String() != "Hello from claude-opus-5-5." || complete == nil || complete["model_used"] != "claude-opus-5-5" ||
		complete["draft_accepted"] != false || complete["cascaded"] != true {
		t.Fatalf("stream: %q %v", chunks.String(), complete)
	}

	// Stats aggregate every request the rules served (here: 3 through the native API).
	code, sbody := h.get("/api/stats", nil)
	var st struct {
		Total    int              `json:"total_queries"`
		Cascaded int              `json:"cascade_used_count"`
		Models   map[string]int   `json:"models_used"`
		Cost     float64          `json:"total_cost"`
		Rules    []map[string]any `json:"rules"`
	}
	if err := json.Unmarshal([]byte(sbody), &st); err != nil || code != 200 {
		t.Fatalf("stats %d %s", code, sbody)
	}
	if st.Total != 3 || st.Cascaded != 2 || st.Models["claude-haiku-5-5"] != 1 || st.Models["claude-opus-5-5"] != 2 || st.Cost <= 0 || len(st.Rules) != 1 {
		t.Fatalf("stats: %s", sbody)
	}
	req, _ := http.NewRequest(http.MethodDelete, h.url+"/api/stats", nil)
	if r, err := http.DefaultClient.Do(req); err != nil || r.StatusCode != 200 {
		t.Fatalf("reset: %v", err)
	}
	if _, sbody = h.get("/api/stats", nil); !strings.Contains(sbody, `"total_queries":0`) {
		t.Fatalf("after reset: %s", sbody)
	}
}
