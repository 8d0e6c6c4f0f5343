package oci

import (
	"errors"
	"slices"
	"testing"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestExecProcess(t *testing.T) {
	in := baseInput(t)
	in.Config.Env = []string{"A=1", "B=2"}
	in.Config.WorkingDir = "/srv"
	in.HostConfig.SecurityOpt = []string{"no-new-privileges"}
	in.HostConfig.CapAdd = []string{"NET_ADMIN"}
	base, err := Generate(in)
	if err != nil {
		t.Fatal(err)
	}
	containerCaps := base.Process.Capabilities.Bounding

	tests := []struct {
		name    string
		cfg     ExecConfig
		wantErr error
		check   func(t *testing.T, p *specs.Process)
	}{
		{
			name: "inherits the container",
			cfg:  ExecConfig{Cmd: []string{"ls", "-l"}},
			check: func(t *testing.T, p *specs.Process) {
				if !slices.Equal(p.Args, []string{"ls", "-l"}) || p.Cwd != "/srv" || p.Terminal || !p.NoNewPrivileges {
					t.Errorf("process = %+v", p)
				}
				if !slices.Equal(p.Env, base.Process.Env) {
					t.Errorf("env = %v", p.Env)
				}
				if p.User.UID != 0 || !slices.Equal(p.Capabilities.Effective, containerCaps) {
					t.Errorf("user %+v caps %v", p.User, p.Capabilities)
				}
			},
		},
		{
			name: "env, workdir, tty",
			cfg:  ExecConfig{Cmd: []string{"sh"}, Env: []string{"B=3", "C=4"}, WorkingDir: "/tmp", Tty: true, ConsoleSize: [2]uint{30, 100}},
			check: func(t *testing.T, p *specs.Process) {
				want := []string{"PATH=" + DefaultPathEnv, "HOSTNAME=c1host", "A=1", "B=3", "TERM=xterm", "C=4"}
				if !slices.Equal(p.Env, want) {
					t.Errorf("env = %v, want %v", p.Env, want)
				}
				if p.Cwd != "/tmp" || !p.Terminal || p.ConsoleSize == nil || p.ConsoleSize.Width != 100 {
					t.Errorf("process = %+v", p)
				}
			},
		},
		{
			name: "user override drops effective caps",
			cfg:  ExecConfig{Cmd: []string{"id"}, User: "app"},
			check: func(t *testing.T, p *specs.Process) {
				if p.User.UID != 1000 || p.User.GID != 1000 || !slices.Equal(p.User.AdditionalGids, []uint32{1000, 10, 50}) {
					t.Errorf("user = %+v", p.User)
				}
				if !slices.Equal(p.Capabilities.Bounding, containerCaps) || p.Capabilities.Effective != nil {
					t.Errorf("caps = %+v", p.Capabilities)
				}
			},
		},
		{
			name: "privileged gets the daemon's capabilities",
			cfg:  ExecConfig{Cmd: []string{"sh"}, Privileged: true, DaemonCaps: daemonCaps},
			check: func(t *testing.T, p *specs.Process) {
				if !slices.Equal(p.Capabilities.Effective, daemonCaps) || !slices.Equal(p.Capabilities.Bounding, daemonCaps) {
					t.Errorf("caps = %+v", p.Capabilities)
				}
			},
		},
		{name: "unknown user", cfg: ExecConfig{Cmd: []string{"sh"}, User: "nobody2"}, wantErr: errdefs.ErrInvalidArgument},
		{name: "no command", cfg: ExecConfig{}, wantErr: errdefs.ErrInvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := slices.Clone(base.Process.Env)
			p, err := ExecProcess(base, tt.cfg, in.Rootfs)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, p)
			if !slices.Equal(before, base.Process.Env) {
				t.Error("base spec modified")
			}
		})
	}
}
