// Package mathtext reads the numbers and the arithmetic written in prose, as
// a model writes them when it works a problem: "20% of 50 is 10",
// "$1,250.50", "3/4 of the 12 apples", "twenty-five", "48 / 2 = 24 = 20 + 4".
//
// CheckArithmetic recomputes the statements of a text and counts those that
// hold; ScanQuantities lists the amounts a text gives. Both are pure,
// allocation-light and bounded on long texts, and neither ever guesses: text
// that is not plainly a number or a complete expression is skipped.
package mathtext
