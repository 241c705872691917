package evaldata

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/cascadeflow/cascadeflow-operator/proxy/routequality"
	"github.com/cascadeflow/cascadeflow-operator/proxy/rules"
)

// SamplesSource is the source of every row read from a samples export.
const SamplesSource = "samples"

// DefaultSamplePrices price a samples export whose costs are missing (a rule
// without prices records none): the dev pair's, USD per million tokens.
var DefaultSamplePrices = [2]rules.Price{Prices[DevDraftModel], Prices[DevVerifierModel]}

// SampleRows are the rows of a rule's quality samples export (GET
// /api/quality/samples?rule=NAME on the proxy's admin listener, one
// routequality.Sample per line) and how they are priced.
type SampleRows struct {
	Rule string
	Rows []Row
	// Prices holds the rule's draft and verifier models (Row.Draft.Model,
	// Row.Verifier.Model); PricedFromCosts says they were derived from the
	// samples' recorded costs, not DefaultSamplePrices.
	Prices          map[string]rules.Price
	PricedFromCosts bool
	// Skipped counts the samples left out, by reason.
	Skipped map[string]int
	Total   int
}

// Reasons a sample is left out.
const (
	SkipUnlabelled = "unlabelled"
	SkipNoText     = "no prompt, draft or verifier text (quality.audit.keepText off)"
	SkipRepeated   = "prompt repeats an earlier sample's"
)

// IsSamplesFile says whether path is a samples export rather than a
// cascade-eval pairs file: its first non-blank line is a JSON object with a
// "rule" and an "outcome" and no "messages".
func IsSamplesFile(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, fmt.Errorf("open eval data: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 1<<20), maxLine)
	for sc.Scan() {
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var keys map[string]json.RawMessage
		if json.Unmarshal(b, &keys) != nil {
			return false, nil
		}
		_, rule := keys["rule"]
		_, outcome := keys["outcome"]
		_, msgs := keys["messages"]
		return rule && outcome && !msgs, nil
	}
	return false, sc.Err()
}

// ReadSamplesFile reads a samples export; see DecodeSamples.
func ReadSamplesFile(path string) (*SampleRows, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open samples: %w", err)
	}
	defer f.Close()
	s, err := DecodeSamples(f, filepath.Base(path))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return s, nil
}

// DecodeSamples turns a rule's samples (JSON Lines written by
// routequality.WriteSamples) into rows: each labelled sample with its
// prompt, draft and verifier texts is one row whose verifier answer scores
// 1 and whose draft scores 1 when the audit found it good, else 0. The
// others are skipped and counted, as are repeats of a prompt (the replay
// answers a prompt one way). The file must hold one rule's samples.
//
// The prompt is parsed back from audit.Conversation's rendering ("[role]"
// lines, then the turn's text); the system prompt is not recorded, tool
// calls and results stay as the text the judge read, and a turn whose text
// holds a line "[user]" or "[assistant]" is split there.
//
// The models are named after the rule and priced per estimated token
// (EstimateTokens, as the replay counts) at the samples' own recorded
// costs: the draft's over its calls (second opinions included), the
// verifier's over the escalated samples. Without costs for either, both
// take DefaultSamplePrices.
func DecodeSamples(r io.Reader, file string) (*SampleRows, error) {
	samples, err := routequality.ReadSamples(r)
	if err != nil {
		return nil, err
	}
	out := &SampleRows{Skipped: map[string]int{}, Total: len(samples)}
	seen, ids := map[string]bool{}, map[string]bool{}
	var draftUSD, verifierUSD float64
	var draftTok, verifierTok int
	for i, s := range samples {
		if out.Rule == "" {
			out.Rule = s.Rule
		}
		if s.Rule != out.Rule {
			return nil, fmt.Errorf("sample %d is of rule %q, the file's first of %q: export one rule per file (?rule=NAME)", i+1, s.Rule, out.Rule)
		}
		switch {
		case !s.Labelled:
			out.Skipped[SkipUnlabelled]++
			continue
		case strings.TrimSpace(s.Prompt) == "" || s.DraftText == "" || s.VerifierText == "":
			out.Skipped[SkipNoText]++
			continue
		case seen[s.Prompt]:
			out.Skipped[SkipRepeated]++
			continue
		}
		seen[s.Prompt] = true
		draftModel, verifierModel := s.Rule+" draft", s.Rule+" verifier"
		id := fmt.Sprintf("%d", i+1)
		switch {
		case s.Pod != "":
			id = fmt.Sprintf("%s-%d", s.Pod, s.Seq)
		case s.Seq != 0:
			id = fmt.Sprintf("%d", s.Seq)
		}
		if ids[id] {
			id = fmt.Sprintf("%s#%d", id, i+1)
		}
		ids[id] = true
		draftScore := 0.0
		if s.Good {
			draftScore = 1
		}
		row := Row{File: file, Pair: PairOf(draftModel, verifierModel),
			ID: id, Source: SamplesSource, Category: s.Outcome, Turn: 1, Group: id,
			ScoreKind: "audit", Judge: "the proxy's audit (" + comparerName(s.Comparer) + "): verifier 1, draft 1 if as good else 0",
			Messages: ParseConversation(s.Prompt),
			Draft:    Answer{Model: draftModel, Text: s.DraftText, Score: draftScore},
			Verifier: Answer{Model: verifierModel, Text: s.VerifierText, Score: 1}}
		row.Question = row.Messages[len(row.Messages)-1].Content
		in := PromptTokens(row.Messages)
		if s.DraftCost > 0 {
			draftUSD += s.DraftCost
			draftTok += in + EstimateTokens(s.DraftText)
		}
		if s.VerifierCost > 0 {
			verifierUSD += s.VerifierCost
			verifierTok += in + EstimateTokens(s.VerifierText)
		}
		out.Rows = append(out.Rows, row)
	}
	if len(out.Rows) == 0 {
		return nil, fmt.Errorf("no labelled sample with texts among %d (skipped: %v)", len(samples), out.Skipped)
	}
	d, v := DefaultSamplePrices[0], DefaultSamplePrices[1]
	if draftTok > 0 && verifierTok > 0 {
		dp, vp := 1e6*draftUSD/float64(draftTok), 1e6*verifierUSD/float64(verifierTok)
		d, v = rules.Price{Input: dp, Output: dp}, rules.Price{Input: vp, Output: vp}
		out.PricedFromCosts = true
	}
	out.Prices = map[string]rules.Price{out.Rows[0].Draft.Model: d, out.Rows[0].Verifier.Model: v}
	return out, nil
}

func comparerName(c string) string {
	if c == "" {
		return "comparer unrecorded"
	}
	return c
}

// roleHeader reads a line of audit.Conversation that opens a turn.
func roleHeader(line string) (string, bool) {
	switch line {
	case "[user]":
		return "user", true
	case "[assistant]":
		return "assistant", true
	}
	return "", false
}

// ParseConversation parses audit.Conversation's rendering of a request's
// messages ("[role]\ntext" per turn) back into messages. Text before the
// first role line, or a prompt with none, is a user message.
func ParseConversation(prompt string) []Message {
	var msgs []Message
	var text []string
	role, open := "user", false
	flush := func() {
		t := strings.Join(text, "\n")
		if open || strings.TrimSpace(t) != "" {
			msgs = append(msgs, Message{Role: role, Content: t})
		}
		text = text[:0]
	}
	for _, line := range strings.Split(prompt, "\n") {
		if r, ok := roleHeader(line); ok {
			flush()
			role, open = r, true
			continue
		}
		text = append(text, line)
	}
	flush()
	if len(msgs) == 0 {
		msgs = []Message{{Role: "user", Content: prompt}}
	}
	return msgs
}
