package teams

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func memoryAt(now time.Time) *Memory {
	m := NewMemory()
	m.now = fixedClock(now)
	return m
}

// Spend committed before a restart still counts after it: a hard budget
// spent down stays spent, and the rate-limit window keeps its count.
func TestMemoryFileKeepsSpendAcrossRestart(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "limits.json")
	id := &Identity{Name: "alice", Team: "payments", Limits: Limits{Budget: &Budget{USD: 5, Period: Day, Enforcement: Hard}, RequestsPerMinute: 3},
		TeamBudget: &Budget{USD: 100, Period: Month, Enforcement: Hard}}

	mem := memoryAt(now0)
	f := &MemoryFile{Path: path, Store: mem}
	if restored, err := f.Load(); err != nil || restored {
		t.Fatalf("first start: restored %v, %v", restored, err)
	}
	l, _ := newTestLimiter(mem, now0)
	for range 2 {
		lease, err := l.Admit(ctx, id, "m", "", Estimate{USD: 1})
		if err != nil {
			t.Fatal(err)
		}
		lease.Commit(ctx, Usage{USD: 1.5})
	}
	if err := f.Save(); err != nil {
		t.Fatal(err)
	}
	if info, err := os.Stat(path); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("state file: %v, mode %v", err, info.Mode())
	}

	// The restarted proxy, a few seconds later in the same minute.
	later := now0.Add(5 * time.Second)
	mem2 := memoryAt(later)
	f2 := &MemoryFile{Path: path, Store: mem2}
	if restored, err := f2.Load(); err != nil || !restored {
		t.Fatalf("restart: restored %v, %v", restored, err)
	}
	l2, _ := newTestLimiter(mem2, later)
	states, err := l2.Budgets(ctx, []*Identity{id})
	if err != nil {
		t.Fatal(err)
	}
	if len(states) != 2 || states[0].SpentUSD != 3 || states[0].InFlightUSD != 0 || states[1].SpentUSD != 3 {
		t.Fatalf("budgets after restart %+v, want $3 spent by the key and the team", states)
	}
	if _, err := l2.Admit(ctx, id, "m", "", Estimate{USD: 2.5}); refusal(t, err).Reason != ReasonBudget {
		t.Error("$3 of $5 spent before the restart, $2.50 more must be refused")
	}
	lease, err := l2.Admit(ctx, id, "m", "", Estimate{USD: 1})
	if err != nil {
		t.Fatalf("the third request of the minute: %v", err)
	}
	lease.Commit(ctx, Usage{USD: 0.5})
	if _, err := l2.Admit(ctx, id, "m", "", Estimate{USD: 0.1}); refusal(t, err).Reason != ReasonRequests {
		t.Error("the minute's two requests before the restart must count against 3 per minute")
	}
}

func TestMemoryFileDropsExpiredCounters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "limits.json")
	mem := memoryAt(now0)
	f := &MemoryFile{Path: path, Store: mem}
	_, _ = f.Load()
	_ = mem.Add(context.Background(), []Delta{{Key: "cascadeflow:a", Amount: 7, TTL: time.Minute}, {Key: "cascadeflow:b", Amount: 9, TTL: time.Hour}})
	if err := f.Save(); err != nil {
		t.Fatal(err)
	}
	mem2 := memoryAt(now0.Add(10 * time.Minute))
	if _, err := (&MemoryFile{Path: path, Store: mem2}).Load(); err != nil {
		t.Fatal(err)
	}
	v, _ := mem2.Get(context.Background(), []string{"cascadeflow:a", "cascadeflow:b"})
	if v[0] != 0 || v[1] != 9 {
		t.Errorf("counters %v, want [0 9] (a expired)", v)
	}
	if len(mem2.m) != 1 {
		t.Errorf("%d counters held, want the live one only", len(mem2.m))
	}
}

// A corrupt file is an error that says what happened, is moved aside (not
// lost, not overwritten), and counting goes on from zero.
func TestMemoryFileCorrupt(t *testing.T) {
	for name, content := range map[string]string{
		"not JSON":      "{\"version\":1,\"counters\":{\"cascadeflow:x\":",
		"other version": `{"version":2,"counters":{}}`,
		"foreign key":   `{"version":1,"counters":{"session:x":{"value":1}}}`,
		"wrong type":    `{"version":1,"counters":{"cascadeflow:x":{"value":"many"}}}`,
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "limits.json")
			if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			mem := memoryAt(now0)
			f := &MemoryFile{Path: path, Store: mem}
			restored, err := f.Load()
			if err == nil || restored || !strings.Contains(err.Error(), "moved aside") || !strings.Contains(err.Error(), path) {
				t.Fatalf("Load: restored %v, %v", restored, err)
			}
			aside, _ := filepath.Glob(path + ".corrupt-*")
			if len(aside) != 1 {
				t.Fatalf("moved-aside files %v", aside)
			}
			if b, _ := os.ReadFile(aside[0]); string(b) != content {
				t.Error("the moved-aside file is not the corrupt one")
			}
			_ = mem.Add(context.Background(), []Delta{{Key: "cascadeflow:y", Amount: 2}})
			if err := f.Save(); err != nil {
				t.Fatalf("saving after a corrupt file: %v", err)
			}
			if _, err := decodeMemoryState(mustRead(t, path)); err != nil {
				t.Errorf("the new file: %v", err)
			}
		})
	}
}

// A file that cannot be read is never overwritten.
func TestMemoryFileUnreadableIsLeftAlone(t *testing.T) {
	path := filepath.Join(t.TempDir(), "limits.json")
	if err := os.Mkdir(path, 0o700); err != nil { // reading a directory fails
		t.Fatal(err)
	}
	f := &MemoryFile{Path: path, Store: NewMemory()}
	if _, err := f.Load(); err == nil || !strings.Contains(err.Error(), "will not be overwritten") {
		t.Fatalf("Load: %v", err)
	}
	if err := f.Save(); err != nil {
		t.Fatalf("Save of a blocked file should do nothing: %v", err)
	}
	if info, err := os.Stat(path); err != nil || !info.IsDir() {
		t.Error("the unreadable path was replaced")
	}
}

func TestMemoryFileSaveBeforeLoadWritesNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "limits.json")
	f := &MemoryFile{Path: path, Store: NewMemory()}
	if err := f.Save(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("Save before Load wrote the file: %v", err)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Whatever the file holds, decoding never panics, and what it accepts
// survives a save and a load unchanged.
func FuzzMemoryStateDecode(f *testing.F) {
	f.Add([]byte(`{"version":1,"counters":{"cascadeflow:used:key:a:1":{"value":5,"expires":"2026-12-04T01:00:00Z"}}}`))
	f.Add([]byte(`{"version":1,"counters":{}}`))
	f.Add([]byte(`{"version":1,"counters":{"cascadeflow:x":{"value":-3}}}`))
	f.Add([]byte(`{"version":2}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := decodeMemoryState(data)
		if err != nil {
			return
		}
		mem := memoryAt(time.Time{}) // the zero time: no counter has expired
		mem.restore(st)
		again, err := json.Marshal(mem.export())
		if err != nil {
			t.Fatal(err)
		}
		st2, err := decodeMemoryState(again)
		if err != nil {
			t.Fatalf("a saved store does not decode: %v", err)
		}
		live := 0
		for k, c := range st.Counters {
			if !c.Expires.IsZero() && !(time.Time{}).Before(c.Expires) {
				continue // expired even at the zero time: dropped
			}
			live++
			if got := st2.Counters[k]; got.Value != c.Value || !got.Expires.Equal(c.Expires) {
				t.Fatalf("counter %s: %+v became %+v", k, c, got)
			}
		}
		if len(st2.Counters) != live {
			t.Fatalf("%d live counters became %d", live, len(st2.Counters))
		}
	})
}
