package cascade

import (
	"time"

	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
	"github.com/cascadeflow/cascadeflow-operator/proxy/pricing"
	"github.com/cascadeflow/cascadeflow-operator/proxy/turn"
)

// Sessions: the requests of one conversation (turn.Info.Conversation) under
// one rule, accounted together. Their baseline is the requested model
// answering the whole session, its prompt cache warm where that session
// would have kept it (pricing.SessionUsage); a request whose conversation
// this process has not seen before is priced on its own. The process keeps
// the DefaultSessions most recently active sessions, each for SessionTTL
// after its last request.
const (
	DefaultSessions = 1000
	SessionTTL      = 24 * time.Hour
)

type sessionID struct {
	rule string
	conv turn.Key
}

// SessionStats aggregates one session's requests.
type SessionStats struct {
	// Conversation is the first half of the conversation key, in hex.
	Conversation string `json:"conversation"`
	Rule         string `json:"rule"`
	Requests     int64  `json:"requests"`
	// Turns counts the requests that started a user turn.
	Turns       int64             `json:"turns"`
	Outcomes    map[Outcome]int64 `json:"outcomes"`
	CostUSD     float64           `json:"costUSD"`
	BaselineUSD float64           `json:"baselineUSD"`
	SavingsUSD  float64           `json:"savingsUSD"`
	// Cache is each model's prompt tokens and cache hit ratio.
	Cache    map[string]CacheStats `json:"cache"`
	LastSeen time.Time             `json:"lastSeen"`

	// warm is what the requested model's cache would hold (warmKnown: a
	// request of the session was priced).
	warm      pricing.WarmCache
	warmKnown bool
}

// CacheStats counts one model's prompt tokens by how they were billed.
type CacheStats struct {
	InputTokens      int64 `json:"inputTokens"`
	CacheWriteTokens int64 `json:"cacheWriteTokens"`
	CacheReadTokens  int64 `json:"cacheReadTokens"`
	// HitRatio is the share of the prompt tokens read from the cache.
	HitRatio float64 `json:"hitRatio"`
}

func addCache(m map[string]CacheStats, model string, u llm.Usage) {
	if model == "" || u.InputTokens+u.CacheCreationInputTokens+u.CacheReadInputTokens == 0 {
		return
	}
	c := m[model]
	c.InputTokens += int64(u.InputTokens)
	c.CacheWriteTokens += int64(u.CacheCreationInputTokens)
	c.CacheReadTokens += int64(u.CacheReadInputTokens)
	if n := c.InputTokens + c.CacheWriteTokens + c.CacheReadTokens; n > 0 {
		c.HitRatio = float64(c.CacheReadTokens) / float64(n)
	}
	m[model] = c
}

func (r *Recorder) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Recorder) sessionCache() *turn.Cache[sessionID, *SessionStats] {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.sessions == nil {
		r.sessions = turn.NewCache[sessionID, *SessionStats](DefaultSessions, SessionTTL, r.Now)
	}
	return r.sessions
}

// answerCall is the call whose answer the client received: the verifier's
// when it was asked, else the draft's.
func (res *Result) answerCall() *Call {
	if res.Verifier != nil {
		return res.Verifier
	}
	return res.Draft
}

// AnswerUsage is the usage of the call whose answer the client received;
// ok is false when no call answered.
func (res *Result) AnswerUsage() (llm.Usage, bool) {
	c := res.answerCall()
	if c == nil || c.End != CallAnswered {
		return llm.Usage{}, false
	}
	return c.Usage, true
}

// sessionBaseline replaces a's baseline, for a request of a known
// conversation, by what baseModel would have paid in the session, and
// moves the session's warm cache on.
func (r *Recorder) sessionBaseline(prices *pricing.Table, baseModel, rule string, res *Result, a *Accounting) {
	conv := res.Turn.Conversation
	ans := res.answerCall()
	if conv.IsZero() || ans == nil || ans.Usage == (llm.Usage{}) {
		return
	}
	now := r.now()
	r.sessionCache().Update(sessionID{rule, conv}, func(s *SessionStats, found bool) *SessionStats {
		if !found {
			s = newSession(rule, conv)
		}
		var u llm.Usage
		u, s.warm = pricing.SessionUsage(ans.Usage, s.warm, s.warmKnown, now)
		s.warmKnown = true
		base, ok := prices.Cost(baseModel, u)
		a.BaselineUSD, a.Known = base, a.Known && ok
		a.SavingsUSD = a.BaselineUSD - a.ActualUSD
		return s
	})
}

func newSession(rule string, conv turn.Key) *SessionStats {
	return &SessionStats{Conversation: conv.Short(), Rule: rule, Outcomes: map[Outcome]int64{}, Cache: map[string]CacheStats{}}
}

// session adds a settled request to its session's aggregates.
func (r *Recorder) session(rule string, res *Result, a Accounting) {
	conv := res.Turn.Conversation
	if conv.IsZero() {
		return
	}
	now := r.now()
	r.sessionCache().Update(sessionID{rule, conv}, func(s *SessionStats, found bool) *SessionStats {
		if !found {
			s = newSession(rule, conv)
		}
		s.Requests++
		if res.Turn.Kind == turn.Start {
			s.Turns++
		}
		s.Outcomes[res.Outcome]++
		if a.Known {
			s.CostUSD += a.ActualUSD
			s.BaselineUSD += a.BaselineUSD
			s.SavingsUSD += a.SavingsUSD
		}
		for _, c := range res.Calls() {
			if c != nil {
				addCache(s.Cache, c.Model, c.Usage)
			}
		}
		s.LastSeen = now
		return s
	})
}

// Sessions returns copies of the most recently active sessions, newest
// first, at most limit (0: all kept).
func (r *Recorder) Sessions(limit int) []SessionStats {
	out := []SessionStats{}
	r.sessionCache().Each(func(_ sessionID, s *SessionStats) bool {
		c := *s
		c.Outcomes = copyMap(s.Outcomes)
		c.Cache = copyMap(s.Cache)
		out = append(out, c)
		return limit <= 0 || len(out) < limit
	})
	return out
}
