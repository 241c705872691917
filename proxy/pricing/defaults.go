package pricing

// builtin holds list prices in USD per million tokens, as looked up on
// 2026-11-26. CacheWrite is the default 5-minute cache-write rate (Anthropic
// bills 1-hour writes at 2× input; the usage we see does not say which TTL
// was used, so 1-hour writes are underestimated). Batch discounts, regional
// (inference_geo) surcharges and fast modes are not modelled.
//
// Sources:
//   - Anthropic: platform.claude.com/docs/en/about-claude/pricing and the
//     per-model overview pages (models/opus-5-5, sonnet-5-5, haiku-5-5,
//     opus-5, sonnet-5). Opus 5.5 ($4/$20, write $5, read $0.20) and Sonnet
//     5.5 ($2/$10, write $2.50) are from the official overview pages.
//     Sonnet 5.5's cache read is $0.10: the overview snapshot we found still
//     showed $0.20, but three independent price trackers (claudit v1.9.2,
//     PromptFuel v1.0.23, synaps pricing.rs) record Anthropic's cut to 0.05×
//     input on 2026-10-07. Haiku 5.5 is priced by prompt length; the official
//     page gives "from $0.10 / $0.50"; the write $0.125 and read $0.01 rates
//     of the ≤100k-token band are from the same trackers. Requests whose
//     prompt exceeds 100k tokens cost 5× that ($0.50 / $2.50) and are
//     underestimated here (a flat Price cannot express the band).
//     Claude Mythos 5.1 and 5 (limited availability) are priced like Fable
//     5.1 and 5 on the same pricing page.
//   - OpenAI, GPT-5 and GPT-6 families: the official model pages
//     (developers.openai.com/api/docs/models/<id>, standard tier, prompts
//     up to 272K tokens), read for this table in late November 2026:
//     gpt-6.2-sol, gpt-6-sol, gpt-6-luna, gpt-5.6-sol, gpt-5.6-terra,
//     gpt-5.6-luna, gpt-5-mini and gpt-5-nano. gpt-6-astra ($10/$50, cached
//     $1, writes $12.50) and gpt-6.1-sol ($2/$10, cached $0.10) are from
//     their model pages as quoted in LiteLLM's GPT-6 Astra announcement and
//     in release notes of three usage trackers (we did not read those two
//     pages ourselves). gpt-5, gpt-5.1, gpt-5.2, gpt-5.4(-mini/-nano) and
//     gpt-5.5 are the official pricing page as mirrored in 2026 (the GitHub
//     Copilot model table, api-evangelist's pricing snapshot). The GPT-5.6
//     and GPT-6 pages bill cache writes at 1.25x input (the gpt-5.6-* pages
//     state the rule, not a figure); older models bill them as input.
//     gpt-6.2-astra ($8/$40, launched 2026-11-17): we found
//     no cached-input or cache-write rate, so such tokens are priced at the
//     input rate here (an overestimate). gpt-5.6-sol's $4/$20 is a
//     promotional price announced "at least until 2026-11-21"; what follows
//     it was not published when this table was written (before: $5/$30).
//     Requests over 272K prompt tokens cost 2x input and 1.5x output and are
//     underestimated (a flat Price cannot express the band).
//   - OpenAI, older models: openai.com/api/pricing as mirrored by several
//     trackers in 2026: gpt-4o $2.50/$10 (cached input $1.25), gpt-4o-mini
//     $0.15/$0.60 ($0.075), gpt-4.1 $2/$8 ($0.50), gpt-4.1-mini $0.40/$1.60
//     ($0.10), gpt-4.1-nano $0.10/$0.40 ($0.025); gpt-4-turbo and the
//     gpt-4-*-preview snapshots $10/$30 with no cache rate.
//   - OpenAI embeddings (input only): text-embedding-3-small $0.02,
//     text-embedding-3-large $0.13, text-embedding-ada-002 $0.10, standard
//     tier, as the model pages and several 2026 price trackers (tokenprice.fyi,
//     embeddingcost.com) list them.
//   - Mixtral-8x7B-Instruct: $0.60/$0.60, the hosted price used by RouteLLM
//     (Ong et al. 2024) for the cascade-eval data.
//
// OpenAI's cached prompt tokens are CacheRead; its cache writes (reported
// by the newer models) are CacheWrite.
var builtin = map[string]Price{
	// Anthropic, current generation.
	"claude-fable-5-1":  {Input: 10, Output: 50, CacheWrite: 12.50, CacheRead: 0.25},
	"claude-fable-5":    {Input: 10, Output: 50, CacheWrite: 12.50, CacheRead: 1},
	"claude-mythos-5-1": {Input: 10, Output: 50, CacheWrite: 12.50, CacheRead: 0.25},
	"claude-mythos-5":   {Input: 10, Output: 50, CacheWrite: 12.50, CacheRead: 1},
	"claude-opus-5-5":   {Input: 4, Output: 20, CacheWrite: 5, CacheRead: 0.20},
	"claude-sonnet-5-5": {Input: 2, Output: 10, CacheWrite: 2.50, CacheRead: 0.10},
	"claude-haiku-5-5":  {Input: 0.10, Output: 0.50, CacheWrite: 0.125, CacheRead: 0.01},
	// Anthropic, older ids.
	"claude-opus-5":     {Input: 5, Output: 25, CacheWrite: 6.25, CacheRead: 0.50},
	"claude-opus-4-8":   {Input: 5, Output: 25, CacheWrite: 6.25, CacheRead: 0.50},
	"claude-opus-4-7":   {Input: 5, Output: 25, CacheWrite: 6.25, CacheRead: 0.50},
	"claude-opus-4-6":   {Input: 5, Output: 25, CacheWrite: 6.25, CacheRead: 0.50},
	"claude-opus-4-5":   {Input: 5, Output: 25, CacheWrite: 6.25, CacheRead: 0.50},
	"claude-opus-4-1":   {Input: 15, Output: 75, CacheWrite: 18.75, CacheRead: 1.50},
	"claude-opus-4":     {Input: 15, Output: 75, CacheWrite: 18.75, CacheRead: 1.50},
	"claude-3-opus":     {Input: 15, Output: 75, CacheWrite: 18.75, CacheRead: 1.50},
	"claude-sonnet-5":   {Input: 2, Output: 10, CacheWrite: 2.50, CacheRead: 0.20},
	"claude-sonnet-4-6": {Input: 3, Output: 15, CacheWrite: 3.75, CacheRead: 0.30},
	"claude-sonnet-4-5": {Input: 3, Output: 15, CacheWrite: 3.75, CacheRead: 0.30},
	"claude-sonnet-4":   {Input: 3, Output: 15, CacheWrite: 3.75, CacheRead: 0.30},
	"claude-3-7-sonnet": {Input: 3, Output: 15, CacheWrite: 3.75, CacheRead: 0.30},
	"claude-3-5-sonnet": {Input: 3, Output: 15, CacheWrite: 3.75, CacheRead: 0.30},
	"claude-haiku-4-5":  {Input: 1, Output: 5, CacheWrite: 1.25, CacheRead: 0.10},
	"claude-3-5-haiku":  {Input: 0.80, Output: 4, CacheWrite: 1, CacheRead: 0.08},
	"claude-3-haiku":    {Input: 0.25, Output: 1.25, CacheWrite: 0.30, CacheRead: 0.03},

	// OpenAI, GPT-6 and GPT-5 families.
	"gpt-6.2-astra": {Input: 8, Output: 40},
	"gpt-6.2-sol":   {Input: 2, Output: 10, CacheWrite: 2.50, CacheRead: 0.10},
	"gpt-6.1-sol":   {Input: 2, Output: 10, CacheWrite: 2.50, CacheRead: 0.10},
	"gpt-6-astra":   {Input: 10, Output: 50, CacheWrite: 12.50, CacheRead: 1},
	"gpt-6-sol":     {Input: 2, Output: 10, CacheWrite: 2.50, CacheRead: 0.20},
	"gpt-6-luna":    {Input: 0.10, Output: 0.50, CacheWrite: 0.125, CacheRead: 0.01},
	"gpt-5.6-sol":   {Input: 4, Output: 20, CacheWrite: 5, CacheRead: 0.40},
	"gpt-5.6-terra": {Input: 2, Output: 12, CacheWrite: 2.50, CacheRead: 0.20},
	"gpt-5.6-luna":  {Input: 0.20, Output: 1.20, CacheWrite: 0.25, CacheRead: 0.02},
	"gpt-5.5":       {Input: 5, Output: 30, CacheRead: 0.50},
	"gpt-5.4":       {Input: 2.50, Output: 15, CacheRead: 0.25},
	"gpt-5.4-mini":  {Input: 0.75, Output: 4.50, CacheRead: 0.075},
	"gpt-5.4-nano":  {Input: 0.20, Output: 1.25, CacheRead: 0.02},
	"gpt-5.2":       {Input: 1.75, Output: 14, CacheRead: 0.175},
	"gpt-5.1":       {Input: 1.25, Output: 10, CacheRead: 0.125},
	"gpt-5":         {Input: 1.25, Output: 10, CacheRead: 0.125},
	"gpt-5-mini":    {Input: 0.25, Output: 2, CacheRead: 0.025},
	"gpt-5-nano":    {Input: 0.05, Output: 0.40, CacheRead: 0.005},

	// OpenAI, older models.
	"gpt-4o":             {Input: 2.50, Output: 10, CacheRead: 1.25},
	"gpt-4o-mini":        {Input: 0.15, Output: 0.60, CacheRead: 0.075},
	"gpt-4.1":            {Input: 2, Output: 8, CacheRead: 0.50},
	"gpt-4.1-mini":       {Input: 0.40, Output: 1.60, CacheRead: 0.10},
	"gpt-4.1-nano":       {Input: 0.10, Output: 0.40, CacheRead: 0.025},
	"gpt-4-turbo":        {Input: 10, Output: 30},
	"gpt-4-1106-preview": {Input: 10, Output: 30},
	"gpt-4-0125-preview": {Input: 10, Output: 30},

	// OpenAI embeddings: input tokens only.
	"text-embedding-3-small": {Input: 0.02},
	"text-embedding-3-large": {Input: 0.13},
	"text-embedding-ada-002": {Input: 0.10},

	// Open-weight models as hosted.
	"mistralai/mixtral-8x7b-instruct-v0.1": {Input: 0.60, Output: 0.60},
}

// aliases map other spellings to a builtin id. Dated snapshots
// ("-20250929", "-2024-08-06") and "-latest" are handled by Lookup itself.
var aliases = map[string]string{
	"claude-opus-4-0":            "claude-opus-4",
	"claude-sonnet-4-0":          "claude-sonnet-4",
	"claude-3.5-sonnet":          "claude-3-5-sonnet",
	"claude-3.7-sonnet":          "claude-3-7-sonnet",
	"claude-3.5-haiku":           "claude-3-5-haiku",
	"claude-opus-5.5":            "claude-opus-5-5",
	"claude-sonnet-5.5":          "claude-sonnet-5-5",
	"claude-haiku-5.5":           "claude-haiku-5-5",
	"claude-sonnet-4.5":          "claude-sonnet-4-5",
	"claude-haiku-4.5":           "claude-haiku-4-5",
	"claude-opus-4.1":            "claude-opus-4-1",
	"gpt-4-turbo-preview":        "gpt-4-turbo",
	"chatgpt-4o-latest":          "gpt-4o",
	"gpt-5.6":                    "gpt-5.6-sol", // the alias routes to Sol
	"mixtral-8x7b-instruct":      "mistralai/mixtral-8x7b-instruct-v0.1",
	"mixtral-8x7b-instruct-v0.1": "mistralai/mixtral-8x7b-instruct-v0.1",
	"mixtral-8x7b":               "mistralai/mixtral-8x7b-instruct-v0.1",
	"open-mixtral-8x7b":          "mistralai/mixtral-8x7b-instruct-v0.1",
}
