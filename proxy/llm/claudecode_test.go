package llm

import (
	"reflect"
	"testing"
)

func TestStripBillingHeader(t *testing.T) {
	text := func(s string) Block { return Block{Type: BlockText, Text: s} }
	keep := []Block{
		text("You are Claude Code."),
		text("Note: x-anthropic-billing-header: is a Claude Code block."), // mentioned, not led by it
		text("X-Anthropic-Billing-Header: cc_version=1"),                  // the prefix is lower-case
		{Type: BlockImage, Text: "x-anthropic-billing-header: cc_version=1"},
		text(""),
	}
	req := &Request{System: []Block{
		text("x-anthropic-billing-header: cc_version=2.1.332.a86; cc_entrypoint=sdk-cli;"),
		keep[0], keep[1],
		text("\n \tx-anthropic-billing-header: cc_version=2.1.84.c8e; cch=1a2b3;"),
		keep[2], keep[3], keep[4],
	}}
	orig := append([]Block(nil), req.System...)
	StripBillingHeader(req)
	if !reflect.DeepEqual(req.System, keep) {
		t.Errorf("kept %+v\nwant %+v", req.System, keep)
	}
	if orig[0].Text != "x-anthropic-billing-header: cc_version=2.1.332.a86; cc_entrypoint=sdk-cli;" {
		t.Error("the client's system blocks were modified in place")
	}

	none := &Request{System: []Block{text("a"), text("b")}}
	StripBillingHeader(none)
	if len(none.System) != 2 {
		t.Errorf("a system without the header lost blocks: %+v", none.System)
	}
}
