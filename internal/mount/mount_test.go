package mount_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/moby/sys/mountinfo"

	"github.com/berth/berth/internal/mount"
	"github.com/berth/berth/internal/testutil"
)

func TestSpecs(t *testing.T) {
	tests := []struct {
		name string
		got  mount.Mount
		want mount.Mount
	}{
		{name: "overlay", got: mount.Overlay([]string{"/l2", "/l1"}, "/u", "/w"),
			want: mount.Mount{Type: "overlay", Source: "overlay", Options: []string{"lowerdir=/l2:/l1", "upperdir=/u", "workdir=/w"}}},
		{name: "bind", got: mount.Bind("/srv", false), want: mount.Mount{Type: "bind", Source: "/srv", Options: []string{"rbind"}}},
		{name: "read-only bind", got: mount.Bind("/srv", true), want: mount.Mount{Type: "bind", Source: "/srv", Options: []string{"rbind", "ro"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got.Type != tt.want.Type || tt.got.Source != tt.want.Source || !slices.Equal(tt.got.Options, tt.want.Options) {
				t.Errorf("got %+v, want %+v", tt.got, tt.want)
			}
		})
	}
}

// Mounting real kernel objects: an overlay shows the upper over the lowers, a read-only bind refuses writes,
// Unmount leaves nothing mounted and is idempotent.
func TestMountUnmount(t *testing.T) {
	testutil.RequiresRoot(t)
	dir := t.TempDir()
	mk := func(p string) string {
		p = filepath.Join(dir, p)
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	lower, upper, work, merged, bindTarget := mk("lower"), mk("upper"), mk("work"), mk("merged"), mk("bind")
	os.WriteFile(filepath.Join(lower, "a"), []byte("lower"), 0o644)
	os.WriteFile(filepath.Join(upper, "b"), []byte("upper"), 0o644)

	if err := mount.All([]mount.Mount{mount.Overlay([]string{lower}, upper, work)}, merged); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"a": "lower", "b": "upper"} {
		if b, err := os.ReadFile(filepath.Join(merged, name)); err != nil || string(b) != want {
			t.Errorf("%s: %q, %v", name, b, err)
		}
	}
	if err := mount.Bind(merged, true).Mount(bindTarget); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bindTarget, "c"), nil, 0o644); err == nil {
		t.Error("wrote through a read-only bind mount")
	}
	for _, target := range []string{bindTarget, merged, merged} {
		if err := mount.Unmount(target); err != nil {
			t.Fatal(err)
		}
		if m, _ := mountinfo.Mounted(target); m {
			t.Errorf("%s still mounted", target)
		}
	}
}
