package rules

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"regexp"
	"strings"
)

var (
	namePattern   = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	envPattern    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	headerPattern = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
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
			if k.Env != "" && !envPattern.MatchString(k.Env) {
				bad(f+".apiKey.env", "%q is not an environment variable name", k.Env)
			}
		}
		for h := range p.Headers {
			if !headerPattern.MatchString(h) {
				bad(f+".headers", "%q is not a valid header name", h)
			}
			switch strings.ToLower(h) {
			case "authorization", "x-api-key", "api-key", "proxy-authorization", "cookie":
				bad(f+".headers", "%q carries credentials; use apiKey", h)
			}
		}
	}
	target := func(f string, t Target) {
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
		target(f+".draft", r.Draft)
		target(f+".verifier", r.Verifier)
		if r.Threshold != nil {
			unit(bad, f+".threshold", *r.Threshold)
		}
		switch r.ResponseModel {
		case "", ResponseModelRequested, ResponseModelServed:
		default:
			bad(f+".responseModel", "must be requested or served; got %q", r.ResponseModel)
		}
		if g := r.Gate; g != nil {
			for k, w := range g.Weights {
				if w < 0 || math.IsNaN(w) || math.IsInf(w, 0) {
					bad(f+".gate.weights."+k, "must be a non-negative number")
				}
			}
			for k, t := range g.ComplexityThresholds {
				unit(bad, f+".gate.complexityThresholds."+k, t)
			}
			if g.SkipDraftAbove != nil {
				unit(bad, f+".gate.skipDraftAbove", *g.SkipDraftAbove)
			}
			if g.MinAnswerChars != nil && *g.MinAnswerChars < 0 {
				bad(f+".gate.minAnswerChars", "must not be negative")
			}
			if g.Judge != nil {
				target(f+".gate.judge", g.Judge.Target)
				if g.Judge.Weight != nil && (*g.Judge.Weight < 0 || math.IsNaN(*g.Judge.Weight)) {
					bad(f+".gate.judge.weight", "must not be negative")
				}
			}
			for k, v := range g.Options {
				if math.IsNaN(v) || math.IsInf(v, 0) {
					bad(f+".gate.options."+k, "must be a finite number")
				}
			}
		}
		prices(bad, f+".prices", r.Prices)
	}
	if s.DefaultRoute != nil {
		if s.DefaultRoute.Provider == "" {
			bad("defaultRoute.provider", "is required")
		} else if !providers[s.DefaultRoute.Provider] {
			bad("defaultRoute.provider", "names undeclared provider %q", s.DefaultRoute.Provider)
		}
	}
	prices(bad, "prices", s.Prices)
	return errors.Join(errs...)
}

func unit(bad func(string, string, ...any), field string, v float64) {
	if !(v >= 0 && v <= 1) {
		bad(field, "must be in [0, 1], got %v", v)
	}
}

func prices(bad func(string, string, ...any), field string, m map[string]Price) {
	for model, p := range m {
		for name, v := range map[string]float64{"input": p.Input, "output": p.Output, "cacheWrite": p.CacheWrite, "cacheRead": p.CacheRead} {
			if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
				bad(fmt.Sprintf("%s[%s].%s", field, model, name), "must be a non-negative number")
			}
		}
	}
}
