package quality

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// phraseSet finds any of many lower-case phrases in one pass over a text.
// Phrases match at word starts only ("may be" does not match inside "dismay
// be"), which is what a cue list means and lets the scan skip most offsets:
// at each word start it looks up the phrases sharing its first byte.
// Phrases in scripts without spaces (Chinese, Japanese) match anywhere.
type phraseSet struct {
	byFirst  [utf8.RuneSelf][]phrase // ASCII phrases by first byte
	anywhere []phrase                // phrases starting with a non-ASCII rune
}

// phrase is one entry; tags say which lists it came from (see taggedSet).
type phrase struct {
	text string
	tags uint8
}

func newPhraseSet(phrases ...string) *phraseSet {
	ps := &phraseSet{}
	for _, p := range phrases {
		ps.add(p, 1)
	}
	return ps
}

// taggedSet merges several lists into one set, so one scan serves them all;
// a phrase in several lists carries all their tags.
func taggedSet(lists map[uint8][]string) *phraseSet {
	tags := map[string]uint8{}
	var order []string
	for tag, l := range lists {
		for _, p := range l {
			if _, ok := tags[p]; !ok {
				order = append(order, p)
			}
			tags[p] |= tag
		}
	}
	ps := &phraseSet{}
	for _, p := range order {
		ps.add(p, tags[p])
	}
	return ps
}

func (ps *phraseSet) add(p string, tags uint8) {
	switch {
	case p == "":
	case p[0] >= utf8.RuneSelf:
		ps.anywhere = append(ps.anywhere, phrase{p, tags})
	default:
		ps.byFirst[p[0]] = append(ps.byFirst[p[0]], phrase{p, tags})
	}
}

// scanWords calls fn with each word-start match in text order until fn
// returns false.
func (ps *phraseSet) scanWords(s string, fn func(at int, tags uint8) bool) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf {
			continue
		}
		cands := ps.byFirst[c]
		if len(cands) == 0 || !wordStart(s, i) {
			continue
		}
		for _, p := range cands {
			t := p.text
			if len(t) <= len(s)-i && (len(t) == 1 || s[i+1] == t[1]) && s[i:i+len(t)] == t && !fn(i, p.tags) {
				return
			}
		}
	}
}

// scanAnywhere calls fn with each match of the non-ASCII phrases.
func (ps *phraseSet) scanAnywhere(s string, fn func(at int, tags uint8) bool) {
	if len(ps.anywhere) == 0 || !hasNonASCII(s) {
		return
	}
	for _, p := range ps.anywhere {
		for off := 0; ; {
			j := strings.Index(s[off:], p.text)
			if j < 0 {
				break
			}
			if !fn(off+j, p.tags) {
				return
			}
			off += j + len(p.text)
		}
	}
}

// scan calls fn for every match, word-start phrases first.
func (ps *phraseSet) scan(s string, fn func(at int, tags uint8)) {
	all := func(at int, tags uint8) bool { fn(at, tags); return true }
	ps.scanWords(s, all)
	ps.scanAnywhere(s, all)
}

// count is the number of matches in s.
func (ps *phraseSet) count(s string) int {
	n := 0
	inc := func(int, uint8) bool { n++; return true }
	ps.scanWords(s, inc)
	ps.scanAnywhere(s, inc)
	return n
}

// contains reports any match in s.
func (ps *phraseSet) contains(s string) bool {
	found := false
	stop := func(int, uint8) bool { found = true; return false }
	ps.scanWords(s, stop)
	if !found {
		ps.scanAnywhere(s, stop)
	}
	return found
}

// first is the smallest match offset in s, or -1.
func (ps *phraseSet) first(s string) int {
	best := -1
	ps.scanWords(s, func(at int, _ uint8) bool { best = at; return false })
	ps.scanAnywhere(s, func(at int, _ uint8) bool {
		if best < 0 || at < best {
			best = at
		}
		return true
	})
	return best
}

// wordStart reports whether s[i] begins a word: it is not preceded by a
// letter, digit or underscore (of any script).
func wordStart(s string, i int) bool {
	if i == 0 {
		return true
	}
	b := s[i-1]
	if b < utf8.RuneSelf {
		return !isWordByte(b)
	}
	r, _ := utf8.DecodeLastRuneInString(s[:i])
	return !unicode.IsLetter(r) && !unicode.IsDigit(r)
}

func hasNonASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return true
		}
	}
	return false
}

func isWordByte(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '_'
}
