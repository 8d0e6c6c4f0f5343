package ec2api

import (
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
)

var groupIDPattern = regexp.MustCompile(`^sg-([0-9a-f]{8}|[0-9a-f]{17})$`)

// ingressRules reads the rules of AuthorizeSecurityGroupIngress and RevokeSecurityGroupIngress, one per source:
// IpPermissions.N (what the aws CLI sends, for --protocol/--port/--cidr too), or the older top-level
// IpProtocol, FromPort, ToPort, CidrIp and SourceSecurityGroupName. A source group is named by ID or name.
func (f form) ingressRules() ([]Rule, error) {
	perms := f.indices("IpPermissions")
	topLevel := []string{"CidrIp", "FromPort", "ToPort", "IpProtocol", "SourceSecurityGroupName", "SourceSecurityGroupOwnerId"}
	for _, p := range topLevel {
		if f.has(p) && len(perms) > 0 {
			return nil, Errorf(CodeInvalidParameterCombination, "The parameter 'ipPermissions' may not be used in combination with '%s'", lowerFirst(p))
		}
	}
	var out []Rule
	if len(perms) == 0 {
		src := f.get("SourceSecurityGroupName")
		cidr := f.get("CidrIp")
		if src == "" && cidr == "" && !f.has("IpProtocol") {
			return nil, errMissing("IpPermissions")
		}
		proto := f.get("IpProtocol")
		if proto == "" && src != "" && cidr == "" {
			proto = "-1" // a source group alone allows everything from it (EC2-Classic's form)
		}
		r, err := ruleHead(f, "", proto)
		if err != nil {
			return nil, err
		}
		if cidr != "" {
			x := r
			if x.CIDRs, err = parseCIDR(cidr); err != nil {
				return nil, err
			}
			out = append(out, x)
		}
		if src != "" {
			x := r
			x.Groups = []string{src}
			out = append(out, x)
		}
		if len(out) == 0 {
			return nil, errMissing("CidrIp or SourceSecurityGroupName")
		}
		return out, nil
	}
	for _, p := range perms {
		if len(f.indices(p+".Ipv6Ranges")) > 0 {
			return nil, errUnsupported("Berth's security groups take IPv4 sources only (IpRanges and Groups), not Ipv6Ranges.")
		}
		if len(f.indices(p+".PrefixListIds")) > 0 {
			return nil, errUnsupported("Berth has no prefix lists: name IpRanges or Groups as sources.")
		}
		proto := f.get(p + ".IpProtocol")
		if proto == "" {
			return nil, errMissing("ipPermissions.ipProtocol")
		}
		head, err := ruleHead(f, p+".", proto)
		if err != nil {
			return nil, err
		}
		n := len(out)
		for _, rp := range f.indices(p + ".IpRanges") {
			x := head
			if x.CIDRs, err = parseCIDR(f.get(rp + ".CidrIp")); err != nil {
				return nil, err
			}
			x.Description = f.get(rp + ".Description")
			out = append(out, x)
		}
		for _, gp := range f.indices(p + ".Groups") {
			x := head
			ref := f.get(gp + ".GroupId")
			if ref == "" {
				ref = f.get(gp + ".GroupName")
			}
			if ref == "" {
				return nil, errMissing("ipPermissions.groups.groupId or ipPermissions.groups.groupName")
			}
			x.Groups = []string{ref}
			x.Description = f.get(gp + ".Description")
			out = append(out, x)
		}
		if len(out) == n {
			return nil, errMissing("ipPermissions.ipRanges or ipPermissions.groups")
		}
	}
	return out, nil
}

// ruleHead reads a rule's protocol and ports (under prefix) and checks them as EC2 does.
func ruleHead(f form, prefix, proto string) (Rule, error) {
	r := Rule{FromPort: -1, ToPort: -1}
	switch strings.ToLower(proto) {
	case "tcp", "6":
		r.Protocol = "tcp"
	case "udp", "17":
		r.Protocol = "udp"
	case "icmp", "1":
		r.Protocol = "icmp"
	case "-1", "all":
		r.Protocol = "-1"
		return r, nil
	default:
		if _, err := strconv.Atoi(proto); err == nil {
			return r, errUnsupported("Berth's security groups take the protocols tcp, udp, icmp and -1 (all), not %s.", proto)
		}
		return r, errInvalidValue("Invalid value '%s' for IP protocol. Unknown protocol.", proto)
	}
	from, hasFrom, err := f.integer(prefix + "FromPort")
	if err != nil {
		return r, err
	}
	to, hasTo, err := f.integer(prefix + "ToPort")
	if err != nil {
		return r, err
	}
	switch r.Protocol {
	case "tcp", "udp":
		if !hasFrom || !hasTo {
			return r, errInvalidValue("Invalid value for portRange. Must specify both from and to ports with TCP/UDP.")
		}
		if from < 0 || from > 65535 || to < 0 || to > 65535 {
			return r, errInvalidValue("Invalid value for portRange. Must be in range 0-65535.")
		}
		if from > to {
			return r, errInvalidValue("Invalid value for portRange. From port must not exceed to port.")
		}
	case "icmp":
		if !hasFrom {
			from = -1
		}
		if !hasTo {
			to = -1
		}
		if from < -1 || from > 255 || to < -1 || to > 255 {
			return r, errInvalidValue("Invalid value for ICMP type or code. Must be in range -1-255.")
		}
	}
	r.FromPort, r.ToPort = from, to
	return r, nil
}

func parseCIDR(s string) ([]netip.Prefix, error) {
	p, err := netip.ParsePrefix(strings.TrimSpace(s))
	if err != nil || !p.Addr().Is4() {
		if err == nil && p.Addr().Is6() {
			return nil, errUnsupported("Berth's security groups take IPv4 sources only: %s is an IPv6 block (Ipv6Ranges are not supported).", s)
		}
		return nil, errInvalidValue("CIDR block %s is malformed", s)
	}
	return []netip.Prefix{p.Masked()}, nil
}

// splitRules breaks rules into one rule per source, the unit EC2 authorizes, revokes and identifies.
func splitRules(rules []Rule) []Rule {
	var out []Rule
	for _, r := range rules {
		for _, c := range r.CIDRs {
			x := r
			x.CIDRs, x.Groups = []netip.Prefix{c}, nil
			out = append(out, x)
		}
		for _, g := range r.Groups {
			x := r
			x.CIDRs, x.Groups = nil, []string{g}
			out = append(out, x)
		}
	}
	return out
}

// ruleID is a rule's sgr- ID: derived from the group and what the rule allows, so it is stable without being
// stored (one source per rule).
func ruleID(groupID string, r Rule) string {
	src := ""
	if len(r.CIDRs) > 0 {
		src = r.CIDRs[0].String()
	} else if len(r.Groups) > 0 {
		src = r.Groups[0]
	}
	sum := sha256.Sum256([]byte(groupID + "|" + r.Protocol + "|" + strconv.Itoa(r.FromPort) + "|" + strconv.Itoa(r.ToPort) + "|" + src))
	return "sgr-" + hex.EncodeToString(sum[:])[:17]
}

// permissions is a group's rules as EC2 lists them: one IpPermission per protocol and port range, with its
// sources (in the order the rules came).
func permissions(rules []Rule, owner string, names map[string]string) items[wirePermission] {
	out := items[wirePermission]{}
	index := map[string]int{}
	for _, r := range splitRules(rules) {
		key := r.Protocol + "|" + strconv.Itoa(r.FromPort) + "|" + strconv.Itoa(r.ToPort)
		i, ok := index[key]
		if !ok {
			p := wirePermission{IPProtocol: r.Protocol, Groups: items[wireGroupPair]{}, IPRanges: items[wireIPRange]{},
				IPv6Ranges: items[struct{}]{}, PrefixListIDs: items[struct{}]{}}
			if r.Protocol != "-1" {
				from, to := r.FromPort, r.ToPort
				p.FromPort, p.ToPort = &from, &to
			}
			i = len(out)
			index[key] = i
			out = append(out, p)
		}
		for _, c := range r.CIDRs {
			out[i].IPRanges = append(out[i].IPRanges, wireIPRange{CidrIP: c.String(), Description: r.Description})
		}
		for _, g := range r.Groups {
			out[i].Groups = append(out[i].Groups, wireGroupPair{UserID: owner, GroupID: g, GroupName: names[g], Description: r.Description})
		}
	}
	return out
}

// egressAll is every group's outbound rule: Berth does not filter outbound traffic, which is EC2's default egress
// rule (all protocols to 0.0.0.0/0).
func egressAll() items[wirePermission] {
	return items[wirePermission]{{IPProtocol: "-1", Groups: items[wireGroupPair]{}, IPRanges: items[wireIPRange]{{CidrIP: "0.0.0.0/0"}},
		IPv6Ranges: items[struct{}]{}, PrefixListIDs: items[struct{}]{}}}
}

func (s *Service) groupARN(owner, id string) string {
	return "arn:aws:ec2:" + s.region + ":" + owner + ":security-group/" + id
}

func groupFilters(owner string) filterSpec[SecurityGroup] {
	perm := func(fn func(Rule) []string) func(SecurityGroup) []string {
		return func(g SecurityGroup) []string {
			var out []string
			for _, r := range splitRules(g.Rules) {
				out = append(out, fn(r)...)
			}
			return out
		}
	}
	itoa := func(r Rule, n int) []string {
		if r.Protocol == "-1" {
			return nil
		}
		return []string{strconv.Itoa(n)}
	}
	return filterSpec[SecurityGroup]{
		fields: map[string]func(SecurityGroup) []string{
			"group-id":                one(func(g SecurityGroup) string { return g.ID }),
			"group-name":              one(func(g SecurityGroup) string { return g.Name }),
			"description":             one(func(g SecurityGroup) string { return g.Description }),
			"owner-id":                func(SecurityGroup) []string { return []string{owner} },
			"ip-permission.protocol":  perm(func(r Rule) []string { return []string{r.Protocol} }),
			"ip-permission.from-port": perm(func(r Rule) []string { return itoa(r, r.FromPort) }),
			"ip-permission.to-port":   perm(func(r Rule) []string { return itoa(r, r.ToPort) }),
			"ip-permission.cidr": perm(func(r Rule) []string {
				var out []string
				for _, c := range r.CIDRs {
					out = append(out, c.String())
				}
				return out
			}),
			"ip-permission.group-id": perm(func(r Rule) []string { return r.Groups }),
			"ip-permission.user-id": perm(func(r Rule) []string {
				if len(r.Groups) > 0 {
					return []string{owner}
				}
				return nil
			}),
			"egress.ip-permission.protocol": func(SecurityGroup) []string { return []string{"-1"} },
			"egress.ip-permission.cidr":     func(SecurityGroup) []string { return []string{"0.0.0.0/0"} },
		},
		tags: func(g SecurityGroup) map[string]string { return g.Tags },
	}
}

// findGroup finds a group by ID or name in a listing.
func findGroup(groups []SecurityGroup, ref string) (SecurityGroup, bool) {
	for _, g := range groups {
		if g.ID == ref || g.Name == ref {
			return g, true
		}
	}
	return SecurityGroup{}, false
}

func groupNames(groups []SecurityGroup) map[string]string {
	m := map[string]string{}
	for _, g := range groups {
		m[g.ID] = g.Name
	}
	return m
}

func (s *Service) wireGroup(g SecurityGroup, owner string, names map[string]string) wireSecurityGroup {
	return wireSecurityGroup{OwnerID: owner, GroupID: g.ID, GroupName: g.Name, GroupDescription: g.Description,
		IPPermissions: permissions(g.Rules, owner, names), IPPermissionsEgress: egressAll(), TagSet: wireTags(g.Tags),
		SecurityGroupArn: s.groupARN(owner, g.ID)}
}

func (s *Service) createSecurityGroup(c *call) (response, error) {
	name, desc := c.f.get("GroupName"), c.f.get("GroupDescription")
	switch {
	case name == "":
		return nil, errMissing("GroupName")
	case desc == "":
		return nil, errMissing("GroupDescription")
	case len(name) > 255:
		return nil, errInvalidValue("Value for parameter GroupName is too long (at most 255 characters)")
	case len(desc) > 255:
		return nil, errInvalidValue("Value for parameter GroupDescription is too long (at most 255 characters)")
	case strings.HasPrefix(strings.ToLower(name), "sg-"):
		return nil, errInvalidValue("Group names may not be in the format sg-*.")
	case c.f.get("VpcId") != "":
		return nil, Errorf("InvalidVpcID.NotFound", "The vpc ID '%s' does not exist", c.f.get("VpcId"))
	}
	if err := groupText("GroupName", name); err != nil {
		return nil, err
	}
	if err := groupText("GroupDescription", desc); err != nil {
		return nil, err
	}
	specs, err := c.f.tagSpecs([]string{"security-group"})
	if err != nil {
		return nil, err
	}
	groups, err := s.b.SecurityGroups(c.ctx)
	if err != nil {
		return nil, err
	}
	for _, g := range groups {
		if g.Name == name {
			return nil, Errorf(CodeInvalidGroupDuplicate, "The security group '%s' already exists", name)
		}
	}
	if err := c.dry(); err != nil {
		return nil, err
	}
	g, err := s.b.CreateSecurityGroup(c.ctx, name, desc, specs["security-group"])
	if err != nil {
		return nil, err
	}
	return &createSecurityGroupResponse{Return: true, GroupID: g.ID, TagSet: wireTags(g.Tags), SecurityGroupArn: s.groupARN(c.owner(), g.ID)}, nil
}

func (s *Service) describeSecurityGroups(c *call) (response, error) {
	filters, err := c.f.filters()
	if err != nil {
		return nil, err
	}
	match, err := groupFilters(c.owner()).compile(filters)
	if err != nil {
		return nil, err
	}
	pg, err := c.f.paging(5, 1000)
	if err != nil {
		return nil, err
	}
	ids, names := c.f.list("GroupId"), c.f.list("GroupName")
	if (len(ids) > 0 || len(names) > 0) && c.f.has("MaxResults") {
		return nil, Errorf(CodeInvalidParameterCombination, "The parameter groupIds cannot be used with the parameter maxResults")
	}
	for _, id := range ids {
		if !groupIDPattern.MatchString(id) {
			return nil, errGroupMalformed(id)
		}
	}
	groups, err := s.b.SecurityGroups(c.ctx)
	if err != nil {
		return nil, err
	}
	for _, ref := range append(append([]string{}, ids...), names...) {
		found := false
		for _, g := range groups {
			if (contains(ids, ref) && g.ID == ref) || (contains(names, ref) && g.Name == ref) {
				found = true
			}
		}
		if !found {
			return nil, errGroupNotFound(ref)
		}
	}
	if err := c.dry(); err != nil {
		return nil, err
	}
	var sel []SecurityGroup
	for _, g := range groups {
		if (len(ids) > 0 || len(names) > 0) && !contains(ids, g.ID) && !contains(names, g.Name) {
			continue
		}
		if match(g) {
			sel = append(sel, g)
		}
	}
	lo, hi, next := pg.bounds(len(sel))
	nm := groupNames(groups)
	resp := &describeSecurityGroupsResponse{SecurityGroupInfo: items[wireSecurityGroup]{}, NextToken: next}
	for _, g := range sel[lo:hi] {
		resp.SecurityGroupInfo = append(resp.SecurityGroupInfo, s.wireGroup(g, c.owner(), nm))
	}
	return resp, nil
}

// targetGroup finds the group an action names by GroupId or GroupName.
func (s *Service) targetGroup(c *call, groups []SecurityGroup) (SecurityGroup, error) {
	id, name := c.f.get("GroupId"), c.f.get("GroupName")
	switch {
	case id == "" && name == "":
		return SecurityGroup{}, errMissing("groupName or groupId")
	case id != "" && !groupIDPattern.MatchString(id):
		return SecurityGroup{}, errGroupMalformed(id)
	}
	for _, g := range groups {
		if (id != "" && g.ID == id) || (id == "" && g.Name == name) {
			return g, nil
		}
	}
	if id != "" {
		return SecurityGroup{}, errGroupNotFound(id)
	}
	return SecurityGroup{}, errGroupNotFound(name)
}

func (s *Service) deleteSecurityGroup(c *call) (response, error) {
	groups, err := s.b.SecurityGroups(c.ctx)
	if err != nil {
		return nil, err
	}
	g, err := s.targetGroup(c, groups)
	if err != nil {
		return nil, err
	}
	if err := c.dry(); err != nil {
		return nil, err
	}
	if err := s.b.DeleteSecurityGroup(c.ctx, g.ID); err != nil {
		return nil, err
	}
	return &deleteSecurityGroupResponse{Return: true, GroupID: g.ID}, nil
}

// ingress reads the target group and the rules of Authorize/RevokeSecurityGroupIngress, with source groups
// resolved to IDs.
func (s *Service) ingress(c *call) (SecurityGroup, []Rule, error) {
	groups, err := s.b.SecurityGroups(c.ctx)
	if err != nil {
		return SecurityGroup{}, nil, err
	}
	g, err := s.targetGroup(c, groups)
	if err != nil {
		return SecurityGroup{}, nil, err
	}
	var rules []Rule
	if ruleIDs := c.f.list("SecurityGroupRuleId"); len(ruleIDs) > 0 {
		if c.action != "RevokeSecurityGroupIngress" {
			return SecurityGroup{}, nil, Errorf(CodeUnknownParameter, "The parameter SecurityGroupRuleId is not recognized")
		}
		have := map[string]Rule{}
		for _, r := range splitRules(g.Rules) {
			have[ruleID(g.ID, r)] = r
		}
		for _, id := range ruleIDs {
			r, ok := have[id]
			if !ok {
				return SecurityGroup{}, nil, Errorf("InvalidSecurityGroupRuleId.NotFound", "The security group rule ID '%s' does not exist", id)
			}
			rules = append(rules, r)
		}
		return g, rules, nil
	}
	if rules, err = c.f.ingressRules(); err != nil {
		return SecurityGroup{}, nil, err
	}
	for i, r := range rules {
		ids := make([]string, len(r.Groups))
		for j, ref := range r.Groups {
			if strings.HasPrefix(ref, "sg-") && !groupIDPattern.MatchString(ref) {
				return SecurityGroup{}, nil, errGroupMalformed(ref)
			}
			src, ok := findGroup(groups, ref)
			if !ok {
				return SecurityGroup{}, nil, errGroupNotFound(ref)
			}
			ids[j] = src.ID
		}
		rules[i].Groups = ids
	}
	return g, rules, nil
}

func (s *Service) authorizeIngress(c *call) (response, error) {
	g, rules, err := s.ingress(c)
	if err != nil {
		return nil, err
	}
	if _, err := c.f.tagSpecs([]string{"security-group-rule"}); err != nil {
		return nil, err
	}
	if err := c.dry(); err != nil {
		return nil, err
	}
	if _, err := s.b.AuthorizeIngress(c.ctx, g.ID, rules); err != nil {
		return nil, err
	}
	resp := &authorizeIngressResponse{Return: true, SecurityGroupRuleSet: items[wireGroupRule]{}}
	for _, r := range splitRules(rules) {
		w := wireGroupRule{SecurityGroupRuleID: ruleID(g.ID, r), GroupID: g.ID, GroupOwnerID: c.owner(), IPProtocol: r.Protocol,
			FromPort: r.FromPort, ToPort: r.ToPort, Description: r.Description,
			SecurityGroupRuleArn: "arn:aws:ec2:" + s.region + ":" + c.owner() + ":security-group-rule/" + ruleID(g.ID, r)}
		if len(r.CIDRs) > 0 {
			w.CidrIPv4 = r.CIDRs[0].String()
		} else {
			w.ReferencedGroupInfo = &wireReferencedGroup{GroupID: r.Groups[0], UserID: c.owner()}
		}
		resp.SecurityGroupRuleSet = append(resp.SecurityGroupRuleSet, w)
	}
	return resp, nil
}

func (s *Service) revokeIngress(c *call) (response, error) {
	g, rules, err := s.ingress(c)
	if err != nil {
		return nil, err
	}
	if err := c.dry(); err != nil {
		return nil, err
	}
	if _, err := s.b.RevokeIngress(c.ctx, g.ID, rules); err != nil {
		return nil, err
	}
	resp := &revokeIngressResponse{Return: true, RevokedSecurityGroupRuleSet: items[wireRevokedRule]{}}
	for _, r := range splitRules(rules) {
		w := wireRevokedRule{SecurityGroupRuleID: ruleID(g.ID, r), GroupID: g.ID, IPProtocol: r.Protocol,
			FromPort: r.FromPort, ToPort: r.ToPort, Description: r.Description}
		if len(r.CIDRs) > 0 {
			w.CidrIPv4 = r.CIDRs[0].String()
		} else {
			w.ReferencedGroupID = r.Groups[0]
		}
		resp.RevokedSecurityGroupRuleSet = append(resp.RevokedSecurityGroupRuleSet, w)
	}
	return resp, nil
}
