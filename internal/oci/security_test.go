package oci

import (
	"slices"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// allows reports whether the seccomp filter lets syscall name through unconditionally.
func allows(sc *specs.LinuxSeccomp, name string) bool {
	for _, rule := range sc.Syscalls {
		if rule.Action == specs.ActAllow && len(rule.Args) == 0 && slices.Contains(rule.Names, name) {
			return true
		}
	}
	return false
}

func TestSeccomp(t *testing.T) {
	const denyMkdir = `{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"}]}`
	tests := []struct {
		name        string
		securityOpt []string
		privileged  bool
		capAdd      []string
		daemon      string // the daemon's profile
		want        string // "none", "default", "custom"
		wantErr     string
		// allowed/denied: syscalls the filter must let through unconditionally, or not
		allowed, denied []string
	}{
		{name: "docker's default profile", want: "default", allowed: []string{"read", "write", "execve"}, denied: []string{"unshare", "mount", "keyctl"}},
		{name: "CAP_SYS_ADMIN widens the default", capAdd: []string{"SYS_ADMIN"}, want: "default", allowed: []string{"unshare", "mount"}},
		{name: "privileged containers are unfiltered", privileged: true, want: "none"},
		{name: "seccomp=unconfined", securityOpt: []string{"seccomp=unconfined"}, want: "none"},
		{name: "seccomp:unconfined, the old syntax", securityOpt: []string{"seccomp:unconfined"}, want: "none"},
		{name: "a custom profile", securityOpt: []string{"seccomp=" + denyMkdir}, want: "custom"},
		{name: "the daemon's unconfined", daemon: SeccompUnconfined, want: "none"},
		{name: "the daemon's custom profile", daemon: denyMkdir, want: "custom"},
		{name: "a container's profile wins over the daemon's", daemon: SeccompUnconfined, securityOpt: []string{"seccomp=" + denyMkdir}, want: "custom"},
		{name: "a malformed profile", securityOpt: []string{"seccomp={not json"}, wantErr: "Decoding seccomp profile failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := baseInput(t)
			in.SeccompProfile = tt.daemon
			in.HostConfig = &container.HostConfig{SecurityOpt: tt.securityOpt, Privileged: tt.privileged, CapAdd: tt.capAdd}
			s, err := Generate(in)
			if tt.wantErr != "" {
				if !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want invalid argument with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			sc := s.Linux.Seccomp
			switch tt.want {
			case "none":
				if sc != nil {
					t.Fatalf("a filter: default action %s", sc.DefaultAction)
				}
				return
			case "default":
				if sc == nil || sc.DefaultAction != specs.ActErrno {
					t.Fatalf("default profile expected, got %+v", sc)
				}
			case "custom":
				if sc == nil || sc.DefaultAction != specs.ActAllow || len(sc.Syscalls) != 1 || sc.Syscalls[0].Names[0] != "mkdir" {
					t.Fatalf("custom profile expected, got %+v", sc)
				}
			}
			for _, n := range tt.allowed {
				if !allows(sc, n) {
					t.Errorf("%s is not allowed", n)
				}
			}
			for _, n := range tt.denied {
				if allows(sc, n) {
					t.Errorf("%s is allowed", n)
				}
			}
		})
	}
}

func TestAppArmor(t *testing.T) {
	tests := []struct {
		name        string
		hostProfile string // "" for a host without AppArmor
		securityOpt []string
		privileged  bool
		want        string
	}{
		{name: "no AppArmor on the host", securityOpt: []string{"apparmor=custom"}, want: ""},
		{name: "the default profile", hostProfile: "berth-default", want: "berth-default"},
		{name: "a named profile", hostProfile: "berth-default", securityOpt: []string{"apparmor=custom"}, want: "custom"},
		{name: "unconfined", hostProfile: "berth-default", securityOpt: []string{"apparmor=unconfined"}, want: "unconfined"},
		{name: "privileged", hostProfile: "berth-default", privileged: true, want: "unconfined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := baseInput(t)
			in.AppArmorProfile = tt.hostProfile
			in.HostConfig = &container.HostConfig{SecurityOpt: tt.securityOpt, Privileged: tt.privileged}
			s, err := Generate(in)
			if err != nil {
				t.Fatal(err)
			}
			if s.Process.ApparmorProfile != tt.want {
				t.Errorf("profile %q, want %q", s.Process.ApparmorProfile, tt.want)
			}
		})
	}
}
