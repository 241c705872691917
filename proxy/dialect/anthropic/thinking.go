package anthropic

// Thinking blocks in place. A thinking block's signature (a redacted_thinking
// block's data) is checked by the API against the bytes around it, so these
// edits touch that one value and leave every other byte of the block, the
// message and the request as the client sent them. Which blocks to keep and
// which signature to send is the caller's decision.

import (
	"bytes"
	"encoding/json"

	"github.com/cascadeflow/cascadeflow-operator/proxy/jsonfield"
	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
)

// signatureMember names the member holding a block type's signature: the
// signature of a thinking block, the data of a redacted_thinking block.
func signatureMember(t llm.BlockType) (string, bool) {
	switch t {
	case llm.BlockThinking:
		return "signature", true
	case llm.BlockRedactedThinking:
		return "data", true
	}
	return "", false
}

// ThinkingSignature returns the signature of a thinking block (the data of a
// redacted_thinking block); ok is false for other blocks.
func ThinkingSignature(b llm.Block) (sig string, ok bool) {
	switch b.Type {
	case llm.BlockThinking:
		return b.Signature, true
	case llm.BlockRedactedThinking:
		return b.Data, true
	}
	return "", false
}

// SetThinkingSignature sets the signature of a thinking block (the data of a
// redacted_thinking block) to sig, in its field and in its Raw bytes, which
// keep the rest of the block as it was. Raw lacking the member is dropped
// (the encoder then writes the block from its fields). Raw is replaced, never
// written to, so a copy of the block keeps its own. Other blocks are left
// alone.
func SetThinkingSignature(b *llm.Block, sig string) {
	key, ok := signatureMember(b.Type)
	if !ok {
		return
	}
	if b.Type == llm.BlockThinking {
		b.Signature = sig
	} else {
		b.Data = sig
	}
	if len(b.Raw) == 0 {
		b.Raw = nil
		return
	}
	span, found := jsonfield.Member(b.Raw, key)
	if !found {
		b.Raw = nil
		return
	}
	b.Raw = jsonfield.Replace(b.Raw, span, jsonfield.QuoteString(sig))
}

// FilterHistory rewrites the thinking and redacted_thinking blocks of the
// assistant messages in a Messages request body: decide gets each block's
// signature and returns the one to send, or keep false to remove the block.
// An assistant message left with no content is removed (the API merges the
// neighbouring turns). FilterHistory returns body itself when nothing
// changes, and when the body cannot be read (the upstream will say why);
// body is a request the codec accepted, so valid JSON.
func FilterHistory(body []byte, decide func(signature string) (send string, keep bool)) []byte {
	// Thinking blocks in a request carry a signature; redacted ones are named.
	if !bytes.Contains(body, []byte(`"signature"`)) && !bytes.Contains(body, []byte("redacted_thinking")) {
		return body
	}
	msgSpan, ok := jsonfield.Member(body, "messages")
	if !ok {
		return body
	}
	msgs, ok := editArray(body[msgSpan.Start:msgSpan.End], func(msg []byte) ([]byte, bool) {
		return messageHistory(msg, decide)
	})
	if !ok {
		return body
	}
	return jsonfield.Replace(body, msgSpan, msgs)
}

// messageHistory rewrites one message; keep is false when an assistant
// message is left without content.
func messageHistory(msg []byte, decide func(string) (string, bool)) (out []byte, keep bool) {
	var head struct {
		Role string `json:"role"`
	}
	if json.Unmarshal(msg, &head) != nil || head.Role != string(llm.RoleAssistant) {
		return msg, true
	}
	cSpan, ok := jsonfield.Member(msg, "content")
	if !ok {
		return msg, true
	}
	content, changed := editArray(msg[cSpan.Start:cSpan.End], func(block []byte) ([]byte, bool) {
		return blockHistory(block, decide)
	})
	if !changed {
		return msg, true // a string content has no thinking
	}
	if string(content) == "[]" {
		return nil, false
	}
	return jsonfield.Replace(msg, cSpan, content), true
}

// blockHistory applies decide to a thinking or redacted_thinking block; other
// blocks are returned as they are.
func blockHistory(block []byte, decide func(string) (string, bool)) ([]byte, bool) {
	var head struct {
		Type      string `json:"type"`
		Signature string `json:"signature"`
		Data      string `json:"data"`
	}
	if json.Unmarshal(block, &head) != nil {
		return block, true
	}
	b := llm.Block{Type: llm.BlockType(head.Type), Signature: head.Signature, Data: head.Data}
	sig, ok := ThinkingSignature(b)
	if !ok {
		return block, true
	}
	send, keep := decide(sig)
	if !keep {
		return nil, false
	}
	if send == sig {
		return block, true
	}
	key, _ := signatureMember(b.Type)
	span, found := jsonfield.Member(block, key)
	if !found {
		return block, true
	}
	return jsonfield.Replace(block, span, jsonfield.QuoteString(send)), true
}

// editArray applies edit to each element of the JSON array arr, leaving out
// those it does not keep. It returns the new array and true when something
// changed, or nil and false when nothing did or arr is not an array.
func editArray(arr []byte, edit func(el []byte) (out []byte, keep bool)) ([]byte, bool) {
	spans, err := jsonfield.Elements(arr)
	if err != nil {
		return nil, false
	}
	changed := false
	out := make([][]byte, 0, len(spans))
	for _, s := range spans {
		el := arr[s.Start:s.End]
		ne, keep := edit(el)
		if !keep || !bytes.Equal(ne, el) {
			changed = true
		}
		if keep {
			out = append(out, ne)
		}
	}
	if !changed {
		return nil, false
	}
	return jsonfield.JoinArray(out), true
}
