package fakeupstream_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/cascadeflow/cascadeflow-operator/proxy/fakeupstream"
)

func sessionBody(msgs ...string) []byte {
	return []byte(`{"model":"m","messages":[` + strings.Join(msgs, ",") + `]}`)
}

const (
	prompt1   = `{"role":"user","content":[{"type":"text","text":"<system-reminder>x</system-reminder>"},{"type":"text","text":"[turn:a] read it"}]}`
	toolUse   = `{"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"Read","input":{}}]}`
	result    = `{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":"x"},{"type":"text","text":"<system-reminder>y</system-reminder>"}]}`
	final     = `{"role":"assistant","content":[{"type":"text","text":"done"}]}`
	prompt2   = `{"role":"user","content":"[turn:b] next"}`
	sysInside = `{"role":"system","content":"[turn:zzz] not a user prompt"}`
)

func TestTurnStep(t *testing.T) {
	for _, tc := range []struct {
		body []byte
		name string
		step int
		ok   bool
	}{
		{sessionBody(prompt1), "a", 0, true},
		{sessionBody(prompt1, toolUse, result), "a", 1, true},
		{sessionBody(prompt1, toolUse, result, toolUse, result, sysInside), "a", 2, true},
		{sessionBody(prompt1, toolUse, result, final, prompt2), "b", 0, true},
		{sessionBody(prompt1, toolUse, result, final, prompt2, toolUse, result), "b", 1, true},
		{sessionBody(`{"role":"user","content":"no marker"}`), "", 0, false},
		{[]byte(`not json`), "", 0, false},
	} {
		name, step, ok := fakeupstream.TurnStep(tc.body)
		if name != tc.name || step != tc.step || ok != tc.ok {
			t.Errorf("%s: got %q %d %v, want %q %d %v", tc.body, name, step, ok, tc.name, tc.step, tc.ok)
		}
	}
}

func TestSessionScriptReply(t *testing.T) {
	read := &fakeupstream.ToolCall{Name: "Read", Input: json.RawMessage(`{"file_path":"/x"}`)}
	s := &fakeupstream.SessionScript{Draft: "small", Turns: map[string]fakeupstream.Turn{
		"a": {DraftGood: false, Steps: []fakeupstream.Step{{Thinking: "t", Text: "Reading.", Tool: read}, {Text: "Done."}}},
		"b": {DraftGood: true, Steps: []fakeupstream.Step{{Text: "Fine."}}},
		"c": {DraftGood: true, BadDraftSteps: []int{1}, Steps: []fakeupstream.Step{{Text: "Reading.", Tool: read}, {Text: "Reading again.", Tool: read}, {Text: "Done."}}},
	}}
	get := func(model string, body []byte) fakeupstream.Reply {
		return s.Reply(&fakeupstream.Received{Model: model, Body: body})
	}
	if r := get("big", sessionBody(prompt1)); len(r.ToolCalls) != 1 || string(r.ToolCalls[0].Input) != `{"file_path":"/x"}` || r.Thinking != "t" {
		t.Errorf("verifier step 0: %+v", r)
	}
	if r := get("small", sessionBody(prompt1)); len(r.ToolCalls) != 1 || string(r.ToolCalls[0].Input) != `{}` || r.ToolCalls[0].Name != "Read" {
		t.Errorf("bad draft step 0 must break the tool's schema: %+v", r)
	}
	if r := get("small", sessionBody(prompt1, toolUse, result)); r.Text != fakeupstream.Refusal || len(r.ToolCalls) != 0 {
		t.Errorf("bad draft last step must refuse: %+v", r)
	}
	if r := get("big", sessionBody(prompt1, toolUse, result)); r.Text != "Done." {
		t.Errorf("verifier last step: %+v", r)
	}
	if r := get("small", sessionBody(prompt1, toolUse, result, final, prompt2)); r.Text != "Fine." {
		t.Errorf("good draft: %+v", r)
	}
	promptC := `{"role":"user","content":"[turn:c] go"}`
	for step, wantInput := range []string{`{"file_path":"/x"}`, `{}`} {
		msgs := []string{promptC}
		for range step {
			msgs = append(msgs, toolUse, result)
		}
		if r := get("small", sessionBody(msgs...)); len(r.ToolCalls) != 1 || string(r.ToolCalls[0].Input) != wantInput {
			t.Errorf("turn c step %d: draft %+v, want input %s", step, r, wantInput)
		}
	}
	if r := get("small", sessionBody(promptC, toolUse, result, toolUse, result)); r.Text != "Done." {
		t.Errorf("turn c step 2: the draft is good again: %+v", r)
	}
	if r := get("big", sessionBody(prompt1, toolUse, result, toolUse, result)); r.Status != 400 || !strings.Contains(r.ErrorMessage, `no step 2 in turn "a"`) {
		t.Errorf("a step past the script: %+v", r)
	}
	if r := get("big", sessionBody(`{"role":"user","content":"hello"}`)); r.Text != "OK." {
		t.Errorf("no marker: %+v", r)
	}
}
