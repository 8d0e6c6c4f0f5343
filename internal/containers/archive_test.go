package containers

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
)

func TestContainerPath(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"absolute", "/etc/passwd", "/etc/passwd"},
		{"relative", "etc/passwd", "/etc/passwd"},
		{"root", "/", "/"},
		{"empty", "", "/."},
		{"dot", ".", "/."},
		{"trailing slash kept", "/links/dir/", "/links/dir/"},
		{"trailing dot kept", "/data/dir/.", "/data/dir/."},
		{"cleaned", "/a/../b//c/", "/b/c/"},
		{"climbing", "../../etc", "/etc"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := containerPath(tc.in); got != tc.want {
				t.Errorf("containerPath(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// TestStatPath stats paths of a container tree as HEAD /containers/{id}/archive does: the last element is not
// followed unless the path ends in / or /., and a link's target is resolved inside the container (or the volume
// it is in), whatever it names.
func TestStatPath(t *testing.T) {
	root := t.TempDir()
	vol := t.TempDir()
	mk := func(base string, files map[string]string) {
		for name, v := range files {
			p := filepath.Join(base, name)
			os.MkdirAll(filepath.Dir(p), 0o755)
			var err error
			switch {
			case strings.HasPrefix(v, "->"):
				err = os.Symlink(strings.TrimPrefix(v, "->"), p)
			case v == "dir":
				err = os.MkdirAll(p, 0o755)
			default:
				err = os.WriteFile(p, []byte(v), 0o644)
			}
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	mk(root, map[string]string{
		"data/file.txt": "content", "data/dir": "dir", "vol": "dir",
		"links/abs-file": "->/data/file.txt", "links/rel-dir": "->../data/dir",
		"links/escape": "->../../../../../etc/shadow", "links/escape-abs": "->" + filepath.Join(vol, "x"),
		"links/dangling": "->/nonexistent", "links/chain": "->rel-dir", "links/loop1": "->loop2", "links/loop2": "->loop1",
	})
	mk(vol, map[string]string{"sub": "dir", "l": "->sub", "out": "->/../../etc"})
	mps := []MountPoint{{MountPoint: container.MountPoint{Type: mount.TypeVolume, Source: vol, Destination: "/vol"}}}
	tests := []struct {
		path     string
		want     string // "name mode linkTarget"
		notFound bool
	}{
		{path: "/data/file.txt", want: "file.txt -rw-r--r-- "},
		{path: "/links/abs-file", want: "abs-file Lrwxrwxrwx /data/file.txt"},
		{path: "/links/rel-dir", want: "rel-dir Lrwxrwxrwx /data/dir"},
		{path: "/links/rel-dir/", want: "rel-dir drwxr-xr-x "},
		{path: "/links/rel-dir/.", want: ". drwxr-xr-x "},
		{path: "/links/chain", want: "chain Lrwxrwxrwx /data/dir"},
		{path: "/links/escape", want: "escape Lrwxrwxrwx /etc/shadow"},
		{path: "/links/escape-abs", want: "escape-abs Lrwxrwxrwx " + filepath.Join(vol, "x")},
		{path: "/links/dangling", want: "dangling Lrwxrwxrwx /nonexistent"},
		{path: "/vol/l", want: "l Lrwxrwxrwx /vol/sub"},
		// A stopped container's volume is reached through its source, so an absolute link in it resolves inside
		// the volume; docker (volumes mounted in the root) gives /etc. Never outside either way.
		{path: "/vol/out", want: "out Lrwxrwxrwx /vol/etc"},
		{path: "/links/rel-dir/missing", notFound: true},
		{path: "/data/file.txt/x", notFound: true},
		{path: "/links/escape/", notFound: true},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			ps, host, err := statPath(root, mps, "ctr", containerPath(tc.path))
			if tc.notFound {
				if !errdefs.IsNotFound(err) || err.Error() != "Could not find the file "+containerPath(tc.path)+" in container ctr" {
					t.Fatalf("error %v, want docker's not found", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := ps.Name + " " + ps.Mode.String() + " " + ps.LinkTarget; got != tc.want {
				t.Errorf("stat %q, want %q", got, tc.want)
			}
			if !strings.HasPrefix(host, root) && !strings.HasPrefix(host, vol) {
				t.Errorf("host path %s is outside the container", host)
			}
		})
	}
	// A loop is an error that names no host path.
	if _, _, err := statPath(root, mps, "ctr", "/links/loop1"); err == nil || strings.Contains(err.Error(), root) {
		t.Errorf("loop: %v", err)
	}
}
