package policy

import (
	"bytes"
	"encoding/base64"
	"math/big"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// valueType is how an operator reads its values.
type valueType uint8

const (
	vtString valueType = iota
	vtStringFold
	vtStringLike
	vtNumeric
	vtDate
	vtBool
	vtBinary
	vtIP
	vtArn
	vtNull
)

// comparison is the relation the numeric and date operators test.
type comparison uint8

const (
	cmpEq comparison = iota
	cmpLt
	cmpLe
	cmpGt
	cmpGe
)

// operator is a condition operator without its qualifier and IfExists suffix. A negated operator is true exactly
// when its positive form is false: for an absent key, for every value listed (values OR, so the negation ANDs:
// "the string cannot match any of the values listed"), and for a variable with no value.
type operator struct {
	typ     valueType
	cmp     comparison
	negated bool
}

// operators are the condition operators of the IAM JSON policy reference ("Condition operators").
var operators = map[string]operator{
	"StringEquals":              {typ: vtString},
	"StringNotEquals":           {typ: vtString, negated: true},
	"StringEqualsIgnoreCase":    {typ: vtStringFold},
	"StringNotEqualsIgnoreCase": {typ: vtStringFold, negated: true},
	"StringLike":                {typ: vtStringLike},
	"StringNotLike":             {typ: vtStringLike, negated: true},
	"NumericEquals":             {typ: vtNumeric, cmp: cmpEq},
	"NumericNotEquals":          {typ: vtNumeric, cmp: cmpEq, negated: true},
	"NumericLessThan":           {typ: vtNumeric, cmp: cmpLt},
	"NumericLessThanEquals":     {typ: vtNumeric, cmp: cmpLe},
	"NumericGreaterThan":        {typ: vtNumeric, cmp: cmpGt},
	"NumericGreaterThanEquals":  {typ: vtNumeric, cmp: cmpGe},
	"DateEquals":                {typ: vtDate, cmp: cmpEq},
	"DateNotEquals":             {typ: vtDate, cmp: cmpEq, negated: true},
	"DateLessThan":              {typ: vtDate, cmp: cmpLt},
	"DateLessThanEquals":        {typ: vtDate, cmp: cmpLe},
	"DateGreaterThan":           {typ: vtDate, cmp: cmpGt},
	"DateGreaterThanEquals":     {typ: vtDate, cmp: cmpGe},
	"Bool":                      {typ: vtBool},
	"BinaryEquals":              {typ: vtBinary},
	"IpAddress":                 {typ: vtIP},
	"NotIpAddress":              {typ: vtIP, negated: true},
	"ArnEquals":                 {typ: vtArn},
	"ArnLike":                   {typ: vtArn},
	"ArnNotEquals":              {typ: vtArn, negated: true},
	"ArnNotLike":                {typ: vtArn, negated: true},
	"Null":                      {typ: vtNull},
}

// qualifier is a condition operator's set prefix.
type qualifier uint8

const (
	qualNone   qualifier = iota
	qualForAll           // ForAllValues:
	qualForAny           // ForAnyValue:
)

// parseOperator splits a condition operator name into its qualifier, base operator and IfExists suffix.
func parseOperator(name string) (op operator, q qualifier, ifExists bool, base string, ok bool) {
	base = name
	if rest, found := strings.CutPrefix(base, "ForAllValues:"); found {
		base, q = rest, qualForAll
	} else if rest, found := strings.CutPrefix(base, "ForAnyValue:"); found {
		base, q = rest, qualForAny
	}
	if rest, found := strings.CutSuffix(base, "IfExists"); found {
		base, ifExists = rest, true
	}
	op, ok = operators[base]
	if ok && op.typ == vtNull && (ifExists || q != qualNone) {
		ok = false // Null tests existence itself: AWS allows IfExists on "any condition operator except Null"
	}
	return op, q, ifExists, base, ok
}

// condValue is one policy value of a condition, parsed for its operator's type.
type condValue struct {
	pat    pattern // String*, Arn*, Bool: may hold policy variables
	num    *big.Rat
	date   time.Time
	prefix netip.Prefix
	bin    []byte
	isNull bool
}

// condition is one key of one operator in a Condition block: all of a statement's conditions must hold (AND),
// and a condition holds when the request matches any of its values (OR), as the qualifier and the negation say.
type condition struct {
	opName   string // as written, for IsPublic and error messages
	base     string // the operator without qualifier and suffix
	op       operator
	qual     qualifier
	ifExists bool
	key      string
	values   []condValue
}

// parseConditionValue parses one policy value for op; false when the value cannot be one of op's type.
func parseConditionValue(op operator, raw string, vars bool) (condValue, bool) {
	switch op.typ {
	case vtString, vtStringFold, vtStringLike, vtArn:
		return condValue{pat: compilePattern(raw, vars, 0)}, true
	case vtBool:
		p := compilePattern(raw, vars, 0)
		if !p.vars && !strings.EqualFold(p.lit, "true") && !strings.EqualFold(p.lit, "false") {
			return condValue{}, false
		}
		return condValue{pat: p}, true
	case vtNumeric:
		n, ok := parseNumber(raw)
		return condValue{num: n}, ok
	case vtDate:
		t, ok := parseDate(raw)
		return condValue{date: t}, ok
	case vtBinary:
		b, err := base64.StdEncoding.DecodeString(raw)
		return condValue{bin: b}, err == nil
	case vtIP:
		p, ok := parseCIDR(raw)
		return condValue{prefix: p}, ok
	case vtNull:
		switch strings.ToLower(raw) {
		case "true":
			return condValue{isNull: true}, true
		case "false":
			return condValue{isNull: false}, true
		}
	}
	return condValue{}, false
}

// parseNumber reads an integer or decimal number ("10", "1.2", "-3", "1e3"). Long numbers and large exponents are
// refused: big.Rat would otherwise build 10^1000000000 from "1e1000000000".
func parseNumber(s string) (*big.Rat, bool) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 64 || strings.ContainsFunc(s, func(r rune) bool {
		return !(r >= '0' && r <= '9' || r == '.' || r == '-' || r == '+' || r == 'e' || r == 'E')
	}) {
		return nil, false
	}
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		exp, err := strconv.Atoi(s[i+1:])
		if err != nil || exp > 64 || exp < -64 {
			return nil, false
		}
	}
	r, ok := new(big.Rat).SetString(s)
	return r, ok
}

// dateLayouts are the W3C profiles of ISO 8601 that AWS accepts for dates, with and without a zone (UTC then).
var dateLayouts = []string{
	"2006-01-02T15:04:05.999999999Z07:00",
	"2006-01-02T15:04:05.999999999Z0700",
	"2006-01-02T15:04Z07:00",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02T15:04",
	"20060102T150405Z07:00",
	"20060102T150405Z0700",
	"2006-01-02",
	"2006-01",
}

// parseDate reads an ISO 8601 date or date-time, or epoch seconds: as IAM does, a value with neither a 'T' nor
// a '-' is epoch time.
func parseDate(s string) (time.Time, bool) {
	s = strings.ToUpper(strings.TrimSpace(s))
	if !strings.ContainsAny(s, "T-") {
		secs, err := strconv.ParseInt(s, 10, 64)
		if err != nil || secs < 0 {
			return time.Time{}, false
		}
		return time.Unix(secs, 0).UTC(), true
	}
	for _, layout := range dateLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// parseCIDR reads an IPv4 or IPv6 CIDR; an address without a prefix length is a /32 (or /128).
func parseCIDR(s string) (netip.Prefix, bool) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, false
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		return p.Masked(), true
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, false
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), true
}

// eval reports whether the condition holds for the request.
func (c *condition) eval(ec *evalContext) bool {
	vals := ec.values(c.key)
	if c.op.typ == vtNull {
		for _, v := range c.values {
			if v.isNull == (len(vals) == 0) {
				return true
			}
		}
		return false
	}
	if len(vals) == 0 {
		switch {
		case c.ifExists:
			return true
		case c.qual == qualForAll:
			return true // "It also returns true if there are no keys in the request"
		case c.qual == qualForAny:
			return false // "For no matching key or a null dataset, the condition returns false"
		}
		return c.op.negated // the positive operator fails on an absent key; its negation holds
	}
	switch c.qual {
	case qualForAll:
		for _, v := range vals {
			if c.matches(v, ec) == c.op.negated {
				return false
			}
		}
		return true
	case qualForAny:
		for _, v := range vals {
			if c.matches(v, ec) != c.op.negated {
				return true
			}
		}
		return false
	}
	for _, v := range vals {
		if c.matches(v, ec) {
			return !c.op.negated
		}
	}
	return c.op.negated
}

// matches reports whether the request value v matches any of the condition's policy values, in the positive
// sense of the operator.
func (c *condition) matches(v string, ec *evalContext) bool {
	switch c.op.typ {
	case vtNumeric:
		n, ok := parseNumber(v)
		if !ok {
			return false
		}
		for _, pv := range c.values {
			if compare(n.Cmp(pv.num), c.op.cmp) {
				return true
			}
		}
	case vtDate:
		t, ok := parseDate(v)
		if !ok {
			return false
		}
		for _, pv := range c.values {
			if compare(t.Compare(pv.date), c.op.cmp) {
				return true
			}
		}
	case vtIP:
		a, err := netip.ParseAddr(strings.TrimSpace(v))
		if err != nil {
			return false
		}
		a = a.Unmap().WithZone("")
		for _, pv := range c.values {
			if pv.prefix.Contains(a) {
				return true
			}
		}
	case vtBinary:
		for _, pv := range c.values {
			if bytes.Equal(pv.bin, []byte(v)) {
				return true
			}
		}
	case vtStringLike:
		for _, pv := range c.values {
			if pv.pat.match(v, ec.variable) {
				return true
			}
		}
	case vtArn:
		for _, pv := range c.values {
			if arnMatch(pv.pat, v, ec.variable) {
				return true
			}
		}
	default: // vtString, vtStringFold, vtBool
		for _, pv := range c.values {
			s, ok := pv.pat.literal(ec.variable)
			if !ok {
				continue
			}
			if c.op.typ == vtString && s == v || c.op.typ != vtString && strings.EqualFold(s, v) {
				return true
			}
		}
	}
	return false
}

func compare(c int, want comparison) bool {
	switch want {
	case cmpLt:
		return c < 0
	case cmpLe:
		return c <= 0
	case cmpGt:
		return c > 0
	case cmpGe:
		return c >= 0
	}
	return c == 0
}

// arnMatch matches an ARN the way ArnLike does: each of the six colon-separated parts on its own, so a wildcard
// does not span a colon before the resource part. A pattern that is not an ARN ("*") matches as a whole string.
func arnMatch(p pattern, v string, lookup lookupFunc) bool {
	toks, ok := p.resolve(lookup)
	if !ok {
		return false
	}
	parts := splitToks(toks)
	if len(parts) < 6 {
		return globMatch(toks, v)
	}
	vparts := strings.SplitN(v, ":", 6)
	if len(vparts) < 6 {
		return false
	}
	for i := range parts {
		if !globMatch(parts[i], vparts[i]) {
			return false
		}
	}
	return true
}

// splitToks splits a token list at the first five colons of its literal text.
func splitToks(toks []tok) [][]tok {
	parts := [][]tok{nil}
	for _, t := range toks {
		if t.kind != tokLit {
			parts[len(parts)-1] = append(parts[len(parts)-1], t)
			continue
		}
		text := t.text
		for len(parts) < 6 {
			i := strings.IndexByte(text, ':')
			if i < 0 {
				break
			}
			if i > 0 {
				parts[len(parts)-1] = append(parts[len(parts)-1], tok{kind: tokLit, text: text[:i]})
			}
			parts = append(parts, nil)
			text = text[i+1:]
		}
		if text != "" {
			parts[len(parts)-1] = append(parts[len(parts)-1], tok{kind: tokLit, text: text})
		}
	}
	return parts
}
