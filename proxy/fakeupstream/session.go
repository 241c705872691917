package fakeupstream

import (
	"encoding/json"
	"fmt"
	"regexp"
)

// SessionScript answers an agent's scripted multi-turn session, such as
// Claude Code driven with one prompt per user turn. Each prompt carries a
// marker "[turn:NAME]"; Turns[NAME] lists the replies of that turn's tool
// loop, one per request: the step of a request is the number of user
// messages carrying tool results since the prompt. The Draft model answers a
// turn's steps like any other model when the turn's DraftGood is set, and
// badly otherwise: a tool call with an input that breaks the tool's
// input_schema (an empty object), or a refusal instead of the final text. So
// a cascade's quality gate accepts every draft of a good turn and rejects
// every draft of a bad one, on the turn's first request and on each
// continuation alike.
//
// Use it as a responder: srv.SetResponder(script.Reply).
type SessionScript struct {
	Draft string
	Turns map[string]Turn
}

// Turn is one user turn of a scripted session.
type Turn struct {
	DraftGood bool
	// BadDraftSteps, in a turn whose draft is good, lists the steps (from 0)
	// the draft still answers badly: a good turn with a vetoed step.
	BadDraftSteps []int
	Steps         []Step
}

func (t Turn) draftGoodAt(step int) bool {
	if !t.DraftGood {
		return false
	}
	for _, s := range t.BadDraftSteps {
		if s == step {
			return false
		}
	}
	return true
}

// Step is one reply of a turn's tool loop: thinking, text, and at most one
// tool call (a turn's last step has none and ends it).
type Step struct {
	Thinking string
	Text     string
	Tool     *ToolCall
}

// Refusal is the text of a bad draft's last step.
const Refusal = "I'm sorry, but I can't help with that."

var turnMarker = regexp.MustCompile(`\[turn:([A-Za-z0-9_.-]+)\]`)

// TurnStep reads, from a Messages request body, the name of the turn it
// belongs to (the marker of the last user prompt carrying one) and its step.
// ok is false when no prompt carries a marker.
func TurnStep(body []byte) (name string, step int, ok bool) {
	var req struct {
		Messages []struct {
			Role    string          `json:"role"`
			Content json.RawMessage `json:"content"`
		} `json:"messages"`
	}
	if json.Unmarshal(body, &req) != nil {
		return "", 0, false
	}
	for i := len(req.Messages) - 1; i >= 0; i-- {
		m := req.Messages[i]
		if m.Role != "user" {
			continue
		}
		texts, results := userBlocks(m.Content)
		if results > 0 {
			step++
			continue
		}
		for _, t := range texts {
			if sub := turnMarker.FindStringSubmatch(t); sub != nil {
				return sub[1], step, true
			}
		}
	}
	return "", 0, false
}

// userBlocks returns a user message's text and its number of tool_result blocks.
func userBlocks(content json.RawMessage) (texts []string, results int) {
	var s string
	if json.Unmarshal(content, &s) == nil {
		return []string{s}, 0
	}
	var blocks []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	_ = json.Unmarshal(content, &blocks)
	for _, b := range blocks {
		switch b.Type {
		case "text":
			texts = append(texts, b.Text)
		case "tool_result":
			results++
		}
	}
	return texts, results
}

// Reply answers r by the script: the turn's step, spoiled for a bad turn's
// draft. A request without a marker gets a short plain answer; a step past the
// turn's last one, or an unknown turn, gets a 400 naming it, so a script that
// does not match the session fails loudly.
func (s *SessionScript) Reply(r *Received) Reply {
	name, step, ok := TurnStep(r.Body)
	if !ok {
		return Reply{Text: "OK."}
	}
	turn, found := s.Turns[name]
	if !found || step >= len(turn.Steps) {
		return Reply{Status: 400, ErrorMessage: fmt.Sprintf("session script: no step %d in turn %q", step, name)}
	}
	st := turn.Steps[step]
	reply := Reply{Thinking: st.Thinking, Text: st.Text, TokensPerDelta: 4}
	if st.Tool != nil {
		reply.ToolCalls = []ToolCall{*st.Tool}
	}
	if r.Model != s.Draft || turn.draftGoodAt(step) {
		return reply
	}
	if st.Tool != nil {
		reply.ToolCalls = []ToolCall{{Name: st.Tool.Name, Input: json.RawMessage(`{}`)}}
		return reply
	}
	reply.Text = Refusal
	return reply
}
