package instance

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/berth/berth/internal/vm/secgroup"
)

// CreateSecurityGroup makes an empty group (no inbound rule: everything inbound is dropped) for the caller's
// account. Its name is unique in the account (InvalidGroup.Duplicate).
func (s *Service) CreateSecurityGroup(ctx context.Context, name, description string, tags map[string]string) (SecurityGroup, error) {
	switch {
	case name == "":
		return SecurityGroup{}, newError(CodeMissingParameter, "The request must contain the parameter GroupName", errInvalid)
	case len(name) > 255 || len(description) > 255:
		return SecurityGroup{}, newError(CodeInvalidParameterValue, "Value for parameter GroupName or GroupDescription is too long (at most 255 characters)", errInvalid)
	case strings.HasPrefix(strings.ToLower(name), "sg-"):
		return SecurityGroup{}, newError(CodeInvalidParameterValue, "Group names may not be in the format sg-*.", errInvalid)
	case description == "":
		description = name
	}
	sc := scopeOf(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.defaultGroupLocked(sc.owner); err != nil {
		return SecurityGroup{}, err
	}
	for _, g := range s.groups {
		if g.Name == name && g.Owner == sc.owner {
			return SecurityGroup{}, newError(CodeInvalidGroupDuplicate, fmt.Sprintf("The security group '%s' already exists", name), errExists)
		}
	}
	g := &SecurityGroup{ID: newID("sg"), Owner: sc.owner, Name: name, Description: description, Rules: []secgroup.Rule{},
		Tags: copyTags(tags), Created: time.Now().UTC()}
	s.groups[g.ID] = g
	if err := s.saveGroups(); err != nil {
		delete(s.groups, g.ID)
		return SecurityGroup{}, err
	}
	return *g, nil
}

// defaultGroupLocked returns owner's default group, made the first time it is needed (every EC2 account has
// one): inbound from its own members only. The caller holds s.mu.
func (s *Service) defaultGroupLocked(owner string) (*SecurityGroup, error) {
	for _, g := range s.groups {
		if g.Name == DefaultGroupName && g.Owner == owner {
			return g, nil
		}
	}
	id := newID("sg")
	g := &SecurityGroup{ID: id, Owner: owner, Name: DefaultGroupName, Description: "default VPC security group",
		Rules: []secgroup.Rule{{Protocol: secgroup.All, FromPort: -1, ToPort: -1, Groups: []string{id}}}, Created: time.Now().UTC()}
	s.groups[id] = g
	if err := s.saveGroups(); err != nil {
		delete(s.groups, id)
		return nil, err
	}
	return g, nil
}

// SecurityGroups lists the groups the caller sees, by name (an account's default group too, made if it is not
// yet).
func (s *Service) SecurityGroups(ctx context.Context) []SecurityGroup {
	sc := scopeOf(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	if !sc.all {
		if _, err := s.defaultGroupLocked(sc.owner); err != nil {
			s.log.Warn("making an account's default security group", "account", sc.owner, "error", err)
		}
	}
	out := make([]SecurityGroup, 0, len(s.groups))
	for _, g := range s.groups {
		if sc.sees(g.Owner) {
			out = append(out, *g)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].Owner < out[j].Owner
	})
	return out
}

// SecurityGroup finds a group by ID or name.
func (s *Service) SecurityGroup(ctx context.Context, ref string) (SecurityGroup, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, err := s.groupRef(scopeOf(ctx), ref)
	if err != nil {
		return SecurityGroup{}, err
	}
	return *g, nil
}

// groupRef finds a group the scope sees by ID or name (an account's default group is made when it is named);
// the caller holds s.mu.
func (s *Service) groupRef(sc scope, ref string) (*SecurityGroup, error) {
	if g, ok := s.groups[ref]; ok && sc.sees(g.Owner) {
		return g, nil
	}
	if ref == DefaultGroupName && !sc.all {
		return s.defaultGroupLocked(sc.owner)
	}
	var named []*SecurityGroup
	var owners []string
	for _, g := range s.groups {
		if g.Name == ref && sc.sees(g.Owner) {
			named, owners = append(named, g), append(owners, g.Owner)
		}
	}
	i, err := sc.pick("security group", ref, owners)
	if err != nil {
		return nil, err
	}
	if i >= 0 {
		return named[i], nil
	}
	if strings.HasPrefix(ref, "sg-") {
		return nil, newError(CodeInvalidGroupNotFound, fmt.Sprintf("The security group '%s' does not exist", ref), errNotFound)
	}
	return nil, newError(CodeInvalidGroupNotFound, fmt.Sprintf("The security group '%s' does not exist in default VPC", ref), errNotFound)
}

// DeleteSecurityGroup removes a group no instance (but terminated ones) is in, and no other group names.
func (s *Service) DeleteSecurityGroup(ctx context.Context, ref string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, err := s.groupRef(scopeOf(ctx), ref)
	if err != nil {
		return err
	}
	if g.Name == DefaultGroupName {
		return newError(CodeCannotDelete, "the specified group: \""+g.ID+"\" name: \"default\" cannot be deleted by a user", errInvalid)
	}
	for _, inst := range s.instances {
		if inst.State == Terminated {
			continue
		}
		for _, id := range inst.SecurityGroups {
			if id == g.ID {
				return newError(CodeDependencyViolation, fmt.Sprintf("resource %s has a dependent object (instance %s)", g.ID, inst.ID), errConflict)
			}
		}
	}
	for _, o := range s.groups {
		for _, r := range o.Rules {
			for _, src := range r.Groups {
				if src == g.ID && o.ID != g.ID {
					return newError(CodeDependencyViolation, fmt.Sprintf("resource %s has a dependent object (a rule of %s)", g.ID, o.ID), errConflict)
				}
			}
		}
	}
	delete(s.groups, g.ID)
	if err := s.saveGroups(); err != nil {
		s.groups[g.ID] = g
		return err
	}
	return nil
}

// AuthorizeIngress adds rules to a group (each source a rule of its own, as EC2 keeps them) and applies them at
// once to its instances. A rule the group has already is InvalidPermission.Duplicate; nothing is added then.
func (s *Service) AuthorizeIngress(ctx context.Context, ref string, rules []secgroup.Rule) (SecurityGroup, error) {
	return s.editRules(ctx, ref, rules, func(have, add []secgroup.Rule) ([]secgroup.Rule, error) {
		for _, r := range add {
			for _, h := range have {
				if h.Same(r) {
					return nil, newError(CodeInvalidPermissionDup, fmt.Sprintf("the specified rule \"peer: %s, %s\" already exists", peer(r), r.String()), errExists)
				}
			}
			have = append(have, r)
		}
		return have, nil
	})
}

// RevokeIngress removes rules from a group. A rule the group does not have is InvalidPermission.NotFound;
// nothing is removed then.
func (s *Service) RevokeIngress(ctx context.Context, ref string, rules []secgroup.Rule) (SecurityGroup, error) {
	return s.editRules(ctx, ref, rules, func(have, del []secgroup.Rule) ([]secgroup.Rule, error) {
		for _, r := range del {
			i := slices.IndexFunc(have, r.Same)
			if i < 0 {
				return nil, newError(CodeInvalidPermissionNotFound, "The specified rule does not exist in this security group.", errNotFound)
			}
			have = slices.Delete(have, i, i+1)
		}
		return have, nil
	})
}

// editRules replaces the rules of group ref by what edit makes of them (split per source) and of the checked
// rules of the request, saves the groups and applies the firewall. An edit or a save that fails changes nothing.
func (s *Service) editRules(ctx context.Context, ref string, rules []secgroup.Rule, edit func(have, change []secgroup.Rule) ([]secgroup.Rule, error)) (SecurityGroup, error) {
	sc := scopeOf(ctx)
	s.mu.Lock()
	g, err := s.groupRef(sc, ref)
	if err != nil {
		s.mu.Unlock()
		return SecurityGroup{}, err
	}
	change, err := s.checkRules(sc, rules)
	if err != nil {
		s.mu.Unlock()
		return SecurityGroup{}, err
	}
	have, err := edit(secgroup.Split(g.Rules), change)
	if err != nil {
		s.mu.Unlock()
		return SecurityGroup{}, err
	}
	old := g.Rules
	g.Rules = have
	if err := s.saveGroups(); err != nil {
		g.Rules = old
		s.mu.Unlock()
		return SecurityGroup{}, err
	}
	out := *g
	s.mu.Unlock()
	return out, s.applyFirewall(ctx)
}

// checkRules validates rules and splits them per source; a source group must exist (by ID or name; names are
// resolved to IDs) the scope sees. The caller holds s.mu.
func (s *Service) checkRules(sc scope, rules []secgroup.Rule) ([]secgroup.Rule, error) {
	if len(rules) == 0 {
		return nil, newError(CodeMissingParameter, "The request must contain the parameter ipPermissions", errInvalid)
	}
	var out []secgroup.Rule
	for _, r := range rules {
		r.CIDRs = append(r.CIDRs[:0:0], r.CIDRs...)
		r.Groups = append(r.Groups[:0:0], r.Groups...)
		for i, ref := range r.Groups {
			g, err := s.groupRef(sc, ref)
			if err != nil {
				return nil, err
			}
			r.Groups[i] = g.ID
		}
		if err := r.Validate(); err != nil {
			return nil, newError(CodeInvalidParameterValue, strings.TrimPrefix(err.Error(), secgroup.ErrInvalidRule.Error()+": "), errInvalid)
		}
		out = append(out, secgroup.Split([]secgroup.Rule{r})...)
	}
	return out, nil
}

func peer(r secgroup.Rule) string {
	if len(r.CIDRs) > 0 {
		return r.CIDRs[0].String()
	}
	if len(r.Groups) > 0 {
		return r.Groups[0]
	}
	return ""
}

// applyFirewall installs the rules of every instance that has an address (stopped ones keep theirs).
func (s *Service) applyFirewall(ctx context.Context) error {
	s.fwMu.Lock()
	defer s.fwMu.Unlock()
	s.mu.Lock()
	var targets []secgroup.Target
	for _, inst := range s.instances {
		if inst.State == Terminated || !inst.PrivateIP.IsValid() {
			continue
		}
		targets = append(targets, secgroup.Target{ID: inst.ID, Addr: inst.PrivateIP, Groups: inst.SecurityGroups})
	}
	groups := map[string]secgroup.Group{}
	for id, g := range s.groups {
		groups[id] = secgroup.Group{ID: id, Name: g.Name, Rules: g.Rules}
	}
	s.mu.Unlock()
	if s.cfg.FirewallTable == "" {
		return nil
	}
	return secgroup.Apply(ctx, s.cfg.FirewallTable, secgroup.Plan(targets, groups))
}
