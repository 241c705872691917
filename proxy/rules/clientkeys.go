package rules

import (
	"fmt"
	"math"
	"regexp"
)

// ClientKey names the holder of client keys and limits what they may do.
// The keys themselves stay in the client-keys directory (a mounted Secret):
// SecretKey is the name of the file (the Secret's data key) holding them,
// so this file carries names and limits, never a key.
type ClientKey struct {
	// Name identifies the key in metrics, logs and status; unique.
	Name string `json:"name"`
	// Team the key belongs to (a label in metrics; a budget in Teams).
	Team string `json:"team,omitempty"`
	// SecretKey is the file in the client-keys directory whose keys (one per
	// line) this entry describes; unique.
	SecretKey string `json:"secretKey"`
	// Budget caps the key's spend per period.
	Budget *Budget `json:"budget,omitempty"`
	// RequestsPerMinute and TokensPerMinute cap the key's rate (0: none).
	RequestsPerMinute int `json:"requestsPerMinute,omitempty"`
	TokensPerMinute   int `json:"tokensPerMinute,omitempty"`
	// Models the key may request: requested model names or rule names
	// (empty: any).
	Models []string `json:"models,omitempty"`
}

// Team is a team of client keys with a shared budget.
type Team struct {
	Name   string  `json:"name"`
	Budget *Budget `json:"budget,omitempty"`
}

// Budget is a spend limit in USD over a calendar period (UTC).
type Budget struct {
	USD float64 `json:"usd"`
	// Period is day, week (from Monday) or month. Default month.
	Period string `json:"period,omitempty"`
	// Enforcement: hard (default) refuses requests once spent; soft only alerts.
	Enforcement string `json:"enforcement,omitempty"`
}

// BudgetPeriod is the period, defaulted.
func (b *Budget) BudgetPeriod() string {
	if b.Period == "" {
		return "month"
	}
	return b.Period
}

// BudgetEnforcement is the enforcement, defaulted.
func (b *Budget) BudgetEnforcement() string {
	if b.Enforcement == "" {
		return "hard"
	}
	return b.Enforcement
}

// ClientKeyBySecretKey returns the entry for a file of the client-keys directory, or nil.
func (s *Set) ClientKeyBySecretKey(secretKey string) *ClientKey {
	for i := range s.ClientKeys {
		if s.ClientKeys[i].SecretKey == secretKey {
			return &s.ClientKeys[i]
		}
	}
	return nil
}

// TeamByName returns the named team, or nil.
func (s *Set) TeamByName(name string) *Team {
	for i := range s.Teams {
		if s.Teams[i].Name == name {
			return &s.Teams[i]
		}
	}
	return nil
}

// secretKeyPattern is a Kubernetes Secret data key, and a safe file name.
var secretKeyPattern = regexp.MustCompile(`^[-._a-zA-Z0-9]{1,253}$`)

func clientKeys(bad func(string, string, ...any), s *Set) {
	names, files := map[string]bool{}, map[string]bool{}
	for i, k := range s.ClientKeys {
		f := fmt.Sprintf("clientKeys[%d]", i)
		if !namePattern.MatchString(k.Name) {
			bad(f+".name", "%q must be a DNS label (lowercase letters, digits, '-')", k.Name)
		} else if names[k.Name] {
			bad(f+".name", "duplicate client key %q", k.Name)
		}
		names[k.Name] = true
		if k.Team != "" && !namePattern.MatchString(k.Team) {
			bad(f+".team", "%q must be a DNS label (lowercase letters, digits, '-')", k.Team)
		}
		if !secretKeyPattern.MatchString(k.SecretKey) || k.SecretKey == "." || k.SecretKey == ".." || k.SecretKey[0] == '.' {
			bad(f+".secretKey", "must be a Secret data key (letters, digits, '-', '_', '.'; not starting with '.')")
		} else if files[k.SecretKey] {
			bad(f+".secretKey", "another client key already reads %q", k.SecretKey)
		}
		files[k.SecretKey] = true
		budget(bad, f+".budget", k.Budget)
		if k.RequestsPerMinute < 0 {
			bad(f+".requestsPerMinute", "must not be negative")
		}
		if k.TokensPerMinute < 0 {
			bad(f+".tokensPerMinute", "must not be negative")
		}
		for j, m := range k.Models {
			if m == "" {
				bad(fmt.Sprintf("%s.models[%d]", f, j), "must not be empty")
			}
		}
	}
	teams := map[string]bool{}
	for i, t := range s.Teams {
		f := fmt.Sprintf("teams[%d]", i)
		if !namePattern.MatchString(t.Name) {
			bad(f+".name", "%q must be a DNS label (lowercase letters, digits, '-')", t.Name)
		} else if teams[t.Name] {
			bad(f+".name", "duplicate team %q", t.Name)
		}
		teams[t.Name] = true
		budget(bad, f+".budget", t.Budget)
	}
}

func budget(bad func(string, string, ...any), f string, b *Budget) {
	if b == nil {
		return
	}
	if !(b.USD > 0) || math.IsInf(b.USD, 0) {
		bad(f+".usd", "must be a positive number, got %v", b.USD)
	}
	switch b.Period {
	case "", "day", "week", "month":
	default:
		bad(f+".period", "must be day, week or month; got %q", b.Period)
	}
	switch b.Enforcement {
	case "", "hard", "soft":
	default:
		bad(f+".enforcement", "must be hard or soft; got %q", b.Enforcement)
	}
}
