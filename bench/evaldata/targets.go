package evaldata

import "github.com/cascadeflow/cascadeflow-operator/proxy/rules"

// The pair of the dev file (RouteLLM's, Ong et al. 2024).
const (
	DevDraftModel    = "mistralai/Mixtral-8x7B-Instruct-v0.1"
	DevVerifierModel = "gpt-4-1106-preview"
)

// QualityTarget is the share of always-verifier quality a cascade must keep.
const QualityTarget = 0.95

// CostTargets is, per source, the highest cost share (cost over always
// asking the verifier) at which a cascade must reach QualityTarget. GSM8K's
// holds for its ZeroEval rows too; the other sources have none.
var CostTargets = map[string]float64{"mt_bench": 0.15, "gsm8k": 0.40, "gsm8k_zeroeval": 0.40}

// Targets of a route that learns its threshold online (bench/eval's online
// mode).
const (
	// RetainedFloor is the retained quality (served over always-verifier)
	// a route with quality target QualityTarget must keep at least.
	RetainedFloor = 0.94
	// EstimateTolerance is how far the route's own quality estimate may be
	// from the quality it delivered.
	EstimateTolerance = 0.02
	// HindsightRatio bounds the route's cost after WarmUp requests, as a
	// multiple of the best static threshold's cost in hindsight.
	HindsightRatio = 1.2
	// OracleMargin bounds the route's cost share above the oracle cascade's.
	OracleMargin = 0.10
	// WarmUp is the number of requests a route is given to learn before its
	// cost is compared.
	WarmUp = 200
)

// Prices are the prices of every model in the data set, USD per million
// tokens: list prices for the API models, a serverless host's for the
// open-weight ones (Mixtral-8x7B: the hosted price RouteLLM used). The
// zeroeval README gives the basis of each.
var Prices = map[string]rules.Price{
	DevDraftModel:                          {Input: 0.60, Output: 0.60},
	DevVerifierModel:                       {Input: 10, Output: 30},
	"openai/gpt-3.5-turbo-0125":            {Input: 0.50, Output: 1.50},
	"openai/gpt-4-turbo-2024-04-09":        {Input: 10, Output: 30},
	"meta-llama/Meta-Llama-3-8B-Instruct":  {Input: 0.20, Output: 0.20},
	"meta-llama/Meta-Llama-3-70B-Instruct": {Input: 0.90, Output: 0.90},
	"Qwen/Qwen2-7B-Instruct":               {Input: 0.20, Output: 0.20},
	"Qwen/Qwen2-72B-Instruct":              {Input: 0.90, Output: 0.90},
	"google/gemini-1.5-flash":              {Input: 0.075, Output: 0.30},
}

// SourceTitle names a source in reports.
func SourceTitle(source string) string {
	switch source {
	case "mt_bench":
		return "MT-Bench"
	case "gsm8k":
		return "GSM8K"
	case "gsm8k_zeroeval":
		return "GSM8K (ZeroEval)"
	case "math_l5":
		return "MATH level 5"
	case "crux":
		return "CRUXEval"
	}
	return source
}

// EstimateTokens is the data set's token rule, ceil(UTF-8 bytes / 4): the
// recorded answers have no usage, and one rule for every model and every
// strategy keeps cost comparisons fair.
func EstimateTokens(s string) int { return (len(s) + 3) / 4 }

// PromptTokens estimates a prompt's input tokens: the sum over its messages.
func PromptTokens(msgs []Message) int {
	n := 0
	for _, m := range msgs {
		n += EstimateTokens(m.Content)
	}
	return n
}
