// Package tokencount estimates the input tokens of a request when no
// upstream can count them (count_tokens for a model served by an
// OpenAI-compatible upstream). The estimate is deliberately high: a client
// such as Claude Code compacts its context when told it is near the limit,
// and an under-count ends in "prompt is too long".
package tokencount

import (
	"unicode"
	"unicode/utf8"

	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
)

// Per-item overheads, in tokens (role markers, block framing).
const (
	perMessage = 4
	perBlock   = 3
	perTool    = 12
	perRequest = 8
	// perImage is the most an image can cost on Claude (1568 px long edge ≈ 1,600 tokens).
	perImage = 1600
)

// Estimate returns an upper estimate of the request's input tokens.
func Estimate(req *llm.Request) int {
	n := perRequest
	for _, b := range req.System {
		n += perBlock + Text(b.Text)
	}
	for _, m := range req.Messages {
		n += perMessage
		for _, b := range m.Content {
			n += block(b)
		}
	}
	for _, t := range req.Tools {
		n += perTool + Text(t.Name) + Text(t.Description) + Text(string(t.InputSchema))
	}
	return n
}

func block(b llm.Block) int {
	n := perBlock
	switch b.Type {
	case llm.BlockText:
		n += Text(b.Text)
	case llm.BlockImage:
		n += perImage
	case llm.BlockToolUse:
		n += Text(b.Name) + Text(string(b.Input))
	case llm.BlockToolResult:
		for _, c := range b.Content {
			n += block(c)
		}
	case llm.BlockThinking:
		n += Text(b.Thinking)
	case llm.BlockRedactedThinking:
		n += len(b.Data) / 4
	}
	return n
}

// Text estimates the tokens of s: a run of ASCII letters and digits costs
// one token per 3 characters (BPE vocabularies average about 4 on English
// prose and 3 on code), every other ASCII symbol one token, and each
// non-ASCII character one token (CJK and emoji are often one or more).
func Text(s string) int {
	n, run := 0, 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			i++
			if c < 128 && (unicode.IsLetter(rune(c)) || unicode.IsDigit(rune(c))) {
				run++
				continue
			}
			n += (run + 2) / 3
			run = 0
			if c != ' ' {
				n++
			}
			continue
		}
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
		n += (run+2)/3 + 1
		run = 0
	}
	return n + (run+2)/3
}
