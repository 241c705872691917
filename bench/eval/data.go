package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
)

// Models of the cascade-eval pairs (RouteLLM's pair).
const (
	draftModel    = "mistralai/Mixtral-8x7B-Instruct-v0.1"
	verifierModel = "gpt-4-1106-preview"
)

// message is one chat message of a row's prompt (OpenAI format, text only).
type message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// answer is one model's recorded response and its quality label in [0, 1].
type answer struct {
	Model string  `json:"model"`
	Text  string  `json:"text"`
	Score float64 `json:"score"`
}

// row is one prompt with its recorded draft and verifier answers.
type row struct {
	ID       string    `json:"id"`
	Source   string    `json:"source"`
	Messages []message `json:"messages"`
	Draft    answer    `json:"draft"`
	Verifier answer    `json:"verifier"`
}

// loadRows reads a cascade-eval JSON Lines file.
func loadRows(path string) ([]row, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open data: %w", err)
	}
	defer f.Close()
	var rows []row
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 1<<20), 64<<20)
	for sc.Scan() {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var r row
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("decode %s line %d: %w", path, len(rows)+1, err)
		}
		if len(r.Messages) == 0 || r.Source == "" {
			return nil, fmt.Errorf("decode %s line %d: row %q has no messages or no source", path, len(rows)+1, r.ID)
		}
		rows = append(rows, r)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("read %s: no rows", path)
	}
	return rows, nil
}

// estimateTokens is the documented token rule of the replay: ceil(UTF-8
// bytes / 4). The recorded data has no usage, and the same rule for both
// models and every strategy keeps the cost comparison fair (it is also the
// rule of bench/gate, so the two reports agree).
func estimateTokens(s string) int { return (len(s) + 3) / 4 }

// promptTokens estimates a prompt's input tokens: the sum over its messages.
func promptTokens(msgs []message) int {
	n := 0
	for _, m := range msgs {
		n += estimateTokens(m.Content)
	}
	return n
}
