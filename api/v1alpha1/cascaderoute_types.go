package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The spec mirrors the proxy's rules file (package proxy/rules) field for field
// where that makes sense, so one mental model serves both the standalone file
// and the cluster. What differs: API keys come from Secrets instead of
// environment variables or files, durations are metav1.Duration strings, and
// spec.proxy describes the Deployment that serves the rules.

// The model-uniqueness rule below compares model names exactly, though the
// proxy compares them case-insensitively: a lowerAscii() in the pairwise loop exceeds the CEL
// cost budget, and sets.intersects (which fits) needs Kubernetes 1.30 to
// create the CRD. Names differing only in case across rules are refused when
// the operator validates the rules (Accepted=False, reason InvalidRule).

// CascadeRouteSpec declares the providers, the cascade rules and the proxy that serves them.
// +kubebuilder:validation:XValidation:rule="!has(self.rules) || self.rules.all(r, self.providers.exists(p, p.name == r.draft.provider))",message="rules[].draft.provider must name a provider declared in spec.providers",reason=FieldValueInvalid,fieldPath=".rules"
// +kubebuilder:validation:XValidation:rule="!has(self.rules) || self.rules.all(r, self.providers.exists(p, p.name == r.verifier.provider))",message="rules[].verifier.provider must name a provider declared in spec.providers",reason=FieldValueInvalid,fieldPath=".rules"
// +kubebuilder:validation:XValidation:rule="!has(self.rules) || self.rules.all(r, !has(r.gate) || !has(r.gate.judge) || self.providers.exists(p, p.name == r.gate.judge.provider))",message="rules[].gate.judge.provider must name a provider declared in spec.providers",reason=FieldValueInvalid,fieldPath=".rules"
// +kubebuilder:validation:XValidation:rule="!has(self.rules) || self.rules.all(r, !has(r.quality) || !has(r.quality.audit) || !has(r.quality.audit.judge) || self.providers.exists(p, p.name == r.quality.audit.judge.provider))",message="rules[].quality.audit.judge.provider must name a provider declared in spec.providers",reason=FieldValueInvalid,fieldPath=".rules"
// +kubebuilder:validation:XValidation:rule="!has(self.rules) || self.rules.all(r, !has(r.secondOpinion) || r.secondOpinion.targets.all(t, self.providers.exists(p, p.name == t.provider)))",message="rules[].secondOpinion.targets[].provider must name a provider declared in spec.providers",reason=FieldValueInvalid,fieldPath=".rules"
// +kubebuilder:validation:XValidation:rule="!has(self.rules) || self.rules.all(r, (!has(r.draft.fallbacks) || r.draft.fallbacks.all(f, self.providers.exists(p, p.name == f.provider))) && (!has(r.verifier.fallbacks) || r.verifier.fallbacks.all(f, self.providers.exists(p, p.name == f.provider))))",message="rules[].draft.fallbacks[].provider and rules[].verifier.fallbacks[].provider must name providers declared in spec.providers",reason=FieldValueInvalid,fieldPath=".rules"
// +kubebuilder:validation:XValidation:rule="!has(self.rules) || self.rules.all(r, !has(r.secondOpinion) || r.secondOpinion.targets.all(t, !has(t.fallbacks)))",message="rules[].secondOpinion.targets take no fallbacks",reason=FieldValueInvalid,fieldPath=".rules"
// +kubebuilder:validation:XValidation:rule="!has(self.defaultRoute) || !has(self.defaultRoute.fallbacks) || self.defaultRoute.fallbacks.all(f, self.providers.exists(p, p.name == f.provider))",message="defaultRoute.fallbacks[].provider must name providers declared in spec.providers",reason=FieldValueInvalid,fieldPath=".defaultRoute.fallbacks"
// +kubebuilder:validation:XValidation:rule="!has(self.defaultRoute) || self.providers.exists(p, p.name == self.defaultRoute.provider)",message="defaultRoute.provider must name a provider declared in spec.providers",reason=FieldValueInvalid,fieldPath=".defaultRoute.provider"
// +kubebuilder:validation:XValidation:rule="!has(self.rules) || self.rules.all(a, self.rules.all(b, a.name == b.name || !a.models.exists(m, m in b.models)))",message="a model name may be served by only one rule (each entry of rules[].models must be unique across rules)",reason=FieldValueInvalid,fieldPath=".rules"
// +kubebuilder:validation:XValidation:rule="!has(self.clientKeys) || size(self.clientKeys) == 0 || has(self.proxy.clientKeysSecretRef)",message="clientKeys name keys of spec.proxy.clientKeysSecretRef, which must be set",reason=FieldValueRequired,fieldPath=".clientKeys"
type CascadeRouteSpec struct {
	// providers are the upstream APIs the proxy may call. Rules, the judge and
	// the default route name them.
	// +required
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	Providers []Provider `json:"providers"`

	// rules map requested model names to a cascade: ask the draft model first,
	// gate its answer, and escalate to the verifier when the gate rejects it.
	// A model name appears in at most one rule.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=32
	Rules []Rule `json:"rules,omitempty"`

	// defaultRoute serves requests for models no rule names, without a
	// cascade. Without it, such requests are answered 404 (model not found).
	// +optional
	DefaultRoute *Route `json:"defaultRoute,omitempty"`

	// prices override or extend the proxy's built-in price table, keyed by
	// model name, in USD per million tokens. Used for cost and savings figures.
	// +optional
	// +kubebuilder:validation:MaxProperties=128
	Prices map[string]Price `json:"prices,omitempty"`

	// proxy describes the Deployment and Service that serve these rules.
	// +optional
	// +kubebuilder:default={}
	Proxy ProxySpec `json:"proxy,omitempty"`

	// clientKeys name the keys of spec.proxy.clientKeysSecretRef (by their
	// data key in that Secret) and limit them: a budget per period, requests
	// and tokens per minute, the models they may use. Spend, savings and
	// tokens are attributed per key and team in metrics, logs and
	// /api/stats. Keys of the Secret no entry names are accepted and not
	// limited. See docs/teams.md.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=256
	// +kubebuilder:validation:XValidation:rule="self.all(k, self.exists_one(o, o.secretKey == k.secretKey))",message="each clientKeys entry must read its own secretKey"
	ClientKeys []ClientKey `json:"clientKeys,omitempty"`

	// teams give the client keys of a team a shared budget.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=64
	Teams []Team `json:"teams,omitempty"`
}

// ProviderType names the wire format a provider speaks.
// +kubebuilder:validation:Enum=anthropic;openai
type ProviderType string

const (
	// ProviderAnthropic is the Anthropic Messages API.
	ProviderAnthropic ProviderType = "anthropic"
	// ProviderOpenAI is the OpenAI Chat Completions API or a compatible server (vLLM, Ollama, ...).
	ProviderOpenAI ProviderType = "openai"
)

// Provider is one upstream API and how the proxy authenticates to it.
// +kubebuilder:validation:XValidation:rule="has(self.apiKeySecretRef) != (has(self.passthroughAuth) && self.passthroughAuth)",message="set exactly one of apiKeySecretRef and passthroughAuth: true"
type Provider struct {
	// name identifies the provider within this CascadeRoute; rules refer to it.
	// A DNS label: lowercase letters, digits and '-'.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`
	Name string `json:"name"`

	// type is the wire format the provider speaks: anthropic (Messages API)
	// or openai (Chat Completions, also for compatible servers).
	// +required
	Type ProviderType `json:"type"`

	// baseURL is the API root. For type openai it includes the version path
	// (requests go to baseURL + "/chat/completions", e.g. https://api.openai.com/v1);
	// for type anthropic it does not (requests go to baseURL + "/v1/messages",
	// e.g. https://api.anthropic.com). Must not contain credentials.
	// +required
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="self.matches('^https?://[^/@?#\\\\s]+([/?#][^\\\\s]*)?$')",message="baseURL must be an absolute http(s) URL without credentials"
	BaseURL string `json:"baseURL"`

	// apiKeySecretRef names the Secret key holding this provider's API key.
	// The key reaches the proxy as an environment variable, never through the
	// rules ConfigMap. Exactly one of apiKeySecretRef and passthroughAuth is set.
	// +optional
	APIKeySecretRef *SecretKeyRef `json:"apiKeySecretRef,omitempty"`

	// passthroughAuth forwards the client's own credentials (x-api-key or
	// Authorization header) to this provider instead of a configured key.
	// +optional
	PassthroughAuth bool `json:"passthroughAuth,omitempty"`

	// timeout bounds the wait for the provider's response headers, e.g.
	// "600s" or "10m"; a streamed answer may then take as long as it keeps
	// sending (see idleTimeout). Default 10m.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]{1,5}(h|m|s|ms)){1,4}$`
	Timeout *metav1.Duration `json:"timeout,omitempty"`

	// idleTimeout bounds how long the provider may send nothing once its
	// response headers have arrived, e.g. "2m": a stalled answer then fails
	// with a timeout (504), or a stream ends with an in-band error event.
	// Reasoning models can think silently mid-stream, so keep it generous.
	// Default 5m.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]{1,5}(h|m|s|ms)){1,4}$`
	IdleTimeout *metav1.Duration `json:"idleTimeout,omitempty"`

	// headers are extra request headers sent to this provider, e.g.
	// anthropic-beta. They are stored in a ConfigMap, so credentials
	// (Authorization, x-api-key, ...) are refused: use apiKeySecretRef.
	// +optional
	// +kubebuilder:validation:MaxProperties=32
	// +kubebuilder:validation:XValidation:rule="self.all(h, h.matches('^[!#$%&\\'*+.^_`|~0-9A-Za-z-]+$'))",message="header names must be HTTP tokens"
	// +kubebuilder:validation:XValidation:rule="self.all(h, !(h.lowerAscii() in ['authorization', 'x-api-key', 'api-key', 'proxy-authorization', 'cookie']))",message="headers must not carry credentials; use apiKeySecretRef"
	Headers map[string]string `json:"headers,omitempty"`

	// retry retries calls that failed before the provider's answer began
	// (connection errors, 408, 429, 500, 502, 503, 504, 529), with
	// exponential backoff and full jitter or the provider's Retry-After.
	// Default: off (the vendors' SDKs retry on their own).
	// +optional
	Retry *Retry `json:"retry,omitempty"`

	// circuitBreaker stops calling the provider for a cool-down after
	// consecutive failures: calls go at once to a target's fallback, or get
	// a 503 with Retry-After. Default: off.
	// +optional
	CircuitBreaker *CircuitBreaker `json:"circuitBreaker,omitempty"`
}

// Retry is how a provider's failed calls are retried.
// +kubebuilder:validation:XValidation:rule="!has(self.initialBackoff) || !has(self.maxBackoff) || duration(self.initialBackoff) <= duration(self.maxBackoff)",message="retry.initialBackoff must not exceed retry.maxBackoff"
type Retry struct {
	// attempts is the number of retries after the first call; 0 turns
	// retries off.
	// +required
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=10
	Attempts int `json:"attempts"`

	// initialBackoff is the first retry's backoff ceiling; each retry
	// doubles it, up to maxBackoff, and waits a random share of it. Default 500ms.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]{1,5}(h|m|s|ms)){1,4}$`
	InitialBackoff *metav1.Duration `json:"initialBackoff,omitempty"`

	// maxBackoff caps the backoff ceiling. Default 8s.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]{1,5}(h|m|s|ms)){1,4}$`
	MaxBackoff *metav1.Duration `json:"maxBackoff,omitempty"`

	// maxRetryAfter is the longest Retry-After honoured; a provider asking
	// for longer has its error passed to the client at once. Default 30s.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]{1,5}(h|m|s|ms)){1,4}$`
	MaxRetryAfter *metav1.Duration `json:"maxRetryAfter,omitempty"`
}

// CircuitBreaker opens after consecutive failed calls to a provider.
type CircuitBreaker struct {
	// failures is the number of consecutive failed calls that opens the breaker.
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	Failures int `json:"failures"`

	// cooldown is how long the breaker stays open before one probe call is
	// let through. Default 30s.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]{1,5}(h|m|s|ms)){1,4}$`
	Cooldown *metav1.Duration `json:"cooldown,omitempty"`
}

// SecretKeyRef selects one key of a Secret in the CascadeRoute's namespace.
type SecretKeyRef struct {
	// name of the Secret, in the same namespace as the CascadeRoute.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	Name string `json:"name"`

	// key within the Secret's data whose value is the API key.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	Key string `json:"key"`
}

// Mode selects what a rule does.
// +kubebuilder:validation:Enum=cascade;verifier-only;draft-only
type Mode string

const (
	// ModeCascade asks the draft, gates it, and escalates to the verifier when it fails.
	ModeCascade Mode = "cascade"
	// ModeVerifierOnly always asks the verifier (cascade off, cost accounting on).
	ModeVerifierOnly Mode = "verifier-only"
	// ModeDraftOnly always returns the draft (for rollouts and A/B tests).
	ModeDraftOnly Mode = "draft-only"
)

// ResponseModel selects the model name reported to the client.
// +kubebuilder:validation:Enum=requested;served
type ResponseModel string

const (
	// ResponseModelRequested reports the model the client asked for.
	ResponseModelRequested ResponseModel = "requested"
	// ResponseModelServed reports the model that actually answered.
	ResponseModelServed ResponseModel = "served"
)

// Rule turns requests for some model names into a cascade.
type Rule struct {
	// name identifies the rule in metrics and logs. A DNS label, unique within the CascadeRoute.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`
	Name string `json:"name"`

	// models are the requested model names and aliases this rule serves, as
	// clients send them (e.g. claude-opus-5-5). Compared case-insensitively;
	// each name may appear in only one rule.
	// +required
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=128
	// +kubebuilder:validation:XValidation:rule="self.all(m, self.exists_one(n, n.lowerAscii() == m.lowerAscii()))",message="models must be unique, compared case-insensitively"
	Models []string `json:"models"`

	// mode is cascade (default: draft, gate, escalate on rejection),
	// verifier-only (always the verifier; cascade off, accounting on) or
	// draft-only (always the draft).
	// +optional
	Mode Mode `json:"mode,omitempty"`

	// draft is the cheap model asked first.
	// +required
	Draft Target `json:"draft"`

	// verifier is the strong model that answers when the draft is rejected.
	// +required
	Verifier Target `json:"verifier"`

	// threshold: the draft is accepted when its gate score is at least this.
	// Between 0 and 1; default 0.7. Lower accepts more drafts (cheaper, riskier).
	// +optional
	// +kubebuilder:validation:XValidation:rule="self >= 0.0 && self <= 1.0",message="threshold must be between 0 and 1"
	Threshold *float64 `json:"threshold,omitempty"`

	// draftTimeout bounds the draft call; when exceeded the request escalates
	// to the verifier. Default 30s.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]{1,5}(h|m|s|ms)){1,4}$`
	DraftTimeout *metav1.Duration `json:"draftTimeout,omitempty"`

	// verifierTimeout bounds the verifier call. Default: the provider's timeout.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]{1,5}(h|m|s|ms)){1,4}$`
	VerifierTimeout *metav1.Duration `json:"verifierTimeout,omitempty"`

	// responseModel is the model name reported to the client: requested
	// (default, what the client asked for) or served (the model that answered).
	// +optional
	ResponseModel ResponseModel `json:"responseModel,omitempty"`

	// gate tunes the quality gate that scores drafts; unset fields keep the gate's defaults.
	// +optional
	Gate *Gate `json:"gate,omitempty"`

	// prices override the price table for this rule's models, keyed by model
	// name, in USD per million tokens.
	// +optional
	// +kubebuilder:validation:MaxProperties=32
	Prices map[string]Price `json:"prices,omitempty"`

	// cascadeHeaders adds x-cascade-* headers (outcome, served model, cost) to
	// responses. Default true.
	// +optional
	CascadeHeaders *bool `json:"cascadeHeaders,omitempty"`

	// quality declares the share of answers that must be at least as good as
	// the verifier's, and the audits that measure it. With a target the
	// operator calibrates the threshold in effect from every proxy pod's
	// audit samples (see status.quality); without one audits only measure.
	// +optional
	Quality *Quality `json:"quality,omitempty"`

	// secondOpinion names cheap models asked in parallel with the draft; how
	// far their final answers agree with the draft's is a gate signal.
	// +optional
	SecondOpinion *SecondOpinion `json:"secondOpinion,omitempty"`

	// granularity is what the cascade decides for: request (default, each
	// request on its own) or turn (an agent's user turn: the request that
	// starts it is cascaded; the tool-result requests that continue it stay
	// on the model that answered it, unless the gate vetoes a draft's step).
	// Only Anthropic Messages requests are read as turns.
	// +optional
	Granularity Granularity `json:"granularity,omitempty"`
}

// Granularity selects the unit a rule's cascade decides for.
// +kubebuilder:validation:Enum=request;turn
type Granularity string

const (
	// GranularityRequest decides every request on its own.
	GranularityRequest Granularity = "request"
	// GranularityTurn decides once per user turn of an agent's conversation.
	GranularityTurn Granularity = "turn"
)

// ColdStart selects what a rule with a quality target does before it is calibrated.
// +kubebuilder:validation:Enum=threshold;verifier
type ColdStart string

const (
	// ColdStartThreshold holds the rule's configured threshold.
	ColdStartThreshold ColdStart = "threshold"
	// ColdStartVerifier answers every request with the verifier until calibrated.
	ColdStartVerifier ColdStart = "verifier"
)

// Comparer names how an audit compares a draft with the verifier's answer.
// +kubebuilder:validation:Enum=auto;exact;judge
type Comparer string

const (
	// ComparerAuto compares final answers, and asks the judge (when set) otherwise.
	ComparerAuto Comparer = "auto"
	// ComparerExact compares final answers only; answers without one are not counted.
	ComparerExact Comparer = "exact"
	// ComparerJudge asks the pairwise judge, in both orders.
	ComparerJudge Comparer = "judge"
)

// Quality is a rule's quality target and the audits that measure it.
// +kubebuilder:validation:XValidation:rule="!has(self.audit) || !has(self.audit.comparer) || self.audit.comparer != 'judge' || has(self.audit.judge)",message="audit.judge is required with audit.comparer judge",fieldPath=".audit.judge"
type Quality struct {
	// target is the share of the rule's answers that must be at least as
	// good as the verifier's would have been (escalated answers count as
	// good), above 0 and at most 1, e.g. 0.95. With a target the threshold
	// in effect is calibrated from audit samples; without one it stays the
	// rule's threshold and audits only measure.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self > 0.0 && self <= 1.0",message="quality.target must be above 0 and at most 1"
	Target *float64 `json:"target,omitempty"`

	// confidence is the one-sided confidence at which the target is held,
	// at least 0.5 and below 1. Default 0.9.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self >= 0.5 && self < 1.0",message="quality.confidence must be at least 0.5 and below 1"
	Confidence *float64 `json:"confidence,omitempty"`

	// minSamples is the number of labelled (audited or compared) samples
	// before the threshold moves or a score is learned. At least 20; default 100.
	// +optional
	// +kubebuilder:validation:Minimum=20
	// +kubebuilder:validation:Maximum=5000
	MinSamples *int32 `json:"minSamples,omitempty"`

	// learn fits the rule's own score of "the draft is good" from its
	// labelled samples once minSamples are labelled. Default true with a target.
	// +optional
	Learn *bool `json:"learn,omitempty"`

	// coldStart is what the rule does until it is calibrated: threshold
	// (default: hold the rule's threshold) or verifier (answer every request
	// with the verifier, drafting a share explore of them for samples).
	// +optional
	ColdStart ColdStart `json:"coldStart,omitempty"`

	// explore is the share of requests still drafted (compared, never
	// served) while the rule escalates everything, so that it notices drafts
	// got better. Between 0 and 1; default 0.1.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self >= 0.0 && self <= 1.0",message="quality.explore must be between 0 and 1"
	Explore *float64 `json:"explore,omitempty"`

	// audit sends a share of accepted drafts to the verifier too, in the
	// background after the client has its answer, to measure their quality.
	// +optional
	Audit *Audit `json:"audit,omitempty"`
}

// Audit compares accepted drafts with the verifier's answer.
type Audit struct {
	// rate is the share of accepted drafts audited, between 0 and 1.
	// Default 0.05 with a target, else 0.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self >= 0.0 && self <= 1.0",message="quality.audit.rate must be between 0 and 1"
	Rate *float64 `json:"rate,omitempty"`

	// maxCostShare caps audit spend (verifier and judge calls) as a share of
	// the rule's other spend; an audit that would pass it is skipped.
	// Between 0 and 1; default 0.1.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self >= 0.0 && self <= 1.0",message="quality.audit.maxCostShare must be between 0 and 1"
	MaxCostShare *float64 `json:"maxCostShare,omitempty"`

	// comparer decides whether a draft is at least as good as the
	// verifier's answer: auto (default: final answers when both have one,
	// else the judge when set), exact (final answers only) or judge (the
	// pairwise judge; needs judge).
	// +optional
	Comparer Comparer `json:"comparer,omitempty"`

	// judgeRate is the share of escalated drafts whose comparison the judge
	// settles when the comparer needs it (every audit is judged). Between 0
	// and 1; default 0.2.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self >= 0.0 && self <= 1.0",message="quality.audit.judgeRate must be between 0 and 1"
	JudgeRate *float64 `json:"judgeRate,omitempty"`

	// judge is the pairwise judge model; its cost counts as audit spend.
	// +optional
	Judge *AuditJudge `json:"judge,omitempty"`

	// keepText keeps the prompt and both answers in the samples each proxy
	// pod publishes. Default false: samples carry hashes, scores and
	// verdicts only. The operator's sample archive never keeps text.
	// +optional
	KeepText bool `json:"keepText,omitempty"`
}

// AuditJudge is the model that compares a draft with the verifier's answer.
type AuditJudge struct {
	// provider is the name of an entry in spec.providers.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Provider string `json:"provider"`

	// model is the judge's model name on that provider.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	Model string `json:"model"`

	// timeout for each judge call. Default 60s.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]{1,5}(h|m|s|ms)){1,4}$`
	Timeout *metav1.Duration `json:"timeout,omitempty"`
}

// SecondOpinion is a set of cheap models asked alongside the draft.
type SecondOpinion struct {
	// targets are asked in parallel with the draft; at least one.
	// +required
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=4
	Targets []Target `json:"targets"`

	// timeout is how long the gate waits for second opinions once the draft
	// is ready; a later opinion is dropped (its cost still counts). Default 2s.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]{1,5}(h|m|s|ms)){1,4}$`
	Timeout *metav1.Duration `json:"timeout,omitempty"`
}

// Target is one model on one declared provider.
type Target struct {
	// provider is the name of an entry in spec.providers.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Provider string `json:"provider"`

	// model is the model name sent to that provider, e.g. claude-haiku-5-5.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	Model string `json:"model"`

	// fallbacks are tried in order when a call to this target fails before
	// its answer began (after the provider's retries, or at once while its
	// circuit breaker is open). Only a rule's draft and verifier take them.
	// +optional
	// +kubebuilder:validation:MaxItems=4
	Fallbacks []Fallback `json:"fallbacks,omitempty"`
}

// Fallback is one model on one declared provider tried when a target fails.
type Fallback struct {
	// provider is the name of an entry in spec.providers.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Provider string `json:"provider"`

	// model is the model name sent to that provider.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	Model string `json:"model"`
}

// Gate holds the quality gate's tunables. Unset fields mean "use the default".
type Gate struct {
	// weights of the signals in the combined score (exponents of a weighted
	// product), by signal name: truncation, empty, refusal, hedging,
	// repetition, length, tool_calls, format, arithmetic, coverage, answer,
	// complexity, logprob, judge. Non-negative; 0 turns a signal off. Unset
	// signals keep their defaults (arithmetic 3, the others 1).
	// +optional
	// +kubebuilder:validation:MaxProperties=32
	// +kubebuilder:validation:XValidation:rule="self.all(k, k in ['truncation', 'empty', 'refusal', 'hedging', 'repetition', 'length', 'tool_calls', 'format', 'arithmetic', 'coverage', 'answer', 'complexity', 'logprob', 'judge'])",message="gate weights must be keyed by signal name: truncation, empty, refusal, hedging, repetition, length, tool_calls, format, arithmetic, coverage, answer, complexity, logprob or judge"
	// +kubebuilder:validation:XValidation:rule="self.all(k, self[k] >= 0.0)",message="gate weights must not be negative"
	Weights map[string]float64 `json:"weights,omitempty"`

	// complexityThresholds override threshold per estimated request
	// complexity: simple, moderate or hard. Each between 0 and 1.
	// +optional
	// +kubebuilder:validation:MaxProperties=16
	// +kubebuilder:validation:XValidation:rule="self.all(k, k in ['simple', 'moderate', 'hard'])",message="complexity thresholds must be keyed by level: simple, moderate or hard"
	// +kubebuilder:validation:XValidation:rule="self.all(k, self[k] >= 0.0 && self[k] <= 1.0)",message="complexity thresholds must be between 0 and 1"
	ComplexityThresholds map[string]float64 `json:"complexityThresholds,omitempty"`

	// skipDraftAbove sends requests whose estimated complexity is at least
	// this (between 0 and 1) straight to the verifier. Unset: never skip.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self >= 0.0 && self <= 1.0",message="skipDraftAbove must be between 0 and 1"
	SkipDraftAbove *float64 `json:"skipDraftAbove,omitempty"`

	// minAnswerChars: draft answers shorter than this count as near-empty.
	// +optional
	// +kubebuilder:validation:Minimum=0
	MinAnswerChars *int32 `json:"minAnswerChars,omitempty"`

	// judge grades drafts with a (cheap) model; its cost is counted.
	// +optional
	Judge *Judge `json:"judge,omitempty"`

	// options are further named numeric settings of the gate's signals, e.g.
	// hedge_penalty or repetition_ngram; proxy/quality/doc.go describes each
	// and its range. None is negative; scores, shares and level boundaries
	// are between 0 and 1. The operator refuses values outside an option's
	// range (condition Accepted=False, reason InvalidRule).
	// +optional
	// +kubebuilder:validation:MaxProperties=32
	// +kubebuilder:validation:XValidation:rule="self.all(k, k in ['veto_cap', 'dangling_score', 'unfinished_score', 'hedge_penalty', 'hedge_floor', 'refusal_partial_score', 'repetition_ngram', 'repetition_low', 'repetition_high', 'length_min_longform', 'length_min_code', 'length_min_explain', 'length_no_code_score', 'length_work_ratio', 'arithmetic_tolerance', 'coverage_unused_score', 'answer_flaw_score', 'complexity_moderate', 'complexity_hard', 'complexity_penalty', 'complexity_verified_discount', 'complexity_verified_calcs', 'logprob_low', 'logprob_high', 'judge_timeout_seconds'])",message="unknown gate option; the options are veto_cap, dangling_score, unfinished_score, hedge_penalty, hedge_floor, refusal_partial_score, repetition_ngram, repetition_low, repetition_high, length_min_longform, length_min_code, length_min_explain, length_no_code_score, length_work_ratio, arithmetic_tolerance, coverage_unused_score, answer_flaw_score, complexity_moderate, complexity_hard, complexity_penalty, complexity_verified_discount, complexity_verified_calcs, logprob_low, logprob_high, judge_timeout_seconds"
	// +kubebuilder:validation:XValidation:rule="self.all(k, self[k] >= 0.0)",message="gate options must not be negative"
	// +kubebuilder:validation:XValidation:rule="self.all(k, !(k in ['veto_cap', 'dangling_score', 'unfinished_score', 'hedge_floor', 'refusal_partial_score', 'repetition_low', 'repetition_high', 'length_no_code_score', 'arithmetic_tolerance', 'coverage_unused_score', 'answer_flaw_score', 'complexity_moderate', 'complexity_hard', 'complexity_penalty', 'complexity_verified_discount', 'logprob_low', 'logprob_high']) || self[k] <= 1.0)",message="gate options that are scores, shares or level boundaries must be between 0 and 1"
	Options map[string]float64 `json:"options,omitempty"`
}

// Judge is an optional model that grades a draft.
type Judge struct {
	// provider is the name of an entry in spec.providers.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Provider string `json:"provider"`

	// model is the judge's model name on that provider.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	Model string `json:"model"`

	// weight of the judge's grade in the combined score. Default 1.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self >= 0.0",message="judge weight must not be negative"
	Weight *float64 `json:"weight,omitempty"`

	// timeout for the judge call; on timeout the judge is skipped. Default 10s.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]{1,5}(h|m|s|ms)){1,4}$`
	Timeout *metav1.Duration `json:"timeout,omitempty"`
}

// Price is a model's price in USD per million tokens.
type Price struct {
	// input tokens, USD per million.
	// +required
	// +kubebuilder:validation:XValidation:rule="self >= 0.0",message="prices must not be negative"
	Input float64 `json:"input"`

	// output tokens, USD per million.
	// +required
	// +kubebuilder:validation:XValidation:rule="self >= 0.0",message="prices must not be negative"
	Output float64 `json:"output"`

	// cacheWrite: prompt-cache write tokens, USD per million.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self >= 0.0",message="prices must not be negative"
	CacheWrite float64 `json:"cacheWrite,omitempty"`

	// cacheRead: prompt-cache read tokens, USD per million.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self >= 0.0",message="prices must not be negative"
	CacheRead float64 `json:"cacheRead,omitempty"`
}

// Route is where requests for models without a rule go.
type Route struct {
	// provider is the name of an entry in spec.providers.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Provider string `json:"provider"`

	// model, when set, replaces the requested model name; empty forwards it unchanged.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	Model string `json:"model,omitempty"`

	// fallbacks are tried in order when the call fails before its answer
	// began; the response's X-Cascade-Model names the model that answered.
	// +optional
	// +kubebuilder:validation:MaxItems=4
	Fallbacks []Fallback `json:"fallbacks,omitempty"`
}

// ProxySpec describes the proxy Deployment and Service, and optionally its
// Ingress and autoscaling.
// +kubebuilder:validation:XValidation:rule="!has(self.autoscaling) || !has(self.resources) || !has(self.resources.requests) || 'cpu' in self.resources.requests",message="autoscaling scales on CPU utilisation, which needs a CPU request: set resources.requests.cpu (or leave resources unset for the default)",fieldPath=".resources"
// +kubebuilder:validation:XValidation:rule="!has(self.autoscaling) || !has(self.resources) || has(self.resources.requests)",message="autoscaling scales on CPU utilisation, which needs a CPU request: set resources.requests.cpu (or leave resources unset for the default)",fieldPath=".resources"
type ProxySpec struct {
	// replicas is the number of proxy pods. Default 1. Ignored while
	// autoscaling is set: the HorizontalPodAutoscaler owns the count then.
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	Replicas *int32 `json:"replicas,omitempty"`

	// image of the proxy container. Default: the operator's --proxy-image.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	Image string `json:"image,omitempty"`

	// imagePullPolicy of the proxy container. Default: Kubernetes' default for the image tag.
	// +optional
	// +kubebuilder:validation:Enum=Always;IfNotPresent;Never
	ImagePullPolicy corev1.PullPolicy `json:"imagePullPolicy,omitempty"`

	// resources of the proxy container. Default: requests of 100m CPU and
	// 128Mi memory, a memory limit of 512Mi and no CPU limit (a CPU limit
	// throttles streams in bursts; the request is what the scheduler and the
	// autoscaler use). Set together, these replace the default entirely.
	// +optional
	Resources *corev1.ResourceRequirements `json:"resources,omitempty"`

	// terminationGracePeriodSeconds gives in-flight (often streaming) requests
	// time to finish when a pod stops. Default 60.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=3600
	TerminationGracePeriodSeconds *int64 `json:"terminationGracePeriodSeconds,omitempty"`

	// service exposes the proxy inside (or outside) the cluster.
	// +optional
	// +kubebuilder:default={}
	Service ServiceSpec `json:"service,omitempty"`

	// env sets OpenTelemetry variables (names starting OTEL_) in the proxy
	// container, e.g. OTEL_EXPORTER_OTLP_ENDPOINT to turn tracing on (see
	// docs/tracing.md); a header with a collector token can come from a
	// Secret (valueFrom). These override the operator's defaults
	// (--proxy-env) of the same name.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:XValidation:rule="self.all(e, e.name.startsWith('OTEL_'))",message="only OTEL_* variables may be set"
	Env []corev1.EnvVar `json:"env,omitempty"`

	// clientKeysSecretRef names a Secret whose values are the keys clients
	// must present (x-api-key or Authorization: Bearer); every value of the
	// Secret, one key per line, is accepted, and edits reach running pods
	// without a restart. Unset: the proxy does not authenticate clients
	// itself. A route exposed through spec.proxy.ingress (or a NodePort or
	// LoadBalancer spec.proxy.service.type) needs this, or
	// passthroughAuth on every provider, or ingress.allowUnauthenticated
	// (service.allowUnauthenticated for a NodePort or LoadBalancer Service).
	// +optional
	ClientKeysSecretRef *LocalSecretRef `json:"clientKeysSecretRef,omitempty"`

	// limits says where the replicas count client keys' budgets and rate
	// limits together (spec.clientKeys): a shared Redis, and what to do
	// while it is unreachable.
	// +optional
	Limits *LimitsSpec `json:"limits,omitempty"`

	// ingress, when set, makes the operator create a networking.k8s.io/v1
	// Ingress (named like the Service) to the proxy Service, with
	// streaming-friendly annotations (see ingress.annotations); removing it
	// deletes the Ingress. The Ingress is refused (condition Degraded=True,
	// reason InsecureExposure) when clients would reach vendor keys without
	// authenticating: see allowUnauthenticated. When client keys are added
	// to a running route, the Ingress is created once every pod checks them.
	// The proxy's /metrics and /debug/rules are served only on the pods'
	// admin port (9090), never through the Service or the Ingress; path /v1
	// exposes the model APIs without the native /api/* endpoints.
	// +optional
	Ingress *IngressSpec `json:"ingress,omitempty"`

	// autoscaling, when set, makes the operator create an autoscaling/v2
	// HorizontalPodAutoscaler for the proxy Deployment and leave the
	// Deployment's replica count to it (spec.proxy.replicas is ignored).
	// Removing it deletes the autoscaler and restores spec.proxy.replicas.
	// +optional
	Autoscaling *AutoscalingSpec `json:"autoscaling,omitempty"`
}

// IngressSpec is the Ingress that exposes the proxy outside the cluster.
// Its annotations field documents the streaming defaults per controller.
// +kubebuilder:validation:XValidation:rule="!has(self.tls) || has(self.host)",message="tls needs a host: the certificate is served for spec.proxy.ingress.host",fieldPath=".tls"
type IngressSpec struct {
	// className is the IngressClass that serves this Ingress, e.g. nginx.
	// Unset: the cluster's default IngressClass.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	ClassName *string `json:"className,omitempty"`

	// host is the DNS name clients use, e.g. llm.example.com; a wildcard
	// (*.example.com) is allowed. Unset: every host the controller serves.
	// Required with tls.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	Host string `json:"host,omitempty"`

	// path routed to the proxy. Default "/". The proxy serves its API at
	// /v1/... and the Ingress forwards the path unchanged, so another path
	// needs the controller's rewrite annotation.
	// +optional
	// +kubebuilder:default="/"
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:XValidation:rule="self.startsWith('/')",message="path must start with /"
	// +kubebuilder:validation:XValidation:rule="!self.matches('(//|/\\\\./|/\\\\.\\\\./|%2[fF]|/\\\\.\\\\.?$|\\\\s)')",message="path must not contain //, /./, /../, %2f or white space, nor end in /. or /.."
	Path string `json:"path,omitempty"`

	// pathType is how path matches: Prefix (default), Exact or
	// ImplementationSpecific (the IngressClass decides, e.g. regular
	// expressions with ingress-nginx's use-regex).
	// +optional
	// +kubebuilder:default=Prefix
	// +kubebuilder:validation:Enum=Prefix;Exact;ImplementationSpecific
	PathType networkingv1.PathType `json:"pathType,omitempty"`

	// tls terminates HTTPS at the Ingress for host with the certificate in
	// a Secret. Strongly recommended: clients send their keys in headers.
	// +optional
	TLS *IngressTLS `json:"tls,omitempty"`

	// annotations of the Ingress, e.g. cert-manager.io/cluster-issuer. The
	// operator adds defaults that let ingress-nginx pass long streamed answers
	// through; an annotation given here with the same key wins:
	// nginx.ingress.kubernetes.io/proxy-buffering "off" (tokens reach the
	// client as they are generated), proxy-read-timeout and proxy-send-timeout
	// "3600" (seconds; a long or thinking generation may be silent for
	// minutes, the default is 60), proxy-body-size "32m" (coding agents send
	// whole files; the default is 1m). Other controllers ignore those keys and
	// need their own: Traefik streams event streams unbuffered and has no
	// response timeout by default (raise the entry point's
	// transport.respondingTimeouts if you set them); HAProxy Kubernetes
	// Ingress: haproxy.org/timeout-server "3600s" (default 50s); AWS Load
	// Balancer Controller: alb.ingress.kubernetes.io/load-balancer-attributes
	// "idle_timeout.timeout_seconds=3600" (default 60); GKE Ingress: a
	// BackendConfig with timeoutSec 3600 (default 30). Snippet annotations
	// (keys ending in -snippet) are refused: they inject raw controller
	// configuration.
	// +optional
	// +kubebuilder:validation:MaxProperties=64
	// +kubebuilder:validation:XValidation:rule="self.all(k, k.matches('^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$'))",message="annotation keys must be qualified names (an optional DNS prefix and '/', then at most 63 characters)"
	// +kubebuilder:validation:XValidation:rule="self.all(k, !k.endsWith('-snippet'))",message="snippet annotations inject raw controller configuration and are refused; use the controller's dedicated annotations"
	Annotations map[string]string `json:"annotations,omitempty"`

	// allowUnauthenticated exposes the route even though the proxy would
	// spend its vendor keys for any client that reaches the Ingress: no
	// clientKeysSecretRef is set and some provider uses an apiKeySecretRef.
	// Only for an Ingress that is otherwise protected (an authenticating
	// controller, an allow-list, a private network). While true and
	// unauthenticated, the route keeps the condition Degraded=True with
	// reason InsecureExposure and a Warning event is recorded.
	// +optional
	AllowUnauthenticated bool `json:"allowUnauthenticated,omitempty"`
}

// IngressTLS selects the certificate of the Ingress.
type IngressTLS struct {
	// secretName is a kubernetes.io/tls Secret in the CascadeRoute's
	// namespace holding the certificate for host (it may be written by
	// cert-manager through an annotation).
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	SecretName string `json:"secretName"`
}

// AutoscalingSpec sizes the proxy Deployment with a HorizontalPodAutoscaler
// on CPU utilisation.
// +kubebuilder:validation:XValidation:rule="!has(self.minReplicas) || self.minReplicas <= self.maxReplicas",message="minReplicas must not exceed maxReplicas"
type AutoscalingSpec struct {
	// minReplicas is the fewest proxy pods. Default 1. With more than one a
	// PodDisruptionBudget keeps all but one running during node drains.
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	MinReplicas *int32 `json:"minReplicas,omitempty"`

	// maxReplicas is the most proxy pods.
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	MaxReplicas int32 `json:"maxReplicas"`

	// targetCPUUtilizationPercentage is the average CPU use, in percent of
	// the CPU request, the autoscaler aims for. Default 70.
	// +optional
	// +kubebuilder:default=70
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=200
	TargetCPUUtilizationPercentage *int32 `json:"targetCPUUtilizationPercentage,omitempty"`
}

// ServiceSpec is the proxy Service's shape.
type ServiceSpec struct {
	// type of the Service. Default ClusterIP. NodePort and LoadBalancer
	// expose the proxy beyond the cluster like an Ingress, under the same
	// rule: they are refused (the Service is made ClusterIP; condition
	// Degraded=True, reason InsecureExposure) when clients would reach
	// vendor keys without authenticating: see allowUnauthenticated.
	// +optional
	// +kubebuilder:default=ClusterIP
	// +kubebuilder:validation:Enum=ClusterIP;NodePort;LoadBalancer
	Type corev1.ServiceType `json:"type,omitempty"`

	// allowUnauthenticated makes a NodePort or LoadBalancer Service even
	// though the proxy would spend its vendor keys for any client that
	// reaches it: no clientKeysSecretRef is set and some provider uses an
	// apiKeySecretRef. Only for a Service that is otherwise protected (a
	// private network, loadBalancerSourceRanges set by a policy). While true
	// and unauthenticated, the route keeps the condition Degraded=True with
	// reason InsecureExposure and a Warning event is recorded.
	// +optional
	AllowUnauthenticated bool `json:"allowUnauthenticated,omitempty"`

	// port the Service listens on; it forwards to the proxy's port 8080. Default 8080.
	// +optional
	// +kubebuilder:default=8080
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Port int32 `json:"port,omitempty"`
}

// LocalSecretRef names a Secret in the CascadeRoute's namespace.
type LocalSecretRef struct {
	// name of the Secret.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	Name string `json:"name"`
}

// Condition types of a CascadeRoute.
const (
	// ConditionAccepted is True when the spec translated into a valid rules file
	// and that file was written to the rules ConfigMap.
	ConditionAccepted = "Accepted"
	// ConditionReady is True when the rules are accepted, every referenced
	// Secret exists and the proxy Deployment has all desired replicas available.
	ConditionReady = "Ready"
	// ConditionDegraded is True when something the route depends on is missing
	// or broken while the proxy may still serve the last good rules.
	ConditionDegraded = "Degraded"
	// ConditionQualityTargetMet is True when every rule with a quality
	// target holds it at its declared confidence, drafting: False (with the
	// reason of the first rule that does not) while a rule is in cold start,
	// escalates every request, or misses its target. Routes without a
	// quality target do not carry it.
	ConditionQualityTargetMet = "QualityTargetMet"
	// ConditionBudgetsWithinLimits is True when no hard budget of a named
	// client key or team (spec.clientKeys, spec.teams) is spent in its
	// current period; False, with a message naming each key and team whose
	// hard budget is spent, when requests of those keys are being refused;
	// Unknown until a proxy pod has reported the budgets. Routes without
	// budgets do not carry it.
	ConditionBudgetsWithinLimits = "BudgetsWithinLimits"
)

// Condition reasons of a CascadeRoute.
const (
	ReasonValid               = "Valid"
	ReasonInvalidRule         = "InvalidRule"
	ReasonSecretNotFound      = "SecretNotFound"
	ReasonAsExpected          = "AsExpected"
	ReasonReplicasAvailable   = "ReplicasAvailable"
	ReasonReplicasUnavailable = "ReplicasUnavailable"
	// ReasonProgressDeadlineExceeded: the proxy Deployment's rollout made
	// no progress within its deadline (condition Progressing=False), for
	// example new pods that cannot pull their image or crash.
	ReasonProgressDeadlineExceeded = "ProgressDeadlineExceeded"
	ReasonApplyFailed              = "ApplyFailed"
	// ReasonNameConflict: an object the route would own (a ConfigMap,
	// Deployment, Service, ...) already exists under that name and is not
	// controlled by the route. The operator leaves it alone rather than take
	// it over (the garbage collector would delete it with the route).
	ReasonNameConflict = "NameConflict"
	// ReasonInsecureExposure: spec.proxy.ingress, or a NodePort or
	// LoadBalancer spec.proxy.service.type, would let anyone who reaches it
	// spend the route's vendor keys (no client keys, and a provider that
	// does not pass the client's own credentials through). The Ingress is
	// not created unless spec.proxy.ingress.allowUnauthenticated is true;
	// the Service is made ClusterIP unless spec.proxy.service.allowUnauthenticated is true.
	ReasonInsecureExposure = "InsecureExposure"

	// Reasons of the QualityTargetMet condition.
	// ReasonTargetMet: every rule with a target holds it.
	ReasonTargetMet = "TargetMet"
	// ReasonColdStart: a rule has too few labelled samples to calibrate; it
	// holds its threshold (or escalates everything, coldStart verifier).
	ReasonColdStart = "ColdStart"
	// ReasonEscalateAll: no threshold that accepts drafts meets a rule's
	// target with confidence; the rule sends every request to the verifier.
	ReasonEscalateAll = "EscalateAll"
	// ReasonTargetMissed: a rule's quality estimate at the threshold in
	// effect does not meet its target at the declared confidence.
	ReasonTargetMissed = "TargetMissed"

	// Reasons of the BudgetsWithinLimits condition.
	// ReasonWithinLimits: every hard budget has money left this period.
	ReasonWithinLimits = "WithinLimits"
	// ReasonBudgetExhausted: a key's or team's hard budget is spent; its
	// requests are refused until the period ends.
	ReasonBudgetExhausted = "BudgetExhausted"
	// ReasonNotReported: no proxy pod has reported the budgets' spend in
	// the current period yet.
	ReasonNotReported = "NotReported"
	// ReasonSoftBudgetExceeded is the reason of the Warning Event emitted
	// once per period when a key's or team's soft budget is exceeded.
	ReasonSoftBudgetExceeded = "SoftBudgetExceeded"
)

// CascadeRouteStatus is what the operator observed and did.
type CascadeRouteStatus struct {
	// conditions: Accepted (rules valid and written), Ready (serving with all
	// replicas), Degraded (a dependency such as a Secret is missing).
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// observedGeneration is the metadata.generation this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// rulesHash is the SHA-256 of the rules file written to the ConfigMap
	// (the same hash the proxy reports for its loaded rules).
	// +optional
	RulesHash string `json:"rulesHash,omitempty"`

	// ruleCount is the number of rules in the written rules file.
	// +optional
	RuleCount int32 `json:"ruleCount,omitempty"`

	// clientKeyCount is the number of named client keys (spec.clientKeys)
	// in the written rules file.
	// +optional
	ClientKeyCount int32 `json:"clientKeyCount,omitempty"`

	// replicas is the desired number of proxy pods.
	// +optional
	Replicas int32 `json:"replicas,omitempty"`

	// readyReplicas is the number of proxy pods available to serve.
	// +optional
	ReadyReplicas int32 `json:"readyReplicas,omitempty"`

	// endpoint is the in-cluster base URL of the proxy Service, e.g.
	// http://my-route-proxy.default.svc:8080.
	// +optional
	Endpoint string `json:"endpoint,omitempty"`

	// quality reports, for each rule with a quality or secondOpinion block,
	// the quality measured over every proxy pod's samples and the threshold
	// in effect.
	// +optional
	// +listType=map
	// +listMapKey=rule
	// +kubebuilder:validation:MaxItems=32
	Quality []RuleQuality `json:"quality,omitempty"`

	// qualitySummary lists status.quality's estimates, "rule estimate" by
	// rule ("-" while unknown), for the Quality column of kubectl get.
	// +optional
	QualitySummary string `json:"qualitySummary,omitempty"`

	// thresholdSummary lists the thresholds in effect, "rule threshold" by
	// rule, for the Threshold column of kubectl get.
	// +optional
	ThresholdSummary string `json:"thresholdSummary,omitempty"`

	// savingsSummary lists status.quality's net savings in USD, "rule
	// netSavingsUSD" by rule ("-" while unknown), for the Savings column of
	// kubectl get -o wide.
	// +optional
	SavingsSummary string `json:"savingsSummary,omitempty"`

	// rules reports, for every rule of spec.rules, its requests and money
	// summed over every proxy pod the route has run, running or gone: each
	// pod publishes its running totals, the operator adds the newest of
	// each pod and keeps the totals of pods that are gone. Figures start
	// when a pod first counts a request of the rule.
	// +optional
	// +listType=map
	// +listMapKey=rule
	// +kubebuilder:validation:MaxItems=32
	Rules []RuleUsage `json:"rules,omitempty"`

	// requests is the number of requests of every rule, summed over
	// status.rules, for the Requests column of kubectl get -o wide.
	// +optional
	Requests int64 `json:"requests,omitempty"`

	// budgets reports the spend of every budget of spec.clientKeys and
	// spec.teams in its current period, as the proxy pods count it (with
	// Redis every pod shares one count; without it each pod counts alone
	// and the figures are the sum of the running pods').
	// Key and team names only, never a key.
	// +optional
	// +listType=map
	// +listMapKey=scope
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=320
	Budgets []BudgetStatus `json:"budgets,omitempty"`
}

// RuleUsage is one rule's requests and money across every proxy pod. Money
// is in USD, over the requests whose cost is known, rounded to a millionth.
type RuleUsage struct {
	// rule is the rule's name.
	Rule string `json:"rule"`

	// requests is the number of requests the rule served, whatever their outcome.
	Requests int64 `json:"requests"`

	// outcomes counts the requests by outcome: accepted (the draft
	// answered), escalated (the verifier answered after the gate refused
	// the draft), skipped_draft, bypassed, draft_only, verifier_only,
	// failed, canceled. Outcomes without requests are left out.
	// +optional
	Outcomes map[string]int64 `json:"outcomes,omitempty"`

	// acceptance is accepted ÷ (accepted + escalated): the share of drafts
	// the gate let through, rounded to four decimals. Unset before the
	// first gated request.
	// +optional
	Acceptance *float64 `json:"acceptance,omitempty"`

	// costUSD is what the requests cost: drafts, verifiers, judges and
	// second opinions.
	CostUSD float64 `json:"costUSD"`

	// baselineUSD is what the requested model alone would have cost.
	BaselineUSD float64 `json:"baselineUSD"`

	// savingsUSD is baselineUSD minus costUSD: escalations count against it.
	SavingsUSD float64 `json:"savingsUSD"`

	// auditCostUSD is the spend on calls made only to audit (compare a
	// served draft with the verifier), apart from costUSD.
	AuditCostUSD float64 `json:"auditCostUSD"`

	// netSavingsUSD is savingsUSD minus auditCostUSD.
	NetSavingsUSD float64 `json:"netSavingsUSD"`

	// pods is the number of proxy pods' ConfigMaps reporting the rule
	// (running pods, and pods gone for less than the cleanup grace period);
	// the figures of pods whose ConfigMaps were removed count too, kept apart.
	Pods int32 `json:"pods"`
}

// BudgetStatus is one budget's spend in its current period.
type BudgetStatus struct {
	// scope says whose budget it is: key (spec.clientKeys[].budget) or team
	// (spec.teams[].budget).
	// +kubebuilder:validation:Enum=key;team
	Scope string `json:"scope"`

	// name is the key's or team's name.
	Name string `json:"name"`

	// team is the key's team (scope key), or the team itself.
	// +optional
	Team string `json:"team,omitempty"`

	// period the budget resets on: day, week or month (UTC).
	Period string `json:"period"`

	// enforcement: hard (requests refused once spent) or soft (alerts only).
	Enforcement string `json:"enforcement"`

	// budgetUSD is the budget in USD.
	BudgetUSD float64 `json:"budgetUSD"`

	// spentUSD is the spend committed in the current period, in USD.
	SpentUSD float64 `json:"spentUSD"`

	// remainingUSD is budgetUSD minus spentUSD, never below 0.
	RemainingUSD float64 `json:"remainingUSD"`

	// periodEnd is when the current period ends and the spend starts over.
	PeriodEnd metav1.Time `json:"periodEnd"`

	// exceeded is true once spentUSD reaches budgetUSD.
	Exceeded bool `json:"exceeded"`

	// reported is false while no proxy pod has reported this budget in the
	// current period (spentUSD is then 0).
	Reported bool `json:"reported"`
}

// RuleQuality is one rule's measured quality and calibration. Shares are
// between 0 and 1 and rounded to four decimals.
type RuleQuality struct {
	// rule is the rule's name.
	Rule string `json:"rule"`

	// target is the rule's quality target (unset without one).
	// +optional
	Target *float64 `json:"target,omitempty"`

	// estimate is the estimated share of the rule's answers at least as good
	// as the verifier's at the threshold in effect (escalated answers count
	// as good). Unset while accepted drafts have never been compared.
	// +optional
	Estimate *float64 `json:"estimate,omitempty"`

	// lower bounds estimate from below at the rule's confidence (one-sided).
	// +optional
	Lower *float64 `json:"lower,omitempty"`

	// upper bounds estimate from above at the rule's confidence (one-sided).
	// +optional
	Upper *float64 `json:"upper,omitempty"`

	// acceptedShare is the estimated share of requests answered by the draft.
	// +optional
	AcceptedShare *float64 `json:"acceptedShare,omitempty"`

	// requests is the number of requests the archived samples stand for
	// (every drafted request is a sample; while a rule escalates everything,
	// the explored drafts stand for the requests sent to the verifier alone).
	// +optional
	Requests int64 `json:"requests,omitempty"`

	// acceptance is the share of those requests answered by the draft.
	// +optional
	Acceptance *float64 `json:"acceptance,omitempty"`

	// realised is the estimated share of the answers served (over the
	// archived samples) at least as good as the verifier's would have been,
	// whatever thresholds were in effect when they were served.
	// +optional
	Realised *float64 `json:"realised,omitempty"`

	// realisedLower bounds realised from below at the rule's confidence
	// (one-sided).
	// +optional
	RealisedLower *float64 `json:"realisedLower,omitempty"`

	// realisedUpper bounds realised from above at the rule's confidence
	// (one-sided).
	// +optional
	RealisedUpper *float64 `json:"realisedUpper,omitempty"`

	// labels is the number of labelled samples (drafts compared with the verifier's answer).
	Labels int32 `json:"labels"`

	// samples is the number of samples in the operator's archive for this rule.
	Samples int32 `json:"samples"`

	// threshold is the threshold in effect; 1.01 means every request is
	// escalated to the verifier.
	Threshold float64 `json:"threshold"`

	// reason says why the threshold is in effect: configured (no target),
	// cold-start (too few labels), calibrated, or escalate-all (no threshold
	// that accepts drafts meets the target).
	Reason string `json:"reason"`

	// met is true when the target holds at the declared confidence (always
	// true without a target or while every request is escalated).
	Met bool `json:"met"`

	// auditCostUSD is the spend on audits (verifier and judge calls made
	// only to compare) over the archived samples, in USD.
	// +optional
	AuditCostUSD *float64 `json:"auditCostUSD,omitempty"`

	// netSavingsUSD estimates, over the archived samples, the verifier spend
	// avoided by accepted drafts minus the spend on drafts, second opinions
	// and audits, in USD. An accepted draft's avoided verifier cost is known
	// only when it was audited (its audit cost, judge included, stands for
	// it), each audited draft standing for the accepted drafts it was drawn
	// from; unset until some accepted draft was audited.
	// +optional
	NetSavingsUSD *float64 `json:"netSavingsUSD,omitempty"`

	// updatedAt is when these figures last changed.
	UpdatedAt metav1.Time `json:"updatedAt"`
}

// CascadeRoute declares a cost-cutting LLM proxy: requests for the listed
// models first go to a cheap draft model, and only answers that fail the
// quality gate are escalated to the strong verifier model.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=cfr,categories=cascadeflow
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`,description="Whether the proxy serves these rules with all replicas"
// +kubebuilder:printcolumn:name="Rules",type=integer,JSONPath=`.status.ruleCount`,description="Rules in the written rules file"
// +kubebuilder:printcolumn:name="Replicas",type=integer,JSONPath=`.status.readyReplicas`,description="Proxy pods available"
// +kubebuilder:printcolumn:name="Endpoint",type=string,JSONPath=`.status.endpoint`,description="In-cluster URL of the proxy"
// +kubebuilder:printcolumn:name="Quality",type=string,JSONPath=`.status.qualitySummary`,description="Estimated quality per rule with a quality block (share of answers at least as good as the verifier's)"
// +kubebuilder:printcolumn:name="Threshold",type=string,JSONPath=`.status.thresholdSummary`,description="Threshold in effect per rule with a quality block (1.01: every request escalated)"
// +kubebuilder:printcolumn:name="Savings",type=string,JSONPath=`.status.savingsSummary`,priority=1,description="Estimated net savings in USD per rule with a quality block, over the archived samples (after drafts, second opinions and audits)"
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="TargetMet",type=string,JSONPath=`.status.conditions[?(@.type=="QualityTargetMet")].status`,priority=1,description="Whether every rule with a quality target holds it"
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
// +kubebuilder:printcolumn:name="Keys",type=integer,JSONPath=`.status.clientKeyCount`,priority=1,description="Named client keys with attribution and limits"
// +kubebuilder:printcolumn:name="Requests",type=integer,JSONPath=`.status.requests`,priority=1,description="Requests of every rule across every proxy pod"
// +kubebuilder:printcolumn:name="Budgets",type=string,JSONPath=`.status.conditions[?(@.type=="BudgetsWithinLimits")].status`,priority=1,description="False while a key's or team's hard budget is spent"
// +kubebuilder:validation:XValidation:rule="self.metadata.name.size() <= 57",message="metadata.name must be at most 57 characters (owned objects append -proxy / -rules)"
// +kubebuilder:validation:XValidation:rule="self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$')",message="metadata.name must be a DNS-1035 label (lower-case letters, digits and '-', starting with a letter and ending with a letter or digit): it names the proxy Service"
type CascadeRoute struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec declares providers, rules and the proxy deployment.
	// +required
	Spec CascadeRouteSpec `json:"spec"`

	// status is written by the operator.
	// +optional
	Status CascadeRouteStatus `json:"status,omitempty"`
}

// CascadeRouteList is a list of CascadeRoutes.
//
// +kubebuilder:object:root=true
type CascadeRouteList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []CascadeRoute `json:"items"`
}
