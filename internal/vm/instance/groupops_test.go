package instance

import (
	"context"
	"net/netip"
	"reflect"
	"testing"

	"github.com/berth/berth/internal/vm/secgroup"
)

// Authorize and revoke edit a group's rules one source at a time; a duplicate or a missing rule fails the whole
// request and leaves the group as it was, in memory and on disk (a restarted service reads the same rules).
func TestIngressRuleEdits(t *testing.T) {
	ctx := context.Background()
	cidr := func(s string) []netip.Prefix { return []netip.Prefix{netip.MustParsePrefix(s)} }
	ssh := secgroup.Rule{Protocol: "tcp", FromPort: 22, ToPort: 22, CIDRs: cidr("10.0.0.0/8")}
	http := secgroup.Rule{Protocol: "tcp", FromPort: 80, ToPort: 80, CIDRs: append(cidr("0.0.0.0/0"), cidr("192.168.0.0/16")...)}
	tests := []struct {
		name     string
		revoke   bool
		rules    []secgroup.Rule
		wantCode string
		want     int // rules of the group afterwards, each source counted apart
	}{
		{name: "authorize splits per source", rules: []secgroup.Rule{http}, want: 3},
		{name: "a duplicate among new rules adds none", rules: []secgroup.Rule{http, ssh}, wantCode: CodeInvalidPermissionDup, want: 1},
		{name: "revoke removes one source", revoke: true, rules: []secgroup.Rule{ssh}, want: 0},
		{name: "revoking a missing rule removes none", revoke: true, rules: []secgroup.Rule{ssh, {Protocol: "udp", FromPort: 53, ToPort: 53, CIDRs: cidr("10.0.0.0/8")}}, wantCode: CodeInvalidPermissionNotFound, want: 1},
		{name: "no rules", rules: nil, wantCode: CodeMissingParameter, want: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			s := newTestService(t, root)
			if _, err := s.CreateSecurityGroup(ctx, "web", "", nil); err != nil {
				t.Fatal(err)
			}
			if _, err := s.AuthorizeIngress(ctx, "web", []secgroup.Rule{ssh}); err != nil {
				t.Fatal(err)
			}
			edit := s.AuthorizeIngress
			if tt.revoke {
				edit = s.RevokeIngress
			}
			_, err := edit(ctx, "web", tt.rules)
			if tt.wantCode == "" && err != nil {
				t.Errorf("edit: %v", err)
			} else if tt.wantCode != "" {
				wantCode(t, tt.name, err, tt.wantCode)
			}
			g, err := s.SecurityGroup(ctx, "web")
			if err != nil || len(g.Rules) != tt.want {
				t.Errorf("group has %d rules (%+v, %v), want %d", len(g.Rules), g.Rules, err, tt.want)
			}
			s.Close()
			again := newTestService(t, root)
			if g2, err := again.SecurityGroup(ctx, "web"); err != nil || !reflect.DeepEqual(g2.Rules, g.Rules) {
				t.Errorf("after restart: %+v, %v; want %+v", g2.Rules, err, g.Rules)
			}
		})
	}
}
