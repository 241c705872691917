package quality

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
)

// truncationSignal vetoes drafts the upstream cut off, and marks down text
// that visibly stops mid-way even when the stop reason claims a normal end
// (some servers report a length stop as "stop").
func truncationSignal(a *analysis, o *options) result {
	switch a.draft.StopReason {
	case llm.StopMaxTokens:
		return result{score: 0, applies: true, veto: true, detail: "stop_reason max_tokens"}
	case llm.StopContextLimit:
		return result{score: 0, applies: true, veto: true, detail: "context window exceeded"}
	case llm.StopPauseTurn:
		return result{score: 0, applies: true, veto: true, detail: "pause_turn: answer incomplete"}
	}
	// Text before a tool call often ends with ":" ("Let me look at the file:"),
	// and a stop sequence ends the text wherever the client chose.
	if a.toolUses > 0 {
		return pass("tool call")
	}
	if a.draft.StopReason == llm.StopSequence {
		return pass("stop sequence")
	}
	if why := danglingEnd(a.text); why != "" {
		return result{score: o.DanglingScore, applies: true, detail: why}
	}
	if unfinishedLastLine(a.text) {
		return result{score: o.UnfinishedScore, applies: true, detail: "last sentence unfinished"}
	}
	return pass("complete")
}

// connectorWords cannot end a finished English sentence.
var connectorWords = map[string]bool{
	"and": true, "or": true, "the": true, "a": true, "an": true, "to": true, "of": true,
	"with": true, "that": true, "which": true, "because": true, "for": true, "from": true,
	"but": true, "by": true, "into": true, "than": true, "whose": true, "where": true,
}

// danglingEnd says why text looks cut off, or "" when it looks finished.
func danglingEnd(text string) string {
	t := strings.TrimRightFunc(text, unicode.IsSpace)
	if t == "" {
		return ""
	}
	if strings.Count(t, "```")%2 == 1 {
		return "unclosed code fence"
	}
	last, _ := utf8.DecodeLastRuneInString(t)
	switch last {
	case ',', ':', ';', '(', '[', '{', '+', '*', '/', '=', '\\', '&', '|', '—', '、', '，', '：':
		return "ends with a separator"
	case '-':
		// "--" or "-" after a space is a dangling operator or an empty bullet.
		if len(t) >= 2 && (t[len(t)-2] == ' ' || t[len(t)-2] == '\n') {
			return "ends with a separator"
		}
	}
	if partialDigitGroup(t) {
		return "ends inside a number"
	}
	// Last word is a connector ("... and"), unless the text is a single word.
	i := strings.LastIndexFunc(t, func(r rune) bool { return !unicode.IsLetter(r) })
	word := t[i+1:]
	if i >= 0 && word != "" && len(word) <= 7 && connectorWords[strings.ToLower(word)] {
		return "ends with a connector word"
	}
	return ""
}

// partialDigitGroup reports a trailing "12,3" or "12,34": a thousands group
// that was cut short.
func partialDigitGroup(t string) bool {
	n := len(t)
	k := 0
	for k < n && k < 3 && t[n-1-k] >= '0' && t[n-1-k] <= '9' {
		k++
	}
	if k == 0 || k == 3 || n-1-k < 1 {
		return false
	}
	if t[n-1-k] != ',' {
		return false
	}
	p := t[n-2-k]
	if p < '0' || p > '9' {
		return false
	}
	// "12,5" is a decimal in much of Europe and "1,2" a list; a cut-off
	// thousands group has three digits, or another group, before the comma.
	j := n - 2 - k
	d := 0
	for j >= 0 && t[j] >= '0' && t[j] <= '9' {
		d++
		j--
	}
	// "$36,00": a dollar amount is written with thousands commas.
	return d >= 3 || (j >= 0 && (t[j] == ',' || t[j] == '$'))
}

// unfinishedLastLine reports a final line of prose (at least 6 words and 40
// bytes, not a list item, heading, table row or code) that stops without
// any closing punctuation: generation ended mid-sentence.
func unfinishedLastLine(text string) bool {
	t := strings.TrimRightFunc(text, unicode.IsSpace)
	if strings.Count(t, "```")%2 == 1 || strings.HasSuffix(t, "```") {
		return false
	}
	last := t[strings.LastIndexByte(t, '\n')+1:]
	last = strings.TrimSpace(last)
	if len(last) < 40 || wordCount(last) < 6 {
		return false
	}
	switch c := last[0]; {
	case c == '-' || c == '*' || c == '+' || c == '#' || c == '|' || c == '>':
		return false
	case c >= '0' && c <= '9':
		if i := strings.IndexAny(last, ".)"); i > 0 && i < 4 {
			return false // "1. item", "12) item"
		}
	}
	if strings.HasPrefix(last, "•") || strings.Contains(last, "://") {
		return false
	}
	r, _ := utf8.DecodeLastRuneInString(last)
	return !strings.ContainsRune(".!?:;)]}\"'*`”’»。！？>|…", r)
}
