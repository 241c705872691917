// Package render holds the operator's pure builders: a CascadeRoute in, the
// rules file and the Kubernetes objects that serve it out. Nothing here talks
// to an API server, so every output is checked with golden files.
package render

import (
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cascadeflow/cascadeflow-operator/api/v1alpha1"
	"github.com/cascadeflow/cascadeflow-operator/proxy/rules"
)

// KeyEnvPrefix starts the name of every API-key environment variable of the proxy container.
const KeyEnvPrefix = "CASCADEFLOW_KEY_"

// KeyEnvName is the environment variable that carries a provider's API key
// into the proxy container: CASCADEFLOW_KEY_ + the provider name in upper
// case with '-' as '_'. Provider names are DNS labels, so names never collide.
func KeyEnvName(provider string) string {
	return KeyEnvPrefix + strings.ToUpper(strings.ReplaceAll(provider, "-", "_"))
}

// Rules translates a CascadeRoute's spec into the proxy's rules contract and
// validates it with the contract's own Validate, so the operator never writes
// a file the proxy would refuse. API keys become environment variable names;
// the keys themselves stay in their Secrets.
func Rules(cr *v1alpha1.CascadeRoute) (*rules.Set, error) {
	spec := &cr.Spec
	set := &rules.Set{Version: rules.Version}
	for _, p := range spec.Providers {
		rp := rules.Provider{
			Name:            p.Name,
			Type:            rules.ProviderType(p.Type),
			BaseURL:         p.BaseURL,
			PassthroughAuth: p.PassthroughAuth,
			Timeout:         duration(p.Timeout),
			IdleTimeout:     duration(p.IdleTimeout),
			Retry:           retry(p.Retry),
			CircuitBreaker:  circuitBreaker(p.CircuitBreaker),
			Headers:         copyMap(p.Headers),
		}
		if p.APIKeySecretRef != nil {
			rp.APIKey = &rules.KeySource{Env: KeyEnvName(p.Name)}
		}
		set.Providers = append(set.Providers, rp)
	}
	for _, r := range spec.Rules {
		rr := rules.Rule{
			Name:            r.Name,
			Models:          append([]string(nil), r.Models...),
			Mode:            rules.Mode(r.Mode),
			Draft:           rules.Target{Provider: r.Draft.Provider, Model: r.Draft.Model, Fallbacks: fallbacks(r.Draft.Fallbacks)},
			Verifier:        rules.Target{Provider: r.Verifier.Provider, Model: r.Verifier.Model, Fallbacks: fallbacks(r.Verifier.Fallbacks)},
			Threshold:       copyPtr(r.Threshold),
			DraftTimeout:    duration(r.DraftTimeout),
			VerifierTimeout: duration(r.VerifierTimeout),
			ResponseModel:   rules.ResponseModel(r.ResponseModel),
			Gate:            gate(r.Gate),
			Prices:          prices(r.Prices),
			CascadeHeaders:  copyPtr(r.CascadeHeaders),
			Quality:         qualityOf(r.Quality),
			SecondOpinion:   secondOpinion(r.SecondOpinion),
			Granularity:     rules.Granularity(r.Granularity),
		}
		set.Rules = append(set.Rules, rr)
	}
	if d := spec.DefaultRoute; d != nil {
		set.DefaultRoute = &rules.Route{Provider: d.Provider, Model: d.Model, Fallbacks: fallbacks(d.Fallbacks)}
	}
	set.Prices = prices(spec.Prices)
	clientKeys(spec, set)
	if err := set.Validate(); err != nil {
		return nil, fmt.Errorf("translate %s/%s into rules: %w", cr.Namespace, cr.Name, err)
	}
	return set, nil
}

func gate(g *v1alpha1.Gate) *rules.Gate {
	if g == nil {
		return nil
	}
	out := &rules.Gate{
		Weights:              copyMap(g.Weights),
		ComplexityThresholds: copyMap(g.ComplexityThresholds),
		SkipDraftAbove:       copyPtr(g.SkipDraftAbove),
		Options:              copyMap(g.Options),
	}
	if g.MinAnswerChars != nil {
		n := int(*g.MinAnswerChars)
		out.MinAnswerChars = &n
	}
	if j := g.Judge; j != nil {
		out.Judge = &rules.Judge{
			Target:  rules.Target{Provider: j.Provider, Model: j.Model},
			Weight:  copyPtr(j.Weight),
			Timeout: duration(j.Timeout),
		}
	}
	return out
}

func qualityOf(q *v1alpha1.Quality) *rules.Quality {
	if q == nil {
		return nil
	}
	out := &rules.Quality{
		Target:     copyPtr(q.Target),
		Confidence: copyPtr(q.Confidence),
		Learn:      copyPtr(q.Learn),
		ColdStart:  rules.ColdStart(q.ColdStart),
		Explore:    copyPtr(q.Explore),
	}
	if q.MinSamples != nil {
		n := int(*q.MinSamples)
		out.MinSamples = &n
	}
	if a := q.Audit; a != nil {
		out.Audit = &rules.Audit{
			Rate:         copyPtr(a.Rate),
			MaxCostShare: copyPtr(a.MaxCostShare),
			Comparer:     rules.Comparer(a.Comparer),
			JudgeRate:    copyPtr(a.JudgeRate),
			KeepText:     a.KeepText,
		}
		if j := a.Judge; j != nil {
			out.Audit.Judge = &rules.AuditJudge{
				Target:  rules.Target{Provider: j.Provider, Model: j.Model},
				Timeout: duration(j.Timeout),
			}
		}
	}
	return out
}

func secondOpinion(so *v1alpha1.SecondOpinion) *rules.SecondOpinion {
	if so == nil {
		return nil
	}
	out := &rules.SecondOpinion{Timeout: duration(so.Timeout)}
	for _, t := range so.Targets {
		out.Targets = append(out.Targets, rules.Target{Provider: t.Provider, Model: t.Model})
	}
	return out
}

// QualityLoop reports whether some rule of the route runs a quality loop
// (declares quality or secondOpinion): its proxy pods then publish samples
// and the operator aggregates them.
func QualityLoop(cr *v1alpha1.CascadeRoute) bool {
	for _, r := range cr.Spec.Rules {
		if r.Quality != nil || r.SecondOpinion != nil {
			return true
		}
	}
	return false
}

func prices(in map[string]v1alpha1.Price) map[string]rules.Price {
	if len(in) == 0 {
		return nil
	}
	out := make(map[string]rules.Price, len(in))
	for model, p := range in {
		out[model] = rules.Price{Input: p.Input, Output: p.Output, CacheWrite: p.CacheWrite, CacheRead: p.CacheRead}
	}
	return out
}

func duration(d *metav1.Duration) rules.Duration {
	if d == nil {
		return rules.Duration{}
	}
	return rules.Duration{Duration: d.Duration}
}

func copyPtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

func copyMap[V any](in map[string]V) map[string]V {
	if len(in) == 0 {
		return nil
	}
	out := make(map[string]V, len(in))
	for k, v := range in {
		out[k] = v
	}
	return out
}

func fallbacks(fbs []v1alpha1.Fallback) []rules.Fallback {
	var out []rules.Fallback
	for _, f := range fbs {
		out = append(out, rules.Fallback{Provider: f.Provider, Model: f.Model})
	}
	return out
}

func retry(r *v1alpha1.Retry) *rules.Retry {
	if r == nil {
		return nil
	}
	return &rules.Retry{Attempts: r.Attempts, InitialBackoff: duration(r.InitialBackoff), MaxBackoff: duration(r.MaxBackoff), MaxRetryAfter: duration(r.MaxRetryAfter)}
}

func circuitBreaker(cb *v1alpha1.CircuitBreaker) *rules.CircuitBreaker {
	if cb == nil {
		return nil
	}
	return &rules.CircuitBreaker{Failures: cb.Failures, Cooldown: duration(cb.Cooldown)}
}
