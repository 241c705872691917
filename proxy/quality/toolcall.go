package quality

import (
	"bytes"
	"errors"
	"strconv"

	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
)

// toolCallSignal vetoes tool calls a client could not execute: an unknown
// tool, arguments that are not a JSON object or do not satisfy the tool's
// input_schema, or a call that tool_choice forbids; and answers without the
// tool call tool_choice demands. It applies only to turns with tool calls or
// a tool_choice that requires one.
func toolCallSignal(a *analysis, schemas *schemaCache) result {
	req, uses := a.ask.req, a.draft.Content
	choice := req.ToolChoice
	must := choice != nil && (choice.Type == llm.ToolChoiceAny || choice.Type == llm.ToolChoiceTool)
	if a.toolUses == 0 {
		switch {
		case must:
			return result{score: 0, applies: true, veto: true, detail: "tool_choice requires a tool call"}
		case a.draft.StopReason == llm.StopToolUse:
			return result{score: 0, applies: true, veto: true, detail: "stop_reason tool_use without a tool call"}
		}
		return result{}
	}
	if choice != nil && choice.Type == llm.ToolChoiceNone {
		return result{score: 0, applies: true, veto: true, detail: "tool_choice none forbids tool calls"}
	}
	named := false
	for i := range uses {
		b := &uses[i]
		if b.Type != llm.BlockToolUse {
			continue
		}
		tool := findTool(req.Tools, b.Name)
		if tool == nil {
			return result{score: 0, applies: true, veto: true, detail: "unknown tool " + strconv.Quote(clip(b.Name, 64))}
		}
		if choice != nil && choice.Type == llm.ToolChoiceTool && b.Name == choice.Name {
			named = true
		}
		input := bytes.TrimSpace(b.Input)
		if len(input) == 0 {
			input = []byte("{}")
		}
		if input[0] != '{' {
			return result{score: 0, applies: true, veto: true, detail: "tool " + strconv.Quote(tool.Name) + ": arguments are not a JSON object"}
		}
		if err := schemas.validateJSON(tool.InputSchema, input); err != nil {
			if errors.Is(err, errSchema) {
				continue // the client's schema is broken: nothing to hold the draft to
			}
			if errors.Is(err, errNotJSON) {
				return result{score: 0, applies: true, veto: true, detail: "tool " + strconv.Quote(tool.Name) + ": arguments are not valid JSON"}
			}
			return result{score: 0, applies: true, veto: true, detail: "tool " + strconv.Quote(tool.Name) + ": arguments invalid for input_schema"}
		}
	}
	if choice != nil && choice.Type == llm.ToolChoiceTool && !named {
		return result{score: 0, applies: true, veto: true, detail: "tool_choice names a tool that was not called"}
	}
	return pass(strconv.Itoa(a.toolUses) + " valid tool calls")
}

func findTool(tools []llm.Tool, name string) *llm.Tool {
	for i := range tools {
		if tools[i].Name == name {
			return &tools[i]
		}
	}
	return nil
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
