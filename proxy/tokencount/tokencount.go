// Package tokencount estimates the input tokens of a request when no
// upstream can count them (count_tokens for a model served by an
// OpenAI-compatible upstream). The estimate is deliberately high: a client
// such as Claude Code compacts its context when told it is near the limit,
// and an under-count ends in "prompt is too long".
package tokencount

import (
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
	// toolPrompt is the system prompt a provider adds when tools are present:
	// Anthropic documents 313–346 tokens for current models and up to 530
	// (Claude 3 Opus, tool_choice auto); chat templates of open models add
	// a similar preamble. The largest documented figure is used.
	toolPrompt = 530
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
	if len(req.Tools) > 0 {
		n += toolPrompt
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
		// The id is part of what the model reads ("toolu_01A09q90qw90lq917835lq9").
		n += Text(b.ID) + Text(b.Name) + Text(string(b.Input))
	case llm.BlockToolResult:
		n += Text(b.ToolUseID)
		for _, c := range b.Content {
			n += block(c)
		}
	case llm.BlockThinking:
		n += Text(b.Thinking)
	case llm.BlockRedactedThinking:
		n += len(b.Data) / 4
	default:
		// A block this package does not know: count whatever it carries.
		n += Text(b.Text) + Text(string(b.Raw))
	}
	return n
}

// Text estimates the tokens of s, erring high for the byte-level BPE
// vocabularies in use (cl100k/o200k, Claude's, Llama's, Qwen's):
//   - a run of ASCII letters costs one token per 3 letters (English prose
//     averages about 4); a lower-to-upper case change starts a new run, as
//     in camelCase identifiers;
//   - every digit costs a token: some vocabularies (Qwen, Gemini) never
//     merge digits, and the others group at most 3;
//   - a single space is free before a letter or symbol (" is", " +" are one
//     token) but costs one before a digit, a line break or the end
//     (cl100k reads "2 + 2 = 4" as 7 tokens: "2"," +"," ","2"," ="," ","4");
//     a run of n spaces costs ceil(n/4);
//   - every other ASCII character (punctuation, tab, newline) costs one;
//   - a non-ASCII character costs one if it is 2 bytes in UTF-8 (accented
//     Latin, Greek, Cyrillic), two if it is a 3-byte CJK, kana or Hangul
//     character (cl100k already spends two on some, e.g. 誕), one for other
//     3-byte characters (curly quotes, dashes) and three for 4-byte ones
//     (emoji); invalid bytes cost one each.
func Text(s string) int {
	n, run := 0, 0
	flush := func() {
		n += (run + 2) / 3
		run = 0
	}
	for i := 0; i < len(s); {
		c := s[i]
		if isLetter(c) {
			if run > 0 && isUpper(c) && isLower(s[i-1]) {
				flush()
			}
			run++
			i++
			continue
		}
		flush()
		switch {
		case c >= '0' && c <= '9':
			n++
			i++
		case c == ' ':
			j := i
			for j < len(s) && s[j] == ' ' {
				j++
			}
			if spaces := j - i; spaces > 1 {
				n += (spaces + 3) / 4
			} else if j == len(s) || !mergesLeadingSpace(s[j]) {
				n++
			}
			i = j
		case c < utf8.RuneSelf:
			n++
			i++
		default:
			r, size := utf8.DecodeRuneInString(s[i:])
			i += size
			switch {
			case r == utf8.RuneError && size == 1:
				n++
			case size == 2:
				n++
			case size == 3 && r >= 0x2E80: // CJK radicals onward: CJK, kana, Hangul
				n += 2
			case size == 3:
				n++
			default:
				n += 3
			}
		}
	}
	flush()
	return n
}

func isLetter(c byte) bool { return isLower(c) || isUpper(c) }
func isLower(c byte) bool  { return c >= 'a' && c <= 'z' }
func isUpper(c byte) bool  { return c >= 'A' && c <= 'Z' }

// mergesLeadingSpace reports whether a single space before c joins c's token
// (letters, non-ASCII letters and ASCII punctuation do; digits and
// whitespace do not).
func mergesLeadingSpace(c byte) bool {
	switch {
	case c >= '0' && c <= '9':
		return false
	case c == ' ' || c == '\t' || c == '\n' || c == '\r':
		return false
	}
	return true
}
