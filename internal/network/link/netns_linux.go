package link

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	"github.com/containerd/errdefs"
	"github.com/moby/sys/mountinfo"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// dirMu serialises turning a namespace directory into a mount point, so two NewNetNS calls on a fresh directory
// don't both bind-mount it.
var dirMu sync.Mutex

// NewNetNS creates a network namespace with its loopback up and bind-mounts it at path, like `ip netns add` does
// under /run/netns. As iproute2 does, the parent directory is made a shared mount point of its own first (bind-mounted
// onto itself, private, then shared), so that mount namespaces cloned later see the namespace files and their
// removal. A path that already exists is an error (already exists). On failure nothing is left behind but the
// parent directory.
func NewNetNS(ctx context.Context, path string) (retErr error) {
	if err := ctx.Err(); err != nil {
		return err
	}
	if path == "" || !filepath.IsAbs(path) {
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("network namespace path %q is not absolute", path))
	}
	if err := prepareNetNSDir(filepath.Dir(path)); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if errors.Is(err, fs.ErrExist) {
		return errdefs.ErrAlreadyExists.WithMessage(fmt.Sprintf("network namespace %s already exists", path))
	}
	if err != nil {
		return fmt.Errorf("create network namespace file: %w", err)
	}
	f.Close()
	defer func() {
		if retErr != nil {
			_ = unix.Unmount(path, unix.MNT_DETACH)
			_ = os.Remove(path)
		}
	}()

	errc := make(chan error, 1)
	go func() {
		// Never unlocked: the thread ends up in the new namespace and must exit with this goroutine.
		runtime.LockOSThread()
		errc <- func() error {
			if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
				return fmt.Errorf("unshare network namespace: %w", err)
			}
			if err := loopbackUp(); err != nil {
				return err
			}
			if err := unix.Mount("/proc/thread-self/ns/net", path, "none", unix.MS_BIND, ""); err != nil {
				return fmt.Errorf("bind-mount network namespace at %s: %w", path, err)
			}
			return nil
		}()
	}()
	if err := <-errc; err != nil {
		return err
	}
	slog.DebugContext(ctx, "created network namespace", "netns", path)
	return nil
}

// loopbackUp brings lo up in the calling thread's namespace.
func loopbackUp() error {
	h, err := netlink.NewHandle()
	if err != nil {
		return fmt.Errorf("netlink in new namespace: %w", err)
	}
	defer h.Close()
	lo, err := h.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("find loopback: %w", err)
	}
	if err := h.LinkSetUp(lo); err != nil {
		return fmt.Errorf("bring loopback up: %w", err)
	}
	return nil
}

// prepareNetNSDir makes dir a shared mount point of its own, as iproute2 does with /run/netns: it tries to make dir
// shared and, when dir is not a mount point yet (EINVAL), bind-mounts it onto itself first. The new mount is made
// private before it is made shared, so that it starts a peer group of its own instead of joining its parent's, and
// namespace mounts under it don't propagate back into the parent mount.
func prepareNetNSDir(dir string) error {
	dirMu.Lock()
	defer dirMu.Unlock()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create network namespace directory: %w", err)
	}
	made := false
	for {
		err := unix.Mount("", dir, "none", unix.MS_SHARED|unix.MS_REC, "")
		if err == nil {
			return nil
		}
		if !errors.Is(err, unix.EINVAL) || made {
			return fmt.Errorf("make %s a shared mount: %w", dir, err)
		}
		if err := unix.Mount(dir, dir, "none", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("bind-mount %s onto itself: %w", dir, err)
		}
		if err := unix.Mount("", dir, "none", unix.MS_PRIVATE, ""); err != nil {
			return fmt.Errorf("make %s a private mount: %w", dir, err)
		}
		made = true
	}
}

// DeleteNetNS unmounts the network namespace bind-mounted at path and removes the file. A missing path is not an
// error. The namespace itself goes away once no process, open file or other mount holds it.
func DeleteNetNS(ctx context.Context, path string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if path == "" {
		return errdefs.ErrInvalidArgument.WithMessage("network namespace path is empty")
	}
	// Unmount only namespace mounts (a path mounted twice needs two), never whatever else might be mounted there.
	for range 8 {
		var st unix.Statfs_t
		err := unix.Statfs(path, &st)
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("stat network namespace %s: %w", path, err)
		}
		if st.Type != unix.NSFS_MAGIC {
			break
		}
		if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("unmount network namespace %s: %w", path, err)
		}
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove network namespace file: %w", err)
	}
	slog.DebugContext(ctx, "deleted network namespace", "netns", path)
	return nil
}

// InNetNS runs fn on an OS thread switched into the network namespace at path, and returns its error. The thread
// is locked for the duration and switched back afterwards; if switching back fails it is discarded with its
// goroutine rather than reused. Only fn's own goroutine is in the namespace: goroutines it starts are not, but
// sockets it opens stay in the namespace they were opened in.
func InNetNS(ctx context.Context, path string, fn func() error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	target, err := openNetNS(path)
	if err != nil {
		return err
	}
	defer target.Close()

	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("open current network namespace: %w", err)
			return
		}
		defer orig.Close()
		if err := netns.Set(target); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("enter network namespace %s: %w", path, err)
			return
		}
		ferr := fn()
		if err := netns.Set(orig); err != nil {
			// Left locked on purpose: the thread dies with this goroutine.
			errc <- errors.Join(ferr, fmt.Errorf("leave network namespace %s: %w", path, err))
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

func openNetNS(path string) (netns.NsHandle, error) {
	h, err := netns.GetFromPath(path)
	if errors.Is(err, fs.ErrNotExist) {
		return h, errdefs.ErrNotFound.WithMessage(fmt.Sprintf("network namespace %s not found", path))
	}
	if err != nil {
		return h, fmt.Errorf("open network namespace %s: %w", path, err)
	}
	return h, nil
}

// handleAt returns a netlink handle whose sockets live in the namespace at path; "" is the calling thread's.
func handleAt(ctx context.Context, path string) (*netlink.Handle, error) {
	if path == "" {
		return netlink.NewHandle()
	}
	var h *netlink.Handle
	err := InNetNS(ctx, path, func() error {
		var err error
		h, err = netlink.NewHandle()
		return err
	})
	if err != nil {
		return nil, err
	}
	return h, nil
}

// ReleaseNetNSDir undoes what NewNetNS did to dir (its bind mount onto itself, which makes the namespaces in it
// shared) when no namespace is left in it: a stopped daemon leaves no mount behind. With namespaces left (of
// containers that outlive the daemon) it does nothing, so they stay reachable.
func ReleaseNetNSDir(dir string) error {
	dirMu.Lock()
	defer dirMu.Unlock()
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		var st unix.Statfs_t
		if unix.Statfs(filepath.Join(dir, e.Name()), &st) == nil && st.Type == unix.NSFS_MAGIC {
			return nil
		}
	}
	mounted, err := mountinfo.Mounted(dir)
	if err != nil || !mounted {
		return err
	}
	if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("unmount %s: %w", dir, err)
	}
	return nil
}
