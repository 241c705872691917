package fakeupstream

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"hash/fnv"
	"math"
	"net/http"
	"strconv"
)

// embeddingsRequest is an Embeddings API request body (POST /v1/embeddings,
// "Create embeddings" reference): input is a string, an array of strings, an
// array of token ids or an array of token-id arrays.
type embeddingsRequest struct {
	Model          string          `json:"model"`
	Input          json.RawMessage `json:"input"`
	EncodingFormat string          `json:"encoding_format"`
	Dimensions     int             `json:"dimensions"`
}

// DefaultEmbeddingDimensions is the length of the fake's vectors when the
// request sets no dimensions.
const DefaultEmbeddingDimensions = 16

// Wire types of the embeddings answer ("The embedding object" reference):
// object "list", data[] of {object "embedding", index, embedding}, model,
// usage {prompt_tokens, total_tokens}. With encoding_format "base64" the
// embedding is the base64 of its little-endian float32 values.
type embeddingList struct {
	Object string          `json:"object"`
	Data   []embeddingItem `json:"data"`
	Model  string          `json:"model"`
	Usage  struct {
		PromptTokens int `json:"prompt_tokens"`
		TotalTokens  int `json:"total_tokens"`
	} `json:"usage"`
}

type embeddingItem struct {
	Object    string `json:"object"`
	Index     int    `json:"index"`
	Embedding any    `json:"embedding"`
}

// embeddingInputs splits input into its items (each the raw JSON of one
// string or token-id array), or reports why it is not a valid input.
func embeddingInputs(input json.RawMessage) ([]json.RawMessage, string) {
	var s string
	if json.Unmarshal(input, &s) == nil {
		if s == "" {
			return nil, "'$.input' is invalid: it must not be empty."
		}
		return []json.RawMessage{input}, ""
	}
	var items []json.RawMessage
	if json.Unmarshal(input, &items) != nil || len(items) == 0 {
		return nil, "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference."
	}
	var ids []int
	if json.Unmarshal(input, &ids) == nil {
		return []json.RawMessage{input}, "" // one text as token ids
	}
	for _, it := range items {
		if json.Unmarshal(it, &s) != nil && json.Unmarshal(it, &ids) != nil {
			return nil, "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference."
		}
	}
	return items, ""
}

// fakeEmbedding is a deterministic unit vector of dims for item.
func fakeEmbedding(item []byte, dims int) []float32 {
	h := fnv.New64a()
	_, _ = h.Write(item)
	seed := h.Sum64()
	v := make([]float32, dims)
	var norm float64
	for i := range v {
		seed = seed*6364136223846793005 + 1442695040888963407 // an LCG step
		f := float64(int64(seed>>11))/float64(1<<52) - 1
		v[i] = float32(f)
		norm += f * f
	}
	if norm = math.Sqrt(norm); norm > 0 {
		for i := range v {
			v[i] = float32(float64(v[i]) / norm)
		}
	}
	return v
}

func (x *exchange) serveEmbeddings() {
	q := &x.embeddings
	switch {
	case x.parseErr != "":
		x.fail(http.StatusBadRequest, x.parseErr)
		return
	case q.Model == "":
		x.writeJSON(http.StatusBadRequest, openAIErrorBody(http.StatusBadRequest, "you must provide a model parameter", "", ""))
		return
	case len(q.Input) == 0 || string(q.Input) == "null":
		x.writeJSON(http.StatusBadRequest, openAIErrorBody(http.StatusBadRequest, "Missing required parameter: 'input'.", "input", "missing_required_parameter"))
		return
	case q.EncodingFormat != "" && q.EncodingFormat != "float" && q.EncodingFormat != "base64":
		x.writeJSON(http.StatusBadRequest, openAIErrorBody(http.StatusBadRequest, "Invalid value for 'encoding_format': "+strconv.Quote(q.EncodingFormat)+".", "encoding_format", "invalid_value"))
		return
	case q.Dimensions < 0:
		x.writeJSON(http.StatusBadRequest, openAIErrorBody(http.StatusBadRequest, "Invalid 'dimensions': it must be at least 1.", "dimensions", "invalid_value"))
		return
	}
	items, msg := embeddingInputs(q.Input)
	if msg != "" {
		x.writeJSON(http.StatusBadRequest, openAIErrorBody(http.StatusBadRequest, msg, "input", "invalid_value"))
		return
	}
	// Scripted faults and headers apply; the reply's Usage sets the token count.
	p := x.srv.prepareReply(&x.rec, x.inputTokens)
	if !x.scripted(p) {
		return
	}
	dims := q.Dimensions
	if dims == 0 {
		dims = DefaultEmbeddingDimensions
	}
	out := embeddingList{Object: "list", Model: p.model, Data: make([]embeddingItem, len(items))}
	for i, it := range items {
		v := fakeEmbedding(it, dims)
		var emb any = v
		if q.EncodingFormat == "base64" {
			b := make([]byte, 4*len(v))
			for j, f := range v {
				binary.LittleEndian.PutUint32(b[4*j:], math.Float32bits(f))
			}
			emb = base64.StdEncoding.EncodeToString(b)
		}
		out.Data[i] = embeddingItem{Object: "embedding", Index: i, Embedding: emb}
	}
	tokens := x.inputTokens
	if p.Usage != nil {
		tokens = p.Usage.InputTokens
	}
	out.Usage.PromptTokens, out.Usage.TotalTokens = tokens, tokens
	body, err := json.Marshal(out)
	if err != nil {
		x.fail(http.StatusInternalServerError, "encode embeddings: "+err.Error())
		return
	}
	x.writeAnswer(p, body)
}
