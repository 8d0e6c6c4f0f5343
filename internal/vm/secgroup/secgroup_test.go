package secgroup

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/berth/berth/internal/testutil"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		rule    Rule
		want    Rule
		wantErr string
	}{
		{name: "tcp port", rule: Rule{Protocol: "TCP", FromPort: 22, ToPort: 22, CIDRs: []netip.Prefix{netip.MustParsePrefix("10.1.2.3/8")}},
			want: Rule{Protocol: TCP, FromPort: 22, ToPort: 22, CIDRs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}},
		{name: "protocol number", rule: Rule{Protocol: "17", FromPort: 53, ToPort: 53, Groups: []string{"sg-1"}},
			want: Rule{Protocol: UDP, FromPort: 53, ToPort: 53, Groups: []string{"sg-1"}}},
		{name: "all traffic ignores ports", rule: Rule{Protocol: "-1", FromPort: 5, ToPort: 9, Groups: []string{"sg-1"}},
			want: Rule{Protocol: All, FromPort: -1, ToPort: -1, Groups: []string{"sg-1"}}},
		{name: "icmp any", rule: Rule{Protocol: "icmp", FromPort: -1, ToPort: -1, CIDRs: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}},
			want: Rule{Protocol: ICMP, FromPort: -1, ToPort: -1, CIDRs: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}}},
		{name: "unknown protocol", rule: Rule{Protocol: "sctp", CIDRs: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}},
			wantErr: "Invalid value 'sctp' for IP protocol. Unknown protocol."},
		{name: "reversed ports", rule: Rule{Protocol: "tcp", FromPort: 90, ToPort: 80, CIDRs: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}},
			wantErr: "from port must not exceed to port"},
		{name: "port out of range", rule: Rule{Protocol: "udp", FromPort: 1, ToPort: 70000, CIDRs: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}},
			wantErr: "Must be in range 0-65535"},
		{name: "no source", rule: Rule{Protocol: "tcp", FromPort: 1, ToPort: 2}, wantErr: "ipRanges or ipPermissions.groups"},
		{name: "ipv6 cidr", rule: Rule{Protocol: "tcp", FromPort: 1, ToPort: 2, CIDRs: []netip.Prefix{netip.MustParsePrefix("::/0")}},
			wantErr: "CIDR block ::/0 is malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.rule
			err := r.Validate()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrInvalidRule) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !r.Same(tt.want) {
				t.Errorf("got %+v, want %+v", r, tt.want)
			}
		})
	}
}

func TestPlan(t *testing.T) {
	a, b := netip.MustParseAddr("172.17.0.2"), netip.MustParseAddr("172.17.0.3")
	web := Group{ID: "sg-web", Rules: []Rule{
		{Protocol: TCP, FromPort: 22, ToPort: 22, CIDRs: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}},
		{Protocol: TCP, FromPort: 8000, ToPort: 8080, CIDRs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.1.0/24")}},
	}}
	def := Group{ID: "sg-def", Rules: []Rule{{Protocol: All, FromPort: -1, ToPort: -1, Groups: []string{"sg-def"}}}}
	icmp := Group{ID: "sg-ping", Rules: []Rule{{Protocol: ICMP, FromPort: 8, ToPort: -1, CIDRs: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}}}}
	groups := map[string]Group{"sg-web": web, "sg-def": def, "sg-ping": icmp}
	tests := []struct {
		name    string
		targets []Target
		want    []string // "chain: rule"
	}{
		{name: "no instances: no table"},
		{name: "an instance without groups drops everything new",
			targets: []Target{{ID: "i-1", Addr: a}},
			want: []string{
				`forward: ct state established,related accept comment "replies"`,
				`forward: ip daddr 172.17.0.2 jump instance-i-1 comment "instance i-1"`,
				`output: ct state established,related accept comment "replies"`,
				`output: ip daddr 172.17.0.2 jump instance-i-1 comment "instance i-1"`,
				`instance-i-1: drop comment "instance i-1: inbound not allowed by its security groups"`,
			}},
		{name: "port rules, one per source",
			targets: []Target{{ID: "i-1", Addr: a, Groups: []string{"sg-web"}}},
			want: []string{
				`forward: ct state established,related accept comment "replies"`,
				`forward: ip daddr 172.17.0.2 jump instance-i-1 comment "instance i-1"`,
				`output: ct state established,related accept comment "replies"`,
				`output: ip daddr 172.17.0.2 jump instance-i-1 comment "instance i-1"`,
				`instance-i-1: tcp dport 22 accept comment "group sg-web: tcp 22 from 0.0.0.0/0"`,
				`instance-i-1: ip saddr 10.0.0.0/8 tcp dport 8000-8080 accept comment "group sg-web: tcp 8000-8080 from 10.0.0.0/8"`,
				`instance-i-1: ip saddr 192.168.1.0/24 tcp dport 8000-8080 accept comment "group sg-web: tcp 8000-8080 from 192.168.1.0/24"`,
				`instance-i-1: drop comment "instance i-1: inbound not allowed by its security groups"`,
			}},
		{name: "a group source allows its members' addresses",
			targets: []Target{{ID: "i-2", Addr: b, Groups: []string{"sg-def"}}, {ID: "i-1", Addr: a, Groups: []string{"sg-def", "sg-ping"}}},
			want: []string{
				`forward: ct state established,related accept comment "replies"`,
				`forward: ip daddr 172.17.0.2 jump instance-i-1 comment "instance i-1"`,
				`forward: ip daddr 172.17.0.3 jump instance-i-2 comment "instance i-2"`,
				`output: ct state established,related accept comment "replies"`,
				`output: ip daddr 172.17.0.2 jump instance-i-1 comment "instance i-1"`,
				`output: ip daddr 172.17.0.3 jump instance-i-2 comment "instance i-2"`,
				`instance-i-1: ip saddr 172.17.0.2 accept comment "group sg-def: all from sg-def"`,
				`instance-i-1: ip saddr 172.17.0.3 accept comment "group sg-def: all from sg-def"`,
				`instance-i-1: icmp type 8 accept comment "group sg-ping: icmp type 8 from 0.0.0.0/0"`,
				`instance-i-1: drop comment "instance i-1: inbound not allowed by its security groups"`,
				`instance-i-2: ip saddr 172.17.0.2 accept comment "group sg-def: all from sg-def"`,
				`instance-i-2: ip saddr 172.17.0.3 accept comment "group sg-def: all from sg-def"`,
				`instance-i-2: drop comment "instance i-2: inbound not allowed by its security groups"`,
			}},
		{name: "an instance without an address is left out",
			targets: []Target{{ID: "i-1", Groups: []string{"sg-web"}}},
			want: []string{
				`forward: ct state established,related accept comment "replies"`,
				`output: ct state established,related accept comment "replies"`,
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, r := range Plan(tt.targets, groups) {
				got = append(got, r.Chain+": "+r.String())
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

// TestApply installs a plan in a network namespace of the test's own and reads it back with nft: the kernel
// takes the rules as planned, replaces them whole, and an empty plan removes the table.
func TestApply(t *testing.T) {
	testutil.RequiresRoot(t)
	nft, err := exec.LookPath("nft")
	if err != nil {
		t.Fatal("nft (Debian's nftables) is needed to read the table back")
	}
	a := netip.MustParseAddr("172.30.0.5")
	groups := map[string]Group{"sg-1": {ID: "sg-1", Rules: []Rule{
		{Protocol: TCP, FromPort: 22, ToPort: 22, CIDRs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}},
		{Protocol: UDP, FromPort: 5000, ToPort: 5010, CIDRs: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}},
		{Protocol: ICMP, FromPort: 8, ToPort: 0, CIDRs: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}},
	}}}
	inNetNS(t, func(list func() string) {
		ctx := context.Background()
		if err := Apply(ctx, "sgtest", Plan([]Target{{ID: "i-1", Addr: a, Groups: []string{"sg-1"}}}, groups)); err != nil {
			t.Fatal(err)
		}
		got := list()
		for _, want := range []string{
			"chain forward {", "type filter hook forward priority filter; policy accept;",
			"ct state established,related accept",
			"ip daddr 172.30.0.5 jump instance-i-1",
			"ip saddr 10.0.0.0/8 tcp dport 22 accept",
			"udp dport 5000-5010 accept",
			"icmp type echo-request icmp code net-unreachable accept", // nft names code 0 after the unreachable codes
			`drop comment "instance i-1: inbound not allowed by its security groups"`,
		} {
			if !strings.Contains(got, want) {
				t.Errorf("table lacks %q:\n%s", want, got)
			}
		}
		// Replacing: the instance left, its chain with it.
		if err := Apply(ctx, "sgtest", Plan([]Target{{ID: "i-2", Addr: a}}, groups)); err != nil {
			t.Fatal(err)
		}
		if got := list(); strings.Contains(got, "instance-i-1") || !strings.Contains(got, "instance-i-2") {
			t.Errorf("after replacing:\n%s", got)
		}
		if err := Apply(ctx, "sgtest", nil); err != nil {
			t.Fatal(err)
		}
		if got := list(); got != "" {
			t.Errorf("an empty plan left:\n%s", got)
		}
	}, nft)
}

// inNetNS runs fn on a thread in a new network namespace; list prints the test table there with nft.
func inNetNS(t *testing.T, fn func(list func() string), nft string) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread() // never unlocked: the thread dies in the namespace with this goroutine
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			t.Error(err)
			return
		}
		ns := "/proc/" + strconv.Itoa(os.Getpid()) + "/task/" + strconv.Itoa(unix.Gettid()) + "/ns/net"
		fn(func() string {
			out, _ := exec.Command("nsenter", "--net="+ns, nft, "list", "table", "inet", "sgtest").Output()
			return string(out)
		})
	}()
	<-done
}
