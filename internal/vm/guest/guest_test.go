package guest

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

func TestMountOptions(t *testing.T) {
	tests := []struct {
		name      string
		opts      []string
		wantFlags uintptr
		wantData  string
	}{
		{name: "none"},
		{name: "read-only tmpfs with a size", opts: []string{"ro", "nosuid", "nodev", "noexec", "size=65536k", "mode=1777"},
			wantFlags: unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, wantData: "size=65536k,mode=1777"},
		{name: "a bind's propagation is dropped", opts: []string{"rbind", "rprivate", "rw"}, wantFlags: unix.MS_BIND | unix.MS_REC},
		{name: "ext4 data options pass through", opts: []string{"noinit_itable", "noatime"}, wantFlags: unix.MS_NOATIME, wantData: "noinit_itable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			flags, data := mountOptions(tt.opts)
			if flags != tt.wantFlags || data != tt.wantData {
				t.Errorf("got %#x %q, want %#x %q", flags, data, tt.wantFlags, tt.wantData)
			}
		})
	}
}

func TestLookPath(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "tool")
	os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755)
	os.WriteFile(filepath.Join(dir, "data"), []byte("x"), 0o644)
	tests := []struct {
		name    string
		arg     string
		env     []string
		want    string
		wantErr error
	}{
		{name: "found in PATH", arg: "tool", env: []string{"PATH=/nonexistent:" + dir}, want: exe},
		{name: "not executable", arg: "data", env: []string{"PATH=" + dir}, wantErr: errNotFound},
		{name: "not in PATH", arg: "tool", env: []string{"PATH=/nonexistent"}, wantErr: errNotFound},
		{name: "a path is used as it is", arg: exe, want: exe},
		{name: "a missing path", arg: filepath.Join(dir, "nope"), wantErr: syscall.ENOENT},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := lookPath(tt.arg, tt.env)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("got %q, %v", got, err)
			}
		})
	}
}

func TestExitCode(t *testing.T) {
	tests := []struct {
		name string
		ws   syscall.WaitStatus
		want int
	}{
		{name: "exit 0", ws: 0, want: 0},
		{name: "exit 3", ws: 3 << 8, want: 3},
		{name: "killed by SIGKILL", ws: syscall.WaitStatus(syscall.SIGKILL), want: 137},
		{name: "killed by SIGTERM", ws: syscall.WaitStatus(syscall.SIGTERM), want: 143},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := exitCode(tt.ws); got != tt.want {
				t.Errorf("got %d, want %d", got, tt.want)
			}
		})
	}
}

// installKeys writes authorized_keys as sshd's StrictModes wants it, keeps keys already there, and adds a key
// once however often it is installed.
func TestInstallKeys(t *testing.T) {
	home := t.TempDir()
	a := account{name: "me", uid: os.Getuid(), gid: os.Getgid(), home: home}
	os.MkdirAll(filepath.Join(home, ".ssh"), 0o755)
	os.WriteFile(filepath.Join(home, ".ssh", "authorized_keys"), []byte("ssh-ed25519 AAAAold old@key"), 0o644)
	for i := 0; i < 2; i++ {
		if err := installKeys(a, []string{"ssh-ed25519 AAAAnew new@key", " "}); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := os.ReadFile(filepath.Join(home, ".ssh", "authorized_keys"))
	if string(b) != "ssh-ed25519 AAAAold old@key\nssh-ed25519 AAAAnew new@key\n" {
		t.Errorf("authorized_keys:\n%s", b)
	}
	for p, want := range map[string]os.FileMode{filepath.Join(home, ".ssh"): 0o700, filepath.Join(home, ".ssh", "authorized_keys"): 0o600} {
		if st, err := os.Stat(p); err != nil || st.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", p, st.Mode().Perm(), want)
		}
	}
}
