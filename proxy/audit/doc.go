// Package audit measures the quality a route delivers: it compares a draft
// with the verifier's answer to the same request, exactly (final answers,
// tool calls) or through a pairwise LLM judge, so the route's calibration
// can learn how often accepted drafts are at least as good as the verifier.
package audit
