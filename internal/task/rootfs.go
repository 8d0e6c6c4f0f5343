package task

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/containerd/errdefs"

	"github.com/berth/berth/internal/mount"
)

// RootfsDir is the directory of a bundle where a runtime stacks a task's root mounts.
const RootfsDir = "rootfs"

// MountRootfs makes the directory a runtime runs spec's task in: a single bind mount's source as it is (no
// mount at all), or the bundle's RootfsDir with spec.Rootfs stacked on it. Every runtime implementing the seam
// starts this way; UnmountRootfs undoes it.
func MountRootfs(spec Spec) (string, error) {
	if len(spec.Rootfs) == 1 {
		if dir, ok := spec.Rootfs[0].BindSource(); ok {
			return dir, nil
		}
	}
	if len(spec.Rootfs) == 0 {
		return "", fmt.Errorf("task %s: no root filesystem: %w", spec.ID, errdefs.ErrInvalidArgument)
	}
	dir := filepath.Join(spec.Bundle, RootfsDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	if err := mount.All(spec.Rootfs, dir); err != nil {
		return "", fmt.Errorf("task %s: mounting the root filesystem: %w", spec.ID, err)
	}
	return dir, nil
}

// UnmountRootfs unmounts what MountRootfs stacked in bundle; a bundle without mounts is left as it is.
func UnmountRootfs(bundle string) error {
	return mount.Unmount(filepath.Join(bundle, RootfsDir))
}
