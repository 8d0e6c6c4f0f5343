package oci

import (
	"errors"
	"slices"
	"syscall"
	"testing"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func mkfifo(p string) error { return unix.Mkfifo(p, 0o644) }

func TestParseSignal(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    syscall.Signal
		wantErr bool
	}{
		{name: "full name", in: "SIGTERM", want: unix.SIGTERM},
		{name: "short name", in: "TERM", want: unix.SIGTERM},
		{name: "number", in: "15", want: unix.SIGTERM},
		{name: "lower case", in: "sigkill", want: unix.SIGKILL},
		{name: "mixed case short", in: "Hup", want: unix.SIGHUP},
		{name: "rtmin", in: "SIGRTMIN", want: 34},
		{name: "rtmin plus", in: "SIGRTMIN+3", want: 37},
		{name: "rtmax minus", in: "RTMAX-1", want: 63},
		{name: "rtmax", in: "sigrtmax", want: 64},
		{name: "alias", in: "SIGIOT", want: unix.SIGABRT},
		{name: "number 64", in: "64", want: 64},
		{name: "unknown", in: "FOO", wantErr: true},
		{name: "zero", in: "0", wantErr: true},
		{name: "negative", in: "-9", wantErr: true},
		{name: "too large", in: "65", wantErr: true},
		{name: "empty", in: "", wantErr: true},
		{name: "rtmin out of range", in: "SIGRTMIN+16", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseSignal(tt.in)
			if tt.wantErr {
				if !errors.Is(err, errdefs.ErrInvalidArgument) || err.Error() != "Invalid signal: "+tt.in {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseSignal(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestSignalName(t *testing.T) {
	tests := []struct {
		name string
		sig  syscall.Signal
		want string
	}{
		{name: "term", sig: unix.SIGTERM, want: "SIGTERM"},
		{name: "abrt not iot", sig: unix.SIGABRT, want: "SIGABRT"},
		{name: "io not poll", sig: unix.SIGIO, want: "SIGIO"},
		{name: "rtmin plus", sig: 37, want: "SIGRTMIN+3"},
		{name: "rtmax", sig: 64, want: "SIGRTMAX"},
		{name: "unnamed", sig: 33, want: "33"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := SignalName(tt.sig); got != tt.want {
				t.Fatalf("SignalName(%d) = %q, want %q", tt.sig, got, tt.want)
			}
		})
	}
}

func TestMergeEnv(t *testing.T) {
	tests := []struct {
		name      string
		base      []string
		overrides [][]string
		want      []string
	}{
		{name: "append", base: []string{"A=1"}, overrides: [][]string{{"B=2"}}, want: []string{"A=1", "B=2"}},
		{name: "replace in place", base: []string{"A=1", "B=2"}, overrides: [][]string{{"A=3"}}, want: []string{"A=3", "B=2"}},
		{name: "later wins", base: []string{"PATH=/bin"}, overrides: [][]string{{"X=1", "X=2"}, {"X=3"}}, want: []string{"PATH=/bin", "X=3"}},
		{name: "bare key unsets", base: []string{"A=1", "B=2"}, overrides: [][]string{{"A"}}, want: []string{"B=2"}},
		{name: "unset then set", base: []string{"A=1"}, overrides: [][]string{{"A", "A=2"}}, want: []string{"A=2"}},
		{name: "empty value kept", base: nil, overrides: [][]string{{"A="}}, want: []string{"A="}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := slices.Clone(tt.base)
			got := MergeEnv(base, tt.overrides...)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("MergeEnv = %v, want %v", got, tt.want)
			}
			if !slices.Equal(base, tt.base) {
				t.Fatalf("base modified: %v", base)
			}
		})
	}
}

func TestCapsFromMask(t *testing.T) {
	tests := []struct {
		name string
		mask uint64
		want []string
	}{
		{name: "none", mask: 0, want: nil},
		{name: "chown and kill", mask: 1<<0 | 1<<5, want: []string{"CAP_CHOWN", "CAP_KILL"}},
		{name: "unknown bits ignored", mask: 1<<1 | 1<<60, want: []string{"CAP_DAC_OVERRIDE"}},
		{name: "all but sys_resource", mask: (1<<41 - 1) &^ (1 << 24), want: daemonCaps},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := capsFromMask(tt.mask); !slices.Equal(got, tt.want) {
				t.Fatalf("capsFromMask = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCurrentCapabilities(t *testing.T) {
	caps, err := CurrentCapabilities()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range caps {
		if !slices.Contains(knownCapabilities, c) {
			t.Errorf("unknown capability %q", c)
		}
	}
	if unix.Geteuid() == 0 && !slices.Contains(caps, "CAP_CHOWN") {
		t.Errorf("root without CAP_CHOWN? %v", caps)
	}
}

func TestParseDeviceCgroupRule(t *testing.T) {
	tests := []struct {
		name    string
		rule    string
		want    specs.LinuxDeviceCgroup
		wantErr bool
	}{
		{name: "char", rule: "c 1:3 rwm", want: specs.LinuxDeviceCgroup{Allow: true, Type: "c", Major: i64(1), Minor: i64(3), Access: "rwm"}},
		{name: "wildcards", rule: "b *:* m", want: specs.LinuxDeviceCgroup{Allow: true, Type: "b", Access: "m"}},
		{name: "all", rule: "a 7:* r", want: specs.LinuxDeviceCgroup{Allow: true, Type: "a", Major: i64(7), Access: "r"}},
		{name: "bad type", rule: "x 1:3 rwm", wantErr: true},
		{name: "bad access", rule: "c 1:3 q", wantErr: true},
		{name: "overflow", rule: "c 99999999999999999999:1 r", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseDeviceCgroupRule(tt.rule)
			if tt.wantErr {
				if !errors.Is(err, errdefs.ErrInvalidArgument) {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			eq := func(a, b *int64) bool { return a == nil && b == nil || a != nil && b != nil && *a == *b }
			if got.Allow != tt.want.Allow || got.Type != tt.want.Type || got.Access != tt.want.Access ||
				!eq(got.Major, tt.want.Major) || !eq(got.Minor, tt.want.Minor) {
				t.Fatalf("rule = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestDevicesFromPath(t *testing.T) {
	tests := []struct {
		name    string
		host    string
		ctr     string
		perms   string
		wantErr bool
	}{
		{name: "null", host: "/dev/null", ctr: "/dev/null", perms: "rwm"},
		{name: "renamed", host: "/dev/zero", ctr: "/dev/z", perms: "r"},
		{name: "regular file", host: "/etc/hostname", wantErr: true},
		{name: "missing", host: "/dev/does-not-exist", wantErr: true},
		{name: "bad perms", host: "/dev/null", perms: "rwx", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			devs, rules, err := DevicesFromPath(tt.host, tt.ctr, tt.perms)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("want error, got %v", devs)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(devs) != 1 || devs[0].Path != tt.ctr || devs[0].Type != "c" || len(rules) != 1 || rules[0].Access != tt.perms {
				t.Fatalf("devs = %+v rules = %+v", devs, rules)
			}
		})
	}
}

func TestHostDevices(t *testing.T) {
	devs, err := HostDevices("/dev")
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(devs, func(d specs.LinuxDevice) bool { return d.Path == "/dev/null" })
	if i < 0 || devs[i].Major != 1 || devs[i].Minor != 3 || devs[i].Type != "c" {
		t.Fatalf("no /dev/null in %v", devs)
	}
	for _, d := range devs {
		if d.Path == "/dev/console" || len(d.Path) > 9 && d.Path[:9] == "/dev/pts/" {
			t.Errorf("unexpected device %s", d.Path)
		}
	}
}
