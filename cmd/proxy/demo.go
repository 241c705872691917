package main

import (
	"fmt"
	"strings"

	"github.com/cascadeflow/cascadeflow-operator/proxy/fakeupstream"
)

// demoAnswer makes the demo's canned answers look like a real model's, so a
// newcomer's first curl shows the cascade at work: a small model's answer to
// a short question passes the gate; a question asking for depth (or the word
// "escalate") gets a hedging draft that the gate rejects.
func demoAnswer(r *fakeupstream.Received) fakeupstream.Reply {
	small := strings.Contains(r.Model, "haiku") || strings.Contains(r.Model, "mini")
	hard := strings.Contains(strings.ToLower(string(r.Body)), "escalate") || len(r.Body) > 4000
	if small && hard {
		return fakeupstream.Reply{Text: "I'm not sure. It might depend on several factors, and I may be wrong about this."}
	}
	return fakeupstream.Reply{Text: fmt.Sprintf("This is a demo answer from %s, served by the built-in fake upstream. "+
		"In demo mode every request gets a canned reply like this one, so you can try the proxy, its streaming "+
		"and its cascade headers without a vendor key.", r.Model)}
}
