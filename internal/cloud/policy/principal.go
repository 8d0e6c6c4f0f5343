package policy

import (
	"slices"
	"strings"
)

// principalSet is a Principal or NotPrincipal element.
type principalSet struct {
	all       bool     // "*" or {"AWS": "*"}: everyone, anonymous included
	accounts  []string // 12-digit IDs, from "123456789012" and "arn:aws:iam::123456789012:root"
	arns      []string // user, role and session ARNs
	ids       []string // unique IDs (AIDA…, AROA…) and CloudFront origin access identities: never a Berth caller
	canonical []string
	services  []string
	federated []string
}

// parsePrincipals reads a Principal element: "*" or a map of AWS, CanonicalUser, Service and Federated to a
// string or a non-empty array of strings. It reports false for anything S3 calls "Invalid principal in policy".
func parsePrincipals(v jsonValue) (*principalSet, bool) {
	ps := &principalSet{}
	switch v.kind {
	case jString:
		if v.str != "*" {
			return nil, false
		}
		ps.all = true
		return ps, true
	case jObject:
	default:
		return nil, false
	}
	if len(v.members) == 0 {
		return nil, false
	}
	for _, m := range v.members {
		var values []string
		switch m.value.kind {
		case jString:
			values = []string{m.value.str}
		case jArray:
			for _, item := range m.value.items {
				if item.kind != jString {
					return nil, false
				}
				values = append(values, item.str)
			}
		default:
			return nil, false
		}
		if len(values) == 0 {
			return nil, false
		}
		for _, s := range values {
			if s == "" {
				return nil, false
			}
			switch m.name {
			case "AWS":
				if !ps.addAWS(s) {
					return nil, false
				}
			case "CanonicalUser":
				if len(s) != 64 || strings.Trim(strings.ToLower(s), "0123456789abcdef") != "" {
					return nil, false
				}
				ps.canonical = append(ps.canonical, strings.ToLower(s))
			case "Service":
				if strings.ContainsAny(s, "*? \t\n") {
					return nil, false
				}
				ps.services = append(ps.services, s)
			case "Federated":
				if strings.ContainsAny(s, "*?") {
					return nil, false
				}
				ps.federated = append(ps.federated, s)
			default:
				return nil, false
			}
		}
	}
	return ps, true
}

// addAWS adds one value of an "AWS" principal: "*", an account ID, or the ARN of an account, user, role, assumed
// role session or federated user (no wildcards: "You cannot use a wildcard to match part of a principal name or
// ARN").
func (ps *principalSet) addAWS(s string) bool {
	if s == "*" {
		ps.all = true
		return true
	}
	if isAccountID(s) {
		ps.accounts = append(ps.accounts, s)
		return true
	}
	if strings.ContainsAny(s, "*?") {
		return false
	}
	if isUniqueID(s) {
		ps.ids = append(ps.ids, s)
		return true
	}
	parts := strings.SplitN(s, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || !isPartition(parts[1]) || parts[3] != "" {
		return false
	}
	service, account, res := parts[2], parts[4], parts[5]
	if service == "iam" && account == "cloudfront" {
		if id, ok := strings.CutPrefix(res, "user/CloudFront Origin Access Identity "); ok && id != "" {
			ps.ids = append(ps.ids, s)
			return true
		}
		if id, ok := strings.CutPrefix(res, "user/CloudFront_Origin_Access_Identity_"); ok && id != "" {
			ps.ids = append(ps.ids, s)
			return true
		}
		return false
	}
	if !isAccountID(account) || strings.ContainsAny(res, " \t\n") {
		return false
	}
	switch service {
	case "iam":
		if res == "root" {
			ps.accounts = append(ps.accounts, account)
			return true
		}
		for _, prefix := range []string{"user/", "role/"} {
			if name, ok := strings.CutPrefix(res, prefix); ok && validPathName(name) {
				ps.arns = append(ps.arns, s)
				return true
			}
		}
	case "sts":
		if rest, ok := strings.CutPrefix(res, "assumed-role/"); ok {
			role, session, found := strings.Cut(rest, "/")
			if found && role != "" && session != "" && !strings.Contains(session, "/") {
				ps.arns = append(ps.arns, s)
				return true
			}
		}
		if name, ok := strings.CutPrefix(res, "federated-user/"); ok && name != "" && !strings.Contains(name, "/") {
			ps.arns = append(ps.arns, s)
			return true
		}
	}
	return false
}

func isAccountID(s string) bool {
	return len(s) == 12 && strings.Trim(s, "0123456789") == ""
}

func isPartition(s string) bool { return s == "aws" || s == "aws-cn" || s == "aws-us-gov" }

// isUniqueID recognises the unique IDs of users and roles, which AWS shows in a policy whose principal was deleted.
func isUniqueID(s string) bool {
	if len(s) < 16 || (!strings.HasPrefix(s, "AIDA") && !strings.HasPrefix(s, "AROA")) {
		return false
	}
	return strings.Trim(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") == ""
}

// validPathName checks an IAM "path/name": segments of name characters, the last one non-empty.
func validPathName(s string) bool {
	if s == "" || strings.HasSuffix(s, "/") {
		return false
	}
	for seg := range strings.SplitSeq(s, "/") {
		if seg == "" {
			return false
		}
	}
	return true
}

// matches reports whether a Principal element names the caller. An account (by ID, root ARN or canonical user ID)
// names every principal of the account: "Using the account ARN in the Principal element does not limit
// permissions to only the root user of the account".
func (ps *principalSet) matches(p Principal) bool {
	if ps.all {
		return true
	}
	if p.Anonymous {
		return false
	}
	if p.Service != "" && slices.Contains(ps.services, p.Service) {
		return true
	}
	return ps.namesAccount(p) || (p.ARN != "" && slices.Contains(ps.arns, p.ARN))
}

func (ps *principalSet) namesAccount(p Principal) bool {
	return p.AccountID != "" && slices.Contains(ps.accounts, p.AccountID) ||
		p.CanonicalID != "" && slices.Contains(ps.canonical, strings.ToLower(p.CanonicalID))
}

// excludes reports whether a NotPrincipal element exempts the caller. AWS evaluates a user by its account and then
// the user: a NotPrincipal naming only the user leaves the account named by nobody, so the statement still
// applies ("you must also specify the account ARN of the not-denied principal"). A user is exempt only when both
// its account and its ARN are listed; an account's root when its account is.
func (ps *principalSet) excludes(p Principal) bool {
	if ps.all {
		return true
	}
	if p.Anonymous {
		return false
	}
	if p.Service != "" {
		return slices.Contains(ps.services, p.Service)
	}
	if !ps.namesAccount(p) {
		return false
	}
	if p.ARN == "" || strings.HasSuffix(p.ARN, ":root") {
		return true
	}
	return slices.Contains(ps.arns, p.ARN)
}

// PrincipalSet lists what a policy's Principal and NotPrincipal elements name, so that a caller can check that
// each exists (S3 refuses a policy naming an unknown account or user with MsgInvalidPrincipal).
type PrincipalSet struct {
	// Accounts are 12-digit account IDs, from account IDs and root ARNs.
	Accounts []string
	// ARNs are user, role and session ARNs.
	ARNs []string
	// CanonicalUsers are canonical user IDs, lower-cased.
	CanonicalUsers []string
	// Services are service principals ("logging.s3.amazonaws.com").
	Services []string
	// Federated are identity providers.
	Federated []string
	// Others are unique IDs and CloudFront origin access identities, which no Berth caller can be.
	Others []string
}

// Principals returns what the policy's Principal and NotPrincipal elements name, each value once, in order of
// appearance. "*" is not listed.
func (p *Policy) Principals() PrincipalSet {
	var out PrincipalSet
	add := func(dst *[]string, values []string) {
		for _, v := range values {
			if !slices.Contains(*dst, v) {
				*dst = append(*dst, v)
			}
		}
	}
	for _, st := range p.statements {
		if ps := st.principals; ps != nil {
			add(&out.Accounts, ps.accounts)
			add(&out.ARNs, ps.arns)
			add(&out.CanonicalUsers, ps.canonical)
			add(&out.Services, ps.services)
			add(&out.Federated, ps.federated)
			add(&out.Others, ps.ids)
		}
	}
	return out
}
