package jsonfield

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

type member struct {
	key   string // raw key as Members reports it (escapes kept)
	value string // the value's bytes
}

func collect(t *testing.T, body string) []member {
	t.Helper()
	var got []member
	err := Members([]byte(body), func(key []byte, v Span) bool {
		got = append(got, member{string(key), body[v.Start:v.End]})
		return true
	})
	if err != nil {
		t.Fatalf("Members(%q): %v", body, err)
	}
	return got
}

func TestMembers(t *testing.T) {
	tests := []struct {
		name string
		body string
		want []member
	}{
		{"empty object", `{}`, nil},
		{"empty object with space", " \t\r\n{ \n } \n", nil},
		{"scalars", `{"a":1,"b":true,"c":null,"d":-1.5e+3,"e":"x"}`,
			[]member{{"a", "1"}, {"b", "true"}, {"c", "null"}, {"d", "-1.5e+3"}, {"e", `"x"`}}},
		{"whitespace everywhere", "\n{\n\t\"a\"\r\n :\t 1 \n,\n \"b\" : [ 1 , 2 ] \r\n}\n",
			[]member{{"a", "1"}, {"b", "[ 1 , 2 ]"}}},
		{"escaped quote and backslash in key", `{"a\"b\\":1,"c":2}`,
			[]member{{`a\"b\\`, "1"}, {"c", "2"}}},
		{"escaped quotes, braces and backslashes in values", `{"a":"x\"}\\","b":"\\\\","c":"\\\"]"}`,
			[]member{{"a", `"x\"}\\"`}, {"b", `"\\\\"`}, {"c", `"\\\"]"`}}},
		{"nested values with brackets inside strings", `{"a":{"b":["}",{"c":"]"}],"d":{}},"e":[[],{}]}`,
			[]member{{"a", `{"b":["}",{"c":"]"}],"d":{}}`}, {"e", `[[],{}]`}}},
		{"unicode escapes kept raw", `{"\u006dodel":"\u00e9"}`,
			[]member{{`\u006dodel`, `"\u00e9"`}}},
		{"non-ASCII bytes", `{"名前":"値","é":"ü"}`,
			[]member{{"名前", `"値"`}, {"é", `"ü"`}}},
		{"duplicates reported in order", `{"a":1,"a":2}`,
			[]member{{"a", "1"}, {"a", "2"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !json.Valid([]byte(tt.body)) {
				t.Fatalf("test input is not valid JSON: %s", tt.body)
			}
			got := collect(t, tt.body)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Members(%s)\n got %q\nwant %q", tt.body, got, tt.want)
			}
		})
	}
}

func TestMembersStopsEarly(t *testing.T) {
	var keys []string
	err := Members([]byte(`{"a":1,"b":2,"c":3}`), func(key []byte, _ Span) bool {
		keys = append(keys, string(key))
		return string(key) != "b"
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"a", "b"}; !reflect.DeepEqual(keys, want) {
		t.Errorf("visited %q, want %q", keys, want)
	}
}

func TestMembersRejectsNonObjects(t *testing.T) {
	for _, body := range []string{``, `   `, `[]`, `[{"model":"x"}]`, `"model"`, `null`, `1`, `true`} {
		err := Members([]byte(body), func([]byte, Span) bool { t.Errorf("%q: callback called", body); return true })
		if !errors.Is(err, ErrNotObject) {
			t.Errorf("Members(%q) = %v, want ErrNotObject", body, err)
		}
	}
}

func TestMembersTruncatedInputDoesNotPanic(t *testing.T) {
	// Members documents that it expects valid JSON, but a truncated body must
	// still give an error (or stop), never panic or loop.
	full := `{"a" : {"b":[1,"x\"y"]}, "model":"m", "n":12}`
	for i := 0; i < len(full); i++ {
		_ = Members([]byte(full[:i]), func([]byte, Span) bool { return true })
		_, _ = ReadRouting([]byte(full[:i]))
	}
	if err := Members([]byte(`{"a":1`), func([]byte, Span) bool { return true }); err == nil {
		t.Error("unterminated object: want an error")
	}
}

func TestReadRouting(t *testing.T) {
	tests := []struct {
		name       string
		body       string
		model      string
		hasModel   bool
		stream     bool
		hasStream  bool
		modelValue string // body[ModelSpan]
		wantErr    string
	}{
		{name: "plain", body: `{"model":"claude-sonnet-5-5","stream":true}`,
			model: "claude-sonnet-5-5", hasModel: true, stream: true, hasStream: true, modelValue: `"claude-sonnet-5-5"`},
		{name: "absent", body: `{"messages":[]}`},
		{name: "stream false", body: `{"stream":false,"model":"m"}`,
			model: "m", hasModel: true, hasStream: true, modelValue: `"m"`},
		{name: "stream null", body: `{"stream":null}`, hasStream: true},
		{name: "nested model and stream are ignored",
			body:  `{"metadata":{"model":"inner","stream":true},"tools":[{"model":"x"}],"model":"outer"}`,
			model: "outer", hasModel: true, modelValue: `"outer"`},
		{name: "model only nested", body: `{"a":{"model":"inner"},"b":["model","stream"]}`},
		{name: "key inside a string value", body: `{"x":"\"model\":\"evil\"","model":"good"}`,
			model: "good", hasModel: true, modelValue: `"good"`},
		{name: "whitespace", body: " {\n \"model\" \t:\r\n \"m\" ,\n\"stream\"  :  true\n}\n",
			model: "m", hasModel: true, stream: true, hasStream: true, modelValue: `"m"`},
		{name: "unicode escapes in model", body: `{"model":"claude\u002dopus\u00e9\ud83d\ude00"}`,
			model: "claude-opusé😀", hasModel: true, modelValue: `"claude\u002dopus\u00e9\ud83d\ude00"`},
		{name: "escaped quote and backslash in model", body: `{"model":"a\"b\\c"}`,
			model: `a"b\c`, hasModel: true, modelValue: `"a\"b\\c"`},
		{name: "escaped key is the same member", body: `{"mod\u0065l":"m","str\u0065am":true}`,
			model: "m", hasModel: true, stream: true, hasStream: true, modelValue: `"m"`},
		{name: "keys compare case-sensitively", body: `{"Model":"m","STREAM":true}`},
		{name: "duplicate model: last wins", body: `{"model":"first","x":1,"model":"second"}`,
			model: "second", hasModel: true, modelValue: `"second"`},
		{name: "duplicate stream: last wins", body: `{"stream":true,"stream":false}`, hasStream: true},
		{name: "duplicate stream: last wins (null)", body: `{"stream":true,"stream":null}`, hasStream: true},
		{name: "model not a string", body: `{"model":42}`, wantErr: "model"},
		{name: "model null", body: `{"model":null}`, wantErr: "model"},
		{name: "model object", body: `{"model":{"id":"x"}}`, wantErr: "model"},
		{name: "stream a string", body: `{"stream":"true"}`, wantErr: "stream"},
		{name: "stream a number", body: `{"stream":1}`, wantErr: "stream"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !json.Valid([]byte(tt.body)) {
				t.Fatalf("test input is not valid JSON: %s", tt.body)
			}
			r, err := ReadRouting([]byte(tt.body))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.Model != tt.model || r.HasModel != tt.hasModel || r.Stream != tt.stream || r.HasStream != tt.hasStream {
				t.Errorf("got model=%q has=%v stream=%v has=%v, want model=%q has=%v stream=%v has=%v",
					r.Model, r.HasModel, r.Stream, r.HasStream, tt.model, tt.hasModel, tt.stream, tt.hasStream)
			}
			if tt.hasModel {
				if got := tt.body[r.ModelSpan.Start:r.ModelSpan.End]; got != tt.modelValue {
					t.Errorf("body[ModelSpan] = %q, want %q", got, tt.modelValue)
				}
			}
		})
	}
}

func TestReadRoutingNotObject(t *testing.T) {
	if _, err := ReadRouting([]byte(`["model"]`)); !errors.Is(err, ErrNotObject) {
		t.Errorf("err = %v, want ErrNotObject", err)
	}
}

func TestReplaceKeepsEveryOtherByte(t *testing.T) {
	body := "{\n  \"system\": [{\"type\":\"text\",\"text\":\"a \\\"quoted\\\" \\\\ model\"}],\n" +
		"  \"model\" :\t\"claude-opus-5-5\" ,\n  \"unknown_field\": {\"keep\": [1, 2.50, 1e3]}, \"stream\":true }"
	r, err := ReadRouting([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	out := Replace([]byte(body), r.ModelSpan, QuoteString("claude-haiku-5-5"))
	want := strings.Replace(body, `"claude-opus-5-5"`, `"claude-haiku-5-5"`, 1)
	if string(out) != want {
		t.Errorf("Replace:\n got %s\nwant %s", out, want)
	}
	// The input is not modified.
	if !strings.Contains(body, "claude-opus-5-5") {
		t.Error("Replace modified its input")
	}
}

func TestReplaceSpanEdges(t *testing.T) {
	body := []byte(`0123456789`)
	for _, tt := range []struct {
		s    Span
		v    string
		want string
	}{
		{Span{0, 0}, "X", "X0123456789"},
		{Span{10, 10}, "X", "0123456789X"},
		{Span{0, 10}, "", ""},
		{Span{3, 5}, "ABCDEFG", "012ABCDEFG56789"},
		{Span{3, 5}, "", "01256789"},
	} {
		if got := string(Replace(body, tt.s, []byte(tt.v))); got != tt.want {
			t.Errorf("Replace(%v, %q) = %q, want %q", tt.s, tt.v, got, tt.want)
		}
		if got := string(bytes.Join(Splice(body, tt.s, []byte(tt.v)), nil)); got != tt.want {
			t.Errorf("Splice(%v, %q) = %q, want %q", tt.s, tt.v, got, tt.want)
		}
	}
	if string(body) != "0123456789" {
		t.Errorf("input modified: %q", body)
	}
}

func TestQuoteString(t *testing.T) {
	for in, want := range map[string]string{
		"m":          `"m"`,
		`a"b\c`:      `"a\"b\\c"`,
		"new\nline":  `"new\nline"`,
		"<tag>&":     `"\u003ctag\u003e\u0026"`,
		"é":          `"é"`,
		"bad\xffutf": `"bad\ufffdutf"`,
	} {
		if got := string(QuoteString(in)); got != want {
			t.Errorf("QuoteString(%q) = %s, want %s", in, got, want)
		}
	}
}

// refMember is one top-level member as encoding/json's tokenizer sees it:
// the decoded name and the raw value.
type refMember struct {
	name string
	raw  json.RawMessage
}

// referenceMembers walks the top-level object with encoding/json, an
// implementation independent of the one under test. ok is false when body
// is not an object.
func referenceMembers(t *testing.T, body []byte) (ms []refMember, ok bool) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber() // 1e400 is valid JSON but no float64
	tok, err := dec.Token()
	if err != nil {
		t.Fatalf("reference decoder on valid JSON: %v", err)
	}
	if d, isDelim := tok.(json.Delim); !isDelim || d != '{' {
		return nil, false
	}
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			t.Fatalf("reference decoder: %v", err)
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			t.Fatalf("reference decoder: %v", err)
		}
		ms = append(ms, refMember{kt.(string), raw})
	}
	return ms, true
}

func FuzzReadRouting(f *testing.F) {
	// More seeds are in testdata/fuzz/FuzzReadRouting.
	f.Add([]byte(`{"model":"m","stream":true}`))
	f.Add([]byte(`{"mod\u0065l":"x","stream":false,"stream":true}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		if !json.Valid(body) {
			_, _ = ReadRouting(body) // must not panic on anything
			return
		}
		r, err := ReadRouting(body)
		ms, isObject := referenceMembers(t, body)
		if !isObject {
			if !errors.Is(err, ErrNotObject) {
				t.Fatalf("non-object %q: err = %v, want ErrNotObject", body, err)
			}
			return
		}
		// What encoding/json implies: an error iff some "model" is not a
		// string or some "stream" is not a boolean (or null); otherwise the
		// last occurrence of each wins.
		var wantErr bool
		var lastModel, lastStream json.RawMessage
		for _, m := range ms {
			switch m.name {
			case "model":
				if m.raw[0] != '"' {
					wantErr = true
				}
				lastModel = m.raw
			case "stream":
				switch string(m.raw) {
				case "true", "false", "null":
				default:
					wantErr = true
				}
				lastStream = m.raw
			}
		}
		if wantErr {
			if err == nil {
				t.Fatalf("%q: want an error, got %+v", body, r)
			}
			return
		}
		if err != nil {
			t.Fatalf("%q: unexpected error %v", body, err)
		}
		if r.HasModel != (lastModel != nil) {
			t.Fatalf("%q: HasModel = %v", body, r.HasModel)
		}
		if lastModel != nil {
			var want string
			if err := json.Unmarshal(lastModel, &want); err != nil {
				t.Fatal(err)
			}
			if r.Model != want {
				t.Fatalf("%q: Model = %q, encoding/json says %q", body, r.Model, want)
			}
			if got := body[r.ModelSpan.Start:r.ModelSpan.End]; !bytes.Equal(got, lastModel) {
				t.Fatalf("%q: body[ModelSpan] = %q, want %q", body, got, lastModel)
			}
		}
		if r.HasStream != (lastStream != nil) || r.Stream != (string(lastStream) == "true") {
			t.Fatalf("%q: HasStream=%v Stream=%v, last stream member %q", body, r.HasStream, r.Stream, lastStream)
		}
		if lastStream != nil {
			if got := body[r.StreamSpan.Start:r.StreamSpan.End]; !bytes.Equal(got, lastStream) {
				t.Fatalf("%q: body[StreamSpan] = %q, want %q", body, got, lastStream)
			}
		}

		// And agree with decoding into a struct. encoding/json matches
		// struct field names case-insensitively ("MODEL" fills Model), which
		// upstream APIs do not, so compare only when no other spelling occurs.
		for _, m := range ms {
			if (strings.EqualFold(m.name, "model") && m.name != "model") ||
				(strings.EqualFold(m.name, "stream") && m.name != "stream") {
				return
			}
		}
		var s struct {
			Model  *string
			Stream *bool
		}
		if err := json.Unmarshal(body, &s); err != nil {
			t.Fatalf("%q: encoding/json failed where ReadRouting did not: %v", body, err)
		}
		if s.Model != nil && (!r.HasModel || *s.Model != r.Model) {
			t.Fatalf("%q: struct Model = %q, ReadRouting %+v", body, *s.Model, r)
		}
		if s.Model == nil && r.HasModel {
			t.Fatalf("%q: struct has no Model, ReadRouting found %q", body, r.Model)
		}
		if (s.Stream != nil && *s.Stream) != r.Stream {
			t.Fatalf("%q: struct Stream = %v, ReadRouting %v", body, s.Stream, r.Stream)
		}
	})
}

func FuzzReplace(f *testing.F) {
	f.Add([]byte(`{"model":"claude-opus-5-5","max_tokens":1024,"messages":[{"role":"user","content":"hi"}]}`), "claude-haiku-5-5")
	f.Add([]byte(` { "a" : [ "model" ] , "model" : "x\"y" , "z" : { } } `), `new "quoted" \ model`)
	f.Add([]byte(`{"model":"a","model":"b"}`), "é\u2028\x00")
	f.Add([]byte(`{"m\u006fdel":"a"}`), "bad\xffutf8")
	f.Fuzz(func(t *testing.T, body []byte, newModel string) {
		if !json.Valid(body) {
			return
		}
		r, err := ReadRouting(body)
		if err != nil || !r.HasModel {
			return
		}
		quoted, err := json.Marshal(newModel)
		if err != nil {
			t.Fatal(err)
		}
		var want string
		if err := json.Unmarshal(quoted, &want); err != nil {
			t.Fatal(err)
		}
		out := Replace(body, r.ModelSpan, QuoteString(newModel))
		if !json.Valid(out) {
			t.Fatalf("Replace made invalid JSON: %q", out)
		}
		// Bytes outside the span are untouched.
		if !bytes.Equal(out[:r.ModelSpan.Start], body[:r.ModelSpan.Start]) ||
			!bytes.Equal(out[len(out)-(len(body)-r.ModelSpan.End):], body[r.ModelSpan.End:]) {
			t.Fatalf("bytes outside the model span changed:\n in %q\nout %q", body, out)
		}
		var before, after map[string]any
		if err := json.Unmarshal(body, &before); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(out, &after); err != nil {
			t.Fatal(err)
		}
		if after["model"] != want {
			t.Fatalf("model after Replace = %#v, want %q", after["model"], want)
		}
		delete(before, "model")
		delete(after, "model")
		if !reflect.DeepEqual(before, after) {
			t.Fatalf("other members changed:\nbefore %v\n after %v", before, after)
		}
		r2, err := ReadRouting(out)
		if err != nil || r2.Model != want || r2.Stream != r.Stream {
			t.Fatalf("ReadRouting after Replace = %+v, %v; want model %q", r2, err, want)
		}
	})
}

func TestMember(t *testing.T) {
	tests := []struct {
		body, key, want string
		ok              bool
	}{
		{`{"a":1,"b":[2]}`, "b", "[2]", true},
		{`{"a":1,"a":{"x":2}}`, "a", `{"x":2}`, true}, // the last one, as a parser keeps
		{`{"m\u0065ssages":[]}`, "messages", "[]", true},
		{`{"outer":{"b":1}}`, "b", "", false}, // top level only
		{`{"a":1}`, "A", "", false},           // names are case-sensitive
		{`[{"a":1}]`, "a", "", false},
		{`"a"`, "a", "", false},
	}
	for _, tt := range tests {
		span, ok := Member([]byte(tt.body), tt.key)
		if ok != tt.ok || (ok && tt.body[span.Start:span.End] != tt.want) {
			t.Errorf("Member(%s, %q) = %v %q, want %v %q", tt.body, tt.key, ok, tt.body[span.Start:span.End], tt.ok, tt.want)
		}
	}
}

func TestElementsAndJoinArray(t *testing.T) {
	tests := []struct {
		body string
		want []string
	}{
		{`[]`, nil},
		{" [ ] ", nil},
		{`[1,"a,]",{"b":[1,2]},[],null]`, []string{"1", `"a,]"`, `{"b":[1,2]}`, "[]", "null"}},
		{"[\n 1 ,\t\"x\\\"\" \r\n]", []string{"1", `"x\""`}},
	}
	for _, tt := range tests {
		spans, err := Elements([]byte(tt.body))
		if err != nil {
			t.Fatalf("Elements(%q): %v", tt.body, err)
		}
		var got []string
		var els [][]byte
		for _, s := range spans {
			got = append(got, tt.body[s.Start:s.End])
			els = append(els, []byte(tt.body[s.Start:s.End]))
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Elements(%q) = %q, want %q", tt.body, got, tt.want)
		}
		if joined := JoinArray(els); !json.Valid(joined) || len(spans) != len(referenceElements(t, joined)) {
			t.Errorf("JoinArray(%q) = %s", got, joined)
		}
	}
	for _, body := range []string{`{"a":1}`, `"[]"`, ``, `  `} {
		if _, err := Elements([]byte(body)); !errors.Is(err, ErrNotArray) {
			t.Errorf("Elements(%q) error = %v, want ErrNotArray", body, err)
		}
	}
}

// referenceElements splits a valid JSON array with encoding/json.
func referenceElements(t *testing.T, body []byte) []json.RawMessage {
	t.Helper()
	var els []json.RawMessage
	if err := json.Unmarshal(body, &els); err != nil {
		t.Fatalf("reference decoder: %v", err)
	}
	return els
}

// Elements agrees with encoding/json on valid arrays and never panics.
func FuzzElements(f *testing.F) {
	f.Add([]byte(`[1,"a,]",{"b":[1,2]},[],null]`))
	f.Add([]byte(" [ \"\\\\\" , [ [ ] ] ] "))
	f.Add([]byte(`[{"role":"assistant","content":[{"type":"thinking","signature":"S"}]}]`))
	f.Add([]byte(`[1,`))
	f.Fuzz(func(t *testing.T, body []byte) {
		spans, err := Elements(body)
		if !json.Valid(body) {
			return // anything but a panic
		}
		var probe any
		_ = json.Unmarshal(body, &probe)
		if _, isArray := probe.([]any); !isArray {
			if !errors.Is(err, ErrNotArray) {
				t.Fatalf("non-array %q: err = %v", body, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("%q: %v", body, err)
		}
		ref := referenceElements(t, body)
		if len(spans) != len(ref) {
			t.Fatalf("%q: %d elements, encoding/json has %d", body, len(spans), len(ref))
		}
		els := make([][]byte, len(spans))
		for i, s := range spans {
			els[i] = body[s.Start:s.End]
			if !bytes.Equal(els[i], ref[i]) {
				t.Fatalf("%q: element %d = %q, encoding/json %q", body, i, els[i], ref[i])
			}
		}
		if joined := JoinArray(els); !json.Valid(joined) {
			t.Fatalf("JoinArray made invalid JSON %q", joined)
		}
	})
}

func TestSpliceSharesWithoutExposing(t *testing.T) {
	body := []byte(`{"model":"a","x":1}`)
	parts := Splice(body, Span{9, 12}, []byte(`"bb"`))
	if &parts[2][0] != &body[12] {
		t.Error("the tail was copied, want it shared with the body")
	}
	_ = append(parts[0], "XXX"...) // a careless append must not write into the body
	if string(body) != `{"model":"a","x":1}` {
		t.Errorf("body modified: %s", body)
	}
}

func TestSpliceString(t *testing.T) {
	body := []byte(`{"model":"a","stream":true}`)
	span, _ := Member(body, "model")
	join := func(p [][]byte) string { return string(bytes.Join(p, nil)) }
	if got := SpliceString(body, body, span, "model", "b"); join(got) != `{"model":"b","stream":true}` || &got[2][0] != &body[12] {
		t.Errorf("rename of the body itself = %q, want the tail shared", join(got))
	}
	if got := SpliceString(body, body, span, "model", "a"); len(got) != 1 || &got[0][0] != &body[0] {
		t.Errorf("same model: %d parts, want the body alone", len(got))
	}
	// An edited copy has the model elsewhere: the span is looked up again.
	edited := []byte(`{"x":[1,2,3],"model":"a","stream":true}`)
	if got := join(SpliceString(body, edited, span, "model", "b")); got != `{"x":[1,2,3],"model":"b","stream":true}` {
		t.Errorf("rename of an edited copy = %s", got)
	}
	if got := join(SpliceString(body, []byte(`{"x":1}`), span, "model", "b")); got != `{"x":1}` {
		t.Errorf("copy without the member = %s, want it unchanged", got)
	}
}
