// Package quality is the cascade's quality gate: it scores a draft answer
// against the request that produced it and decides whether the draft may be
// returned or the request must escalate to the verifier. It is pure (no I/O)
// except for the optional Judge, which the caller supplies.
//
// Each signal lives in the file named after it. Evaluate first analyses the
// request and the draft once (analysis.go: the latest ask, the draft's text,
// the phrases found, the word problem and its quantities, the recomputed
// arithmetic), then hands every signal what it reads, so no signal depends
// on another having run. Reading numbers and arithmetic out of prose is
// package mathtext; the names, defaults and allowed values of the settings
// are package gateconfig, which the rules contract uses too.
//
// # Signals
//
// Each signal is a small function returning a score in [0, 1] (1 = no sign of
// a problem), whether it applies to this request/draft, and whether it is a
// hard veto:
//
//	truncation  stop_reason max_tokens / context window / pause_turn (veto);
//	            text that visibly ends on a separator, mid-number or inside
//	            an unclosed code fence (dangling_score); a last prose line
//	            without closing punctuation (unfinished_score)
//	empty       no text and no tool call, or fewer than MinAnswerChars letters
//	            or digits (veto)
//	refusal     stop_reason refusal (veto); a refusal phrase at the start of a
//	            short answer (veto); elsewhere refusal_partial_score
//	hedging     uncertainty and self-correction phrases ("I'm not sure",
//	            "cannot be determined" unless that was the question), weak
//	            softeners per 1,000 characters, and short answers that end
//	            by asking the user a question; each costs hedge_penalty,
//	            down to hedge_floor
//	repetition  share of repeated word n-grams (repetition_ngram words,
//	            the distinct share ramped from repetition_low to
//	            repetition_high) and of repeated lines
//	length      answer length against what the request asks for (explicit
//	            "N words/sentences/paragraphs"; long-form, code and
//	            explanation requests: length_min_longform, length_min_code,
//	            length_min_explain characters; a code request answered
//	            without code: length_no_code_score; a worked problem:
//	            length_work_ratio × the question's length)
//	tool_calls  called tools exist in the request, arguments are a JSON
//	            object satisfying the tool's input_schema, tool_choice is
//	            honoured (veto when violated)
//	format      json_object / json_schema requests: the text is valid JSON
//	            (and satisfies the schema) (veto when violated)
//	arithmetic  statements such as "12 * 4 = 48" or "20% of 50 is 10" are
//	            recomputed (within arithmetic_tolerance, more for rounded
//	            or approximate results); score = share found correct
//	coverage    word problems (the last paragraph of the latest user text,
//	            its first and last 4 KiB when longer, gives two or more quantities, in digits, fractions,
//	            percentages or words, has a math or reasoning cue and asks
//	            something): each quantity the question gives that the
//	            worked answer never writes, in any usual form (20 % as 0.2,
//	            1.2 or 0.8; 3/4 as 0.75, 3 or 4), costs a factor
//	            ["coverage_unused_score"]: a dropped quantity is the
//	            commonest trace of a misread problem
//	answer      word problems: each flaw of the final answer costs a factor
//	            ["answer_flaw_score"]. Flaws: the final statement (last line
//	            with a digit) offers several numbers where one amount is
//	            asked ("how many", "how much"); the answer has more decimals
//	            than any number of the question, i.e. needed rounding or an
//	            uneven split (not counted when a probability is asked); after
//	            shown calculations, the answer is a number the work never
//	            reached; the draft patches an impossible result of its own
//	            ("however, since this is a negative number")
//	complexity  1 - complexity_penalty × the request's complexity estimate
//	            (see Complexity) × (1 - complexity_verified_discount × e),
//	            e in [0, 1] being checked work: a word problem whose
//	            calculations all recompute and which coverage and answer
//	            pass, e = correct calculations / steps needed, capped at 1;
//	            a problem giving n quantities needs n-1 steps (at least
//	            complexity_verified_calcs). The estimate is a prior that a
//	            small model fails; checks that hold remove part of the risk
//	            it stands for, in proportion to how much of the work they
//	            cover
//	logprob     token probabilities when the draft carries logprobs: the
//	            geometric mean ramped from logprob_low to logprob_high
//	judge       a grade from an optional Judge model (rules.Gate.Judge;
//	            timeout judge_timeout_seconds when the judge sets none)
//
// # Combination
//
// A signal that does not apply is left out. A signal whose weight is 0 is not
// computed at all. The combined score is the weighted product
//
//	score = Π_i s_i ^ w_i     over the applicable signals i,
//
// so a signal at 1 changes nothing, a weight scales how strongly a shortfall
// counts (w = 2 squares it), and one signal at 0 sinks the draft. No signal
// dilutes another, which a weighted mean would do: five clean signals would
// hide one wrong calculation. When any applicable signal vetoes, the score is
// further capped at veto_cap (default 0).
//
// The draft is accepted iff score >= threshold, where threshold is
// Gate.ComplexityThresholds[level] for the request's complexity level when
// set, else the rule's threshold given to New. The level is hard from
// complexity_hard, moderate from complexity_moderate, else simple.
//
// # Settings
//
// A rule's gate settings (rules.Gate) are checked when the rules are loaded
// (rules.Validate), when the operator renders them, and again by New and
// Validate; a problem is an error naming its field, e.g.
//
//	rules[0].gate.weights: unknown signal "hedgin" (known: truncation, ...)
//	rules[0].gate.options[veto_cap]: must be in [0, 1], got 2
//
// weights are keyed by the signal names above (default 3 for arithmetic, 1
// for the others; 0 turns a signal off; never negative). complexityThresholds
// are keyed by simple, moderate and hard, each in [0, 1]. options, with their
// defaults and allowed values:
//
//	veto_cap                      0      [0, 1]
//	dangling_score                0.2    [0, 1]
//	unfinished_score              0.35   [0, 1]
//	hedge_penalty                 0.12   ≥ 0
//	hedge_floor                   0.3    [0, 1]
//	refusal_partial_score         0.6    [0, 1]
//	repetition_ngram              4      integer in [1, 16]
//	repetition_low                0.45   [0, 1], below repetition_high
//	repetition_high               0.8    [0, 1]
//	length_min_longform           700    [0, 1000000]
//	length_min_code               150    [0, 1000000]
//	length_min_explain            250    [0, 1000000]
//	length_no_code_score          0.35   [0, 1]
//	length_work_ratio             0.8    [0, 100]
//	arithmetic_tolerance          0.0001 [0, 1]
//	coverage_unused_score         0.6    [0, 1]
//	answer_flaw_score             0.5    [0, 1]
//	complexity_moderate           0.35   [0, 1], at most complexity_hard
//	complexity_hard               0.6    [0, 1]
//	complexity_penalty            0.5    [0, 1]
//	complexity_verified_discount  0.5    [0, 1]
//	complexity_verified_calcs     1      ≥ 1
//	logprob_low                   0.5    [0, 1], below logprob_high
//	logprob_high                  0.9    [0, 1]
//	judge_timeout_seconds         10     (0, 3600]
package quality
