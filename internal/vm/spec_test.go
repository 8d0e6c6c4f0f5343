package vm

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth/berth/internal/vm/qemu"
)

func TestPlanContainer(t *testing.T) {
	bundle := t.TempDir()
	os.WriteFile(filepath.Join(bundle, "hosts"), []byte("127.0.0.1 localhost\n"), 0o644)
	os.WriteFile(filepath.Join(bundle, "resolv.conf"), []byte("nameserver 10.0.0.2\n"), 0o644)
	vol := t.TempDir()
	fileDir := t.TempDir()
	rwFile := filepath.Join(fileDir, "app.conf")
	os.WriteFile(rwFile, []byte("x=1\n"), 0o600)
	roFile := filepath.Join(t.TempDir(), "ro.txt")
	os.WriteFile(roFile, []byte("read only\n"), 0o640)
	big := filepath.Join(t.TempDir(), "big")
	os.WriteFile(big, make([]byte, maxCopiedFile+1), 0o644)

	limit := int64(300 << 20)
	quota, period := int64(150000), uint64(100000)
	base := func() *specs.Spec {
		return &specs.Spec{
			Hostname: "web",
			Process: &specs.Process{Args: []string{"sh", "-c", "echo hi"}, Env: []string{"PATH=/bin"}, Cwd: "/app",
				User: specs.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{10}}, Terminal: true, ConsoleSize: &specs.Box{Width: 80, Height: 24},
				Rlimits: []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 1024, Hard: 4096}}},
			Root: &specs.Root{Path: "/rootfs"},
			Mounts: []specs.Mount{
				{Destination: "/proc", Type: "proc", Source: "proc"},
				{Destination: "/dev", Type: "tmpfs", Source: "tmpfs"},
				{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "size=65536k"}},
				{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup"},
				{Destination: "/etc/hosts", Type: "bind", Source: filepath.Join(bundle, "hosts"), Options: []string{"rbind", "rprivate"}},
				{Destination: "/etc/resolv.conf", Type: "bind", Source: filepath.Join(bundle, "resolv.conf"), Options: []string{"rbind", "rprivate"}},
			},
			Linux: &specs.Linux{Namespaces: []specs.LinuxNamespace{{Type: specs.NetworkNamespace, Path: "/run/berth/netns/c1"}},
				Sysctl: map[string]string{"net.ipv4.ip_forward": "1"}},
		}
	}
	tests := []struct {
		name    string
		change  func(*specs.Spec)
		check   func(t *testing.T, p *containerPlan)
		wantErr string
	}{
		{name: "the engine's files are copied, the guest's own mounts are its own",
			change: func(*specs.Spec) {},
			check: func(t *testing.T, p *containerPlan) {
				if len(p.Shares) != 1 || p.Shares[0] != (qemu.Share{Tag: "root", Path: "/rootfs"}) {
					t.Errorf("shares %+v", p.Shares)
				}
				if r := p.Guest.Root; r.Type != "9p" || r.Source != "root" || r.Target != "/" || len(r.Options) != 0 || p.Guest.Hostname != "web" {
					t.Errorf("guest %+v", p.Guest)
				}
				if len(p.Guest.Files) != 2 || p.Guest.Files[0].Path != "/etc/hosts" || string(p.Guest.Files[1].Data) != "nameserver 10.0.0.2\n" {
					t.Errorf("files %+v", p.Guest.Files)
				}
				if len(p.Guest.Mounts) != 0 {
					t.Errorf("mounts %+v: /dev/shm, /proc, cgroup are the guest's own", p.Guest.Mounts)
				}
				pr := p.Process
				if strings.Join(pr.Args, " ") != "sh -c echo hi" || pr.UID != 1000 || pr.AdditionalGIDs[0] != 10 || !pr.Terminal ||
					pr.Width != 80 || pr.Height != 24 || pr.NoFile != 4096 || pr.Cwd != "/app" {
					t.Errorf("process %+v", pr)
				}
				if p.NetNS != "/run/berth/netns/c1" || p.CPUs != 1 || p.MemoryMiB != 0 || p.Guest.Sysctls["net.ipv4.ip_forward"] != "1" {
					t.Errorf("plan %+v", p)
				}
			}},
		{name: "volumes and binds are shared; a read-only file is copied, a writable one bound from its shared directory",
			change: func(s *specs.Spec) {
				s.Mounts = append(s.Mounts,
					specs.Mount{Destination: "/data", Type: "bind", Source: vol, Options: []string{"rbind"}},
					specs.Mount{Destination: "/etc/app.conf", Type: "bind", Source: rwFile, Options: []string{"rbind"}},
					specs.Mount{Destination: "/ro.txt", Type: "bind", Source: roFile, Options: []string{"rbind", "ro"}},
					specs.Mount{Destination: "/scratch", Type: "tmpfs", Source: "tmpfs", Options: []string{"size=1m"}})
			},
			check: func(t *testing.T, p *containerPlan) {
				want := []qemu.Share{{Tag: "root", Path: "/rootfs"}, {Tag: "m1", Path: vol}, {Tag: "m2", Path: fileDir}}
				if len(p.Shares) != 3 || p.Shares[1] != want[1] || p.Shares[2] != want[2] {
					t.Errorf("shares %+v", p.Shares)
				}
				wantMounts := []string{"9p m1 /data", "9p m2 /run/berth/shares/m2", "bind /run/berth/shares/m2/app.conf /etc/app.conf", "tmpfs tmpfs /scratch"}
				var got []string
				for _, m := range p.Guest.Mounts {
					got = append(got, m.Type+" "+m.Source+" "+m.Target)
				}
				if strings.Join(got, "; ") != strings.Join(wantMounts, "; ") {
					t.Errorf("mounts %q", got)
				}
				if f := p.Guest.Files[2]; f.Path != "/ro.txt" || string(f.Data) != "read only\n" || f.Mode != 0o640 {
					t.Errorf("read-only file %+v", f)
				}
			}},
		{name: "--init is dropped: the guest's init reaps",
			change: func(s *specs.Spec) {
				s.Process.Args = []string{dockerInit, "--", "sleep", "1"}
				s.Mounts = append(s.Mounts, specs.Mount{Destination: dockerInit, Type: "bind", Source: roFile, Options: []string{"bind", "ro"}})
			},
			check: func(t *testing.T, p *containerPlan) {
				if strings.Join(p.Process.Args, " ") != "sleep 1" || len(p.Guest.Files) != 2 {
					t.Errorf("args %q files %d", p.Process.Args, len(p.Guest.Files))
				}
			}},
		{name: "limits size the machine",
			change: func(s *specs.Spec) {
				s.Linux.Resources = &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &limit}, CPU: &specs.LinuxCPU{Quota: &quota, Period: &period}}
				s.Root.Readonly = true
			},
			check: func(t *testing.T, p *containerPlan) {
				if p.MemoryMiB != 300 || p.CPUs != 2 || !p.Shares[0].ReadOnly || p.Guest.Root.Options[0] != "ro" {
					t.Errorf("plan %+v", p)
				}
			}},
		{name: "too little memory", change: func(s *specs.Spec) {
			small := int64(64 << 20)
			s.Linux.Resources = &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &small}}
		}, wantErr: "at least 128 MiB"},
		{name: "the host's network", change: func(s *specs.Spec) { s.Linux.Namespaces = nil }, wantErr: "--network host"},
		{name: "a large read-only file", change: func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/big", Type: "bind", Source: big, Options: []string{"rbind", "ro"}})
		}, wantErr: "bind its directory"},
		{name: "a missing bind source", change: func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/x", Type: "bind", Source: "/no/such/dir", Options: []string{"rbind"}})
		}, wantErr: "no such file"},
		{name: "no process", change: func(s *specs.Spec) { s.Process.Args = nil }, wantErr: "no process"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := base()
			tt.change(s)
			p, err := planContainer(s, "/rootfs", bundle)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, p)
		})
	}
}
