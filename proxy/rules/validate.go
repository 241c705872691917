package rules

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"regexp"
	"strings"

	"github.com/cascadeflow/cascadeflow-operator/proxy/quality/gateconfig"
)

var (
	namePattern   = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	envPattern    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	headerPattern = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
)

// Bounds of the resilience settings.
const (
	MaxRetryAttempts   = 10
	MaxBreakerFailures = 1000
	MaxFallbacks       = 4
)

// Validate checks every field and returns all problems joined, each naming its field.
func (s *Set) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if s.Version != Version {
		bad("version", "must be %q, got %q", Version, s.Version)
	}
	if len(s.Providers) == 0 {
		bad("providers", "at least one provider is required")
	}
	providers := map[string]bool{}
	for i, p := range s.Providers {
		f := fmt.Sprintf("providers[%d]", i)
		if !namePattern.MatchString(p.Name) {
			bad(f+".name", "%q must be a DNS label (lowercase letters, digits, '-')", p.Name)
		} else if providers[p.Name] {
			bad(f+".name", "duplicate provider %q", p.Name)
		}
		providers[p.Name] = true
		if p.Type != Anthropic && p.Type != OpenAI {
			bad(f+".type", "must be %q or %q, got %q", Anthropic, OpenAI, p.Type)
		}
		if u, err := url.Parse(p.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad(f+".baseURL", "must be an absolute http(s) URL, got %q", p.BaseURL)
		} else if u.User != nil {
			bad(f+".baseURL", "must not contain credentials")
		}
		switch {
		case p.APIKey == nil && !p.PassthroughAuth:
			bad(f, "one of apiKey and passthroughAuth is required")
		case p.APIKey != nil && p.PassthroughAuth:
			bad(f, "apiKey and passthroughAuth are mutually exclusive")
		case p.APIKey != nil:
			k := p.APIKey
			if (k.Env == "") == (k.File == "") {
				bad(f+".apiKey", "exactly one of env and file is required")
			}
			// The values are never quoted: a key pasted here by mistake
			// must not reach a log.
			if k.Env != "" && !envPattern.MatchString(k.Env) {
				bad(f+".apiKey.env", "must be the name of an environment variable (letters, digits and '_'), not the key itself")
			}
			if k.File != "" && looksLikeKey(k.File) {
				bad(f+".apiKey.file", "must be the path of a file holding the key; this looks like a key itself")
			}
		}
		duration(bad, f+".timeout", p.Timeout)
		duration(bad, f+".idleTimeout", p.IdleTimeout)
		if r := p.Retry; r != nil {
			if r.Attempts < 0 || r.Attempts > MaxRetryAttempts {
				bad(f+".retry.attempts", "must be between 0 and %d, got %d", MaxRetryAttempts, r.Attempts)
			}
			duration(bad, f+".retry.initialBackoff", r.InitialBackoff)
			duration(bad, f+".retry.maxBackoff", r.MaxBackoff)
			duration(bad, f+".retry.maxRetryAfter", r.MaxRetryAfter)
			if r.InitialBackoff.Duration > 0 && r.MaxBackoff.Duration > 0 && r.InitialBackoff.Duration > r.MaxBackoff.Duration {
				bad(f+".retry.initialBackoff", "must not exceed maxBackoff (%s), got %s", r.MaxBackoff.Duration, r.InitialBackoff.Duration)
			}
		}
		if cb := p.CircuitBreaker; cb != nil {
			if cb.Failures < 1 || cb.Failures > MaxBreakerFailures {
				bad(f+".circuitBreaker.failures", "must be between 1 and %d, got %d", MaxBreakerFailures, cb.Failures)
			}
			duration(bad, f+".circuitBreaker.cooldown", cb.Cooldown)
		}
		// Sorted, so the same file always gives the same message.
		for _, h := range sortedKeys(p.Headers) {
			hf := f + ".headers[" + h + "]"
			if !headerPattern.MatchString(h) {
				bad(hf, "%q is not a valid header name", h)
			}
			switch strings.ToLower(h) {
			case "authorization", "x-api-key", "api-key", "proxy-authorization", "cookie":
				bad(hf, "%q carries credentials; use apiKey", h)
			}
			if strings.ContainsAny(p.Headers[h], "\r\n\x00") {
				bad(hf, "value must not contain line breaks or NUL")
			}
		}
	}
	var target func(f string, t Target)
	fallbacks := func(f string, fbs []Fallback) {
		if len(fbs) > MaxFallbacks {
			bad(f+".fallbacks", "at most %d fallbacks, got %d", MaxFallbacks, len(fbs))
		}
		for j, fb := range fbs {
			ff := fmt.Sprintf("%s.fallbacks[%d]", f, j)
			target(ff, fb.Target())
		}
	}
	// servingTarget is a draft or verifier: the targets that take fallbacks.
	servingTarget := func(f string, t Target) {
		target(f, Target{Provider: t.Provider, Model: t.Model})
		fallbacks(f, t.Fallbacks)
	}
	target = func(f string, t Target) {
		if len(t.Fallbacks) > 0 {
			bad(f+".fallbacks", "only a rule's draft, its verifier and the default route take fallbacks")
		}
		if t.Provider == "" {
			bad(f+".provider", "is required")
		} else if !providers[t.Provider] {
			bad(f+".provider", "names undeclared provider %q", t.Provider)
		}
		if strings.TrimSpace(t.Model) == "" {
			bad(f+".model", "is required")
		}
	}
	ruleNames := map[string]bool{}
	models := map[string]string{}
	for i, r := range s.Rules {
		f := fmt.Sprintf("rules[%d]", i)
		if !namePattern.MatchString(r.Name) {
			bad(f+".name", "%q must be a DNS label (lowercase letters, digits, '-')", r.Name)
		} else if ruleNames[r.Name] {
			bad(f+".name", "duplicate rule %q", r.Name)
		}
		ruleNames[r.Name] = true
		if len(r.Models) == 0 {
			bad(f+".models", "at least one model name is required")
		}
		for j, m := range r.Models {
			key := strings.ToLower(m)
			if strings.TrimSpace(m) == "" {
				bad(fmt.Sprintf("%s.models[%d]", f, j), "must not be empty")
			} else if prev, ok := models[key]; ok {
				bad(fmt.Sprintf("%s.models[%d]", f, j), "model %q is already served by rule %q", m, prev)
			} else {
				models[key] = r.Name
			}
		}
		switch r.Mode {
		case "", ModeCascade, ModeVerifierOnly, ModeDraftOnly:
		default:
			bad(f+".mode", "must be one of cascade, verifier-only, draft-only; got %q", r.Mode)
		}
		servingTarget(f+".draft", r.Draft)
		servingTarget(f+".verifier", r.Verifier)
		if r.Threshold != nil {
			unit(bad, f+".threshold", *r.Threshold)
		}
		switch r.Granularity {
		case "", GranularityRequest, GranularityTurn:
		default:
			bad(f+".granularity", "must be request or turn; got %q", r.Granularity)
		}
		switch r.ResponseModel {
		case "", ResponseModelRequested, ResponseModelServed:
		default:
			bad(f+".responseModel", "must be requested or served; got %q", r.ResponseModel)
		}
		duration(bad, f+".draftTimeout", r.DraftTimeout)
		duration(bad, f+".verifierTimeout", r.VerifierTimeout)
		if g := r.Gate; g != nil {
			// The gate's own definitions: signal, option and level names,
			// and the values each allows.
			if _, err := gateconfig.ParseWeights(f+".gate.weights", g.Weights); err != nil {
				errs = append(errs, err)
			}
			if err := gateconfig.CheckComplexityThresholds(f+".gate.complexityThresholds", g.ComplexityThresholds); err != nil {
				errs = append(errs, err)
			}
			if g.SkipDraftAbove != nil {
				unit(bad, f+".gate.skipDraftAbove", *g.SkipDraftAbove)
			}
			if g.MinAnswerChars != nil && *g.MinAnswerChars < 0 {
				bad(f+".gate.minAnswerChars", "must not be negative")
			}
			if g.Judge != nil {
				target(f+".gate.judge", g.Judge.Target)
				if w := g.Judge.Weight; w != nil && (*w < 0 || math.IsNaN(*w) || math.IsInf(*w, 0)) {
					bad(f+".gate.judge.weight", "must be a non-negative number")
				}
				duration(bad, f+".gate.judge.timeout", g.Judge.Timeout)
			}
			if _, err := gateconfig.ParseOptions(f+".gate.options", g.Options); err != nil {
				errs = append(errs, err)
			}
		}
		prices(bad, f+".prices", r.Prices)
		if q := r.Quality; q != nil {
			quality(bad, target, f+".quality", q)
		}
		if so := r.SecondOpinion; so != nil {
			if len(so.Targets) == 0 {
				bad(f+".secondOpinion.targets", "at least one target is required")
			}
			for j, t := range so.Targets {
				target(fmt.Sprintf("%s.secondOpinion.targets[%d]", f, j), t)
			}
			duration(bad, f+".secondOpinion.timeout", so.Timeout)
		}
	}
	if s.DefaultRoute != nil {
		if s.DefaultRoute.Provider == "" {
			bad("defaultRoute.provider", "is required")
		} else if !providers[s.DefaultRoute.Provider] {
			bad("defaultRoute.provider", "names undeclared provider %q", s.DefaultRoute.Provider)
		}
		fallbacks("defaultRoute", s.DefaultRoute.Fallbacks)
	}
	prices(bad, "prices", s.Prices)
	clientKeys(bad, s)
	return errors.Join(errs...)
}

func quality(bad func(string, string, ...any), target func(string, Target), f string, q *Quality) {
	if q.Target != nil && !(*q.Target > 0 && *q.Target <= 1) {
		bad(f+".target", "must be in (0, 1], got %v", *q.Target)
	}
	if q.Confidence != nil && !(*q.Confidence >= 0.5 && *q.Confidence < 1) {
		bad(f+".confidence", "must be in [0.5, 1), got %v", *q.Confidence)
	}
	if q.MinSamples != nil && *q.MinSamples < 20 {
		bad(f+".minSamples", "must be at least 20, got %d", *q.MinSamples)
	}
	switch q.ColdStart {
	case "", ColdStartThreshold, ColdStartVerifier:
	default:
		bad(f+".coldStart", "must be threshold or verifier; got %q", q.ColdStart)
	}
	if q.Explore != nil {
		unit(bad, f+".explore", *q.Explore)
	}
	a := q.Audit
	if a == nil {
		return
	}
	if a.Rate != nil {
		unit(bad, f+".audit.rate", *a.Rate)
	}
	if a.MaxCostShare != nil {
		unit(bad, f+".audit.maxCostShare", *a.MaxCostShare)
	}
	if a.JudgeRate != nil {
		unit(bad, f+".audit.judgeRate", *a.JudgeRate)
	}
	switch a.Comparer {
	case "", ComparerAuto, ComparerExact:
	case ComparerJudge:
		if a.Judge == nil {
			bad(f+".audit.judge", "is required with comparer judge")
		}
	default:
		bad(f+".audit.comparer", "must be auto, exact or judge; got %q", a.Comparer)
	}
	if a.Judge != nil {
		target(f+".audit.judge", a.Judge.Target)
		duration(bad, f+".audit.judge.timeout", a.Judge.Timeout)
	}
}

func unit(bad func(string, string, ...any), field string, v float64) {
	if !(v >= 0 && v <= 1) {
		bad(field, "must be in [0, 1], got %v", v)
	}
}

func prices(bad func(string, string, ...any), field string, m map[string]Price) {
	for _, model := range sortedKeys(m) {
		p := m[model]
		for _, c := range []struct {
			name string
			v    float64
		}{{"input", p.Input}, {"output", p.Output}, {"cacheWrite", p.CacheWrite}, {"cacheRead", p.CacheRead}} {
			if c.v < 0 || math.IsNaN(c.v) || math.IsInf(c.v, 0) {
				bad(fmt.Sprintf("%s[%s].%s", field, model, c.name), "must be a non-negative number")
			}
		}
	}
}

// duration rejects negative durations, which Decode cannot produce but a set
// built in Go (the operator's renderer) can.
func duration(bad func(string, string, ...any), field string, d Duration) {
	if d.Duration < 0 {
		bad(field, "must not be negative, got %s", d.Duration)
	}
}

// looksLikeKey tells an API key pasted where a file path belongs: no path
// separator, no extension, and a vendor key prefix or the length of one.
func looksLikeKey(s string) bool {
	if strings.ContainsAny(s, "/\\.") {
		return false
	}
	return strings.HasPrefix(s, "sk-") || len(s) >= 32
}
