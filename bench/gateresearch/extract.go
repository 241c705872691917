package main

import (
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
)

type answerKindT int

const (
	kindNone    answerKindT = iota // open-ended (MT-Bench): no final answer
	kindNumber                     // a number (GSM8K, MATH)
	kindLiteral                    // a Python literal (CRUXEval)
)

func answerKind(source string) answerKindT {
	switch source {
	case "mt_bench":
		return kindNone
	case "crux":
		return kindLiteral
	}
	return kindNumber
}

var (
	reAnswerKey = regexp.MustCompile(`"answer"\s*:\s*`)
	reBoxed     = regexp.MustCompile(`\\boxed\{`)
	reHashes    = regexp.MustCompile(`####\s*([^\n]*)`)
	reAnswerIs  = regexp.MustCompile(`(?i)answer is[:\s]*\$?\s*(-?[\d,]*\.?\d+(?:/\d+)?)`)
	reNumber    = regexp.MustCompile(`-?\d[\d,]*(?:\.\d+)?(?:/\d+)?|-?\.\d+`)
)

// extract finds the final answer of text: the JSON "answer" field (last),
// the last \boxed{}, the text after the last ####, "answer is N", or the
// number after the last "=" of the last line, else its first number, else
// the last number of the text.
func extract(text string, kind answerKindT) (string, bool) {
	if locs := reAnswerKey.FindAllStringIndex(text, -1); len(locs) > 0 {
		rest := text[locs[len(locs)-1][1]:]
		if v, ok := jsonValue(rest); ok {
			return norm(v, kind)
		}
	}
	if kind == kindLiteral {
		return "", false
	}
	if locs := reBoxed.FindAllStringIndex(text, -1); len(locs) > 0 {
		s := text[locs[len(locs)-1][1]:]
		depth := 1
		for i, c := range s {
			if c == '{' {
				depth++
			} else if c == '}' {
				depth--
				if depth == 0 {
					return norm(s[:i], kind)
				}
			}
		}
	}
	if m := reHashes.FindAllStringSubmatch(text, -1); len(m) > 0 {
		if a, ok := norm(m[len(m)-1][1], kind); ok {
			return a, true
		}
	}
	if m := reAnswerIs.FindAllStringSubmatch(text, -1); len(m) > 0 {
		return norm(m[len(m)-1][1], kind)
	}
	lines := strings.Split(strings.TrimSpace(text), "\n")
	last := strings.TrimSpace(lines[len(lines)-1])
	if i := strings.LastIndex(last, "="); i >= 0 {
		if a, ok := norm(last[i+1:], kind); ok {
			return a, true
		}
	}
	if a, ok := norm(last, kind); ok {
		return a, true
	}
	all := reNumber.FindAllString(text, -1)
	if len(all) == 0 {
		return "", false
	}
	return norm(all[len(all)-1], kind)
}

// jsonValue reads a JSON string or a bare value at the start of s.
func jsonValue(s string) (string, bool) {
	s = strings.TrimLeft(s, " \t")
	if strings.HasPrefix(s, `"`) {
		var v string
		dec := json.NewDecoder(strings.NewReader(s))
		if err := dec.Decode(&v); err == nil {
			return v, true
		}
		// Unescaped quotes inside: take up to the last quote on the line.
		line, _, _ := strings.Cut(s[1:], "\n")
		if i := strings.LastIndex(line, `"`); i >= 0 {
			return line[:i], true
		}
		return "", false
	}
	line, _, _ := strings.Cut(s, "\n")
	line = strings.TrimRight(strings.TrimSpace(line), ",}")
	return line, strings.TrimSpace(line) != ""
}

// norm canonicalises an answer for comparison.
func norm(s string, kind answerKindT) (string, bool) {
	s = strings.TrimSpace(s)
	if kind == kindLiteral {
		if len(s) >= 2 && (s[0] == '"' && s[len(s)-1] == '"') {
			s = s[1 : len(s)-1]
		}
		s = strings.ReplaceAll(s, `"`, `'`)
		s = strings.Join(strings.Fields(s), "")
		return s, s != ""
	}
	s = strings.NewReplacer("$", "", ",", "", " ", "", "\\!", "").Replace(s)
	m := reNumber.FindString(s)
	if m == "" {
		return "", false
	}
	if a, b, ok := strings.Cut(m, "/"); ok {
		x, e1 := strconv.ParseFloat(a, 64)
		y, e2 := strconv.ParseFloat(b, 64)
		if e1 == nil && e2 == nil && y != 0 {
			return strconv.FormatFloat(x/y, 'g', 10, 64), true
		}
	}
	x, err := strconv.ParseFloat(m, 64)
	if err != nil {
		return "", false
	}
	return strconv.FormatFloat(x, 'g', 10, 64), true
}

func same(a, b string, kind answerKindT) bool { return a == b }
