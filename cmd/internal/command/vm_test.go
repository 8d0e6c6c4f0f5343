package command

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/berth/berth/api/vm"
)

func TestParseAllow(t *testing.T) {
	tests := []struct {
		spec    string
		want    vm.Rule
		wantErr bool
	}{
		{spec: "22", want: vm.Rule{Protocol: "tcp", FromPort: 22, ToPort: 22}},
		{spec: "53/udp", want: vm.Rule{Protocol: "udp", FromPort: 53, ToPort: 53}},
		{spec: "8000-8080/TCP", want: vm.Rule{Protocol: "tcp", FromPort: 8000, ToPort: 8080}},
		{spec: "icmp", want: vm.Rule{Protocol: "icmp", FromPort: -1, ToPort: -1}},
		{spec: "icmp/8", want: vm.Rule{Protocol: "icmp", FromPort: 8, ToPort: -1}},
		{spec: "all", want: vm.Rule{Protocol: "-1", FromPort: -1, ToPort: -1}},
		{spec: "22/sctp", wantErr: true},
		{spec: "90-80", wantErr: true},
		{spec: "70000", wantErr: true},
		{spec: "ssh", wantErr: true},
		{spec: "icmp/300", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			got, err := parseAllow(tt.spec)
			if tt.wantErr {
				if err == nil {
					t.Errorf("no error, got %+v", got)
				}
				return
			}
			if err != nil || got.Protocol != tt.want.Protocol || got.FromPort != tt.want.FromPort || got.ToPort != tt.want.ToPort {
				t.Errorf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestVMLs(t *testing.T) {
	d := newFakeDaemon(t)
	launched := time.Now().Add(-3 * time.Minute)
	var all []string
	d.handle("GET /berth/vms", func(w http.ResponseWriter, r *http.Request) {
		all = append(all, r.URL.Query().Get("all"))
		writeJSON(w, 200, []vm.Instance{
			{ID: "i-0123456789abcdef0", Name: "web", Image: "debian-ssh", Type: "t2.micro", State: "running", PrivateIP: "172.17.0.2", Accel: "tcg", LaunchTime: launched,
				SecurityGroups: []vm.GroupRef{{ID: "sg-1", Name: "default"}, {ID: "sg-2", Name: "web"}}},
			{ID: "i-0fedcba9876543210", Image: "alpine", Type: "t2.nano", State: "stopped", PrivateIP: "172.17.0.3", Accel: "tcg", LaunchTime: launched},
		})
	})
	tests := []struct {
		name    string
		args    []string
		want    string
		wantAll string
	}{
		{name: "table", args: []string{"vm", "ls"}, want: "" +
			"VM ID                 NAME      IMAGE        TYPE       STATE     IP ADDRESS   ACCEL     LAUNCHED\n" +
			"i-0123456789abcdef0   web       debian-ssh   t2.micro   running   172.17.0.2   tcg       3 minutes ago\n" +
			"i-0fedcba9876543210             alpine       t2.nano    stopped   172.17.0.3   tcg       3 minutes ago\n"},
		{name: "quiet, all", args: []string{"vm", "ls", "-aq"}, wantAll: "1", want: "i-0123456789abcdef0\ni-0fedcba9876543210\n"},
		{name: "template", args: []string{"vm", "ps", "--format", "{{.Name}} {{.Groups}} {{.State}}"}, want: "web default,web running\n  stopped\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			all = nil
			out, errOut, code := runBerth(t, d, "", tt.args...)
			if code != 0 || out != tt.want {
				t.Errorf("exit %d err %q\ngot:\n%s\nwant:\n%s", code, errOut, out, tt.want)
			}
			if len(all) != 1 || all[0] != tt.wantAll {
				t.Errorf("all=%q", all)
			}
		})
	}
}

func TestVMSecurityGroupAllow(t *testing.T) {
	d := newFakeDaemon(t)
	var got vm.RulesRequest
	d.handle("POST /berth/security-groups/web/authorize", func(w http.ResponseWriter, r *http.Request) {
		json.NewDecoder(r.Body).Decode(&got)
		writeJSON(w, 200, vm.SecurityGroup{ID: "sg-1", Name: "web"})
	})
	_, errOut, code := runBerth(t, d, "", "vm", "sg", "allow", "--cidr", "10.0.0.0/8", "web", "22", "53/udp")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if len(got.Rules) != 2 || got.Rules[0].Protocol != "tcp" || got.Rules[0].FromPort != 22 || got.Rules[1].Protocol != "udp" ||
		strings.Join(got.Rules[1].CIDRs, ",") != "10.0.0.0/8" {
		t.Errorf("sent %+v", got)
	}
	_, errOut, code = runBerth(t, d, "", "vm", "sg", "allow", "web", "22/sctp")
	if code != 1 || !strings.Contains(errOut, `invalid rule "22/sctp"`) {
		t.Errorf("bad rule: exit %d, %q", code, errOut)
	}
}

// Resources of the cloud endpoint's accounts (EC2) show their owner in an OWNER column; a table of Berth's own
// only keeps its usual columns.
func TestVMOwnerColumn(t *testing.T) {
	d := newFakeDaemon(t)
	d.handle("GET /berth/keypairs", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, []vm.KeyPair{{Name: "k", Type: "ed25519", Fingerprint: "fp1"}, {Name: "k", Type: "rsa", Fingerprint: "fp2", Owner: "123456789012"}})
	})
	out, errOut, code := runBerth(t, d, "", "vm", "keypair", "ls")
	want := "" +
		"NAME      TYPE      FINGERPRINT   OWNER\n" +
		"k         ed25519   fp1           \n" +
		"k         rsa       fp2           123456789012\n"
	if code != 0 || out != want {
		t.Errorf("exit %d err %q\ngot:\n%s\nwant:\n%s", code, errOut, out, want)
	}
	if out, _, _ := runBerth(t, d, "", "vm", "keypair", "ls", "--format", "{{.Name}} {{.Owner}}"); out != "k \nk 123456789012\n" {
		t.Errorf("template: %q", out)
	}
}

// The key pair and security group commands share their ls and inspect: each keeps its own quiet column, table
// and inspect route.
func TestVMObjectListAndInspect(t *testing.T) {
	d := newFakeDaemon(t)
	d.handle("GET /berth/keypairs", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, []vm.KeyPair{{Name: "k1", ID: "key-1"}, {Name: "k2", ID: "key-2"}})
	})
	d.handle("GET /berth/security-groups", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, []vm.SecurityGroup{{ID: "sg-1", Name: "web", Description: "http"}})
	})
	d.handle("GET /berth/keypairs/k1", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, vm.KeyPair{Name: "k1", ID: "key-1"})
	})
	d.handle("GET /berth/security-groups/web", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, vm.SecurityGroup{ID: "sg-1", Name: "web"})
	})
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{name: "keypair quiet lists names", args: []string{"vm", "keypair", "ls", "-q"}, want: "k1\nk2\n"},
		{name: "sg quiet lists IDs", args: []string{"vm", "sg", "ls", "-q"}, want: "sg-1\n"},
		{name: "sg table without owners", args: []string{"vm", "sg", "ls"}, want: "" +
			"GROUP ID   NAME      INBOUND RULES            VMS       DESCRIPTION\n" +
			"sg-1       web       (none: inbound denied)   0         http\n"},
		{name: "keypair inspect format", args: []string{"vm", "keypair", "inspect", "-f", "{{.KeyPairId}}", "k1"}, want: "key-1\n"},
		{name: "sg inspect format", args: []string{"vm", "sg", "inspect", "-f", "{{.GroupId}}", "web"}, want: "sg-1\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := runBerth(t, d, "", tc.args...)
			if code != 0 || out != tc.want {
				t.Errorf("exit %d err %q\ngot:\n%q\nwant:\n%q", code, errOut, out, tc.want)
			}
		})
	}
}
