package policy

import (
	"slices"
	"strings"
)

// The policy language versions. A document without Version is read as 2008-10-17: no policy variables.
const (
	Version2012 = "2012-10-17"
	Version2008 = "2008-10-17"
)

// Policy is a parsed, valid policy document. It is immutable and safe for concurrent use.
type Policy struct {
	kind       Kind
	version    string
	id         string
	statements []statement
}

// statement is one Statement element, compiled for evaluation.
type statement struct {
	sid          string
	effect       Decision // Allow or Deny
	principals   *principalSet
	notPrincipal bool
	actions      []pattern // lower-cased: actions match case-insensitively
	notAction    bool
	resources    []pattern
	notResource  bool
	conditions   []condition
}

// Kind is the kind the document was parsed as.
func (p *Policy) Kind() Kind { return p.kind }

// Version is the document's Version element as written; "" when it has none (read as 2008-10-17).
func (p *Policy) Version() string { return p.version }

// ID is the document's Id element; "" when it has none.
func (p *Policy) ID() string { return p.id }

// statementFields are the elements a statement may hold.
var statementFields = []string{"Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction", "Resource",
	"NotResource", "Condition"}

// Parse parses and validates a policy document of the given kind. A document AWS would refuse returns a
// *MalformedError carrying S3's MalformedPolicy text (Resource) or IAM's MalformedPolicyDocument text (Identity).
// Parse checks what every policy of the kind must satisfy; ValidateBucketPolicy adds S3's checks of a bucket
// policy against its bucket.
func Parse(doc []byte, kind Kind) (*Policy, error) {
	if kind != Resource && kind != Identity {
		kind = Resource
	}
	trimmed := strings.TrimLeft(string(doc), " \t\r\n")
	if !strings.HasPrefix(trimmed, "{") {
		return nil, fail(kind, probFirstByte, "")
	}
	root, err := decodeJSON(doc)
	if err != nil || root.kind != jObject {
		return nil, fail(kind, probSyntax, "")
	}
	p := &Policy{kind: kind}
	var stmtValue jsonValue
	haveStatement := false
	for _, m := range root.members {
		switch m.name {
		case "Version":
			if m.value.kind != jString || (m.value.str != Version2012 && m.value.str != Version2008) {
				return nil, fail(kind, probVersion, "")
			}
			p.version = m.value.str
		case "Id":
			if m.value.kind != jString {
				return nil, fail(kind, probSyntax, "")
			}
			p.id = m.value.str
		case "Statement":
			stmtValue, haveStatement = m.value, true
		default:
			return nil, fail(kind, probUnknownField, m.name)
		}
	}
	if !haveStatement {
		return nil, fail(kind, probMissingStatement, "")
	}
	var raw []jsonValue
	switch stmtValue.kind {
	case jObject:
		raw = []jsonValue{stmtValue}
	case jArray:
		raw = stmtValue.items
	default:
		return nil, fail(kind, probSyntax, "")
	}
	if len(raw) == 0 {
		return nil, fail(kind, probEmptyStatement, "")
	}
	vars := p.version == Version2012
	sids := map[string]bool{}
	for _, r := range raw {
		if r.kind != jObject {
			return nil, fail(kind, probSyntax, "")
		}
		st, err := parseStatement(r, kind, vars)
		if err != nil {
			return nil, err
		}
		if st.sid != "" {
			if sids[st.sid] {
				return nil, fail(kind, probDuplicateSid, "")
			}
			sids[st.sid] = true
		}
		p.statements = append(p.statements, st)
	}
	return p, nil
}

func parseStatement(r jsonValue, kind Kind, vars bool) (statement, error) {
	var st statement
	for _, m := range r.members {
		if !slices.Contains(statementFields, m.name) {
			return st, fail(kind, probUnknownField, m.name)
		}
	}
	get := func(name string) (jsonValue, bool) { return r.member(name) }

	// Effect
	effect, ok := get("Effect")
	if !ok {
		return st, fail(kind, probMissingField, "Effect")
	}
	if effect.kind != jString {
		return st, fail(kind, probSyntax, "")
	}
	switch effect.str {
	case "Allow":
		st.effect = Allow
	case "Deny":
		st.effect = Deny
	default:
		if strings.EqualFold(effect.str, "Allow") || strings.EqualFold(effect.str, "Deny") {
			return st, fail(kind, probEffectCase, effect.str)
		}
		return st, fail(kind, probEffect, effect.str)
	}

	// Sid
	if sid, ok := get("Sid"); ok {
		if sid.kind != jString {
			return st, fail(kind, probSyntax, "")
		}
		if kind == Identity && strings.ContainsFunc(sid.str, func(r rune) bool {
			return !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
		}) {
			return st, fail(kind, probSid, "")
		}
		st.sid = sid.str
	}

	// Principal / NotPrincipal
	principal, hasP := get("Principal")
	notPrincipal, hasNP := get("NotPrincipal")
	switch {
	case kind == Identity && (hasP || hasNP):
		return st, fail(kind, probPrincipalInIdentity, "")
	case hasP && hasNP:
		return st, fail(kind, probPrincipal, "")
	case kind == Resource && !hasP && !hasNP:
		return st, fail(kind, probMissingField, "Principal")
	case hasP || hasNP:
		v := principal
		if hasNP {
			v, st.notPrincipal = notPrincipal, true
		}
		ps, ok := parsePrincipals(v)
		if !ok {
			return st, fail(kind, probPrincipal, "")
		}
		st.principals = ps
	}

	// Action / NotAction
	actions, err := stringList(r, kind, "Action")
	if err != nil {
		return st, err
	}
	st.notAction = actions.not
	if !actions.present {
		if kind == Identity {
			return st, fail(kind, probNoActions, "")
		}
		return st, fail(kind, probMissingField, "Action")
	}
	if len(actions.values) == 0 {
		return st, fail(kind, probNoActions, "")
	}
	for _, a := range actions.values {
		if err := checkAction(kind, a); err != nil {
			return st, err
		}
		st.actions = append(st.actions, compilePattern(strings.ToLower(a), false, 0))
	}

	// Resource / NotResource
	resources, err := stringList(r, kind, "Resource")
	if err != nil {
		return st, err
	}
	st.notResource = resources.not
	if !resources.present {
		if kind == Identity {
			return st, fail(kind, probNoResources, "")
		}
		return st, fail(kind, probMissingField, "Resource")
	}
	if len(resources.values) == 0 {
		return st, fail(kind, probNoResources, "")
	}
	for _, res := range resources.values {
		if res != "*" && (!strings.HasPrefix(res, "arn:") || strings.Count(res, ":") < 5) {
			return st, fail(kind, probResourceFormat, res)
		}
		st.resources = append(st.resources, compilePattern(res, vars, afterFifthColon(res)))
	}

	// Condition
	if cond, ok := get("Condition"); ok {
		conds, err := parseConditions(cond, kind, vars)
		if err != nil {
			return st, err
		}
		st.conditions = conds
	}
	return st, nil
}

// elementList is an Action/NotAction or Resource/NotResource element read as a list of strings.
type elementList struct {
	present bool
	not     bool
	values  []string
}

// stringList reads the element name or Not+name of statement r: a string or an array of strings. An empty string
// is an empty list: both are rejected by the caller as "no actions"/"no resources".
func stringList(r jsonValue, kind Kind, name string) (elementList, error) {
	v, has := r.member(name)
	nv, hasNot := r.member("Not" + name)
	if has && hasNot {
		return elementList{}, fail(kind, probBothElements, name)
	}
	if !has && !hasNot {
		return elementList{}, nil
	}
	l := elementList{present: true}
	if hasNot {
		v, l.not = nv, true
	}
	switch v.kind {
	case jString:
		if v.str != "" {
			l.values = []string{v.str}
		}
	case jArray:
		for _, item := range v.items {
			if item.kind != jString {
				return elementList{}, fail(kind, probSyntax, "")
			}
			if item.str == "" {
				return elementList{}, fail(kind, emptyProblem(name), "")
			}
			l.values = append(l.values, item.str)
		}
	default:
		return elementList{}, fail(kind, probSyntax, "")
	}
	return l, nil
}

func emptyProblem(name string) problem {
	if name == "Action" {
		return probActionFormat
	}
	return probResourceFormat
}

// checkAction checks the form "vendor:action" (or "*") that every policy's actions have; which actions exist is
// a service's question (ValidateBucketPolicy for S3).
func checkAction(kind Kind, a string) error {
	if a == "*" {
		return nil
	}
	switch strings.Count(a, ":") {
	case 0:
		return fail(kind, probActionFormat, a)
	case 1:
	default:
		return fail(kind, probActionColons, a)
	}
	vendor, _, _ := strings.Cut(a, ":")
	if vendor == "" || strings.ContainsFunc(vendor, func(r rune) bool {
		return !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '-' || r == '.')
	}) {
		return fail(kind, probActionVendor, vendor)
	}
	return nil
}

// parseConditions parses a Condition block: {operator: {key: value | [values]}}.
func parseConditions(v jsonValue, kind Kind, vars bool) ([]condition, error) {
	if v.kind != jObject {
		return nil, fail(kind, probSyntax, "")
	}
	var out []condition
	for _, opm := range v.members {
		if opm.value.kind != jObject {
			return nil, fail(kind, probSyntax, "")
		}
		op, q, ifExists, base, ok := parseOperator(opm.name)
		if !ok {
			return nil, fail(kind, probConditionOperator, opm.name)
		}
		for _, km := range opm.value.members {
			vendor, rest, found := strings.Cut(km.name, ":")
			if !found || vendor == "" || rest == "" {
				return nil, fail(kind, probConditionKey, km.name)
			}
			var raws []string
			switch km.value.kind {
			case jString, jNumber, jBool:
				raws = []string{km.value.str}
			case jArray:
				for _, item := range km.value.items {
					switch item.kind {
					case jString, jNumber, jBool:
						raws = append(raws, item.str)
					default:
						return nil, fail(kind, probSyntax, "")
					}
				}
			default:
				return nil, fail(kind, probSyntax, "")
			}
			if len(raws) == 0 {
				return nil, fail(kind, probConditionValue, opm.name+" "+km.name)
			}
			c := condition{opName: opm.name, base: base, op: op, qual: q, ifExists: ifExists, key: km.name}
			for _, raw := range raws {
				cv, ok := parseConditionValue(op, raw, vars)
				if !ok {
					return nil, fail(kind, probConditionValue, raw)
				}
				c.values = append(c.values, cv)
			}
			out = append(out, c)
		}
	}
	return out, nil
}
