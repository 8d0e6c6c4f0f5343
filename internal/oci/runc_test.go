package oci

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth/berth/internal/testutil"
	"github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestRuncRuns runs generated specs with the real runc against a busybox rootfs: the spec must be accepted and
// the container must see what the configuration asked for. Root only; skipped without runc or a static busybox.
func TestRuncRuns(t *testing.T) {
	testutil.RequiresRoot(t)
	runc, err := exec.LookPath("runc")
	if err != nil {
		t.Skip("runc not installed")
	}
	busybox, err := exec.LookPath("busybox")
	if err != nil {
		t.Skip("busybox not installed")
	}
	if out, _ := exec.Command("file", busybox).Output(); !bytes.Contains(out, []byte("statically linked")) {
		t.Skip("busybox is not static")
	}
	// Real host devices and sysctls here, not the fakes of TestMain.
	hostDevices = func() ([]specs.LinuxDevice, error) { return HostDevices("/dev") }
	t.Cleanup(func() { hostDevices = func() ([]specs.LinuxDevice, error) { return fakeHostDevices, nil } })
	sysctlExists = func(name string) bool {
		_, err := os.Stat(filepath.Join("/proc/sys", strings.ReplaceAll(name, ".", "/")))
		return err == nil
	}
	t.Cleanup(func() { sysctlExists = func(string) bool { return true } })

	daemon, err := CurrentCapabilities()
	if err != nil {
		t.Fatal(err)
	}
	v2 := false
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		v2 = true
	}

	t.Cleanup(func() {
		// runc removes each container's cgroup; the parent the test made up is left empty.
		dirs, _ := filepath.Glob("/sys/fs/cgroup/*/berth-oci-test")
		for _, d := range append(dirs, "/sys/fs/cgroup/berth-oci-test") {
			_ = os.Remove(d)
		}
	})

	tests := []struct {
		name   string
		modify func(in *Input)
		script string
		want   []string // substrings of the output
	}{
		{
			name:   "default",
			script: "id; grep CapEff /proc/self/status; hostname; echo $HOSTNAME; cat /proc/sys/net/ipv4/ip_unprivileged_port_start; touch /ok && echo rw",
			want:   []string{"uid=0(root) gid=0(root) groups=0(root),10(wheel)", "CapEff:\t00000000a80425fb", "smoke", "rw"},
		},
		{
			name: "user, readonly, limits",
			modify: func(in *Input) {
				in.Config.User = "app"
				in.HostConfig.ReadonlyRootfs = true
				in.HostConfig.Memory = 64 << 20
				in.HostConfig.NanoCPUs = 5e8
				in.HostConfig.PidsLimit = ptr[int64](50)
				in.HostConfig.SecurityOpt = []string{"no-new-privileges"}
			},
			script: "id; grep -E 'CapEff|NoNewPrivs' /proc/self/status; touch /x 2>&1 || echo readonly; " +
				"cd /sys/fs/cgroup; cat memory/memory.limit_in_bytes pids/pids.max cpu/cpu.cfs_quota_us memory.max pids.max cpu.max 2>/dev/null; true",
			want: []string{"uid=1000(app) gid=1000(app) groups=10(wheel),50(staff),1000(app)", "CapEff:\t0000000000000000",
				"NoNewPrivs:\t1", "readonly", "67108864\n", "50\n", "50000"},
		},
		{
			name: "privileged",
			modify: func(in *Input) {
				in.HostConfig.Privileged = true
			},
			script: "grep CapEff /proc/self/status; ls /dev/kmsg >/dev/null && echo devices; mount | grep ' /sys ' ",
			want:   []string{fmt.Sprintf("CapEff:\t%016x", capMask(daemon)), "devices", "(rw,"},
		},
		{
			name:   "cap-drop ALL",
			modify: func(in *Input) { in.HostConfig.CapDrop = []string{"ALL"}; in.HostConfig.CapAdd = []string{"chown"} },
			script: "grep CapEff /proc/self/status",
			want:   []string{"CapEff:\t0000000000000001"},
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rootfs := writeRootfs(t, map[string]string{"etc/passwd": testPasswd, "etc/group": testGroup})
			for _, d := range []string{"bin", "proc", "sys", "dev", "tmp"} {
				if err := os.MkdirAll(filepath.Join(rootfs, d), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			data, err := os.ReadFile(busybox)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(rootfs, "bin", "busybox"), data, 0o755); err != nil {
				t.Fatal(err)
			}
			for _, applet := range []string{"sh", "id", "grep", "hostname", "cat", "touch", "ls", "mount"} {
				if err := os.Symlink("busybox", filepath.Join(rootfs, "bin", applet)); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.Chmod(rootfs, 0o755); err != nil {
				t.Fatal(err)
			}
			id := fmt.Sprintf("berth-oci-test-%d-%d", os.Getpid(), i)
			in := Input{
				ID:            id,
				Rootfs:        rootfs,
				Config:        &container.Config{Hostname: "smoke", Entrypoint: []string{"/bin/busybox", "sh", "-c"}, Cmd: []string{tt.script}},
				HostConfig:    &container.HostConfig{},
				CgroupsPath:   "/berth-oci-test/" + id,
				CgroupV2:      v2,
				SwapSupported: SwapSupported(v2),
				DaemonCaps:    daemon,
			}
			if tt.modify != nil {
				tt.modify(&in)
			}
			s, err := Generate(in)
			if err != nil {
				t.Fatal(err)
			}
			bundle := t.TempDir()
			js, _ := json.Marshal(s)
			if err := os.WriteFile(filepath.Join(bundle, "config.json"), js, 0o644); err != nil {
				t.Fatal(err)
			}
			state := t.TempDir()
			cmd := exec.Command(runc, "--root", state, "run", "--bundle", bundle, id)
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			done := make(chan error, 1)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			go func() { done <- cmd.Wait() }()
			select {
			case err = <-done:
			case <-time.After(60 * time.Second):
				_ = cmd.Process.Kill()
				t.Fatal("runc timed out")
			}
			_ = exec.Command(runc, "--root", state, "delete", "--force", id).Run()
			if err != nil {
				t.Fatalf("runc run: %v\n%s", err, out.String())
			}
			for _, w := range tt.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
		})
	}
}

func capMask(caps []string) uint64 {
	var m uint64
	for i, c := range knownCapabilities {
		for _, x := range caps {
			if x == c {
				m |= 1 << uint(i)
			}
		}
	}
	return m
}
