// Package quality is the cascade's quality gate: it scores a draft answer
// against the request that produced it and decides whether the draft may be
// returned or the request must escalate to the verifier. It is pure (no I/O)
// except for the optional Judge, which the caller supplies.
//
// # Signals
//
// Each signal is a small function returning a score in [0, 1] (1 = no sign of
// a problem), whether it applies to this request/draft, and whether it is a
// hard veto:
//
//	truncation  stop_reason max_tokens / context window / pause_turn (veto);
//	            text that visibly ends on a separator, mid-number or inside
//	            an unclosed code fence (Options["dangling_score"]); a last
//	            prose line without closing punctuation (["unfinished_score"])
//	empty       no text and no tool call, or fewer than MinAnswerChars letters
//	            or digits (veto)
//	refusal     stop_reason refusal (veto); a refusal phrase at the start of a
//	            short answer (veto); elsewhere a partial penalty
//	hedging     uncertainty and self-correction phrases ("I'm not sure",
//	            "cannot be determined" unless that was the question), weak
//	            softeners per 1,000 characters, and short answers that end
//	            by asking the user a question
//	repetition  share of repeated word n-grams and repeated lines
//	length      answer length against what the request asks for (explicit
//	            "N words/sentences/paragraphs", long-form or code requests)
//	tool_calls  called tools exist in the request, arguments are a JSON
//	            object satisfying the tool's input_schema, tool_choice is
//	            honoured (veto when violated)
//	format      json_object / json_schema requests: the text is valid JSON
//	            (and satisfies the schema) (veto when violated)
//	arithmetic  statements such as "12 * 4 = 48" or "20% of 50 is 10" are
//	            recomputed; score = share found correct
//	coverage    word problems (the last paragraph of the latest user text
//	            gives two or more quantities, in digits, fractions,
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
//	logprob     token probabilities when the draft carries logprobs
//	judge       a grade from an optional Judge model
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
// further capped at Options["veto_cap"] (default 0).
//
// The draft is accepted iff score >= threshold, where threshold is
// Gate.ComplexityThresholds[level] for the request's complexity level when
// set, else the rule's threshold given to New.
package quality
