package cascade

// Thinking blocks across models.
//
// A thinking (or redacted_thinking) block is signed for the model that wrote
// it. Anthropic's API checks a block sent back in a later request: a model
// reads its own blocks and those of a fixed set of other models, silently
// drops the rest, and (with preserved thinking) rejects a request when what
// precedes a block differs from what that model saw when it wrote it. Older
// models and stricter gateways reject a foreign signature with a 400. A
// cascade answers one conversation with two models, so the history a client
// sends back mixes blocks signed for the draft and for the verifier.
//
// The strategy, deterministic so that every request to one model sees the
// same history (which the prefix check needs):
//
//   - When the draft's answer is delivered (accepted, or draft-only mode) and
//     the draft is of another model family than the verifier, each of its
//     thinking blocks is marked: the signature (data, for redacted_thinking)
//     becomes "cfdraft1.<base64url(draft model)>.<original>". Clients treat
//     signatures as opaque and send them back unchanged.
//   - Before each call, the history is rewritten for the target model: a
//     marked block of the target's family gets its original signature back,
//     byte for byte; a marked block of another family is removed. Unmarked
//     blocks were written by the verifier (or by whatever served the
//     conversation before the rule): they are kept for a call to the
//     verifier's family and removed for a call to another family.
//   - Removing a block is what the API itself does with a block the model
//     cannot read; the rest of the message (text, tool_use) stays. A message
//     left with no content is removed (the API merges the neighbouring turns).
//
// Only the signature and data values of thinking blocks are edited, and
// only in assistant messages; every other byte of the client's body is kept.
// A conversation that later leaves the proxy (the rule removed, the client
// pointed at the vendor directly) carries marked signatures the vendor does
// not know: ThinkingForModel restores or removes them for a pass-through.
//
// This file holds the policy (marks, families, which block goes where); the
// edits of the wire bytes are the Anthropic dialect's (anthropic.FilterHistory
// and anthropic.SetThinkingSignature).

import (
	"bytes"
	"encoding/base64"
	"strings"

	"github.com/cascadeflow/cascadeflow-operator/proxy/dialect/anthropic"
	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
)

// draftMark starts a signature the cascade rewrote to record the draft model.
const draftMark = "cfdraft1."

// markSignature returns sig marked as written by model.
func markSignature(model, sig string) string {
	return draftMark + base64.RawURLEncoding.EncodeToString([]byte(model)) + "." + sig
}

// parseMark splits a marked signature into the model that wrote the block
// and the original signature; ok is false for an unmarked signature.
func parseMark(sig string) (model, orig string, ok bool) {
	rest, found := strings.CutPrefix(sig, draftMark)
	if !found {
		return "", "", false
	}
	enc, orig, found := strings.Cut(rest, ".")
	if !found {
		return "", "", false
	}
	m, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil || len(m) == 0 {
		return "", "", false
	}
	return string(m), orig, true
}

// sameFamily reports whether two model ids share thinking signatures: equal
// once lower-cased and stripped of a trailing -YYYYMMDD snapshot date
// ("claude-sonnet-4-5" and "claude-sonnet-4-5-20250929" are one model).
func sameFamily(a, b string) bool {
	return modelFamily(a) == modelFamily(b)
}

func modelFamily(m string) string {
	m = strings.ToLower(m)
	i := strings.LastIndexByte(m, '-')
	if i < 0 || len(m)-i-1 != 8 {
		return m
	}
	for _, c := range m[i+1:] {
		if c < '0' || c > '9' {
			return m
		}
	}
	return m[:i]
}

// markDraftThinking marks the thinking blocks of a draft answer about to be
// delivered (see the package comment above). Raw is edited in place of
// re-encoding, so the rest of each block keeps its bytes.
func markDraftThinking(resp *llm.Response, draftModel, verifierModel string) {
	if resp == nil || sameFamily(draftModel, verifierModel) {
		return
	}
	for i := range resp.Content {
		b := &resp.Content[i]
		sig, ok := anthropic.ThinkingSignature(*b)
		if !ok || sig == "" {
			continue
		}
		if _, _, marked := parseMark(sig); marked {
			continue
		}
		anthropic.SetThinkingSignature(b, markSignature(draftModel, sig))
	}
}

// keepFunc decides a thinking block's fate for one target model: keep it
// (with sig, the signature to send), or drop it.
type keepFunc func(sig string) (send string, keep bool)

// thinkingPolicy returns the decision for calls to target, where unmarked
// blocks belong to owner (the verifier).
func thinkingPolicy(target, owner string) keepFunc {
	keepUnmarked := sameFamily(target, owner)
	return func(sig string) (string, bool) {
		if m, orig, ok := parseMark(sig); ok {
			return orig, sameFamily(m, target)
		}
		return sig, keepUnmarked
	}
}

// ThinkingForModel prepares an Anthropic Messages request body for model
// outside a cascade (a pass-through): thinking blocks the cascade marked as
// written by a draft model are restored for that model's family and removed
// for any other; unmarked blocks are kept. A body without marked blocks is
// returned unchanged.
func ThinkingForModel(body []byte, model string) []byte {
	if !bytes.Contains(body, []byte(draftMark)) {
		return body
	}
	return anthropic.FilterHistory(body, thinkingPolicy(model, model))
}

// filterThinking applies decide to a canonical request (a call in another
// dialect than the client's body), editing Raw rather than re-encoding.
func filterThinking(req *llm.Request, decide keepFunc) {
	msgs := make([]llm.Message, 0, len(req.Messages))
	changed := false
	for _, m := range req.Messages {
		if m.Role != llm.RoleAssistant {
			msgs = append(msgs, m)
			continue
		}
		var content []llm.Block
		touched := false
		for i, b := range m.Content {
			sig, thinking := anthropic.ThinkingSignature(b)
			send, keep := sig, true
			if thinking {
				send, keep = decide(sig)
			}
			if keep && send == sig {
				if touched {
					content = append(content, b)
				}
				continue
			}
			if !touched {
				content = append(make([]llm.Block, 0, len(m.Content)), m.Content[:i]...)
				touched = true
			}
			if !keep {
				continue
			}
			anthropic.SetThinkingSignature(&b, send)
			content = append(content, b)
		}
		if !touched {
			msgs = append(msgs, m)
			continue
		}
		changed = true
		if len(content) > 0 {
			msgs = append(msgs, llm.Message{Role: m.Role, Content: content})
		}
	}
	if changed {
		req.Messages = msgs
	}
}

// ThinkingForTarget is ThinkingForModel for a call to model in a
// conversation whose unmarked blocks belong to owner (a default route's
// fallback: the route's own model owns them): for a model of another family
// than owner, unmarked blocks are removed too.
func ThinkingForTarget(body []byte, model, owner string) []byte {
	if sameFamily(model, owner) {
		return ThinkingForModel(body, model)
	}
	return anthropic.FilterHistory(body, thinkingPolicy(model, owner))
}
