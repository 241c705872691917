package answer

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// looksLiteral reports whether s should be read as a Python or JSON value.
func looksLiteral(s string) bool {
	switch s {
	case "True", "False", "None", "true", "false", "null":
		return true
	}
	switch s[0] {
	case '[', '{', '\'', '"':
		return true
	case '(':
		return strings.ContainsAny(s, "'\"")
	}
	return false
}

// canonLiteral rewrites a Python or JSON literal into one canonical text,
// so that values that are equal read equally: no spaces outside strings,
// every string double-quoted with its escapes normalised, JSON's
// true/false/null as Python's True/False/None, no trailing comma in a list
// or dict. {"foo": ["bar"]} and {'foo': ['bar']} both become {"foo":["bar"]}.
func canonLiteral(s string) (string, bool) {
	var b []byte
	var stack []byte
	value := false // the last token was a value: another one must not follow
	for i := 0; i < len(s); {
		c := s[i]
		isValue := false
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
			continue
		case c == '\'' || c == '"':
			content, end, ok := pyString(s, i)
			if !ok {
				return "", false
			}
			b = strconv.AppendQuote(b, content)
			i, isValue = end, true
		case c == '[' || c == '{' || c == '(':
			if value && c != '(' {
				return "", false // only a call may follow a value: set()
			}
			stack = append(stack, c)
			b = append(b, c)
			i++
		case c == ']' || c == '}' || c == ')':
			if len(stack) == 0 || closer(stack[len(stack)-1]) != c {
				return "", false
			}
			stack = stack[:len(stack)-1]
			if c != ')' && len(b) > 0 && b[len(b)-1] == ',' {
				b = b[:len(b)-1] // [1, 2,] is [1, 2]; (1,) stays a tuple
			}
			b = append(b, c)
			i++
			value = true // a closed container is a value
			continue
		case c == ',' || c == ':':
			b = append(b, c)
			i++
		case isDigit(c) || (c == '-' || c == '+') && i+1 < len(s) && (isDigit(s[i+1]) || s[i+1] == '.'):
			j := i + 1
			for j < len(s) && (isDigit(s[j]) || isLetter(s[j]) || s[j] == '.' || s[j] == '_' ||
				(s[j] == '-' || s[j] == '+') && (s[j-1] == 'e' || s[j-1] == 'E')) {
				j++
			}
			b = append(b, strings.ToLower(s[i:j])...)
			i, isValue = j, true
		case isLetter(c) || c == '_':
			j := i
			for j < len(s) && (isLetter(s[j]) || isDigit(s[j]) || s[j] == '_' || s[j] == '.') {
				j++
			}
			// A string prefix: b'..', r'..', u'..'.
			if j-i == 1 && j < len(s) && (s[j] == '\'' || s[j] == '"') && strings.IndexByte("bruBRU", c) >= 0 {
				i = j
				continue
			}
			switch w := s[i:j]; w {
			case "true":
				b = append(b, "True"...)
			case "false":
				b = append(b, "False"...)
			case "null":
				b = append(b, "None"...)
			default:
				b = append(b, w...)
			}
			i, isValue = j, true
		default:
			return "", false
		}
		if isValue && value {
			return "", false // two values in a row: prose, not a literal
		}
		value = isValue
	}
	return string(b), len(stack) == 0 && len(b) > 0
}

func closer(open byte) byte {
	switch open {
	case '[':
		return ']'
	case '{':
		return '}'
	}
	return ')'
}

// pyString decodes the Python (or JSON) string literal that starts with the
// quote at s[i], returning its content and the index after it. Escapes are
// decoded; an unknown escape keeps its backslash, as Python does.
func pyString(s string, i int) (string, int, bool) {
	q := s[i]
	triple := strings.HasPrefix(s[i:], strings.Repeat(string(q), 3))
	j := i + 1
	if triple {
		j = i + 3
	}
	var b strings.Builder
	for j < len(s) && j-i <= maxScan {
		c := s[j]
		switch {
		case c == q:
			if !triple {
				return b.String(), j + 1, true
			}
			if strings.HasPrefix(s[j:], strings.Repeat(string(q), 3)) {
				return b.String(), j + 3, true
			}
			b.WriteByte(c)
			j++
		case c == '\\' && j+1 < len(s):
			e := s[j+1]
			j += 2
			switch e {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'r':
				b.WriteByte('\r')
			case '0':
				b.WriteByte(0)
			case '\\', '\'', '"':
				b.WriteByte(e)
			case '\n':
				// a line continuation
			case 'x', 'u':
				n := 2
				if e == 'u' {
					n = 4
				}
				if j+n <= len(s) {
					if v, err := strconv.ParseUint(s[j:j+n], 16, 32); err == nil {
						b.WriteRune(rune(v))
						j += n
						continue
					}
				}
				b.WriteByte('\\')
				b.WriteByte(e)
			default:
				b.WriteByte('\\')
				b.WriteByte(e)
			}
		default:
			_, size := utf8.DecodeRuneInString(s[j:])
			b.WriteString(s[j : j+size])
			j += size
		}
	}
	return "", 0, false
}
