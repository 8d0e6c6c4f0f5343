package mount

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"sync"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// UseFsconfig lets tests force the /proc/self/fd fallback for long lowerdir lists.
var UseFsconfig = true

// mountOverlay mounts an overlay of lowers (top-first), upper and work on target. mount(2) takes its options
// in one page, which about 50 absolute layer paths fill; longer lists are passed one path at a time through
// the new mount API ("lowerdir+", Linux 6.8), or else as short /proc/self/fd paths.
func mountOverlay(target string, lowers []string, upper, work string) error {
	extra := overlayExtraOptions()
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", strings.Join(lowers, ":"), upper, work)
	for _, o := range extra {
		opts += "," + o
	}
	pageSize := os.Getpagesize()
	if len(opts) < pageSize {
		return unix.Mount("overlay", target, "overlay", 0, opts)
	}
	if UseFsconfig {
		err := mountFsconfig(target, lowers, upper, work, extra)
		if !errors.Is(err, errNoLowerdirPlus) {
			return err
		}
	}
	// Older kernels: name each lower dir by a short /proc/self/fd path to an open handle (about 200 layers fit).
	fdPaths := make([]string, len(lowers))
	for i, l := range lowers {
		fd, err := unix.Open(l, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("opening lower dir: %w", &os.PathError{Op: "open", Path: l, Err: err})
		}
		defer unix.Close(fd)
		fdPaths[i] = fmt.Sprintf("/proc/self/fd/%d", fd)
	}
	opts = fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", strings.Join(fdPaths, ":"), upper, work)
	for _, o := range extra {
		opts += "," + o
	}
	if len(opts) >= pageSize {
		return fmt.Errorf("%d layers: overlay mount options too long (%d bytes) and the kernel lacks lowerdir+ (Linux 6.8)", len(lowers), len(opts))
	}
	return unix.Mount("overlay", target, "overlay", 0, opts)
}

// overlayExtraOptions turns off overlay features that the kernel enables by default (module parameters) but
// that break Berth's assumptions: index and metacopy tie an upper dir to one set of lowers and leave file data
// in the lowers; redirect_dir makes a renamed directory's content live in the lowers, so the upper dir alone
// would no longer be a complete diff.
var overlayExtraOptions = sync.OnceValue(func() []string {
	var opts []string
	for _, p := range []string{"index", "metacopy", "redirect_dir"} {
		b, err := os.ReadFile("/sys/module/overlay/parameters/" + p)
		if err != nil {
			continue
		}
		switch v := strings.TrimSpace(string(b)); v {
		case "N", "off", "nofollow":
		default:
			opts = append(opts, p+"=off")
		}
	}
	return opts
})

var errNoLowerdirPlus = errors.New("kernel lacks lowerdir+")

// mountFsconfig mounts an overlay with the new mount API, which takes each lower dir as a separate value.
func mountFsconfig(target string, lowers []string, upper, work string, extra []string) error {
	fsfd, err := unix.Fsopen("overlay", unix.FSOPEN_CLOEXEC)
	if err != nil {
		if errors.Is(err, unix.ENOSYS) {
			return errNoLowerdirPlus
		}
		return fmt.Errorf("fsopen overlay: %w", err)
	}
	defer unix.Close(fsfd)
	set := func(key, value string) error {
		if err := unix.FsconfigSetString(fsfd, key, value); err != nil {
			return fmt.Errorf("overlay option %s=%s: %w%s", key, value, err, fsLog(fsfd))
		}
		return nil
	}
	if err := set("source", "overlay"); err != nil {
		return err
	}
	for i, l := range lowers {
		if err := unix.FsconfigSetString(fsfd, "lowerdir+", l); err != nil {
			if i == 0 && errors.Is(err, unix.EINVAL) {
				fsLog(fsfd)
				return errNoLowerdirPlus
			}
			return fmt.Errorf("overlay lowerdir+ %s: %w%s", l, err, fsLog(fsfd))
		}
	}
	if err := set("upperdir", upper); err != nil {
		return err
	}
	if err := set("workdir", work); err != nil {
		return err
	}
	for _, o := range extra {
		k, v, _ := strings.Cut(o, "=")
		if err := set(k, v); err != nil {
			return err
		}
	}
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return fmt.Errorf("creating overlay: %w%s", err, fsLog(fsfd))
	}
	mfd, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("fsmount overlay: %w%s", err, fsLog(fsfd))
	}
	defer unix.Close(mfd)
	if err := unix.MoveMount(mfd, "", unix.AT_FDCWD, target, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("move_mount overlay to %s: %w", target, err)
	}
	return nil
}

// fsLog drains the kernel's messages about a filesystem context, for error messages.
func fsLog(fsfd int) string {
	var msgs []string
	buf := make([]byte, 1024)
	for range 16 {
		n, err := unix.Read(fsfd, buf)
		if err != nil || n <= 0 {
			break
		}
		msgs = append(msgs, strings.TrimSpace(string(buf[:n])))
	}
	if len(msgs) == 0 {
		return ""
	}
	return " (" + strings.Join(msgs, "; ") + ")"
}

// Unmount unmounts target until nothing is mounted there, detaching lazily when it is busy. A missing or
// unmounted target is not an error.
func Unmount(target string) error {
	for range 16 { // mounts may be stacked
		mounted, err := mountinfo.Mounted(target)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return fmt.Errorf("mount: %w", err)
		}
		if !mounted {
			return nil
		}
		err = unix.Unmount(target, 0)
		if errors.Is(err, unix.EBUSY) {
			err = unix.Unmount(target, unix.MNT_DETACH)
		}
		if err != nil && !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("mount: unmounting %s: %w", target, err)
		}
	}
	return fmt.Errorf("mount: %s is still mounted", target)
}
