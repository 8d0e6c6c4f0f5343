package volume

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/berth/berth/internal/testutil"
	"github.com/containerd/errdefs"
	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

func fsType(t *testing.T, p string) string {
	t.Helper()
	ms, err := mountinfo.GetMounts(mountinfo.SingleEntryFilter(p))
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 {
		return ""
	}
	return ms[len(ms)-1].FSType
}

func TestMountPlainVolume(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	v, err := s.Create(ctx, "plain", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.Mount(ctx, "plain")
	if err != nil || p != v.Mountpoint {
		t.Fatalf("mount = %q, %v", p, err)
	}
	if mounted, _ := mountinfo.Mounted(p); mounted {
		t.Fatal("a plain volume must not be mounted")
	}
	if err := s.Unmount(ctx, "plain"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Mount(ctx, "ghost"); err == nil {
		t.Fatal("mounting a missing volume must fail")
	}
}

func TestMountOptions(t *testing.T) {
	testutil.RequiresRoot(t)
	ctx := context.Background()
	hostDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(hostDir, "host-file"), []byte("host"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		opts     map[string]string
		wantType string
		check    func(t *testing.T, p string)
	}{
		{
			name:     "tmpfs",
			opts:     map[string]string{"type": "tmpfs", "device": "tmpfs", "o": "size=1m,mode=0700"},
			wantType: "tmpfs",
			check: func(t *testing.T, p string) {
				if st, err := os.Stat(p); err != nil || st.Mode().Perm() != 0o700 {
					t.Errorf("mode = %v, %v", st.Mode(), err)
				}
			},
		},
		{
			name: "bind",
			opts: map[string]string{"type": "none", "device": hostDir, "o": "bind"},
			check: func(t *testing.T, p string) {
				if data, err := os.ReadFile(filepath.Join(p, "host-file")); err != nil || string(data) != "host" {
					t.Errorf("host file through the volume: %q, %v", data, err)
				}
				if err := os.WriteFile(filepath.Join(p, "from-volume"), []byte("v"), 0o644); err != nil {
					t.Error(err)
				}
				if _, err := os.Stat(filepath.Join(hostDir, "from-volume")); err != nil {
					t.Errorf("write through the volume not on the host: %v", err)
				}
			},
		},
		{
			name: "read-only bind",
			opts: map[string]string{"type": "none", "device": hostDir, "o": "bind,ro"},
			check: func(t *testing.T, p string) {
				err := os.WriteFile(filepath.Join(p, "nope"), []byte("v"), 0o644)
				if !errors.Is(err, unix.EROFS) {
					t.Errorf("write to a read-only bind: %v", err)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newStore(t)
			v, err := s.Create(ctx, "vol", nil, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = unix.Unmount(v.Mountpoint, unix.MNT_DETACH) })

			// Two users: the second Mount reuses the mount, the first Unmount keeps it.
			for range 2 {
				p, err := s.Mount(ctx, "vol")
				if err != nil {
					t.Fatal(err)
				}
				if p != v.Mountpoint {
					t.Fatalf("mount path = %s", p)
				}
			}
			if mounted, _ := mountinfo.Mounted(v.Mountpoint); !mounted {
				t.Fatal("not mounted")
			}
			if ms, _ := mountinfo.GetMounts(mountinfo.SingleEntryFilter(v.Mountpoint)); len(ms) != 1 {
				t.Fatalf("mounted %d times", len(ms))
			}
			if tt.wantType != "" {
				if got := fsType(t, v.Mountpoint); got != tt.wantType {
					t.Errorf("fstype = %q", got)
				}
			}
			tt.check(t, v.Mountpoint)
			if err := s.Unmount(ctx, "vol"); err != nil {
				t.Fatal(err)
			}
			if mounted, _ := mountinfo.Mounted(v.Mountpoint); !mounted {
				t.Fatal("unmounted while still in use")
			}
			if err := s.Unmount(ctx, "vol"); err != nil {
				t.Fatal(err)
			}
			if mounted, _ := mountinfo.Mounted(v.Mountpoint); mounted {
				t.Fatal("still mounted after the last unmount")
			}
		})
	}
}

// TestRemoveMountedBindKeepsHostData removes a bind volume that is still mounted: the store must unmount it
// first and never delete through the mount.
func TestRemoveMountedBindKeepsHostData(t *testing.T) {
	testutil.RequiresRoot(t)
	ctx := context.Background()
	hostDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(hostDir, "precious"), []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, _ := newStore(t)
	v, err := s.Create(ctx, "bound", nil, map[string]string{"type": "none", "device": hostDir, "o": "bind"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Unmount(v.Mountpoint, unix.MNT_DETACH) })
	if _, err := s.Mount(ctx, "bound"); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(ctx, "bound", false, nil); err != nil {
		t.Fatal(err)
	}
	if data, err := os.ReadFile(filepath.Join(hostDir, "precious")); err != nil || string(data) != "data" {
		t.Fatalf("host data damaged: %q, %v", data, err)
	}
	if _, err := s.Get(ctx, "bound"); err == nil {
		t.Fatal("volume still there")
	}
}

// TestRemoveRefusesForeignMount: a mount the store did not make (e.g. a container's bind of something into the
// data dir) stops the deletion instead of being deleted through.
func TestRemoveRefusesForeignMount(t *testing.T) {
	testutil.RequiresRoot(t)
	ctx := context.Background()
	hostDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(hostDir, "precious"), []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, _ := newStore(t)
	v, err := s.Create(ctx, "plain", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(v.Mountpoint, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount(hostDir, sub, "", unix.MS_BIND, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Unmount(sub, unix.MNT_DETACH) })
	err = s.Remove(ctx, "plain", false, nil)
	if !errors.Is(err, errdefs.ErrFailedPrecondition) {
		t.Fatalf("err = %v, want failed precondition", err)
	}
	if data, err := os.ReadFile(filepath.Join(hostDir, "precious")); err != nil || string(data) != "data" {
		t.Fatalf("host data damaged: %q, %v", data, err)
	}
	if _, err := s.Get(ctx, "plain"); err != nil {
		t.Fatalf("volume should remain after a refused remove: %v", err)
	}
	// Once the foreign mount is gone, removal works.
	if err := unix.Unmount(sub, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(ctx, "plain", false, nil); err != nil {
		t.Fatal(err)
	}
}
