// Package answer finds the final answer in a model's text and compares two
// answers exactly. The quality gate uses it to ask whether second opinions
// agree with the draft; the audit comparer uses it to ask whether the draft
// and the verifier gave the same answer. It is pure: no I/O, no state.
//
// Extract looks for explicit markers first and takes the last occurrence of
// the strongest one, in this order: a JSON "answer" field (fenced or not,
// valid JSON or not), \boxed{...}, GSM8K's "#### 42", "The final answer is
// ...", a CRUXEval-style "assert f(...) == <literal>", "The answer is ..." /
// "Answer: ...", a lone bold choice letter, and a short one-line text that
// is an answer by itself. Without a marker it falls back to the last line
// ("... = 42", or the number a concluding sentence states, preferring one the
// text computed earlier) and then to the last number of a text that does
// arithmetic. Confidence follows that order, from 0.95 for the explicit
// markers to 0.3 for the last number. Open-ended prose, code and a JSON reply
// cut off before its answer field have no answer (Kind None, Confidence 0).
// Parse reads a string that is an answer by itself, such as a gold reference.
//
// An answer is one of five kinds: a Number (integers, decimals, thousands
// separators, currency and units, percentages, fractions, mixed numbers,
// scientific notation, \frac of two numbers), an Expr (a math expression
// such as 2\sqrt{3}, \frac{\pi}{2}, a tuple or an interval, normalised from
// LaTeX and evaluated when it is constant), a Choice letter A-J, a Literal
// (a Python or JSON list, dict or tuple, compared by value) or a Text phrase.
//
// Equality decisions, conservative because a wrong "equal" lets a wrong
// draft through while a wrong "different" only costs an escalation:
//   - Numbers compare with a relative tolerance of 1e-6, except that two
//     integers written as integers must be identical (1000000 != 1000001).
//   - A percentage is the number before the sign: "50%" equals 50. It also
//     equals 0.5 only when the other side is written as a fraction (1/2,
//     \frac{1}{2}), which states a ratio unambiguously; a bare 0.5 may be
//     "0.5 percent" and is not taken as 50%.
//   - A string its writer delimited (quoted, a JSON "answer" value, an
//     assert's literal) is compared as written, case and spaces included, as
//     program output is: 'HeY' is not 'hey'. Its quotes are not part of it,
//     so '816' equals 816 and 'abc' equals an "answer": "abc". Only phrases
//     cut from running text ("The answer is New York.") are compared with
//     case, punctuation and runs of spaces folded.
//   - Literals compare by value as Python sees them: {"a": [1]} equals
//     {'a': [1]} and [1,2] equals [1, 2]; true equals True.
//   - Choice letters compare case-insensitively and only with choice letters:
//     a letter against anything else is not comparable.
//   - Expressions compare numerically when both are constant, element by
//     element for tuples and intervals, and otherwise by their normalised
//     text or, when they share the same variables, by their values at a few
//     fixed sample points.
//
// EqualToolCalls compares the tool calls of two responses: same tools, same
// arguments as JSON values, in the same order (see its documentation).
package answer
