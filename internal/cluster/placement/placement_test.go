package placement

import (
	"errors"
	"testing"

	"github.com/containerd/errdefs"
)

func TestParseRefusesWithDockersWords(t *testing.T) {
	tests := []struct {
		name string
		expr string
		want string
	}{
		{name: "no operator", expr: "node.role=manager", want: "constraint expected one operator from ==, !="},
		{name: "empty", expr: "", want: "constraint expected one operator from ==, !="},
		{name: "quoted key (a shell quoting mistake)", expr: "'node.role==manager", want: "key ''node.role' is invalid"},
		{name: "key with a space", expr: "node role==manager", want: "key 'node role' is invalid"},
		{name: "key too short", expr: "a==b", want: "key 'a' is invalid"},
		{name: "value with an operator", expr: "node.labels.a==b==c", want: "value 'b==c' is invalid"},
		{name: "value with a comparison", expr: "node.labels.a!=<b", want: "value '<b' is invalid"},
		{name: "empty value", expr: "node.labels.a==", want: "value '' is invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]string{"node.role==worker", tt.expr})
			if err == nil {
				t.Fatalf("Parse(%q) succeeded", tt.expr)
			}
			if err.Error() != tt.want {
				t.Errorf("Parse(%q) = %q, want %q", tt.expr, err, tt.want)
			}
			if !errors.Is(err, errdefs.ErrInvalidArgument) {
				t.Errorf("Parse(%q) error is not an invalid argument: %v", tt.expr, err)
			}
		})
	}
}

func TestMatch(t *testing.T) {
	node := Node{
		ID: "n1abc", Hostname: "alpha", Role: RoleManager, Addr: "10.0.0.5",
		Labels:       map[string]string{"zone": "East", "Disk": "ssd"},
		EngineLabels: map[string]string{"storage": "fast"},
		Platform:     Platform{OS: "linux", Architecture: "amd64"},
	}
	tests := []struct {
		name string
		expr string
		want bool
	}{
		{name: "role", expr: "node.role==manager", want: true},
		{name: "role with spaces around the operator", expr: "node.role == manager", want: true},
		{name: "role, any case", expr: "NODE.ROLE==MANAGER", want: true},
		{name: "role not", expr: "node.role!=manager", want: false},
		{name: "id", expr: "node.id==n1abc", want: true},
		{name: "hostname not", expr: "node.hostname!=beta", want: true},
		{name: "label value, any case", expr: "node.labels.zone==east", want: true},
		{name: "label name is case-sensitive", expr: "node.labels.disk==ssd", want: false},
		{name: "label name as written", expr: "node.labels.Disk==ssd", want: true},
		{name: "missing label is empty: != holds", expr: "node.labels.rack!=r1", want: true},
		{name: "missing label is empty: == fails", expr: "node.labels.rack==r1", want: false},
		{name: "engine label", expr: "engine.labels.storage==fast", want: true},
		{name: "os", expr: "node.platform.os==linux", want: true},
		{name: "arch", expr: "node.platform.arch==arm64", want: false},
		{name: "ip", expr: "node.ip==10.0.0.5", want: true},
		{name: "ip in subnet", expr: "node.ip==10.0.0.0/24", want: true},
		{name: "ip not in subnet", expr: "node.ip!=10.0.1.0/24", want: true},
		{name: "malformed ip holds nowhere", expr: "node.ip!=10.0.0", want: false},
		{name: "unknown key holds nowhere", expr: "node.zone!=x", want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs, err := Parse([]string{tt.expr})
			if err != nil {
				t.Fatal(err)
			}
			if got := Match(cs, &node); got != tt.want {
				t.Errorf("%q on the node = %v, want %v", tt.expr, got, tt.want)
			}
		})
	}
}

func TestPlatformMatch(t *testing.T) {
	tests := []struct {
		name string
		want []Platform
		node Platform
		ok   bool
	}{
		{name: "no platforms", node: Platform{"linux", "arm64"}, ok: true},
		{name: "x86_64 is amd64", want: []Platform{{"linux", "x86_64"}}, node: Platform{"linux", "amd64"}, ok: true},
		{name: "aarch64 is arm64", want: []Platform{{"linux", "arm64"}}, node: Platform{"linux", "aarch64"}, ok: true},
		{name: "any os", want: []Platform{{"", "amd64"}}, node: Platform{"windows", "amd64"}, ok: true},
		{name: "other os", want: []Platform{{"windows", "amd64"}}, node: Platform{"linux", "amd64"}, ok: false},
		{name: "one of several", want: []Platform{{"linux", "s390x"}, {"linux", "amd64"}}, node: Platform{"linux", "amd64"}, ok: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := PlatformMatch(tt.want, tt.node); got != tt.ok {
				t.Errorf("PlatformMatch(%v, %v) = %v, want %v", tt.want, tt.node, got, tt.ok)
			}
		})
	}
}

func TestSpreadValue(t *testing.T) {
	n := Node{Labels: map[string]string{"zone": "a"}, EngineLabels: map[string]string{"rack": "r2"}}
	tests := []struct {
		name, desc, value string
		ok                bool
	}{
		{name: "node label", desc: "node.labels.zone", value: "a", ok: true},
		{name: "node label, prefix in any case", desc: "Node.Labels.zone", value: "a", ok: true},
		{name: "missing label", desc: "node.labels.dc", value: "", ok: true},
		{name: "engine label", desc: "engine.labels.rack", value: "r2", ok: true},
		{name: "not a label", desc: "node.hostname", ok: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, ok := SpreadValue(tt.desc, &n)
			if v != tt.value || ok != tt.ok {
				t.Errorf("SpreadValue(%q) = %q, %v; want %q, %v", tt.desc, v, ok, tt.value, tt.ok)
			}
		})
	}
}
