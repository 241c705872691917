package turn

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"os"
	"testing"
)

// testdata/claudecode-session.jsonl.gz is one whole Claude Code session as
// the CLI (2.1.332) sent it, recorded by the session benchmark
// (make bench-sessions SESSION_RECORD=...): four user prompts, one CLI run
// each (--continue after the first), each a tool loop Read → Bash → Edit →
// answer served by the per-turn cascade (its first and third turns by the
// draft, the others escalated). Each line is a request body with where it
// stood, known from the driving side: the CLI run (turn) and the request's
// index within it (0 is the prompt, later ones carry tool results).

type recorded struct {
	Turn  int             `json:"turn"`
	Index int             `json:"index"`
	Body  json.RawMessage `json:"body"`
}

func loadSession(t *testing.T) []recorded {
	t.Helper()
	f, err := os.Open("testdata/claudecode-session.jsonl.gz")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(zr)
	sc.Buffer(make([]byte, 0, 1<<20), 8<<20)
	var out []recorded
	for sc.Scan() {
		var r recorded
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(out) < 8 {
		t.Fatalf("%d recorded requests, want a session of several turns", len(out))
	}
	return out
}

// Every request of the recorded session: the prompt starts its turn, every
// tool-result step continues it; one conversation key throughout, one turn
// key per CLI run, a different one for each run.
func TestRecordedSession(t *testing.T) {
	reqs := loadSession(t)
	var conv Key
	turns := map[int]Key{}
	owner := map[Key]int{}
	for i, r := range reqs {
		info := Classify(r.Body)
		want := Continue
		if r.Index == 0 {
			want = Start
		}
		if info.Kind != want {
			t.Errorf("request %d (turn %d, step %d): %v, want %v", i, r.Turn, r.Index, info.Kind, want)
			continue
		}
		if i == 0 {
			conv = info.Conversation
		}
		if info.Conversation.IsZero() || info.Conversation != conv {
			t.Errorf("request %d (turn %d, step %d): conversation %s, want %s throughout", i, r.Turn, r.Index, info.Conversation.Short(), conv.Short())
		}
		if k, ok := turns[r.Turn]; ok && k != info.Turn {
			t.Errorf("request %d: turn key %s changed within turn %d (was %s)", i, info.Turn.Short(), r.Turn, k.Short())
		}
		turns[r.Turn] = info.Turn
		if o, ok := owner[info.Turn]; ok && o != r.Turn {
			t.Errorf("request %d: turn %d has the key of turn %d", i, r.Turn, o)
		}
		owner[info.Turn] = r.Turn
	}
	if len(turns) < 3 {
		t.Errorf("%d turns in the recording", len(turns))
	}
}
