package fakeupstream

import "sort"

// Charge is what the fake billed one model for its Messages answers: token
// counts as the answers' usage reported them.
type Charge struct {
	Requests     int
	Input        int // input_tokens (not cached)
	CacheWrite5m int // cache_creation_input_tokens with the 5-minute TTL
	CacheWrite1h int // ... with the 1-hour TTL
	CacheRead    int // cache_read_input_tokens
	Output       int
}

// Rates are a model's prices in USD per million tokens.
type Rates struct {
	Input, Output, CacheWrite5m, CacheWrite1h, CacheRead float64
}

// AnthropicRates are the rates Anthropic documents for a model whose base
// input and output prices are input and output: a 5-minute cache write
// costs 1.25x the input price, a 1-hour write 2x, a read 0.1x.
func AnthropicRates(input, output float64) Rates {
	return Rates{Input: input, Output: output, CacheWrite5m: 1.25 * input, CacheWrite1h: 2 * input, CacheRead: 0.1 * input}
}

// USD prices c at r.
func (c Charge) USD(r Rates) float64 {
	return (float64(c.Input)*r.Input + float64(c.Output)*r.Output + float64(c.CacheWrite5m)*r.CacheWrite5m +
		float64(c.CacheWrite1h)*r.CacheWrite1h + float64(c.CacheRead)*r.CacheRead) / 1e6
}

// CacheHitRatio is the share of the input tokens read from the cache.
func (c Charge) CacheHitRatio() float64 {
	all := c.Input + c.CacheWrite5m + c.CacheWrite1h + c.CacheRead
	if all == 0 {
		return 0
	}
	return float64(c.CacheRead) / float64(all)
}

func (c *Charge) add(u Usage, write1h int) {
	c.Requests++
	c.Input += u.InputTokens
	c.CacheWrite1h += write1h
	c.CacheWrite5m += u.CacheCreationInputTokens - write1h
	c.CacheRead += u.CacheReadInputTokens
	c.Output += u.OutputTokens
}

// Billing returns what each model was billed since New or ResetBilling,
// for the Messages answers the fake completed (errors and faults are free).
func (s *Server) Billing() map[string]Charge {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]Charge, len(s.billing))
	for m, c := range s.billing {
		out[m] = *c
	}
	return out
}

// BillingModels lists the billed models, sorted.
func (s *Server) BillingModels() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.billing))
	for m := range s.billing {
		out = append(out, m)
	}
	sort.Strings(out)
	return out
}

// ResetBilling forgets the billing and every cached prompt prefix.
func (s *Server) ResetBilling() {
	s.mu.Lock()
	s.billing = nil
	s.mu.Unlock()
	s.cache.forget()
}

func (s *Server) bill(model string, u Usage, write1h int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.billing == nil {
		s.billing = map[string]*Charge{}
	}
	c := s.billing[model]
	if c == nil {
		c = &Charge{}
		s.billing[model] = c
	}
	c.add(u, write1h)
}
