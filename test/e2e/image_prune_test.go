package e2e

import (
	"io/fs"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/docker/go-units"
)

// imageBytes is what the daemon's images take on disk: the blobs in the content store and the unpacked layers
// (their files, each hard link once), as `image prune` counts what it frees.
func imageBytes(t *testing.T, d *Daemon) int64 {
	t.Helper()
	var n int64
	seen := map[uint64]bool{}
	for _, dir := range []string{filepath.Join(d.DataRoot, "content", "blobs"), filepath.Join(d.DataRoot, "overlay", "layers")} {
		err := filepath.WalkDir(dir, func(p string, de fs.DirEntry, err error) error {
			if err != nil || de.IsDir() {
				return err
			}
			var st syscall.Stat_t
			if err := syscall.Lstat(p, &st); err != nil {
				return err
			}
			if st.Nlink > 1 {
				if seen[st.Ino] {
					return nil
				}
				seen[st.Ino] = true
			}
			n += st.Size
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return n
}

// TestImagePruneReclaimed: `docker image prune` reports the space it freed, what leaves the disk: a rebuilt
// image that shares every layer still frees its config and manifest; an image with a layer of its own frees the
// layer's blob and its unpacked files, and an image a container ran on its init layer too.
func TestImagePruneReclaimed(t *testing.T) {
	d := startDaemon(t)
	d.importBusybox(t)
	build := func(dockerfile string) {
		t.Helper()
		d.docker(t, "build", "-q", "-t", "app", buildContext(t, map[string]string{"Dockerfile": dockerfile}))
	}
	tests := []struct {
		name  string
		setup func()
		args  []string
	}{
		{name: "a rebuilt image sharing its layers", args: []string{"image", "prune", "-f"}, setup: func() {
			build("FROM busybox\nLABEL v=1\n")
			build("FROM busybox\nLABEL v=2\n")
		}},
		{name: "a rebuilt image with a layer of its own", args: []string{"image", "prune", "-f"}, setup: func() {
			build("FROM busybox\nRUN echo one > /v.txt && head -c 100000 /dev/zero > /pad\n")
			build("FROM busybox\nRUN echo two > /v.txt\n")
		}},
		{name: "every unused image, one a container ran on", args: []string{"image", "prune", "-a", "-f"}, setup: func() {
			d.docker(t, "run", "--rm", "app", "true")
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.setup()
			before := imageBytes(t, d)
			out := d.docker(t, tc.args...)
			freed := before - imageBytes(t, d)
			if freed <= 0 {
				t.Fatalf("prune freed nothing:\n%s", out)
			}
			want := "Total reclaimed space: " + units.HumanSize(float64(freed))
			if !strings.Contains(out, want+"\n") {
				t.Errorf("prune output lacks %q (%d bytes freed):\n%s", want, freed, out)
			}
		})
	}
	if out := d.docker(t, "images", "-aq"); out != "" {
		t.Errorf("images left after prune -a: %q", out)
	}
}
