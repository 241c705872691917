// Package rules is the contract between the operator and the proxy: the rules
// file's schema, its strict decoding, validation, deterministic encoding and
// model matching. The operator renders it into a ConfigMap; the proxy loads
// it; standalone users write it by hand (YAML or JSON).
package rules

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// Version is the only schema version this package reads and writes.
const Version = "v1"

// Set is a whole rules file.
type Set struct {
	// Version of the schema; "v1".
	Version string `json:"version"`
	// Providers are the upstream APIs the proxy may call.
	Providers []Provider `json:"providers"`
	// Rules map requested model names to a cascade.
	Rules []Rule `json:"rules,omitempty"`
	// DefaultRoute serves models no rule names. Without one, such models get 404.
	DefaultRoute *Route `json:"defaultRoute,omitempty"`
	// Prices override or extend the built-in price table, keyed by model name.
	Prices map[string]Price `json:"prices,omitempty"`
	// ClientKeys name the client keys (by the file, or Secret key, they are
	// read from) and limit them; see clientkeys.go.
	ClientKeys []ClientKey `json:"clientKeys,omitempty"`
	// Teams give teams of client keys a shared budget.
	Teams []Team `json:"teams,omitempty"`
}

// ProviderType names the wire format a provider speaks.
type ProviderType string

const (
	// Anthropic is the Anthropic Messages API.
	Anthropic ProviderType = "anthropic"
	// OpenAI is the OpenAI Chat Completions API, or any compatible server (vLLM, Ollama, ...).
	OpenAI ProviderType = "openai"
)

// Provider is one upstream API.
type Provider struct {
	Name string       `json:"name"`
	Type ProviderType `json:"type"`
	// BaseURL is the API root, e.g. https://api.anthropic.com or https://api.openai.com/v1.
	// For type openai it includes the version path (requests go to BaseURL + "/chat/completions");
	// for type anthropic it does not (requests go to BaseURL + "/v1/messages").
	BaseURL string `json:"baseURL"`
	// APIKey says where the key is; never the key itself. Exactly one of
	// APIKey and PassthroughAuth must be set.
	APIKey *KeySource `json:"apiKey,omitempty"`
	// PassthroughAuth forwards the client's own credentials (x-api-key or
	// Authorization) to this provider instead of a configured key.
	PassthroughAuth bool `json:"passthroughAuth,omitempty"`
	// Timeout bounds the wait for the upstream's response headers, e.g.
	// "600s"; a streamed answer may then take as long as it keeps sending.
	// Default 10m.
	Timeout Duration `json:"timeout,omitzero"`
	// IdleTimeout bounds how long the upstream may send nothing once its
	// headers have arrived (a stalled stream or body), e.g. "2m". A
	// non-streamed answer then fails with a timeout (504); a stream ends with
	// an in-band error event. Default 5m.
	IdleTimeout Duration `json:"idleTimeout,omitzero"`
	// Headers are extra request headers sent to this provider (no secrets: they
	// end up in ConfigMaps).
	Headers map[string]string `json:"headers,omitempty"`
	// Retry retries calls that failed before the upstream's answer began
	// (connection errors, 408, 429, 500, 502, 503, 504, 529). Default: off.
	Retry *Retry `json:"retry,omitempty"`
	// CircuitBreaker stops calling the provider for a while after
	// consecutive failures. Default: off.
	CircuitBreaker *CircuitBreaker `json:"circuitBreaker,omitempty"`
}

// Retry is how a provider's failed calls are retried: up to Attempts more
// times, after a wait drawn uniformly from [0, min(MaxBackoff,
// InitialBackoff*2^n)) (exponential backoff with full jitter), or what the
// upstream's Retry-After asks when it asks at most MaxRetryAfter. A retry
// never outlives the request's own deadline, and none happens once the
// upstream's answer has begun.
type Retry struct {
	// Attempts is the number of retries after the first call, 0 to 10. 0: off.
	Attempts int `json:"attempts"`
	// InitialBackoff is the first retry's backoff ceiling. Default 500ms.
	InitialBackoff Duration `json:"initialBackoff,omitzero"`
	// MaxBackoff caps the backoff ceiling. Default 8s.
	MaxBackoff Duration `json:"maxBackoff,omitzero"`
	// MaxRetryAfter is the longest Retry-After honoured; an upstream asking
	// for a longer wait gets its error passed to the client at once.
	// Default 30s.
	MaxRetryAfter Duration `json:"maxRetryAfter,omitzero"`
}

// CircuitBreaker opens after Failures consecutive failed calls (the failures
// Retry retries, counted per attempt): for Cooldown every call fails at once
// with 503 and a Retry-After, or goes to the target's fallback. Then one
// probe call is let through; its success closes the breaker, its failure
// opens it for another Cooldown.
type CircuitBreaker struct {
	// Failures is the number of consecutive failures that opens the breaker, 1 to 1000.
	Failures int `json:"failures"`
	// Cooldown is how long the breaker stays open. Default 30s.
	Cooldown Duration `json:"cooldown,omitzero"`
}

// KeySource names where an API key is read from: an environment variable or a file.
type KeySource struct {
	Env  string `json:"env,omitempty"`
	File string `json:"file,omitempty"`
}

// Mode selects what a rule does.
type Mode string

const (
	// ModeCascade asks the draft, gates it, and escalates to the verifier when it fails.
	ModeCascade Mode = "cascade"
	// ModeVerifierOnly always asks the verifier (cascade off, accounting on).
	ModeVerifierOnly Mode = "verifier-only"
	// ModeDraftOnly always returns the draft (for rollouts and A/B tests).
	ModeDraftOnly Mode = "draft-only"
)

// ResponseModel selects the model name reported to the client.
type ResponseModel string

const (
	// ResponseModelRequested reports the model the client asked for (default).
	ResponseModelRequested ResponseModel = "requested"
	// ResponseModelServed reports the model that actually answered.
	ResponseModelServed ResponseModel = "served"
)

// Target is one model on one provider.
type Target struct {
	Provider string `json:"provider"`
	Model    string `json:"model"`
	// Fallbacks are tried in order when a call to the target fails before its
	// answer began (after the provider's retries, or at once when its
	// circuit breaker is open). Only a rule's draft and verifier take them;
	// a fallback has none of its own.
	Fallbacks []Fallback `json:"fallbacks,omitempty"`
}

// Fallback is one model on one provider tried when a target's call fails.
type Fallback struct {
	Provider string `json:"provider"`
	Model    string `json:"model"`
}

// Target is the fallback as a target of its own (with no fallbacks).
func (f Fallback) Target() Target { return Target{Provider: f.Provider, Model: f.Model} }

// Rule turns requests for some models into a cascade.
type Rule struct {
	// Name identifies the rule in metrics and logs; unique.
	Name string `json:"name"`
	// Models are the requested model names and aliases this rule serves; unique across rules.
	Models []string `json:"models"`
	// Mode defaults to cascade.
	Mode     Mode   `json:"mode,omitempty"`
	Draft    Target `json:"draft"`
	Verifier Target `json:"verifier"`
	// Threshold: the draft is accepted iff its gate score is at least this. In [0, 1]; default 0.7.
	Threshold *float64 `json:"threshold,omitempty"`
	// DraftTimeout bounds the draft call (escalate when exceeded). Default 30s.
	DraftTimeout Duration `json:"draftTimeout,omitzero"`
	// VerifierTimeout bounds the verifier call. Default: the provider's timeout.
	VerifierTimeout Duration `json:"verifierTimeout,omitzero"`
	// ResponseModel: "requested" (default) or "served".
	ResponseModel ResponseModel `json:"responseModel,omitempty"`
	// Gate tunes the quality gate; unset fields take the gate's defaults.
	Gate *Gate `json:"gate,omitempty"`
	// Prices override the price table for this rule's models.
	Prices map[string]Price `json:"prices,omitempty"`
	// Headers: add x-cascade-* headers to responses. Default true.
	CascadeHeaders *bool `json:"cascadeHeaders,omitempty"`
	// Quality declares the quality the rule must deliver and how it is
	// measured (audits) and held (a calibrated threshold and learned score).
	Quality *Quality `json:"quality,omitempty"`
	// SecondOpinion names cheap models asked in parallel with the draft; the
	// agreement of their final answers with the draft's is a gate signal.
	SecondOpinion *SecondOpinion `json:"secondOpinion,omitempty"`
	// Granularity is what the cascade decides for: "request" (default: each
	// request on its own) or "turn" (an agent's user turn: the request that
	// starts it is cascaded, the tool-result requests that continue it stay
	// on the model that answered it). Only Anthropic Messages requests are
	// read as turns; others are decided per request.
	Granularity Granularity `json:"granularity,omitempty"`
}

// Granularity selects the unit a rule's cascade decides for.
type Granularity string

const (
	// GranularityRequest decides every request on its own.
	GranularityRequest Granularity = "request"
	// GranularityTurn decides once per user turn of an agent's conversation.
	GranularityTurn Granularity = "turn"
)

// EffectiveGranularity returns the rule's granularity with its default applied.
func (r *Rule) EffectiveGranularity() Granularity {
	if r.Granularity == "" {
		return GranularityRequest
	}
	return r.Granularity
}

// Quality is a rule's quality target and the audits that measure it.
type Quality struct {
	// Target is the share of the rule's answers that must be at least as good
	// as the verifier's would have been (escalated answers count as good), in
	// (0, 1], e.g. 0.95. With a target the threshold in effect is calibrated
	// from audit samples; without one it stays Rule.Threshold and audits only
	// measure.
	Target *float64 `json:"target,omitempty"`
	// Confidence is the one-sided confidence at which the target is held, in
	// [0.5, 1). Default 0.9.
	Confidence *float64 `json:"confidence,omitempty"`
	// MinSamples is the number of labelled samples before the threshold moves
	// or a score is learned. At least 20; default 100.
	MinSamples *int `json:"minSamples,omitempty"`
	// Learn fits the rule's own score of "the draft is good" from its audit
	// samples once MinSamples are labelled. Default true with a target.
	Learn *bool `json:"learn,omitempty"`
	// ColdStart is what the rule does until it is calibrated: "threshold"
	// (default: hold Rule.Threshold) or "verifier" (answer every request with
	// the verifier, drafting a share Explore of them for samples).
	ColdStart ColdStart `json:"coldStart,omitempty"`
	// Explore is the share of requests still drafted (and compared, never
	// served) while the rule escalates everything, so that it can learn that
	// drafts got better. In [0, 1]; default 0.1.
	Explore *float64 `json:"explore,omitempty"`
	// Audit sends a share of accepted drafts to the verifier too.
	Audit *Audit `json:"audit,omitempty"`
}

// ColdStart selects a rule's behaviour before it is calibrated.
type ColdStart string

const (
	// ColdStartThreshold holds the configured threshold.
	ColdStartThreshold ColdStart = "threshold"
	// ColdStartVerifier escalates every request until calibrated.
	ColdStartVerifier ColdStart = "verifier"
)

// Audit compares accepted drafts with the verifier's answer, in the
// background, after the client has its answer.
type Audit struct {
	// Rate is the share of accepted drafts audited, in [0, 1]. Default 0.05
	// with a target, else 0.
	Rate *float64 `json:"rate,omitempty"`
	// MaxCostShare caps audit spend (verifier and judge calls) as a share of
	// the rule's other spend; an audit that would pass it is skipped. In
	// [0, 1]; default 0.1.
	MaxCostShare *float64 `json:"maxCostShare,omitempty"`
	// Comparer decides whether a draft is at least as good as the verifier's
	// answer: "auto" (default), "exact" or "judge".
	Comparer Comparer `json:"comparer,omitempty"`
	// JudgeRate is the share of comparisons the judge is asked to settle when
	// the comparer needs it (every audit is judged; escalated drafts are
	// judged at this rate). In [0, 1]; default 0.2.
	JudgeRate *float64 `json:"judgeRate,omitempty"`
	// Judge is the pairwise judge model; its cost counts as audit spend.
	Judge *AuditJudge `json:"judge,omitempty"`
	// KeepText keeps the prompt and both answers in exported samples.
	// Default false: samples carry hashes, scores and verdicts only.
	KeepText bool `json:"keepText,omitempty"`
}

// Comparer names how an audit compares two answers.
type Comparer string

const (
	// ComparerAuto compares final answers when both have one and they agree;
	// otherwise asks the judge (when configured).
	ComparerAuto Comparer = "auto"
	// ComparerExact compares final answers (numbers, choices, JSON answer
	// fields, short strings, tool calls); answers without one are not counted.
	ComparerExact Comparer = "exact"
	// ComparerJudge asks the pairwise judge, in both orders.
	ComparerJudge Comparer = "judge"
)

// AuditJudge is the model that compares two answers.
type AuditJudge struct {
	Target
	// Timeout for each judge call. Default 60s.
	Timeout Duration `json:"timeout,omitzero"`
}

// SecondOpinion is a set of cheap models asked alongside the draft.
type SecondOpinion struct {
	// Targets are asked in parallel with the draft; at least one.
	Targets []Target `json:"targets"`
	// Timeout is how long the gate waits for second opinions once the draft
	// is ready; a later opinion is dropped (its cost still counts). Default 2s.
	Timeout Duration `json:"timeout,omitzero"`
}

// Gate holds the quality gate's tunables. Nil fields mean "use the default".
type Gate struct {
	// Weights of each signal in the combined score, by signal name.
	Weights map[string]float64 `json:"weights,omitempty"`
	// Thresholds per request complexity ("simple", "moderate", "hard", ...) override Rule.Threshold.
	ComplexityThresholds map[string]float64 `json:"complexityThresholds,omitempty"`
	// SkipDraftAbove routes requests whose complexity estimate is at least this
	// (in [0,1]) straight to the verifier. Unset: never skip.
	SkipDraftAbove *float64 `json:"skipDraftAbove,omitempty"`
	// MinAnswerChars: shorter answers count as near-empty.
	MinAnswerChars *int `json:"minAnswerChars,omitempty"`
	// Judge grades drafts with a (cheap) model; its cost is counted.
	Judge *Judge `json:"judge,omitempty"`
	// Options are further named numeric settings of the gate's signals.
	Options map[string]float64 `json:"options,omitempty"`
}

// Judge is an optional model that grades a draft.
type Judge struct {
	Target
	// Weight of the judge's grade in the combined score. Default 1.
	Weight *float64 `json:"weight,omitempty"`
	// Timeout for the judge call; on timeout the judge is skipped. Default 10s.
	Timeout Duration `json:"timeout,omitzero"`
}

// Price is USD per million tokens.
type Price struct {
	Input      float64 `json:"input"`
	Output     float64 `json:"output"`
	CacheWrite float64 `json:"cacheWrite,omitempty"`
	CacheRead  float64 `json:"cacheRead,omitempty"`
}

// Route is where models without a rule go.
type Route struct {
	Provider string `json:"provider"`
	// Model, when set, replaces the requested model; empty forwards it unchanged.
	Model string `json:"model,omitempty"`
	// Fallbacks are tried in order when the call fails before its answer
	// began; each names its model (required).
	Fallbacks []Fallback `json:"fallbacks,omitempty"`
}

// Hash is the hex SHA-256 of the set's deterministic encoding.
func (s *Set) Hash() string {
	b, err := EncodeJSON(s)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// ProviderByName returns the named provider, or nil.
func (s *Set) ProviderByName(name string) *Provider {
	for i := range s.Providers {
		if s.Providers[i].Name == name {
			return &s.Providers[i]
		}
	}
	return nil
}

// Match returns the rule serving model, or nil. Names compare case-insensitively.
// For lookups on a hot path, build an Index once per loaded set.
func (s *Set) Match(model string) *Rule {
	// Lowercase, not strings.EqualFold, to agree with Index and with the
	// duplicate check in Validate ("ſ" folds to "s" but lowercases to itself).
	model = strings.ToLower(model)
	for i := range s.Rules {
		for _, m := range s.Rules[i].Models {
			if strings.ToLower(m) == model {
				return &s.Rules[i]
			}
		}
	}
	return nil
}

// Index is a precomputed model → rule lookup for a validated Set.
type Index struct {
	set    *Set
	byName map[string]*Rule
}

// NewIndex indexes a validated set.
func NewIndex(s *Set) *Index {
	ix := &Index{set: s, byName: make(map[string]*Rule)}
	for i := range s.Rules {
		for _, m := range s.Rules[i].Models {
			ix.byName[strings.ToLower(m)] = &s.Rules[i]
		}
	}
	return ix
}

// Set returns the indexed set.
func (ix *Index) Set() *Set { return ix.set }

// Match returns the rule serving model, or nil.
func (ix *Index) Match(model string) *Rule {
	if r, ok := ix.byName[model]; ok {
		return r
	}
	return ix.byName[strings.ToLower(model)]
}

// EffectiveMode returns the rule's mode with its default applied.
func (r *Rule) EffectiveMode() Mode {
	if r.Mode == "" {
		return ModeCascade
	}
	return r.Mode
}

// DefaultThreshold is the acceptance threshold when a rule sets none.
const DefaultThreshold = 0.7

// EffectiveThreshold returns the rule's threshold with its default applied.
func (r *Rule) EffectiveThreshold() float64 {
	if r.Threshold == nil {
		return DefaultThreshold
	}
	return *r.Threshold
}

// WantsCascadeHeaders reports whether x-cascade-* response headers are on.
func (r *Rule) WantsCascadeHeaders() bool { return r.CascadeHeaders == nil || *r.CascadeHeaders }
