package quality

import (
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// hashPool recycles the n-gram hash buffers of repetitionSignal.
var hashPool = sync.Pool{New: func() any { s := make([]uint64, 0, 512); return &s }}

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// repetitionSignal detects degenerate loops: the share of distinct word
// n-grams (a healthy answer repeats few 4-word sequences; a looping one
// repeats most) and the share of repeated long lines. Text without spaces
// (Chinese, Japanese) uses rune n-grams instead of words.
func repetitionSignal(a *analysis, o *options) result {
	n := o.RepetitionNgram
	bp := hashPool.Get().(*[]uint64)
	defer func() { *bp = (*bp)[:0]; hashPool.Put(bp) }()

	grams := ngramHashes((*bp)[:0], a.lower, n)
	*bp = grams
	if len(grams) < 12 {
		return result{}
	}
	uniq := uniqueShare(grams)
	s := ramp(uniq, o.RepetitionLow, o.RepetitionHigh)

	lines := repeatedLineShare(a.text)
	if ls := ramp(1-lines, 0.5, 0.8); ls < s {
		s = ls
	}
	return result{score: s, applies: true, detail: "unique n-grams " + strconv.FormatFloat(uniq, 'f', 2, 64) + ", repeated lines " + strconv.FormatFloat(lines, 'f', 2, 64)}
}

// ngramHashes appends the hashes of all word n-grams of s (rune n-grams of
// 2n runes when s has almost no spaces) to dst.
func ngramHashes(dst []uint64, s string, n int) []uint64 {
	spaces := strings.Count(s, " ") + strings.Count(s, "\n")
	runes := utf8.RuneCountInString(s)
	if runes > 40 && spaces*25 < runes {
		return runeNgrams(dst, s, 2*n)
	}
	var ring [16]uint64
	k := 0
	for i := 0; i < len(s); {
		// A word is a run of letters, digits and inner punctuation; ASCII
		// punctuation at its edges is dropped ("end." and "end" are one word).
		for i < len(s) && !isWordByte(s[i]) && s[i] < utf8.RuneSelf {
			i++
		}
		j := i
		for j < len(s) && s[j] != ' ' && s[j] != '\n' && s[j] != '\t' && s[j] != '\r' {
			j++
		}
		w := strings.TrimRightFunc(s[i:j], func(r rune) bool { return r < utf8.RuneSelf && !isWordByte(byte(r)) })
		i = j
		if w == "" {
			continue
		}
		ring[k%n] = hashString(w)
		k++
		if k >= n {
			var h uint64 = fnvOffset
			for i := k - n; i < k; i++ {
				h = (h ^ ring[i%n]) * fnvPrime
			}
			dst = append(dst, h)
		}
	}
	return dst
}

func runeNgrams(dst []uint64, s string, n int) []uint64 {
	var ring [32]rune
	k := 0
	for _, r := range s {
		if unicode.IsSpace(r) {
			continue
		}
		ring[k%n] = r
		k++
		if k >= n {
			var h uint64 = fnvOffset
			for i := k - n; i < k; i++ {
				h = (h ^ uint64(ring[i%n])) * fnvPrime
			}
			dst = append(dst, h)
		}
	}
	return dst
}

func hashString(s string) uint64 {
	var h uint64 = fnvOffset
	for i := 0; i < len(s); i++ {
		h = (h ^ uint64(s[i])) * fnvPrime
	}
	return h
}

// uniqueShare sorts hs in place and returns the share of distinct values.
func uniqueShare(hs []uint64) float64 {
	slices.Sort(hs)
	u := 1
	for i := 1; i < len(hs); i++ {
		if hs[i] != hs[i-1] {
			u++
		}
	}
	return float64(u) / float64(len(hs))
}

// repeatedLineShare is the share of lines of at least 12 characters that
// repeat an earlier line (short lines like "}" or "---" repeat legitimately).
func repeatedLineShare(text string) float64 {
	var seen [64]uint64
	ns, total, dup := 0, 0, 0
	for line := range strings.SplitSeq(text, "\n") {
		line = strings.TrimSpace(line)
		if len(line) < 12 {
			continue
		}
		total++
		h := hashString(line)
		found := false
		for i := 0; i < ns; i++ {
			if seen[i] == h {
				found = true
				break
			}
		}
		if found {
			dup++
		} else if ns < len(seen) {
			seen[ns] = h
			ns++
		}
	}
	if total < 4 {
		return 0
	}
	return float64(dup) / float64(total)
}
