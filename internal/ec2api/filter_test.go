package ec2api

import (
	"net/netip"
	"reflect"
	"testing"
)

func TestWildcardMatch(t *testing.T) {
	tests := []struct {
		name, pattern, s string
		want             bool
	}{
		{name: "exact", pattern: "web", s: "web", want: true},
		{name: "case-sensitive", pattern: "Web", s: "web"},
		{name: "prefix star", pattern: "web*", s: "web-1", want: true},
		{name: "star matches nothing", pattern: "web*", s: "web", want: true},
		{name: "inner star", pattern: "d*n:*", s: "debian:12", want: true},
		{name: "star backtracks", pattern: "*a*b", s: "xaxxab", want: true},
		{name: "star no match", pattern: "*a*b", s: "xaxxa"},
		{name: "question", pattern: "t?.micro", s: "t2.micro", want: true},
		{name: "question needs one", pattern: "t?.micro", s: "t.micro"},
		{name: "escaped star", pattern: `a\*`, s: "a*", want: true},
		{name: "escaped star is literal", pattern: `a\*`, s: "ab"},
		{name: "escaped question", pattern: `\?`, s: "?", want: true},
		{name: "escaped backslash", pattern: `a\\b`, s: `a\b`, want: true},
		{name: "empty", pattern: "", s: "", want: true},
		{name: "only star", pattern: "*", s: "", want: true},
		{name: "unicode", pattern: "caf?", s: "café", want: true},
		{name: "longer", pattern: "web", s: "webs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := wildcardMatch(tt.pattern, tt.s); got != tt.want {
				t.Fatalf("wildcardMatch(%q, %q) = %v", tt.pattern, tt.s, got)
			}
		})
	}
}

func TestInstanceFilters(t *testing.T) {
	ip := netip.MustParseAddr("172.17.0.2")
	insts := []instView{
		{Instance: Instance{ID: "i-aaaaaaaaaaaaaaaaa", Type: "t2.micro", State: Running, KeyName: "me", PrivateIP: ip,
			Tags: map[string]string{"Name": "web-1", "env": "prod"}, SecurityGroups: []string{"sg-1"}, Accel: "kvm"},
			ami: debianAMI, zone: "us-east-1a", arch: "x86_64", groupNames: map[string]string{"sg-1": "web"}},
		{Instance: Instance{ID: "i-bbbbbbbbbbbbbbbbb", Type: "t3.large", State: Stopped, Tags: map[string]string{"Name": "db"},
			SecurityGroups: []string{"sg-2"}, Accel: "tcg", StateReason: "Client.UserInitiatedShutdown: User initiated shutdown"},
			ami: alpineAMI, zone: "us-east-1a", arch: "x86_64", groupNames: map[string]string{"sg-2": "db"}},
		{Instance: Instance{ID: "i-ccccccccccccccccc", Type: "t2.micro", State: Terminated}, ami: debianAMI, zone: "us-east-1a", arch: "x86_64"},
	}
	tests := []struct {
		name     string
		filters  []Filter
		want     []string
		wantCode string
	}{
		{name: "none", want: []string{"i-aaaaaaaaaaaaaaaaa", "i-bbbbbbbbbbbbbbbbb", "i-ccccccccccccccccc"}},
		{name: "state", filters: []Filter{{Name: "instance-state-name", Values: []string{"running", "stopped"}}},
			want: []string{"i-aaaaaaaaaaaaaaaaa", "i-bbbbbbbbbbbbbbbbb"}},
		{name: "state code", filters: []Filter{{Name: "instance-state-code", Values: []string{"48"}}}, want: []string{"i-ccccccccccccccccc"}},
		{name: "filters are ANDed", filters: []Filter{{Name: "instance-type", Values: []string{"t2.micro"}},
			{Name: "instance-state-name", Values: []string{"running"}}}, want: []string{"i-aaaaaaaaaaaaaaaaa"}},
		{name: "tag value wildcard", filters: []Filter{{Name: "tag:Name", Values: []string{"web*"}}}, want: []string{"i-aaaaaaaaaaaaaaaaa"}},
		{name: "tag absent never matches", filters: []Filter{{Name: "tag:env", Values: []string{"*"}}}, want: []string{"i-aaaaaaaaaaaaaaaaa"}},
		{name: "tag-key", filters: []Filter{{Name: "tag-key", Values: []string{"Name"}}}, want: []string{"i-aaaaaaaaaaaaaaaaa", "i-bbbbbbbbbbbbbbbbb"}},
		{name: "tag-value", filters: []Filter{{Name: "tag-value", Values: []string{"prod"}}}, want: []string{"i-aaaaaaaaaaaaaaaaa"}},
		{name: "image", filters: []Filter{{Name: "image-id", Values: []string{alpineAMI}}}, want: []string{"i-bbbbbbbbbbbbbbbbb"}},
		{name: "key name", filters: []Filter{{Name: "key-name", Values: []string{"me"}}}, want: []string{"i-aaaaaaaaaaaaaaaaa"}},
		{name: "private ip", filters: []Filter{{Name: "private-ip-address", Values: []string{"172.17.0.*"}}}, want: []string{"i-aaaaaaaaaaaaaaaaa"}},
		{name: "group name", filters: []Filter{{Name: "instance.group-name", Values: []string{"db"}}}, want: []string{"i-bbbbbbbbbbbbbbbbb"}},
		{name: "hypervisor says kvm or tcg", filters: []Filter{{Name: "hypervisor", Values: []string{"kvm"}}}, want: []string{"i-aaaaaaaaaaaaaaaaa"}},
		{name: "state reason", filters: []Filter{{Name: "state-reason-code", Values: []string{"Client.UserInitiatedShutdown"}}}, want: []string{"i-bbbbbbbbbbbbbbbbb"}},
		{name: "no match", filters: []Filter{{Name: "instance-id", Values: []string{"i-nope"}}}},
		{name: "unknown filter", filters: []Filter{{Name: "public-ip", Values: []string{"x"}}}, wantCode: CodeInvalidParameterValue},
		{name: "tag: without a key", filters: []Filter{{Name: "tag:", Values: []string{"x"}}}, wantCode: CodeInvalidParameterValue},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			match, err := instanceFilters.compile(tt.filters)
			if code, _ := codeOf(err); code != tt.wantCode {
				t.Fatalf("error %v, want %s", err, tt.wantCode)
			}
			if err != nil {
				if msg := err.(*Error).Message; msg != "The filter '"+tt.filters[0].Name+"' is invalid" {
					t.Fatalf("message %q", msg)
				}
				return
			}
			var got []string
			for _, v := range insts {
				if match(v) {
					got = append(got, v.ID)
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestKeyPairAndGroupFilters(t *testing.T) {
	keys := []KeyPair{{ID: "key-1", Name: "me", Fingerprint: "aa:bb", Type: "rsa", Tags: map[string]string{"team": "ops"}},
		{ID: "key-2", Name: "ci", Fingerprint: "cc", Type: "ed25519"}}
	tests := []struct {
		name    string
		filters []Filter
		want    []string
	}{
		{name: "key-name", filters: []Filter{{Name: "key-name", Values: []string{"m*"}}}, want: []string{"key-1"}},
		{name: "key-pair-id", filters: []Filter{{Name: "key-pair-id", Values: []string{"key-2"}}}, want: []string{"key-2"}},
		{name: "fingerprint", filters: []Filter{{Name: "fingerprint", Values: []string{"aa:bb"}}}, want: []string{"key-1"}},
		{name: "tag", filters: []Filter{{Name: "tag:team", Values: []string{"ops"}}}, want: []string{"key-1"}},
		{name: "key-type", filters: []Filter{{Name: "key-type", Values: []string{"ed25519"}}}, want: []string{"key-2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			match, err := keyPairFilters.compile(tt.filters)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, k := range keys {
				if match(k) {
					got = append(got, k.ID)
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %v", got)
			}
		})
	}

	pfx := netip.MustParsePrefix
	groups := []SecurityGroup{
		{ID: "sg-1", Name: "web", Description: "web servers", Rules: []Rule{{Protocol: "tcp", FromPort: 80, ToPort: 80, CIDRs: []netip.Prefix{pfx("0.0.0.0/0")}}}},
		{ID: "sg-2", Name: "db", Description: "databases", Rules: []Rule{{Protocol: "tcp", FromPort: 5432, ToPort: 5432, Groups: []string{"sg-1"}}}},
	}
	gtests := []struct {
		name    string
		filters []Filter
		want    []string
	}{
		{name: "group-name", filters: []Filter{{Name: "group-name", Values: []string{"web"}}}, want: []string{"sg-1"}},
		{name: "description", filters: []Filter{{Name: "description", Values: []string{"data*"}}}, want: []string{"sg-2"}},
		{name: "ip-permission.cidr", filters: []Filter{{Name: "ip-permission.cidr", Values: []string{"0.0.0.0/0"}}}, want: []string{"sg-1"}},
		{name: "ip-permission.from-port", filters: []Filter{{Name: "ip-permission.from-port", Values: []string{"5432"}}}, want: []string{"sg-2"}},
		{name: "ip-permission.group-id", filters: []Filter{{Name: "ip-permission.group-id", Values: []string{"sg-1"}}}, want: []string{"sg-2"}},
		{name: "owner-id", filters: []Filter{{Name: "owner-id", Values: []string{"111"}}}, want: []string{"sg-1", "sg-2"}},
	}
	for _, tt := range gtests {
		t.Run(tt.name, func(t *testing.T) {
			match, err := groupFilters("111").compile(tt.filters)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, g := range groups {
				if match(g) {
					got = append(got, g.ID)
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %v", got)
			}
		})
	}
}
