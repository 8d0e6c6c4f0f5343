package policy

import "strings"

// Evaluate decides what the policy says about req: Deny when a Deny statement applies (an explicit deny), else
// Allow when an Allow statement applies, else NotApplicable. A statement applies when its Principal (resource
// policies) names the caller, its Action matches, its Resource matches, and every condition holds.
func (p *Policy) Evaluate(req Request) Decision {
	ec := &evalContext{req: &req, action: strings.ToLower(req.Action)}
	decision := NotApplicable
	for i := range p.statements {
		st := &p.statements[i]
		if decision == Allow && st.effect == Allow {
			continue // only a Deny can change the outcome now
		}
		if !st.applies(p.kind, ec) {
			continue
		}
		if st.effect == Deny {
			return Deny
		}
		decision = Allow
	}
	return decision
}

// Combine merges the decisions of several policies (identity policies, a bucket policy …): an explicit Deny from
// any wins, then any Allow; with neither the request is implicitly denied (NotApplicable).
func Combine(decisions ...Decision) Decision {
	out := NotApplicable
	for _, d := range decisions {
		switch d {
		case Deny:
			return Deny
		case Allow:
			out = Allow
		}
	}
	return out
}

func (st *statement) applies(kind Kind, ec *evalContext) bool {
	if kind == Resource && st.principals != nil {
		if !st.notPrincipal && !st.principals.matches(ec.req.Principal) {
			return false
		}
		if st.notPrincipal && st.principals.excludes(ec.req.Principal) {
			return false
		}
	}
	if st.matchesAction(ec.action) == st.notAction {
		return false
	}
	if st.matchesResource(ec) == st.notResource {
		return false
	}
	for i := range st.conditions {
		if !st.conditions[i].eval(ec) {
			return false
		}
	}
	return true
}

func (st *statement) matchesAction(action string) bool {
	for _, a := range st.actions {
		if globMatch(a.toks, action) {
			return true
		}
	}
	return false
}

func (st *statement) matchesResource(ec *evalContext) bool {
	for _, r := range st.resources {
		if r.match(ec.req.Resource, ec.variable) {
			return true
		}
	}
	return false
}

// evalContext is one request being evaluated: its context keys, read case-insensitively, and the keys derived
// from its principal.
type evalContext struct {
	req    *Request
	action string // lower-cased
}

// values returns the request's values for a condition key; nil (absent) when it has none.
func (ec *evalContext) values(key string) []string {
	if v, ok := ec.req.Context[key]; ok {
		return v
	}
	for k, v := range ec.req.Context {
		if strings.EqualFold(k, key) {
			return v
		}
	}
	return ec.derived(key)
}

// variable resolves a policy variable: a single-valued key's value ("You can't use a multivalued condition key as
// a variable").
func (ec *evalContext) variable(key string) (string, bool) {
	v := ec.values(key)
	if len(v) != 1 {
		return "", false
	}
	return v[0], true
}

// derived returns the global condition keys AWS sets from the principal, for callers that do not set them.
func (ec *evalContext) derived(key string) []string {
	p := ec.req.Principal
	if p.Anonymous {
		if strings.EqualFold(key, "aws:PrincipalType") {
			return []string{"Anonymous"}
		}
		return nil
	}
	one := func(s string) []string {
		if s == "" {
			return nil
		}
		return []string{s}
	}
	isRoot := strings.HasSuffix(p.ARN, ":root")
	switch strings.ToLower(key) {
	case "aws:principalaccount":
		return one(p.AccountID)
	case "aws:principalarn":
		return one(p.ARN)
	case "aws:principalisawsservice":
		if p.Service != "" {
			return []string{"true"}
		}
		return []string{"false"}
	case "aws:principalservicename":
		return one(p.Service)
	case "aws:principaltype":
		switch {
		case isRoot:
			return []string{"Account"}
		case strings.Contains(p.ARN, ":user/"):
			return []string{"User"}
		case strings.Contains(p.ARN, ":assumed-role/"):
			return []string{"AssumedRole"}
		case strings.Contains(p.ARN, ":federated-user/"):
			return []string{"FederatedUser"}
		}
	case "aws:username":
		if _, rest, ok := strings.Cut(p.ARN, ":user/"); ok {
			return one(rest[strings.LastIndexByte(rest, '/')+1:])
		}
	case "aws:userid":
		if isRoot {
			return one(p.AccountID)
		}
	}
	return nil
}
