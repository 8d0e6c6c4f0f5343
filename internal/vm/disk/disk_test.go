package disk

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

func TestArgs(t *testing.T) {
	tests := []struct {
		name string
		got  []string
		want []string
	}{
		{name: "mkfs", got: MkfsArgs("/src", "/d/b.ext4", 8*GiB),
			want: []string{"-q", "-F", "-t", "ext4", "-L", "root", "-d", "/src", "-E", "root_owner=0:0", "/d/b.ext4", "8388608k"}},
		{name: "overlay", got: QemuImgArgs("/d/b.ext4", "/i/disk.qcow2"),
			want: []string{"create", "-q", "-f", "qcow2", "-F", "raw", "-b", "/d/b.ext4", "/i/disk.qcow2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !slices.Equal(tt.got, tt.want) {
				t.Errorf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
}

func TestBaseName(t *testing.T) {
	tests := []struct {
		name string
		id   string
		size int64
		want string
	}{
		{name: "digest", id: "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", size: 8 * GiB, want: "0123456789abcdef0123456789abcdef-8G.ext4"},
		{name: "short", id: "abc", size: 2 * GiB, want: "abc-2G.ext4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := BaseName(tt.id, tt.size); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestEnsureBase builds a base from a directory with e2fsprogs and an overlay with qemu-img, both without
// privileges, and reads the files back with debugfs. Concurrent callers build once.
func TestEnsureBase(t *testing.T) {
	for _, tool := range []string{"mkfs.ext4", "debugfs", "qemu-img"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed (e2fsprogs, qemu-utils): %v", tool, err)
		}
	}
	src := t.TempDir()
	os.MkdirAll(filepath.Join(src, "etc"), 0o755)
	os.WriteFile(filepath.Join(src, "etc", "hostname"), []byte("from-image\n"), 0o644)
	dir := t.TempDir()
	var mu sync.Mutex
	builds := 0
	populate := func(context.Context) (string, func(), error) {
		mu.Lock()
		builds++
		mu.Unlock()
		return src, func() {}, nil
	}
	var wg sync.WaitGroup
	paths := make([]string, 3)
	errs := make([]error, 3)
	for i := range paths {
		wg.Add(1)
		go func() {
			defer wg.Done()
			paths[i], errs[i] = EnsureBase(context.Background(), dir, "sha256:feed", 1*GiB, populate)
		}()
	}
	wg.Wait()
	for i := range paths {
		if errs[i] != nil || paths[i] != filepath.Join(dir, "feed-1G.ext4") {
			t.Fatalf("EnsureBase: %q, %v", paths[i], errs[i])
		}
	}
	if builds != 1 {
		t.Errorf("built %d times, want once", builds)
	}
	out, err := exec.Command("debugfs", "-R", "cat /etc/hostname", paths[0]).Output()
	if err != nil || string(out) != "from-image\n" {
		t.Errorf("debugfs cat /etc/hostname: %q, %v", out, err)
	}
	if u := Usage(paths[0]); u <= 0 || u > 200<<20 {
		t.Errorf("a 1 GiB base of one file takes %d bytes: it should be sparse", u)
	}
	ov := filepath.Join(t.TempDir(), "disk.qcow2")
	if err := CreateOverlay(context.Background(), paths[0], ov); err != nil {
		t.Fatal(err)
	}
	info, err := exec.Command("qemu-img", "info", ov).Output()
	if err != nil || !strings.Contains(string(info), "backing file: "+paths[0]) || !strings.Contains(string(info), "virtual size: 1 GiB") {
		t.Errorf("qemu-img info:\n%s %v", info, err)
	}
	if _, err := EnsureBase(context.Background(), dir, "sha256:feed", 100<<20, populate); err == nil {
		t.Error("a base under 1 GiB was accepted")
	}
}
