package policy

import (
	"strings"
	"unicode/utf8"
)

// tokKind is one piece of a wildcard pattern.
type tokKind uint8

const (
	tokLit  tokKind = iota // literal text
	tokStar                // * : any run of characters, including none and including '/' and ':'
	tokAny                 // ? : exactly one character
	tokVar                 // ${key} or ${key, 'default'}: replaced by the request's value before matching
)

type tok struct {
	kind tokKind
	text string // literal text, or a variable's key
	def  string // a variable's default
	// hasDef marks a variable with a default: it never fails to resolve.
	hasDef bool
}

// pattern is a policy string compiled once at Parse: literal text, the * and ? wildcards, and policy variables.
// Variables exist only under Version 2012-10-17; ${*}, ${?} and ${$} are the literal characters.
type pattern struct {
	raw  string
	toks []tok
	// vars says whether toks holds a tokVar, so that evaluation of a fixed pattern allocates nothing.
	vars bool
	// wild says whether toks holds a wildcard.
	wild bool
	// lit is the pattern read literally (wildcards as the characters), when it holds no variable.
	lit string
}

// compilePattern compiles raw. Policy variables are recognised only when vars is set and only from byte offset
// varsFrom on (a Resource allows them only in the part of the ARN after the fifth colon).
func compilePattern(raw string, vars bool, varsFrom int) pattern {
	p := pattern{raw: raw}
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			p.toks = append(p.toks, tok{kind: tokLit, text: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(raw); {
		switch c := raw[i]; {
		case c == '*':
			flush()
			p.toks = append(p.toks, tok{kind: tokStar})
			p.wild = true
			i++
		case c == '?':
			flush()
			p.toks = append(p.toks, tok{kind: tokAny})
			p.wild = true
			i++
		case c == '$' && vars && i >= varsFrom && strings.HasPrefix(raw[i:], "${"):
			v, n, ok := parseVariable(raw[i:])
			if !ok {
				lit.WriteByte(c)
				i++
				continue
			}
			switch v.text {
			case "*", "?", "$":
				lit.WriteString(v.text)
			default:
				flush()
				p.toks = append(p.toks, v)
				p.vars = true
			}
			i += n
		default:
			lit.WriteByte(c)
			i++
		}
	}
	flush()
	if !p.vars {
		p.lit = joinLiteral(p.toks)
	}
	return p
}

// joinLiteral concatenates toks, reading the wildcards as the plain characters.
func joinLiteral(toks []tok) string {
	var b strings.Builder
	for _, t := range toks {
		switch t.kind {
		case tokStar:
			b.WriteByte('*')
		case tokAny:
			b.WriteByte('?')
		default:
			b.WriteString(t.text)
		}
	}
	return b.String()
}

// parseVariable parses "${name}" or "${name, 'default'}" at the start of s, returning the variable, its length in
// bytes, and whether s starts with one.
func parseVariable(s string) (tok, int, bool) {
	i := 2 // past "${"
	start := i
	for i < len(s) && s[i] != '}' && s[i] != ',' {
		i++
	}
	if i == len(s) {
		return tok{}, 0, false
	}
	name := strings.TrimSpace(s[start:i])
	if name == "" {
		return tok{}, 0, false
	}
	v := tok{kind: tokVar, text: name}
	if s[i] == ',' {
		i++
		for i < len(s) && s[i] == ' ' {
			i++
		}
		if i == len(s) || s[i] != '\'' {
			return tok{}, 0, false
		}
		i++
		end := strings.IndexByte(s[i:], '\'')
		if end < 0 {
			return tok{}, 0, false
		}
		v.def, v.hasDef = s[i:i+end], true
		i += end + 1
		for i < len(s) && s[i] == ' ' {
			i++
		}
		if i == len(s) || s[i] != '}' {
			return tok{}, 0, false
		}
	}
	return v, i + 1, true
}

// lookupFunc returns a single-valued context key's value for a policy variable.
type lookupFunc func(key string) (string, bool)

// resolve replaces p's variables with their values. It reports false when a variable has no value and no default:
// such a pattern matches nothing (IAM: "the resource that includes a policy variable with no value will not match
// any resource"; a condition value with one is "effectively null").
func (p pattern) resolve(lookup lookupFunc) ([]tok, bool) {
	if !p.vars {
		return p.toks, true
	}
	out := make([]tok, 0, len(p.toks))
	for _, t := range p.toks {
		if t.kind != tokVar {
			out = append(out, t)
			continue
		}
		v, ok := lookup(t.text)
		if !ok {
			if !t.hasDef {
				return nil, false
			}
			v = t.def
		}
		// A substituted value is literal: a user name holding '*' is no wildcard.
		out = append(out, tok{kind: tokLit, text: v})
	}
	return out, true
}

// literal returns p with its variables resolved and its wildcards read as the plain characters, for the operators
// that compare exactly (StringEquals, Bool …).
func (p pattern) literal(lookup lookupFunc) (string, bool) {
	if !p.vars {
		return p.lit, true
	}
	toks, ok := p.resolve(lookup)
	if !ok {
		return "", false
	}
	return joinLiteral(toks), true
}

// match reports whether s matches the wildcard pattern p after resolving its variables.
func (p pattern) match(s string, lookup lookupFunc) bool {
	toks, ok := p.resolve(lookup)
	return ok && globMatch(toks, s)
}

// globMatch matches s against toks (literals, * and ?, no variables). It backtracks only to the last star, which
// is enough for these patterns and keeps the cost linear in practice, quadratic at worst.
func globMatch(toks []tok, s string) bool {
	ti, si := 0, 0
	starTi, starSi := -1, 0
	for {
		if ti < len(toks) {
			switch t := toks[ti]; t.kind {
			case tokStar:
				starTi, starSi = ti, si
				ti++
				continue
			case tokAny:
				if si < len(s) {
					_, n := utf8.DecodeRuneInString(s[si:])
					si += n
					ti++
					continue
				}
			default:
				if strings.HasPrefix(s[si:], t.text) {
					si += len(t.text)
					ti++
					continue
				}
			}
		} else if si == len(s) {
			return true
		}
		if starTi < 0 || starSi >= len(s) {
			return false
		}
		_, n := utf8.DecodeRuneInString(s[starSi:])
		starSi += n
		ti, si = starTi+1, starSi
	}
}

// afterFifthColon is the offset just past the fifth colon of an ARN, where its resource part starts; len(arn)
// when it has fewer.
func afterFifthColon(arn string) int {
	n := 0
	for i := 0; i < len(arn); i++ {
		if arn[i] == ':' {
			n++
			if n == 5 {
				return i + 1
			}
		}
	}
	return len(arn)
}
