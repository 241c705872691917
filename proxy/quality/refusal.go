package quality

import (
	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
)

// refusalPhrases open a refusal. Lower-case; several languages, because a
// refusal in the user's language is still a refusal.
var refusalPhrases = []string{
	"i can't help with", "i cannot help with", "i can't assist with", "i cannot assist with",
	"i can't help you with", "i cannot help you with",
	"i can't provide", "i cannot provide", "i can't do that", "i cannot do that",
	"i'm unable to", "i am unable to", "i'm not able to", "i am not able to",
	"i won't be able to", "i will not be able to", "i must decline", "i have to decline",
	"i can't comply", "i cannot comply", "i can't fulfill", "i cannot fulfill",
	"i'm sorry, but i can", "i am sorry, but i can", "sorry, but i can't", "sorry, but i cannot",
	"as an ai language model", "as an ai model, i", "as a language model, i",
	"i'm not allowed to", "i am not allowed to", "against my guidelines",
	"i can’t help with", "i can’t assist", "i can’t provide", "i’m unable to", "i’m not able to", "i can’t do that",
	// es, fr, de, it, pt
	"lo siento, pero no puedo", "no puedo ayudar", "no puedo proporcionar",
	"je ne peux pas vous aider", "désolé, mais je ne peux pas", "je ne suis pas en mesure de",
	"es tut mir leid, aber ich kann", "ich kann dabei nicht helfen", "ich kann ihnen dabei nicht",
	"mi dispiace, ma non posso", "non posso aiutarti",
	"desculpe, mas não posso", "não posso ajudar",
	// zh, ja, ko
	"我无法", "我不能帮", "抱歉，我不能", "抱歉，我无法", "申し訳ありませんが、", "お手伝いできません", "죄송하지만",
}

// refusalSignal vetoes refusals: the refusal stop reason, or a refusal phrase
// opening a short answer. A refusal phrase further in (a partial refusal
// followed by an answer) costs a partial score.
func refusalSignal(a *analysis, o *options) result {
	if a.draft.StopReason == llm.StopRefusal {
		return result{score: 0, applies: true, veto: true, detail: "stop_reason refusal"}
	}
	if a.text == "" {
		return result{}
	}
	pos := a.lex.refusalAt
	switch {
	case pos < 0:
		return pass("no refusal")
	case pos < 200 && len(a.text) < 600:
		return result{score: 0, applies: true, veto: true, detail: "answer is a refusal"}
	default:
		return result{score: o.RefusalPartialScore, applies: true, detail: "partial refusal"}
	}
}
