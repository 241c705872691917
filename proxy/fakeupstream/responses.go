package fakeupstream

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// responsesRequest is the part of a Responses API request body
// (POST /v1/responses, "Create a model response" reference) the fake reads.
type responsesRequest struct {
	Model           string          `json:"model"`
	Stream          bool            `json:"stream"`
	Input           json.RawMessage `json:"input"`
	Instructions    json.RawMessage `json:"instructions"`
	Tools           json.RawMessage `json:"tools"`
	MaxOutputTokens *int            `json:"max_output_tokens"`
}

// Wire types of the response object ("The response object" reference):
// id "resp_…", object "response", created_at, status (completed,
// incomplete, in_progress), error, incomplete_details, model, output[] of
// message items (content[] of output_text parts) and function_call items,
// usage with input_tokens_details.cached_tokens and
// output_tokens_details.reasoning_tokens, and the echoed request settings.
type responseObject struct {
	ID                 string             `json:"id"`
	Object             string             `json:"object"`
	CreatedAt          int64              `json:"created_at"`
	Status             string             `json:"status"`
	Background         bool               `json:"background"`
	Error              *responseError     `json:"error"`
	IncompleteDetails  *incompleteDetails `json:"incomplete_details"`
	Instructions       json.RawMessage    `json:"instructions"`
	MaxOutputTokens    *int               `json:"max_output_tokens"`
	Model              string             `json:"model"`
	Output             []responseItem     `json:"output"`
	ParallelToolCalls  bool               `json:"parallel_tool_calls"`
	PreviousResponseID *string            `json:"previous_response_id"`
	Reasoning          responseReasoning  `json:"reasoning"`
	ServiceTier        string             `json:"service_tier"`
	Store              bool               `json:"store"`
	Temperature        float64            `json:"temperature"`
	Text               responseText       `json:"text"`
	ToolChoice         string             `json:"tool_choice"`
	Tools              json.RawMessage    `json:"tools"`
	TopP               float64            `json:"top_p"`
	Truncation         string             `json:"truncation"`
	Usage              *responseUsage     `json:"usage"`
	User               *string            `json:"user"`
	Metadata           map[string]string  `json:"metadata"`
}

type responseError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

type incompleteDetails struct {
	Reason string `json:"reason"`
}

type responseReasoning struct {
	Effort  *string `json:"effort"`
	Summary *string `json:"summary"`
}

type responseText struct {
	Format struct {
		Type string `json:"type"`
	} `json:"format"`
}

// responseItem is an output item: a message (role, content) or a
// function_call (call_id, name, arguments).
type responseItem struct {
	Type      string         `json:"type"`
	ID        string         `json:"id"`
	Status    string         `json:"status"`
	Role      string         `json:"role,omitempty"`
	Content   []responsePart `json:"content,omitempty"`
	CallID    string         `json:"call_id,omitempty"`
	Name      string         `json:"name,omitempty"`
	Arguments *string        `json:"arguments,omitempty"`
}

// responsePart is an output_text content part.
type responsePart struct {
	Type        string `json:"type"`
	Text        string `json:"text"`
	Annotations []any  `json:"annotations"`
	Logprobs    []any  `json:"logprobs"`
}

// responseUsage: input_tokens include the cached ones.
type responseUsage struct {
	InputTokens        int `json:"input_tokens"`
	InputTokensDetails struct {
		CachedTokens int `json:"cached_tokens"`
	} `json:"input_tokens_details"`
	OutputTokens        int `json:"output_tokens"`
	OutputTokensDetails struct {
		ReasoningTokens int `json:"reasoning_tokens"`
	} `json:"output_tokens_details"`
	TotalTokens int `json:"total_tokens"`
}

func (p *prepared) responsesUsage() *responseUsage {
	u := p.usage
	in := u.InputTokens + u.CacheReadInputTokens + u.CacheCreationInputTokens
	r := &responseUsage{InputTokens: in, OutputTokens: u.OutputTokens, TotalTokens: in + u.OutputTokens}
	r.InputTokensDetails.CachedTokens = u.CacheReadInputTokens
	r.OutputTokensDetails.ReasoningTokens = u.ReasoningTokens
	return r
}

func (x *exchange) serveResponses() {
	q := &x.responses
	switch {
	case x.parseErr != "":
		x.fail(http.StatusBadRequest, x.parseErr)
		return
	case q.Model == "":
		x.writeJSON(http.StatusBadRequest, openAIErrorBody(http.StatusBadRequest, "Missing required parameter: 'model'.", "model", "missing_required_parameter"))
		return
	case len(q.Input) == 0 || string(q.Input) == "null":
		x.writeJSON(http.StatusBadRequest, openAIErrorBody(http.StatusBadRequest, "Missing required parameter: 'input'.", "input", "missing_required_parameter"))
		return
	}
	p := x.srv.prepareReply(&x.rec, x.inputTokens)
	if !x.scripted(p) {
		return
	}
	if q.Stream && !p.JSONToStreamRequest {
		x.streamResponse(p)
		return
	}
	body, err := json.Marshal(x.responseObject(p, "completed", x.responseOutput(p, "completed"), p.responsesUsage()))
	if err != nil {
		x.fail(http.StatusInternalServerError, "encode response: "+err.Error())
		return
	}
	x.writeAnswer(p, body)
}

func (x *exchange) responseID() string { return "resp_fake_" + x.id }
func (x *exchange) messageID() string  { return "msg_fake_" + x.id }
func (x *exchange) functionCallID(i int) string {
	return "fc_fake_" + x.id + "_" + strconv.Itoa(i)
}

// responseObject is the response with status and output; a completed one
// that stopped at max tokens is "incomplete" (incomplete_details.reason
// max_output_tokens), as the API reports it.
func (x *exchange) responseObject(p *prepared, status string, output []responseItem, usage *responseUsage) responseObject {
	q := &x.responses
	r := responseObject{
		ID: x.responseID(), Object: "response", CreatedAt: time.Now().Unix(), Status: status,
		Instructions: q.Instructions, MaxOutputTokens: q.MaxOutputTokens, Model: p.model, Output: output,
		ParallelToolCalls: true, ServiceTier: "default", Store: true, Temperature: 1, ToolChoice: "auto",
		Tools: q.Tools, TopP: 1, Truncation: "disabled", Usage: usage, Metadata: map[string]string{},
	}
	if len(r.Instructions) == 0 {
		r.Instructions = json.RawMessage("null")
	}
	if len(r.Tools) == 0 {
		r.Tools = json.RawMessage("[]")
	}
	r.Text.Format.Type = "text"
	if status == "completed" && p.stopReason() == StopMaxTokens {
		r.Status, r.IncompleteDetails = "incomplete", &incompleteDetails{Reason: "max_output_tokens"}
	}
	return r
}

// responseOutput is the answer's output items: a message with the text
// (when there is text or nothing else), then one function_call per tool call.
func (x *exchange) responseOutput(p *prepared, status string) []responseItem {
	var out []responseItem
	if p.Text != "" || len(p.ToolCalls) == 0 {
		out = append(out, x.messageItem(status, p.Text, true))
	}
	for i, tc := range p.ToolCalls {
		args := string(compactJSON(toolInput(tc)))
		out = append(out, x.functionCallItem(tc, i, status, &args))
	}
	return out
}

func (x *exchange) messageItem(status, text string, withPart bool) responseItem {
	it := responseItem{Type: "message", ID: x.messageID(), Status: status, Role: "assistant", Content: []responsePart{}}
	if withPart {
		it.Content = append(it.Content, outputText(text))
	}
	return it
}

func outputText(text string) responsePart {
	return responsePart{Type: "output_text", Text: text, Annotations: []any{}, Logprobs: []any{}}
}

func (x *exchange) functionCallItem(tc ToolCall, i int, status string, args *string) responseItem {
	return responseItem{Type: "function_call", ID: x.functionCallID(i), Status: status, CallID: x.toolCallID(tc, i), Name: tc.Name, Arguments: args}
}

// streamResponse writes the Responses API's semantic events ("Streaming
// events" reference), each as "event: TYPE" and its JSON data carrying type
// and sequence_number: response.created, response.in_progress; per message
// output_item.added, content_part.added, output_text.delta…,
// output_text.done, content_part.done, output_item.done; per function call
// output_item.added, function_call_arguments.delta…,
// function_call_arguments.done, output_item.done; then response.completed
// (or response.incomplete) with the whole response and its usage.
func (x *exchange) streamResponse(p *prepared) {
	seq := 0
	errData, _ := json.Marshal(map[string]any{"type": "error", "code": "server_error", "message": orDefault(p.ErrorMessage, "The server had an error while processing your request."), "param": nil, "sequence_number": 0})
	es := x.stream(p, "error", errData)
	send := func(typ string, fields map[string]any) bool {
		fields["type"], fields["sequence_number"] = typ, seq
		seq++
		b, err := json.Marshal(fields)
		return err == nil && es.send(typ, b) == nil
	}
	started := x.responseObject(p, "in_progress", []responseItem{}, nil)
	if !send("response.created", map[string]any{"response": started}) || !send("response.in_progress", map[string]any{"response": started}) {
		return
	}
	index := 0
	if p.Text != "" || len(p.ToolCalls) == 0 {
		id := x.messageID()
		if !send("response.output_item.added", map[string]any{"output_index": index, "item": x.messageItem("in_progress", "", false)}) ||
			!send("response.content_part.added", map[string]any{"item_id": id, "output_index": index, "content_index": 0, "part": outputText("")}) {
			return
		}
		per := p.tokensPerDelta()
		for i := 0; i < len(p.textTokens); i += per {
			var text string
			for _, t := range p.textTokens[i:min(i+per, len(p.textTokens))] {
				text += t
			}
			if !send("response.output_text.delta", map[string]any{"item_id": id, "output_index": index, "content_index": 0, "delta": text, "logprobs": []any{}}) {
				return
			}
		}
		if !send("response.output_text.done", map[string]any{"item_id": id, "output_index": index, "content_index": 0, "text": p.Text, "logprobs": []any{}}) ||
			!send("response.content_part.done", map[string]any{"item_id": id, "output_index": index, "content_index": 0, "part": outputText(p.Text)}) ||
			!send("response.output_item.done", map[string]any{"output_index": index, "item": x.messageItem("completed", p.Text, true)}) {
			return
		}
		index++
	}
	for i, tc := range p.ToolCalls {
		empty, args := "", string(compactJSON(toolInput(tc)))
		id := x.functionCallID(i)
		if !send("response.output_item.added", map[string]any{"output_index": index, "item": x.functionCallItem(tc, i, "in_progress", &empty)}) {
			return
		}
		for _, frag := range splitJSONFragments(args, partialJSONSize) {
			if !send("response.function_call_arguments.delta", map[string]any{"item_id": id, "output_index": index, "delta": frag}) {
				return
			}
		}
		if !send("response.function_call_arguments.done", map[string]any{"item_id": id, "output_index": index, "name": tc.Name, "arguments": args}) ||
			!send("response.output_item.done", map[string]any{"output_index": index, "item": x.functionCallItem(tc, i, "completed", &args)}) {
			return
		}
		index++
	}
	done := x.responseObject(p, "completed", x.responseOutput(p, "completed"), p.responsesUsage())
	final := "response.completed"
	if done.Status == "incomplete" {
		final = "response.incomplete"
	}
	send(final, map[string]any{"response": done})
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
