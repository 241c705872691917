package evaldata

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cascadeflow/cascadeflow-operator/proxy/audit"
	"github.com/cascadeflow/cascadeflow-operator/proxy/calibrate"
	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
	"github.com/cascadeflow/cascadeflow-operator/proxy/routequality"
)

// conversation renders msgs as the proxy's exporter does.
func conversation(msgs ...Message) string {
	req := &llm.Request{}
	for _, m := range msgs {
		req.Messages = append(req.Messages, llm.Message{Role: llm.Role(m.Role), Content: []llm.Block{{Type: llm.BlockText, Text: m.Content}}})
	}
	return audit.Conversation(req)
}

// testSamples are one rule's samples as the proxy exports them: two
// labelled with texts (a good and a bad draft), then one of each kind the
// reader skips.
func testSamples() []routequality.Sample {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	multi := conversation(Message{"user", "hello"}, Message{"assistant", "Hi.\nHow can I help?"}, Message{"user", "Capital of France?"})
	return []routequality.Sample{
		{Sample: calibrate.Sample{Score: 0.9, Labelled: true, Good: true}, Time: at, Rule: "chat", Pod: "p", Seq: 1, Outcome: "accepted",
			Comparer: "judge", DraftCost: 0.001, Prompt: multi, DraftText: "Paris.", VerifierText: "Paris is the capital."},
		{Sample: calibrate.Sample{Score: 0.2, Labelled: true, Good: false}, Rule: "chat", Pod: "p", Seq: 2, Outcome: "escalated",
			DraftCost: 0.001, VerifierCost: 0.02, Prompt: conversation(Message{"user", "Write a haiku."}), DraftText: "No.", VerifierText: "Leaves fall."},
		{Sample: calibrate.Sample{Score: 0.5}, Rule: "chat", Pod: "p", Seq: 3, Outcome: "accepted",
			Prompt: conversation(Message{"user", "unlabelled"}), DraftText: "a", VerifierText: "b"},
		{Sample: calibrate.Sample{Score: 0.5, Labelled: true, Good: true}, Rule: "chat", Pod: "p", Seq: 4, Outcome: "accepted"},
		{Sample: calibrate.Sample{Score: 0.5, Labelled: true, Good: true}, Rule: "chat", Pod: "p", Seq: 5, Outcome: "accepted",
			Prompt: multi, DraftText: "Paris!", VerifierText: "Paris."},
	}
}

func writeSamples(t *testing.T, samples []routequality.Sample) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := routequality.WriteSamples(&b, samples); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestDecodeSamplesTurnsLabelledSamplesIntoRows(t *testing.T) {
	s, err := DecodeSamples(bytes.NewReader(writeSamples(t, testSamples())), "samples.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if s.Rule != "chat" || s.Total != 5 || len(s.Rows) != 2 {
		t.Fatalf("rule %q, %d samples, %d rows; want chat, 5, 2", s.Rule, s.Total, len(s.Rows))
	}
	want := map[string]int{SkipUnlabelled: 1, SkipNoText: 1, SkipRepeated: 1}
	if !reflect.DeepEqual(s.Skipped, want) {
		t.Errorf("skipped %v, want %v", s.Skipped, want)
	}
	good, bad := s.Rows[0], s.Rows[1]
	wantMsgs := []Message{{"user", "hello"}, {"assistant", "Hi.\nHow can I help?"}, {"user", "Capital of France?"}}
	if !reflect.DeepEqual(good.Messages, wantMsgs) {
		t.Errorf("messages %q, want %q", good.Messages, wantMsgs)
	}
	if good.Draft.Score != 1 || good.Verifier.Score != 1 || bad.Draft.Score != 0 || bad.Verifier.Score != 1 {
		t.Errorf("scores good %v/%v bad %v/%v, want 1/1 and 0/1", good.Draft.Score, good.Verifier.Score, bad.Draft.Score, bad.Verifier.Score)
	}
	if good.Draft.Text != "Paris." || good.Verifier.Text != "Paris is the capital." || bad.Messages[0].Content != "Write a haiku." {
		t.Errorf("texts not carried over: %+v", good)
	}
	for _, r := range s.Rows {
		if r.Source != SamplesSource || r.Pair != PairOf("chat draft", "chat verifier") || r.File != "samples.jsonl" {
			t.Errorf("row %s: source %q pair %q file %q", r.ID, r.Source, r.Pair, r.File)
		}
	}
	if good.ID == bad.ID {
		t.Errorf("rows share id %q", good.ID)
	}
	// Priced per estimated token at the recorded costs: the draft's over
	// both rows, the verifier's over the escalated one.
	if !s.PricedFromCosts {
		t.Fatal("not priced from the samples' costs")
	}
	dTok := PromptTokens(good.Messages) + EstimateTokens("Paris.") + PromptTokens(bad.Messages) + EstimateTokens("No.")
	vTok := PromptTokens(bad.Messages) + EstimateTokens("Leaves fall.")
	if d, v := s.Prices["chat draft"].Output, s.Prices["chat verifier"].Output; !near(d, 1e6*0.002/float64(dTok)) || !near(v, 1e6*0.02/float64(vTok)) {
		t.Errorf("prices %v, %v; want %v, %v", d, v, 1e6*0.002/float64(dTok), 1e6*0.02/float64(vTok))
	}
}

func near(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }

func TestDecodeSamplesDefaultsPricesWithoutCosts(t *testing.T) {
	ss := testSamples()
	for i := range ss {
		ss[i].DraftCost, ss[i].VerifierCost = 0, 0
	}
	s, err := DecodeSamples(bytes.NewReader(writeSamples(t, ss)), "s.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if s.PricedFromCosts || s.Prices["chat draft"] != DefaultSamplePrices[0] || s.Prices["chat verifier"] != DefaultSamplePrices[1] {
		t.Errorf("prices %v (from costs %v), want the defaults", s.Prices, s.PricedFromCosts)
	}
}

func TestDecodeSamplesRejects(t *testing.T) {
	other := testSamples()
	other[1].Rule = "other"
	none := testSamples()[2:4]
	for name, b := range map[string][]byte{
		"two rules":   writeSamples(t, other),
		"no row":      writeSamples(t, none),
		"not json":    []byte("{\"rule\": \n"),
		"empty input": nil,
	} {
		if _, err := DecodeSamples(bytes.NewReader(b), "x.jsonl"); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestIsSamplesFile(t *testing.T) {
	dir := t.TempDir()
	samples, pairs := filepath.Join(dir, "samples.jsonl"), filepath.Join(dir, "pairs.jsonl")
	writeFile(t, samples, "\n"+string(writeSamples(t, testSamples())))
	writeFile(t, pairs, oneLine(devLine)+"\n")
	if ok, err := IsSamplesFile(samples); !ok || err != nil {
		t.Errorf("samples file: %v, %v", ok, err)
	}
	if ok, err := IsSamplesFile(pairs); ok || err != nil {
		t.Errorf("pairs file: %v, %v", ok, err)
	}
	if _, err := IsSamplesFile(filepath.Join(dir, "absent")); err == nil {
		t.Error("absent file: no error")
	}
	s, err := ReadSamplesFile(samples)
	if err != nil || len(s.Rows) != 2 || s.Rows[0].File != "samples.jsonl" {
		t.Errorf("ReadSamplesFile: %v, %+v", err, s)
	}
	_ = os.Remove(samples)
}

func TestParseConversation(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []Message
	}{
		{conversation(Message{"user", "a\n\nb"}), []Message{{"user", "a\n\nb"}}},
		{conversation(Message{"user", "q"}, Message{"assistant", "[tool call] f {}"}, Message{"user", "[tool result]\nok"}),
			[]Message{{"user", "q"}, {"assistant", "[tool call] f {}"}, {"user", "[tool result]\nok"}}},
		{"no header at all", []Message{{"user", "no header at all"}}},
		{"", []Message{{"user", ""}}},
		{"lead\n[assistant]\nx", []Message{{"user", "lead"}, {"assistant", "x"}}},
	} {
		if got := ParseConversation(c.in); !reflect.DeepEqual(got, c.want) {
			t.Errorf("ParseConversation(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// FuzzParseConversation: a conversation whose turns hold no role line and
// no trailing newline parses back to its messages; any input parses to at
// least one message without panicking.
func FuzzParseConversation(f *testing.F) {
	f.Add("hello", "Hi.\nthere", "q?")
	f.Add("[user]", "", "x\n")
	f.Add("a\n[assistant]\nb", "c", "")
	f.Fuzz(func(t *testing.T, a, b, c string) {
		msgs := []Message{{"user", a}, {"assistant", b}, {"user", c}}
		if got := ParseConversation(strings.Join([]string{a, b, c}, "\n")); len(got) == 0 {
			t.Fatal("no message")
		}
		var kept []Message
		for _, m := range msgs {
			if m.Content == "" || strings.TrimRight(m.Content, "\n") != m.Content || strings.Contains(m.Content, "\r") {
				return
			}
			for _, l := range strings.Split(m.Content, "\n") {
				if _, ok := roleHeader(l); ok {
					return
				}
			}
			kept = append(kept, m)
		}
		if got := ParseConversation(conversation(kept...)); !reflect.DeepEqual(got, kept) {
			t.Errorf("round trip %q -> %q", kept, got)
		}
	})
}

// FuzzDecodeSamples: any input is rows or an error, never a panic, and rows
// always have messages and both answers.
func FuzzDecodeSamples(f *testing.F) {
	var b bytes.Buffer
	_ = routequality.WriteSamples(&b, testSamples())
	f.Add(b.Bytes())
	f.Add([]byte(`{"rule":"r","outcome":"accepted","labelled":true,"prompt":"[user]\n","draftText":"a","verifierText":"b"}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		s, err := DecodeSamples(bytes.NewReader(in), "f.jsonl")
		if err != nil {
			return
		}
		for _, r := range s.Rows {
			if len(r.Messages) == 0 || r.Draft.Text == "" || r.Verifier.Text == "" {
				t.Fatalf("row %+v", r)
			}
		}
	})
}
