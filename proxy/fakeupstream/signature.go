package fakeupstream

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
)

// signatureSecret stands in for the vendor's signing key. It is fixed so that
// Signature can be computed by tests without access to a Server.
const signatureSecret = "fakeupstream-thinking-key"

// Signature is the signature the fake puts on a thinking block with the given
// text when answering as model: base64(sha256(secret|family|thinking)). Models
// of one family (the id without a trailing -YYYYMMDD date) share signatures;
// any other model rejects them when Options.ValidateSignatures is set, like
// the real API rejects thinking blocks it did not sign.
func Signature(model, thinking string) string {
	h := sha256.New()
	h.Write([]byte(signatureSecret))
	h.Write([]byte{'|'})
	h.Write([]byte(ModelFamily(model)))
	h.Write([]byte{'|'})
	h.Write([]byte(thinking))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// ModelFamily is model without a trailing date suffix:
// "claude-sonnet-4-5-20250929" and "claude-sonnet-4-5" are one family.
func ModelFamily(model string) string {
	i := strings.LastIndexByte(model, '-')
	if i < 0 || len(model)-i-1 != 8 {
		return model
	}
	for _, c := range model[i+1:] {
		if c < '0' || c > '9' {
			return model
		}
	}
	return model[:i]
}

// signatureMessages is the part of an Anthropic request that signature
// validation reads.
type signatureMessages struct {
	Messages []struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	} `json:"messages"`
}

type signatureBlock struct {
	Type      string `json:"type"`
	Thinking  string `json:"thinking"`
	Signature string `json:"signature"`
}

// checkThinkingSignatures returns a description of the first assistant
// thinking block in body whose signature does not verify for model, or "" when
// all do. The message imitates the real API's wording for this 400.
func checkThinkingSignatures(body []byte, model string) (string, error) {
	var req signatureMessages
	if err := json.Unmarshal(body, &req); err != nil {
		return "", fmt.Errorf("decode messages: %w", err)
	}
	for mi, m := range req.Messages {
		if m.Role != "assistant" || len(m.Content) == 0 || m.Content[0] != '[' {
			continue
		}
		var blocks []signatureBlock
		if err := json.Unmarshal(m.Content, &blocks); err != nil {
			return "", fmt.Errorf("decode messages.%d.content: %w", mi, err)
		}
		for bi, b := range blocks {
			if b.Type == "thinking" && b.Signature != Signature(model, b.Thinking) {
				return fmt.Sprintf("messages.%d.content.%d: Invalid `signature` in `thinking` block", mi, bi), nil
			}
		}
	}
	return "", nil
}
