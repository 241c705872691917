// Package turn reads the shape of an agent's conversation from one Anthropic
// Messages request body: whether the request starts a user turn or continues
// one (an agent's tool loop sends one request per step), and keys that name
// its conversation and its turn. It keeps no state and calls nothing.
//
// The rules, for Claude Code and any client that resends the whole
// conversation each time:
//
//   - Only "user" and "assistant" messages count; "system" entries inside
//     messages (Claude Code sends one) are skipped.
//   - A user message continues a turn when it holds at least one tool_result
//     block and its text blocks, if any, are blank or system reminders
//     ("<system-reminder>…</system-reminder>", which Claude Code appends to
//     tool results). Any other user message starts a turn: typed text, an
//     image, or text next to tool results (a user interrupting the loop).
//   - A request continues a turn when its last message is a user message
//     that continues one, and an earlier user message started that turn.
//     A request whose last message is a user message starting a turn starts
//     one. Anything else (an assistant prefill, no user message, a body that
//     is not a JSON object) is Unknown: the caller decides per request.
//   - The conversation key hashes what stays the same for the whole
//     conversation: metadata.user_id (Claude Code's device and session), the
//     system prompt's text without Claude Code's per-request billing block,
//     and the first user message's text. cache_control and every other
//     member are left out, so moving breakpoints does not change the key.
//     Compaction rewrites the first message and so starts a new
//     conversation.
//   - The turn key hashes the conversation key, the index (in messages) of
//     the user message that started the turn, and that message's text.
package turn

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"io"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/cascadeflow/cascadeflow-operator/proxy/jsonenc"
	"github.com/cascadeflow/cascadeflow-operator/proxy/jsonfield"
)

// Kind says where a request stands in its turn.
type Kind uint8

const (
	// Unknown: the body does not show (see the package rules).
	Unknown Kind = iota
	// Start: the last message is the user's new ask.
	Start
	// Continue: the last message only returns tool results of the turn.
	Continue
)

func (k Kind) String() string {
	switch k {
	case Start:
		return "start"
	case Continue:
		return "continue"
	}
	return "unknown"
}

// Key names a conversation or a turn: the first 16 bytes of a SHA-256.
type Key [16]byte

// String is the key in hex.
func (k Key) String() string { return hex.EncodeToString(k[:]) }

// Short is the first 8 bytes in hex, enough to tell sessions apart in logs.
func (k Key) Short() string { return hex.EncodeToString(k[:8]) }

// IsZero reports whether k is the zero key (no conversation).
func (k Key) IsZero() bool { return k == Key{} }

// Info is what Classify read from a request.
type Info struct {
	Kind Kind
	// Conversation is the same for every request of a conversation; zero
	// when the body has no user message.
	Conversation Key
	// Turn is the same for every request of a user turn; zero when Kind is
	// Unknown.
	Turn Key
	// StartIndex is the index in messages of the user message that started
	// the turn (-1 when Kind is Unknown).
	StartIndex int
}

// billingPrefix starts Claude Code's per-request system block.
const billingPrefix = "x-anthropic-billing-header:"

// Classify reads body, an Anthropic Messages request the codec accepted
// (valid JSON: it is not validated again). It never fails: what it cannot
// read is Unknown (with a conversation key when one was found); bytes that
// are not JSON give some Info, never a panic.
func Classify(body []byte) Info {
	info := Info{StartIndex: -1}
	// One pass over the top-level members (the last of a repeated name
	// wins, as with a JSON parser).
	var messages, metadata, system []byte
	_ = jsonfield.Members(body, func(k []byte, v jsonfield.Span) bool {
		switch string(k) {
		case "messages":
			messages = body[v.Start:v.End]
		case "metadata":
			metadata = body[v.Start:v.End]
		case "system":
			system = body[v.Start:v.End]
		}
		return true
	})
	if messages == nil {
		return info
	}
	arr := messages
	els, err := jsonfield.Elements(arr)
	if err != nil {
		return info
	}
	// The user and assistant messages, with their index in messages.
	type message struct {
		index   int
		user    bool
		content []byte
	}
	msgs := make([]message, 0, len(els))
	for i, s := range els {
		el := arr[s.Start:s.End]
		role := stringMember(el, "role")
		if role != "user" && role != "assistant" {
			continue
		}
		var content []byte
		if c, ok := jsonfield.Member(el, "content"); ok {
			content = el[c.Start:c.End]
		}
		msgs = append(msgs, message{index: i, user: role == "user", content: content})
	}
	first := -1
	for i := range msgs {
		if msgs[i].user {
			first = i
			break
		}
	}
	if first < 0 {
		return info
	}
	h := sha256.New()
	field(h, []byte("cascadeflow-conversation-v1"))
	if metadata != nil && metadata[0] == '{' {
		if u, ok := jsonfield.Member(metadata, "user_id"); ok {
			field(h, digest(metadata[u.Start:u.End]))
		}
	}
	field(h, nil)
	if system != nil {
		hashContent(h, system, true)
	}
	field(h, nil)
	hashContent(h, msgs[first].content, false)
	copy(info.Conversation[:], h.Sum(nil))

	last := len(msgs) - 1
	if !msgs[last].user {
		return info
	}
	start := last
	if continues(msgs[last].content) {
		info.Kind = Continue
		for start = last - 1; start >= 0; start-- {
			if msgs[start].user && !continues(msgs[start].content) {
				break
			}
		}
		if start < 0 {
			info.Kind = Unknown
			return info
		}
	} else {
		info.Kind = Start
	}
	info.StartIndex = msgs[start].index
	t := sha256.New()
	field(t, []byte("cascadeflow-turn-v1"))
	field(t, info.Conversation[:])
	var idx [8]byte
	binary.BigEndian.PutUint64(idx[:], uint64(info.StartIndex))
	field(t, idx[:])
	hashContent(t, msgs[start].content, false)
	copy(info.Turn[:], t.Sum(nil))
	return info
}

// field writes one length-prefixed field, so that no two sequences of
// fields hash alike.
func field(h io.Writer, b []byte) {
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(b)))
	_, _ = h.Write(n[:])
	_, _ = h.Write(b)
}

// stringMember is the string value of the member key of the object obj, or
// "" when there is none or it is not a string.
func stringMember(obj []byte, key string) string {
	s, ok := jsonfield.Member(obj, key)
	if !ok {
		return ""
	}
	v, _ := jsonenc.DecodeString(obj[s.Start:s.End])
	return v
}

// hashContent writes a content value (a string, or an array of blocks) to
// h: each block's type and the digest of its decoded text, so the hash
// does not depend on cache_control, other members or how the JSON was
// escaped. With system set, Claude Code's billing block is left out. Texts
// are hashed as they are decoded: a long prompt is not copied.
func hashContent(h hash.Hash, raw []byte, system bool) {
	block := func(typ string, text []byte) {
		if system && typ == "text" && billing(text) {
			return
		}
		field(h, []byte(typ))
		field(h, digest(text))
	}
	switch jsonenc.FirstByte(raw) {
	case '"':
		block("text", raw)
	case '[':
		els, err := jsonfield.Elements(raw)
		if err != nil {
			return
		}
		for _, s := range els {
			el := raw[s.Start:s.End]
			if jsonenc.FirstByte(el) != '{' {
				continue
			}
			typ := stringMember(el, "type")
			var text []byte
			if t, ok := jsonfield.Member(el, "text"); ok && typ == "text" {
				text = el[t.Start:t.End]
			}
			block(typ, text)
		}
	}
}

// billing reports whether the JSON string raw is Claude Code's billing
// line. It is short: a long text is never decoded to find out.
func billing(raw []byte) bool {
	if len(raw) > 512 {
		return false
	}
	s, _ := jsonenc.DecodeString(raw)
	return strings.HasPrefix(strings.TrimLeft(s, " \t\r\n"), billingPrefix)
}

// digest is the SHA-256 of the JSON string raw, decoded (nil raw, or a
// value that is not a string, digests as the empty string).
func digest(raw []byte) []byte {
	d := sha256.New()
	unescape(d, raw)
	return d.Sum(nil)
}

// unescape writes the decoded JSON string raw to w, in pieces of up to
// 4 KB. Invalid escapes are written as they are: the result only has to be
// the same for the same text, however it was escaped.
func unescape(w io.Writer, raw []byte) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return
	}
	in := raw[1 : len(raw)-1]
	var buf [4096]byte
	out := buf[:0]
	put := func(b []byte) {
		if len(out)+len(b) > cap(out) {
			_, _ = w.Write(out)
			out = buf[:0]
			if len(b) > cap(out) {
				_, _ = w.Write(b)
				return
			}
		}
		out = append(out, b...)
	}
	for len(in) > 0 {
		i := bytes.IndexByte(in, '\\')
		if i < 0 {
			put(in)
			break
		}
		put(in[:i])
		in = in[i:]
		if len(in) < 2 {
			put(in)
			break
		}
		n := 2
		var r rune = -1
		switch e := in[1]; e {
		case '"', '\\', '/':
			r = rune(e)
		case 'b':
			r = '\b'
		case 'f':
			r = '\f'
		case 'n':
			r = '\n'
		case 'r':
			r = '\r'
		case 't':
			r = '\t'
		case 'u':
			if r = hex4(in[2:]); r >= 0 {
				n = 6
				if utf16.IsSurrogate(r) && len(in) >= 12 && in[6] == '\\' && in[7] == 'u' {
					if d := utf16.DecodeRune(r, hex4(in[8:])); d != utf8.RuneError {
						r, n = d, 12
					}
				}
			}
		}
		if r < 0 {
			put(in[:n])
		} else {
			var rb [utf8.UTFMax]byte
			put(utf8.AppendRune(rb[:0], r))
		}
		in = in[n:]
	}
	_, _ = w.Write(out)
}

// hex4 is the value of the 4 hex digits b starts with, or -1.
func hex4(b []byte) rune {
	if len(b) < 4 {
		return -1
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return -1
		}
	}
	return r
}

// continues reports whether a user message's content only returns tool
// results: at least one tool_result, and no text but blanks and system
// reminders. The texts are decoded only next to tool results (a prompt is
// not copied).
func continues(raw []byte) bool {
	if jsonenc.FirstByte(raw) != '[' {
		return false
	}
	els, err := jsonfield.Elements(raw)
	if err != nil {
		return false
	}
	results := false
	for _, s := range els {
		if stringMember(raw[s.Start:s.End], "type") == "tool_result" {
			results = true
			break
		}
	}
	if !results {
		return false
	}
	for _, s := range els {
		el := raw[s.Start:s.End]
		switch stringMember(el, "type") {
		case "tool_result":
		case "text":
			if !reminder(stringMember(el, "text")) {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// reminder reports whether text is blank or one or more system reminders.
func reminder(text string) bool {
	t := strings.TrimSpace(text)
	for t != "" {
		rest, ok := strings.CutPrefix(t, "<system-reminder>")
		if !ok {
			return false
		}
		_, after, ok := strings.Cut(rest, "</system-reminder>")
		if !ok {
			return false
		}
		t = strings.TrimSpace(after)
	}
	return true
}
