package fakeupstream

import (
	"unicode"
	"unicode/utf8"
)

// The fake's tokenizer is an approximation, chosen to be deterministic and
// cheap, not to match any vendor's:
//
//   - Output text: a token is a run of letters/digits together with the
//     whitespace before it, or one other character (punctuation, symbol) with
//     the whitespace before it. "Hello, world." is "Hello" "," " world" ".".
//     Concatenating the tokens gives back the text exactly.
//   - Input: ceil(bytes/4) of the raw JSON of the prompt-bearing fields
//     (system, messages, tools), at least 1. JSON syntax makes this an
//     over-estimate for prose, the safe direction for a client deciding when to
//     compact its context. count_tokens and the usage of a completion for the
//     same body report the same number. With Options.PromptCache, Messages
//     requests are counted on their blocks instead (see cache.go).

// tokenize splits s into output tokens (see above).
func tokenize(s string) []string {
	if s == "" {
		return nil
	}
	tokens := make([]string, 0, len(s)/4+1)
	start := 0
	i := 0
	for i < len(s) {
		// Leading whitespace belongs to the token that follows it.
		for i < len(s) {
			r, n := utf8.DecodeRuneInString(s[i:])
			if !unicode.IsSpace(r) {
				break
			}
			i += n
		}
		if i >= len(s) {
			break
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		i += n
		if isWordRune(r) {
			for i < len(s) {
				r, n := utf8.DecodeRuneInString(s[i:])
				if !isWordRune(r) {
					break
				}
				i += n
			}
		}
		tokens = append(tokens, s[start:i])
		start = i
	}
	if start < len(s) { // trailing whitespace
		if len(tokens) == 0 {
			return []string{s}
		}
		tokens[len(tokens)-1] += s[start:]
	}
	return tokens
}

func isWordRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r)
}

// approxTokens is ceil(n/4), at least 1.
func approxTokens(n int) int {
	return max((n+3)/4, 1)
}

// splitJSONFragments cuts s into pieces of at most size bytes without
// splitting a UTF-8 sequence, and into at least two pieces when s has two or
// more runes, so a tool input always arrives as several partial_json /
// arguments fragments.
func splitJSONFragments(s string, size int) []string {
	if utf8.RuneCountInString(s) < 2 {
		return []string{s}
	}
	size = min(size, len(s)/2)
	size = max(size, 1)
	var parts []string
	for len(s) > 0 {
		end := min(size, len(s))
		for end < len(s) && !utf8.RuneStart(s[end]) {
			end++
		}
		parts = append(parts, s[:end])
		s = s[end:]
	}
	return parts
}
