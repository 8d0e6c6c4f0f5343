package ec2api

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/berth/berth/internal/cloud/policy"
)

// authorize lets an account's root do anything, and an IAM user what its identity policies allow: the action
// ec2:ACTION on each resource the request names (resourcesFor), as IAM decides. A denied dry run is
// UnauthorizedOperation too, as EC2 answers it.
func (s *Service) authorize(c *call) error {
	if c.caller.Root() {
		return nil
	}
	act := "ec2:" + c.action
	ctx := map[string][]string{
		"aws:PrincipalAccount": {c.caller.AccountID},
		"aws:PrincipalArn":     {c.caller.ARN},
		"aws:userid":           {c.caller.UserID},
		"aws:SecureTransport":  {strconv.FormatBool(c.info.SecureTransport)},
		"aws:RequestedRegion":  {s.region},
		"ec2:Region":           {s.region},
	}
	if c.caller.UserName != "" {
		ctx["aws:username"] = []string{c.caller.UserName}
	}
	if c.info.SourceIP.IsValid() {
		ctx["aws:SourceIp"] = []string{c.info.SourceIP.String()}
	}
	var docs []*policy.Policy
	for _, d := range c.caller.Policies {
		p, err := policy.Parse(d, policy.Identity)
		if err != nil {
			continue // validated when stored; a managed document that no longer parses grants nothing
		}
		docs = append(docs, p)
	}
	for _, res := range resourcesFor(c.action, c.f, s.region, c.caller.AccountID) {
		req := policy.Request{
			Principal: policy.Principal{AccountID: c.caller.AccountID, ARN: c.caller.ARN, CanonicalID: c.caller.CanonicalID},
			Action:    act,
			Resource:  res,
			Context:   ctx,
		}
		var decisions []policy.Decision
		for _, p := range docs {
			decisions = append(decisions, p.Evaluate(req))
		}
		switch policy.Combine(decisions...) {
		case policy.Allow:
			continue
		case policy.Deny:
			return &Error{Code: CodeUnauthorizedOperation, Status: http.StatusForbidden, Message: "You are not authorized to perform this operation. User: " +
				c.caller.ARN + " is not authorized to perform: " + act + " on resource: " + res + " with an explicit deny in an identity-based policy"}
		default:
			return &Error{Code: CodeUnauthorizedOperation, Status: http.StatusForbidden, Message: "You are not authorized to perform this operation. User: " +
				c.caller.ARN + " is not authorized to perform: " + act + " on resource: " + res + " because no identity-based policy allows the " + act + " action"}
		}
	}
	return nil
}

// resourcesFor is the resources (ARNs) an action acts on, for authorization: the instances, groups, key pairs or
// tagged resources a request names, the instances RunInstances makes, and "*" for the actions EC2 authorizes
// on no particular resource (Describe*, Create*). Pure.
func resourcesFor(action string, f form, region, account string) []string {
	arn := func(kind, id string) string { return "arn:aws:ec2:" + region + ":" + account + ":" + kind + "/" + id }
	var out []string
	switch action {
	case "StartInstances", "StopInstances", "RebootInstances", "TerminateInstances":
		for _, id := range f.list("InstanceId") {
			out = append(out, arn("instance", id))
		}
	case "GetConsoleOutput":
		out = append(out, arn("instance", f.get("InstanceId")))
	case "RunInstances":
		out = append(out, arn("instance", "*"))
	case "DeleteSecurityGroup", "AuthorizeSecurityGroupIngress", "RevokeSecurityGroupIngress":
		if id := f.get("GroupId"); id != "" {
			out = append(out, arn("security-group", id))
		}
	case "DeleteKeyPair":
		if name := f.get("KeyName"); name != "" {
			out = append(out, arn("key-pair", name))
		}
	case "CreateTags", "DeleteTags":
		for _, id := range f.list("ResourceId") {
			kind, _, _ := strings.Cut(id, "-")
			switch kind {
			case "i":
				out = append(out, arn("instance", id))
			case "sg":
				out = append(out, arn("security-group", id))
			case "key":
				out = append(out, arn("key-pair", id))
			case "ami":
				out = append(out, "arn:aws:ec2:"+region+"::image/"+id)
			default:
				out = append(out, "*")
			}
		}
	}
	if len(out) == 0 {
		out = []string{"*"}
	}
	return out
}
