package answer

import (
	"math"
	"slices"
	"strconv"
	"strings"
)

// node is a parsed math expression.
type node struct {
	op   byte // 'n' number, 'v' variable, 'c' constant, 'f' function, 'u' negation, '!' factorial, 't' tuple, or + - * / ^
	num  float64
	name string // variable, constant or function name; a tuple's brackets, e.g. "[)"
	kids []*node
}

type tokKind uint8

const (
	tkNum tokKind = iota
	tkName
	tkOp
	tkOpen
	tkClose
	tkComma
)

type token struct {
	kind tokKind
	num  float64
	text string
}

// mathNames are the multi-letter names an expression may use; any other
// run of three or more letters is a word, not math.
var mathNames = []string{
	"arcsin", "arccos", "arctan", "alpha", "beta", "gamma", "delta", "theta", "lambda", "sigma",
	"omega", "epsilon", "sqrt", "sin", "cos", "tan", "sec", "csc", "cot", "log", "ln", "exp",
	"phi", "rho", "tau", "mu", "pi", "inf",
}

var functions = map[string]func(float64) float64{
	"sqrt": math.Sqrt, "sin": math.Sin, "cos": math.Cos, "tan": math.Tan,
	"sec": func(x float64) float64 { return 1 / math.Cos(x) },
	"csc": func(x float64) float64 { return 1 / math.Sin(x) },
	"cot": func(x float64) float64 { return 1 / math.Tan(x) },
	"log": math.Log10, "ln": math.Log, "exp": math.Exp,
	"arcsin": math.Asin, "arccos": math.Acos, "arctan": math.Atan,
}

const (
	maxTokens    = 200
	maxExprDepth = 64
)

// tokenize splits plain math into tokens; ok is false for anything that is
// not math (words, stray symbols).
func tokenize(s string) ([]token, bool) {
	var toks []token
	for i := 0; i < len(s); {
		if len(toks) > maxTokens {
			return nil, false
		}
		c := s[i]
		switch {
		case c == ' ':
			i++
		case isDigit(c) || c == '.' && i+1 < len(s) && isDigit(s[i+1]):
			j := i
			for j < len(s) && isDigit(s[j]) {
				j++
			}
			if j+1 < len(s) && s[j] == '.' && isDigit(s[j+1]) {
				j++
				for j < len(s) && isDigit(s[j]) {
					j++
				}
			}
			if j+1 < len(s) && (s[j] == 'e' || s[j] == 'E') && (isDigit(s[j+1]) || j+2 < len(s) && s[j+1] == '-' && isDigit(s[j+2])) {
				j += 2
				for j < len(s) && isDigit(s[j]) {
					j++
				}
			}
			v, err := strconv.ParseFloat(s[i:j], 64)
			if err != nil && !math.IsInf(v, 0) {
				return nil, false
			}
			toks = append(toks, token{kind: tkNum, num: v, text: s[i:j]})
			i = j
		case isLetter(c):
			j := i
			for j < len(s) && isLetter(s[j]) {
				j++
			}
			names, ok := splitNames(s[i:j])
			if !ok {
				return nil, false
			}
			// "a b c": three lone letters in a row are words, not a product.
			if len(names) == 1 && len(names[0]) == 1 && len(toks) >= 2 && isLetterTok(toks[len(toks)-1]) && isLetterTok(toks[len(toks)-2]) {
				return nil, false
			}
			for _, n := range names {
				toks = append(toks, token{kind: tkName, text: n})
			}
			i = j
		case strings.IndexByte("+-*/^!", c) >= 0:
			toks = append(toks, token{kind: tkOp, text: s[i : i+1]})
			i++
		case c == '(' || c == '[' || c == '{':
			toks = append(toks, token{kind: tkOpen, text: s[i : i+1]})
			i++
		case c == ')' || c == ']' || c == '}':
			toks = append(toks, token{kind: tkClose, text: s[i : i+1]})
			i++
		case c == ',':
			toks = append(toks, token{kind: tkComma})
			i++
		default:
			return nil, false
		}
	}
	return toks, len(toks) > 0
}

func isLetterTok(t token) bool { return t.kind == tkName && len(t.text) == 1 }

// splitNames splits a run of letters into known names and one-letter
// variables ("xy" is x*y, "2pi" has pi); a run with three single letters in
// a row is a word.
func splitNames(run string) ([]string, bool) {
	var out []string
	singles := 0
	for i := 0; i < len(run); {
		matched := ""
		for _, n := range mathNames {
			if len(n) > len(matched) && strings.HasPrefix(run[i:], n) {
				matched = n
			}
		}
		if matched == "" {
			matched = run[i : i+1]
			singles++
			if singles >= 3 {
				return nil, false
			}
		} else {
			singles = 0
		}
		out = append(out, matched)
		i += len(matched)
	}
	return out, true
}

type exprParser struct {
	toks  []token
	pos   int
	depth int
	bad   bool
}

// parseExpr parses plain math; a top-level comma list is a tuple without
// brackets ("1, 2").
func parseExpr(s string) (*node, bool) {
	toks, ok := tokenize(s)
	if !ok {
		return nil, false
	}
	p := &exprParser{toks: toks}
	items := p.list()
	if p.bad || p.pos != len(p.toks) || len(items) == 0 {
		return nil, false
	}
	if len(items) == 1 {
		return items[0], true
	}
	return &node{op: 't', kids: items}, true
}

func (p *exprParser) peek() (token, bool) {
	if p.pos < len(p.toks) {
		return p.toks[p.pos], true
	}
	return token{}, false
}

func (p *exprParser) isOp(op string) bool {
	t, ok := p.peek()
	return ok && t.kind == tkOp && t.text == op
}

func (p *exprParser) list() []*node {
	items := []*node{p.sum()}
	for !p.bad {
		t, ok := p.peek()
		if !ok || t.kind != tkComma {
			break
		}
		p.pos++
		items = append(items, p.sum())
	}
	return items
}

func (p *exprParser) enter() bool {
	p.depth++
	if p.depth > maxExprDepth {
		p.bad = true
	}
	return !p.bad
}

func (p *exprParser) sum() *node {
	if !p.enter() {
		return nil
	}
	defer func() { p.depth-- }()
	left := p.product()
	for !p.bad && (p.isOp("+") || p.isOp("-")) {
		op := p.toks[p.pos].text[0]
		p.pos++
		left = &node{op: op, kids: []*node{left, p.product()}}
	}
	return left
}

func (p *exprParser) product() *node {
	left := p.unary()
	for !p.bad {
		if p.isOp("*") || p.isOp("/") {
			op := p.toks[p.pos].text[0]
			p.pos++
			left = &node{op: op, kids: []*node{left, p.unary()}}
			continue
		}
		// Implicit multiplication: 2x, 2sqrt(3), 3(x+1), x y. Never before a
		// number: "2 3" is not 6.
		t, ok := p.peek()
		if !ok || !(t.kind == tkName || t.kind == tkOpen && t.text == "(") {
			break
		}
		left = &node{op: '*', kids: []*node{left, p.power()}}
	}
	return left
}

func (p *exprParser) unary() *node {
	if !p.enter() {
		return nil
	}
	defer func() { p.depth-- }()
	if p.isOp("-") {
		p.pos++
		return &node{op: 'u', kids: []*node{p.unary()}}
	}
	if p.isOp("+") {
		p.pos++
		return p.unary()
	}
	return p.power()
}

func (p *exprParser) power() *node {
	base := p.postfix()
	if !p.bad && p.isOp("^") {
		p.pos++
		return &node{op: '^', kids: []*node{base, p.unary()}}
	}
	return base
}

func (p *exprParser) postfix() *node {
	n := p.primary()
	for !p.bad && p.isOp("!") {
		p.pos++
		n = &node{op: '!', kids: []*node{n}}
	}
	return n
}

func (p *exprParser) primary() *node {
	if !p.enter() {
		return nil
	}
	defer func() { p.depth-- }()
	t, ok := p.peek()
	if !ok {
		p.bad = true
		return nil
	}
	p.pos++
	switch t.kind {
	case tkNum:
		return &node{op: 'n', num: t.num}
	case tkName:
		switch {
		case t.text == "pi" || t.text == "inf":
			return &node{op: 'c', name: t.text}
		case functions[t.text] != nil:
			// cos^2 x is (cos x)^2.
			var exp *node
			if p.isOp("^") {
				p.pos++
				exp = p.postfix()
			}
			arg := p.power()
			n := &node{op: 'f', name: t.text, kids: []*node{arg}}
			if exp != nil {
				n = &node{op: '^', kids: []*node{n, exp}}
			}
			return n
		}
		return &node{op: 'v', name: t.text}
	case tkOpen:
		items := p.list()
		c, ok := p.peek()
		if p.bad || !ok || c.kind != tkClose || !pairs(t.text, c.text) {
			p.bad = true
			return nil
		}
		p.pos++
		if len(items) == 1 && t.text == "(" && c.text == ")" {
			return items[0]
		}
		return &node{op: 't', name: t.text + c.text, kids: items}
	}
	p.bad = true
	return nil
}

// pairs accepts matching brackets and the half-open intervals [a, b) (a, b].
func pairs(open, close string) bool {
	if open == "{" || close == "}" {
		return open == "{" && close == "}"
	}
	return true
}

// eval computes n with vars bound by env (nil: no variables); ok is false
// for tuples, unbound variables and non-finite or complex results.
func eval(n *node, env map[string]float64) (float64, bool) {
	if n == nil {
		return 0, false
	}
	switch n.op {
	case 'n':
		return n.num, true
	case 'c':
		if n.name == "pi" {
			return math.Pi, true
		}
		return math.Inf(1), true
	case 'v':
		v, ok := env[n.name]
		return v, ok
	case 'f':
		x, ok := eval(n.kids[0], env)
		if !ok {
			return 0, false
		}
		return finite(functions[n.name](x))
	case 'u':
		x, ok := eval(n.kids[0], env)
		return -x, ok
	case '!':
		x, ok := eval(n.kids[0], env)
		if !ok || x < 0 || x > 170 || x != math.Trunc(x) {
			return 0, false
		}
		f := 1.0
		for k := 2.0; k <= x; k++ {
			f *= k
		}
		return f, true
	case '+', '-', '*', '/', '^':
		x, ok1 := eval(n.kids[0], env)
		y, ok2 := eval(n.kids[1], env)
		if !ok1 || !ok2 {
			return 0, false
		}
		switch n.op {
		case '+':
			return finite(x + y)
		case '-':
			return finite(x - y)
		case '*':
			return finite(x * y)
		case '/':
			return finite(x / y)
		}
		return finite(math.Pow(x, y))
	}
	return 0, false
}

func finite(v float64) (float64, bool) {
	return v, !math.IsNaN(v) && !math.IsInf(v, 0)
}

// canon prints n with the fewest parentheses; equal trees print equally.
func canon(n *node) string {
	var b strings.Builder
	writeCanon(&b, n, 0)
	return b.String()
}

func precedence(n *node) int {
	switch n.op {
	case '+', '-':
		return 1
	case '*', '/':
		return 2
	case 'u':
		return 3
	case '^':
		return 4
	}
	return 5
}

func writeCanon(b *strings.Builder, n *node, parent int) {
	if n == nil {
		return
	}
	p := precedence(n)
	if p < parent {
		b.WriteByte('(')
		defer b.WriteByte(')')
	}
	switch n.op {
	case 'n':
		b.WriteString(formatFloat(n.num))
	case 'v', 'c':
		b.WriteString(n.name)
	case 'f':
		b.WriteString(n.name)
		b.WriteByte('(')
		writeCanon(b, n.kids[0], 0)
		b.WriteByte(')')
	case 'u':
		b.WriteByte('-')
		writeCanon(b, n.kids[0], 4)
	case '!':
		writeCanon(b, n.kids[0], 5)
		b.WriteByte('!')
	case 't':
		open, close := "(", ")"
		if len(n.name) == 2 {
			open, close = n.name[:1], n.name[1:]
		}
		b.WriteString(open)
		for i, k := range n.kids {
			if i > 0 {
				b.WriteByte(',')
			}
			writeCanon(b, k, 0)
		}
		b.WriteString(close)
	default:
		// Left-associative + - * /: the right operand of - and / needs
		// parentheses at equal precedence; ^ is right-associative.
		left, right := p, p+1
		if n.op == '+' || n.op == '*' {
			right = p
		}
		if n.op == '^' {
			left, right = p+1, p
		}
		writeCanon(b, n.kids[0], left)
		b.WriteByte(n.op)
		writeCanon(b, n.kids[1], right)
	}
}

// numberShaped reports whether n is a number as people write one: 3, -3,
// 3/4, 1 + 1/2, 1.2*10^5. It returns the form to compare it with.
func numberShaped(n *node) (form, bool) {
	switch n.op {
	case 'n':
		return formDecimal, true
	case 'u':
		return numberShaped(n.kids[0])
	case '/':
		if isNum(n.kids[0]) && isNum(n.kids[1]) {
			return formFraction, true
		}
	case '+':
		if isNum(n.kids[0]) && n.kids[1].op == '/' && isNum(n.kids[1].kids[0]) && isNum(n.kids[1].kids[1]) {
			return formFraction, true
		}
	case '*':
		if p := n.kids[1]; isNum(n.kids[0]) && p.op == '^' && isNum(p.kids[0]) && p.kids[0].num == 10 {
			if e := p.kids[1]; isNum(e) || e.op == 'u' && isNum(e.kids[0]) {
				return formSci, true
			}
		}
	}
	return 0, false
}

func isNum(n *node) bool {
	if n != nil && n.op == 'u' {
		n = n.kids[0]
	}
	return n != nil && n.op == 'n'
}

// variables lists the variable names of n, sorted and unique.
func variables(n *node, out []string) []string {
	if n == nil {
		return out
	}
	if n.op == 'v' && !slices.Contains(out, n.name) {
		out = append(out, n.name)
	}
	for _, k := range n.kids {
		out = variables(k, out)
	}
	slices.Sort(out)
	return out
}

// samplePoints are the values variables take when two expressions with the
// same variables are compared by value: irrational-looking, so that
// different expressions almost never agree at all of them.
var samplePoints = [][]float64{
	{0.7391, 1.3247, 2.1753, 0.5772, 1.6180, 2.7183},
	{1.4142, 0.3183, 1.7321, 2.2361, 0.8660, 1.2599},
	{2.5066, 1.1447, 0.4343, 1.8392, 0.6931, 3.1416},
}

// exprEqual compares two expressions: by value when both are constant,
// element-wise for tuples, by text, and by values at sample points when
// they have the same variables.
func exprEqual(x, y *node) bool {
	if x == nil || y == nil {
		return false
	}
	vx, okx := eval(x, nil)
	vy, oky := eval(y, nil)
	if okx && oky {
		return closeEnough(vx, vy)
	}
	if x.op == 't' || y.op == 't' {
		if x.op != y.op || x.name != y.name || len(x.kids) != len(y.kids) {
			return false
		}
		for i := range x.kids {
			if !exprEqual(x.kids[i], y.kids[i]) {
				return false
			}
		}
		return true
	}
	if canon(x) == canon(y) {
		return true
	}
	vars := variables(x, nil)
	if len(vars) == 0 || len(vars) > len(samplePoints[0]) || !slices.Equal(vars, variables(y, nil)) {
		return false
	}
	for _, pt := range samplePoints {
		env := make(map[string]float64, len(vars))
		for i, v := range vars {
			env[v] = pt[i]
		}
		a, ok1 := eval(x, env)
		b, ok2 := eval(y, env)
		if !ok1 || !ok2 || !closeEnough(a, b) {
			return false
		}
	}
	return true
}

// parseExprSpan reads a span of plain math as a Number (when it is written
// as a number) or an Expr.
func parseExprSpan(s string) (Answer, bool) {
	if !strings.ContainsAny(s, "0123456789") && !strings.Contains(s, "pi") && !strings.Contains(s, "inf") &&
		!strings.ContainsAny(s, "+-*/^()[]{}") {
		return Answer{}, false // a bare word or letter is text
	}
	n, ok := parseExpr(s)
	if !ok {
		return Answer{}, false
	}
	v, hasValue := eval(n, nil)
	if n.op == 'c' && n.name == "inf" {
		v, hasValue = math.Inf(1), true
	}
	if !hasValue {
		v = 0 // no NaN: an Answer equals itself under reflect.DeepEqual
	}
	if f, ok := numberShaped(n); ok && hasValue {
		a := Answer{Kind: Number, Value: v, HasValue: true, form: f, Text: formatFloat(v)}
		return a, true
	}
	return Answer{Kind: Expr, Text: canon(n), Value: v, HasValue: hasValue, expr: n}, true
}
