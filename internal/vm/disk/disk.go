// Package disk makes the root disks of Berth's virtual machine instances: one ext4 base image per image and
// size, built without privileges from a directory holding the image's files (e2fsprogs' mkfs.ext4 -d), shared
// read-only by every instance of that image, and a qcow2 overlay per instance backed by it (qemu-img), which
// holds only what the instance changed and survives its stops and starts.
//
//	base, err := disk.EnsureBase(ctx, "/var/lib/berth/vm/bases", imageID, 8<<30, populate) // built once
//	err = disk.CreateOverlay(ctx, base, "/var/lib/berth/vm/instances/i-0a1b/disk.qcow2")
//
// Both files are sparse: an 8 GiB base of a small image takes tens of MiB, an overlay a few hundred KiB.
package disk

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/containerd/errdefs"
	"golang.org/x/sys/unix"
)

// GiB is a gibibyte.
const GiB = 1 << 30

// BaseName is the file name of the base of image (its ID, "sha256:<hex>") at size bytes.
func BaseName(imageID string, size int64) string {
	id := strings.TrimPrefix(imageID, "sha256:")
	if len(id) > 32 {
		id = id[:32]
	}
	return fmt.Sprintf("%s-%dG.ext4", id, size/GiB)
}

// MkfsArgs is the mkfs.ext4 command line that writes the directory src into a new file system of size bytes in
// file. Inode tables are left for the kernel to initialise lazily (the guest mounts with noinit_itable: on a
// sparse file they read as zeros already), and the root directory belongs to root as the image's does.
func MkfsArgs(src, file string, size int64) []string {
	return []string{"-q", "-F", "-t", "ext4", "-L", "root", "-d", src, "-E", "root_owner=0:0", file, strconv.FormatInt(size/1024, 10) + "k"}
}

// QemuImgArgs is the qemu-img command line that creates overlay, a qcow2 image backed by the raw base.
func QemuImgArgs(base, overlay string) []string {
	return []string{"create", "-q", "-f", "qcow2", "-F", "raw", "-b", base, overlay}
}

// EnsureBase returns the base image of imageID at size bytes in dir, building it first if needed: populate
// gives a directory with the image's files (and a function to call when done with it). Builds of one base are
// serialised by a lock file; a base appears under its name only once complete.
func EnsureBase(ctx context.Context, dir, imageID string, size int64, populate func(context.Context) (string, func(), error)) (string, error) {
	if size < GiB {
		return "", fmt.Errorf("disk size %d: at least 1 GiB: %w", size, errdefs.ErrInvalidArgument)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	path := filepath.Join(dir, BaseName(imageID, size))
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	lock, err := os.OpenFile(path+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return "", err
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		return "", err
	}
	defer os.Remove(path + ".lock")
	if _, err := os.Stat(path); err == nil {
		return path, nil // built while we waited
	}
	src, release, err := populate(ctx)
	if err != nil {
		return "", err
	}
	defer release()
	tmp := path + ".tmp"
	os.Remove(tmp)
	if err := run(ctx, "mkfs.ext4", MkfsArgs(src, tmp, size)...); err != nil {
		os.Remove(tmp)
		return "", err
	}
	// Read-only from now on: instances write to their overlays.
	os.Chmod(tmp, 0o400)
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return "", err
	}
	return path, nil
}

// CreateOverlay creates an instance's disk backed by base.
func CreateOverlay(ctx context.Context, base, overlay string) error {
	if err := run(ctx, "qemu-img", QemuImgArgs(base, overlay)...); err != nil {
		os.Remove(overlay)
		return err
	}
	return os.Chmod(overlay, 0o600)
}

func run(ctx context.Context, name string, args ...string) error {
	p, err := exec.LookPath(name)
	if err != nil {
		pkg := map[string]string{"mkfs.ext4": "e2fsprogs", "qemu-img": "qemu-utils"}[name]
		return fmt.Errorf("%s not found (Debian's %s package): %w", name, pkg, errdefs.ErrFailedPrecondition)
	}
	cmd := exec.CommandContext(ctx, p, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %v: %s", name, err, strings.TrimSpace(out.String()))
	}
	return nil
}

// Usage is what a disk file takes on the host, in bytes (its allocated blocks, not its apparent size).
func Usage(path string) int64 {
	var st unix.Stat_t
	if unix.Stat(path, &st) != nil {
		return 0
	}
	return st.Blocks * 512
}
