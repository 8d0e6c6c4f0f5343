package policy

import (
	"net/netip"
	"strings"
)

// IsPublic reports whether S3 considers the policy public, for Block Public Access (BlockPublicPolicy refuses to
// store a public policy; RestrictPublicBuckets limits a bucket with one to its account and AWS services) and for
// GetBucketPolicyStatus. It follows "The meaning of public" in the S3 User Guide: S3 starts by assuming the
// policy is public, and a policy is non-public only when every Allow statement grants access to fixed values
// (no wildcard, no policy variable) of one or more of:
//
//   - an AWS principal, user, role or service principal (an account, an ARN, a canonical user, a service), or
//     the principal condition keys aws:PrincipalAccount, aws:PrincipalArn, aws:PrincipalOrgID,
//     aws:PrincipalOrgPaths and aws:PrincipalServiceName;
//   - a set of CIDRs with aws:SourceIp, none broader than /8 (IPv4) or /32 (IPv6);
//   - aws:SourceArn, aws:SourceVpc, aws:SourceVpce, aws:SourceOwner, aws:SourceAccount, aws:SourceOrgID,
//     aws:SourceOrgPaths, s3:x-amz-server-side-encryption-aws-kms-key-id, s3:DataAccessPointAccount;
//   - aws:userid outside the pattern "AROLEID:*";
//   - s3:DataAccessPointArn, which may end in a wildcard access point name when its account is fixed.
//
// A statement granting to "*" (or {"AWS": "*"}), to a Federated identity provider, or to everyone but some
// principals (NotPrincipal) is public unless one of its conditions restricts it that way: a positive operator
// (StringEquals, StringEqualsIgnoreCase, StringLike, ArnEquals, ArnLike, IpAddress, optionally ForAnyValue:) on
// one of those keys, whose every value is fixed. Negated operators, …IfExists and ForAllValues: restrict nothing
// (each holds when the key is absent). Deny statements never make a policy public.
func (p *Policy) IsPublic() bool {
	for i := range p.statements {
		if p.statements[i].isPublic(p.kind) {
			return true
		}
	}
	return false
}

func (st *statement) isPublic(kind Kind) bool {
	if st.effect != Allow {
		return false
	}
	if kind == Identity || st.principals == nil {
		return false // an identity policy grants only to the identity it is attached to
	}
	ps := st.principals
	open := st.notPrincipal || ps.all || len(ps.federated) > 0
	if !open {
		return false // fixed accounts, users, roles, canonical users and services only
	}
	for i := range st.conditions {
		if st.conditions[i].restrictsPublic() {
			return false
		}
	}
	return true
}

// fixedConditionKeys are the condition keys whose fixed values make a grant to everyone non-public, lower-cased.
var fixedConditionKeys = map[string]bool{
	"aws:principalaccount":     true,
	"aws:principalarn":         true,
	"aws:principalorgid":       true,
	"aws:principalorgpaths":    true,
	"aws:principalservicename": true,
	"aws:sourcearn":            true,
	"aws:sourcevpc":            true,
	"aws:sourcevpce":           true,
	"aws:sourceowner":          true,
	"aws:sourceaccount":        true,
	"aws:sourceorgid":          true,
	"aws:sourceorgpaths":       true,
	"aws:userid":               true,
	"s3:x-amz-server-side-encryption-aws-kms-key-id": true,
	"s3:dataaccesspointaccount":                      true,
	"s3:dataaccesspointarn":                          true,
	"aws:sourceip":                                   true,
}

// restrictsPublic reports whether the condition limits a statement to fixed values of a key that makes it
// non-public.
func (c *condition) restrictsPublic() bool {
	if c.op.negated || c.ifExists || c.qual == qualForAll || len(c.values) == 0 {
		return false
	}
	key := strings.ToLower(c.key)
	if !fixedConditionKeys[key] {
		return false
	}
	if key == "aws:sourceip" {
		if c.op.typ != vtIP {
			return false
		}
		for _, v := range c.values {
			if !narrowPrefix(v.prefix) {
				return false
			}
		}
		return true
	}
	switch c.op.typ {
	case vtString, vtStringFold, vtStringLike, vtArn:
	default:
		return false
	}
	for _, v := range c.values {
		if v.pat.vars {
			return false
		}
		if key == "s3:dataaccesspointarn" {
			if !fixedAccessPointARN(v.pat.raw) {
				return false
			}
			continue
		}
		if strings.ContainsAny(v.pat.lit, "*?") {
			return false
		}
	}
	return true
}

// narrowPrefix reports whether a CIDR is narrow enough for aws:SourceIp to make a grant non-public: "values
// broader than /8 for IPv4 and /32 for IPv6 (excluding RFC1918 private ranges)" are public. The RFC 1918 ranges
// are /8, /12 and /16, so no CIDR inside one is broader than /8 and the exclusion needs no case of its own.
func narrowPrefix(p netip.Prefix) bool {
	if !p.IsValid() {
		return false
	}
	if p.Addr().Is4() {
		return p.Bits() >= 8
	}
	return p.Bits() >= 32
}

// fixedAccessPointARN accepts an access point ARN whose account is fixed; its name may be a wildcard
// ("arn:aws:s3:us-west-2:123456789012:accesspoint/*" is not public in a bucket policy).
func fixedAccessPointARN(s string) bool {
	parts := strings.SplitN(s, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "s3" || !isAccountID(parts[4]) {
		return false
	}
	if strings.ContainsAny(strings.Join(parts[:5], ":"), "*?") {
		return false
	}
	return strings.HasPrefix(parts[5], "accesspoint/")
}
