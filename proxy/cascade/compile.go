package cascade

import (
	"errors"
	"fmt"

	"github.com/cascadeflow/cascadeflow-operator/proxy/pricing"
	"github.com/cascadeflow/cascadeflow-operator/proxy/quality"
	"github.com/cascadeflow/cascadeflow-operator/proxy/routequality"
	"github.com/cascadeflow/cascadeflow-operator/proxy/rules"
)

// CompiledRule is a rule ready to run: its quality gate, price table and
// providers are built once, when its rules set is loaded, and shared by
// every request the set serves (a reload compiles afresh).
type CompiledRule struct {
	Rule *rules.Rule
	Gate *quality.Gate
	// Prices are the built-in prices, then the rules file's, then the rule's own.
	Prices           *pricing.Table
	DraftProvider    Provider
	VerifierProvider Provider
	// DraftFallbacks and VerifierFallbacks serve the draft's and the
	// verifier's fallbacks, in order.
	DraftFallbacks, VerifierFallbacks []Candidate
	// OpinionProviders serve Rule.SecondOpinion.Targets, in order.
	OpinionProviders []Provider
	// AuditJudgeProvider serves Rule.Quality.Audit.Judge; nil without one.
	AuditJudgeProvider Provider
	// Quality is the rule's quality loop (samples, learned score, threshold
	// in effect); it outlives reloads that keep the rule's meaning.
	Quality *routequality.Route
	judge   *modelJudge // nil without a judge
}

// Name is the rule's name.
func (c *CompiledRule) Name() string { return c.Rule.Name }

// Compiled is a rules set ready to serve.
type Compiled struct {
	// Rules are the set's rules, in its order.
	Rules []*CompiledRule
	// Prices is the set's price table (built-in, then the rules file's), for
	// requests no rule serves.
	Prices *pricing.Table
	byRule map[*rules.Rule]*CompiledRule
}

// For returns the compiled form of one of the set's rules, or nil.
func (c *Compiled) For(r *rules.Rule) *CompiledRule {
	if r == nil {
		return nil
	}
	return c.byRule[r]
}

// Compile prepares every rule of a validated set. base is the built-in
// price table (nil: pricing.Default()); providers resolves the provider
// names the rules use; reg keeps the rules' quality loops across reloads
// (nil: every rule starts a fresh one). Every rule that cannot be compiled is reported, each
// error naming its field (e.g. "rules[2].gate: ...").
func Compile(set *rules.Set, base *pricing.Table, providers Lookup, reg *routequality.Registry) (*Compiled, error) {
	if base == nil {
		base = pricing.Default()
	}
	c := &Compiled{
		Rules:  make([]*CompiledRule, 0, len(set.Rules)),
		Prices: base.With(set.Prices),
		byRule: make(map[*rules.Rule]*CompiledRule, len(set.Rules)),
	}
	var errs []error
	for i := range set.Rules {
		r := &set.Rules[i]
		cr, err := CompileRule(r, c.Prices, providers)
		if err != nil {
			for _, e := range unjoin(err) {
				errs = append(errs, fmt.Errorf("rules[%d].%w", i, e))
			}
			continue
		}
		if reg != nil {
			cr.Quality = reg.Route(r)
		}
		c.Rules = append(c.Rules, cr)
		c.byRule[r] = cr
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if reg != nil {
		names := make([]string, len(c.Rules))
		for i, r := range c.Rules {
			names[i] = r.Name()
		}
		reg.Prune(names)
	}
	return c, nil
}

// CompileRule prepares one rule; prices is its set's price table. An error
// names the rule's field at fault, relative to the rule ("gate: ...").
func CompileRule(r *rules.Rule, prices *pricing.Table, providers Lookup) (*CompiledRule, error) {
	var errs []error
	provider := func(field string, t rules.Target) Provider {
		p := providers(t.Provider)
		if p == nil {
			errs = append(errs, fmt.Errorf("%s.provider: provider %q is not configured", field, t.Provider))
		}
		return p
	}
	c := &CompiledRule{
		Rule:             r,
		Prices:           prices.With(r.Prices),
		DraftProvider:    provider("draft", r.Draft),
		VerifierProvider: provider("verifier", r.Verifier),
	}
	c.DraftFallbacks = fallbacks(provider, "draft", r.Draft.Fallbacks)
	c.VerifierFallbacks = fallbacks(provider, "verifier", r.Verifier.Fallbacks)
	// Every rule's gate is built, whatever its mode: a mode change must not
	// reveal a gate configuration that never worked.
	gate, err := quality.New(r.Gate, r.EffectiveThreshold())
	if err != nil {
		errs = append(errs, fmt.Errorf("gate: %w", err))
	}
	c.Gate = gate
	if r.Gate != nil && r.Gate.Judge != nil {
		c.judge = &modelJudge{cfg: r.Gate.Judge, provider: provider("gate.judge", r.Gate.Judge.Target)}
	}
	if so := r.SecondOpinion; so != nil {
		for i, t := range so.Targets {
			c.OpinionProviders = append(c.OpinionProviders, provider(fmt.Sprintf("secondOpinion.targets[%d]", i), t))
		}
	}
	if q := r.Quality; q != nil && q.Audit != nil && q.Audit.Judge != nil {
		c.AuditJudgeProvider = provider("quality.audit.judge", q.Audit.Judge.Target)
	}
	c.Quality = routequality.NewRoute(r.Name, routequality.Resolve(r))
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return c, nil
}

// unjoin lists the errors errors.Join combined (err itself otherwise).
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
