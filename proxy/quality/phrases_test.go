package quality

import "testing"

func TestPhraseSetMatchesAtWordStarts(t *testing.T) {
	ps := newPhraseSet("may be", "i'm not sure", "x", "我无法")
	for s, want := range map[string]int{
		"it may be so":                 1,
		"dismay be gone":               0, // inside a word
		"“i'm not sure” she said":      1, // after a curly quote
		"éi'm not sure":                0, // after a letter of another script
		"x marks; box; x":              2,
		"我无法回答，我无法":                    2, // no word starts in Chinese: anywhere
		"may be, may be, maybe may be": 3,
	} {
		if got := ps.count(s); got != want {
			t.Errorf("count(%q) = %d, want %d", s, got, want)
		}
	}
	if got := ps.first("abc 我无法 then may be"); got != 4 {
		t.Errorf("first = %d, want 4 (the earlier non-ASCII match)", got)
	}
	if ps.contains("nothing here") || !ps.contains("well, maybe x") {
		t.Error("contains is wrong")
	}
}

func TestTaggedSetKeepsEveryTag(t *testing.T) {
	ps := taggedSet(map[uint8][]string{1: {"wait,", "sure"}, 2: {"wait,"}})
	var tags []uint8
	ps.scan("wait, sure", func(_ int, tg uint8) { tags = append(tags, tg) })
	if len(tags) != 2 || tags[0] != 3 || tags[1] != 1 {
		t.Fatalf("tags = %v, want [3 1]", tags)
	}
}
