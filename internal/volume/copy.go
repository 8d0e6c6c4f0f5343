package volume

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"

	"golang.org/x/sys/unix"
)

// CopyImageData seeds a volume with the image's content at the mount point, as Docker does the first time an
// empty volume is mounted over a non-empty directory: if dst is empty and src is a directory, src's tree is copied
// into dst preserving owners, modes, times, extended attributes, hard links, symlinks and device nodes, and dst
// takes src's owner and mode. A missing src, or one that is not a directory, copies nothing; so does a non-empty
// dst.
//
// src is untrusted (a path inside a container's rootfs): the walk opens every entry relative to its parent
// directory with O_NOFOLLOW, so no symlink is ever followed, within src or out of it; symlinks are copied as links.
func CopyImageData(src, dst string) error {
	srcDir, err := openDir(unix.AT_FDCWD, src)
	if err != nil {
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ELOOP) {
			return nil
		}
		return fmt.Errorf("copy image data: open %s: %w", src, err)
	}
	defer srcDir.Close()
	dstDir, err := os.Open(dst)
	if err != nil {
		return fmt.Errorf("copy image data: %w", err)
	}
	defer dstDir.Close()
	if names, err := dstDir.Readdirnames(1); len(names) > 0 {
		return nil // the volume already has data
	} else if err != nil && err != io.EOF {
		return fmt.Errorf("copy image data: read %s: %w", dst, err)
	}

	c := &copier{src: src, dstRoot: dstDir, links: map[inodeKey]string{}}
	if err := c.copyDir(srcDir, dstDir, ""); err != nil {
		return fmt.Errorf("copy image data from %s: %w", src, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(srcDir.Fd()), &st); err != nil {
		return fmt.Errorf("copy image data: %w", err)
	}
	if err := setMetaFd(int(dstDir.Fd()), int(srcDir.Fd()), &st); err != nil {
		return fmt.Errorf("copy image data: %s: %w", dst, err)
	}
	if err := unix.UtimesNano(dst, []unix.Timespec{st.Atim, st.Mtim}); err != nil {
		return fmt.Errorf("copy image data: set times of %s: %w", dst, err)
	}
	return nil
}

type copier struct {
	src     string
	dstRoot *os.File
	links   map[inodeKey]string // first copy of each multiply-linked file, relative to dstRoot
}

func openDir(dirfd int, name string) (*os.File, error) {
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), name), nil
}

// copyDir copies the entries of srcDir into dstDir; rel is their path below the roots.
func (c *copier) copyDir(srcDir, dstDir *os.File, rel string) error {
	names, err := srcDir.Readdirnames(-1)
	if err != nil {
		return fmt.Errorf("read %s: %w", path.Join(c.src, rel), err)
	}
	sfd, dfd := int(srcDir.Fd()), int(dstDir.Fd())
	for _, name := range names {
		entry := path.Join(rel, name)
		var st unix.Stat_t
		if err := unix.Fstatat(sfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			if errors.Is(err, unix.ENOENT) {
				continue
			}
			return fmt.Errorf("stat %s: %w", entry, err)
		}
		if err := c.copyEntry(sfd, dfd, name, entry, &st); err != nil {
			return err
		}
	}
	return nil
}

func (c *copier) copyEntry(sfd, dfd int, name, entry string, st *unix.Stat_t) error {
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		if err := unix.Mkdirat(dfd, name, 0o700); err != nil {
			return fmt.Errorf("mkdir %s: %w", entry, err)
		}
		sub, err := openDir(sfd, name)
		if err != nil {
			return fmt.Errorf("open %s: %w", entry, err)
		}
		defer sub.Close()
		dsub, err := openDir(dfd, name)
		if err != nil {
			return fmt.Errorf("open %s: %w", entry, err)
		}
		defer dsub.Close()
		if err := c.copyDir(sub, dsub, entry); err != nil {
			return err
		}
		// Owner, mode and times last: children would change the times, a read-only mode would block them.
		if err := setMetaFd(int(dsub.Fd()), int(sub.Fd()), st); err != nil {
			return fmt.Errorf("%s: %w", entry, err)
		}
		return setTimes(dfd, name, st)

	case unix.S_IFREG:
		key := inodeKey{uint64(st.Dev), st.Ino}
		if st.Nlink > 1 {
			if first, ok := c.links[key]; ok {
				if err := unix.Linkat(int(c.dstRoot.Fd()), first, dfd, name, 0); err != nil {
					return fmt.Errorf("link %s: %w", entry, err)
				}
				return nil
			}
		}
		if err := c.copyFile(sfd, dfd, name, entry, st); err != nil {
			return err
		}
		if st.Nlink > 1 {
			c.links[key] = entry
		}
		return nil

	case unix.S_IFLNK:
		target, err := readlinkat(sfd, name)
		if err != nil {
			return fmt.Errorf("readlink %s: %w", entry, err)
		}
		if err := unix.Symlinkat(target, dfd, name); err != nil {
			return fmt.Errorf("symlink %s: %w", entry, err)
		}
		return setLinkMeta(dfd, name, st)

	case unix.S_IFCHR, unix.S_IFBLK, unix.S_IFIFO:
		if err := unix.Mknodat(dfd, name, st.Mode, int(st.Rdev)); err != nil {
			return fmt.Errorf("mknod %s: %w", entry, err)
		}
		if err := unix.Fchownat(dfd, name, int(st.Uid), int(st.Gid), unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("chown %s: %w", entry, err)
		}
		if err := unix.Fchmodat(dfd, name, st.Mode&0o7777, 0); err != nil {
			return fmt.Errorf("chmod %s: %w", entry, err)
		}
		return setTimes(dfd, name, st)

	default: // sockets belong to a running process, not to an image
		slog.Debug("copy image data: skipping socket", "path", entry)
		return nil
	}
}

func (c *copier) copyFile(sfd, dfd int, name, entry string, st *unix.Stat_t) error {
	// O_NONBLOCK: if the entry was swapped for a FIFO since the stat, opening must not hang.
	fd, err := unix.Openat(sfd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", entry, err)
	}
	in := os.NewFile(uintptr(fd), entry)
	defer in.Close()
	var now unix.Stat_t
	if err := unix.Fstat(fd, &now); err != nil {
		return fmt.Errorf("stat %s: %w", entry, err)
	}
	if now.Mode&unix.S_IFMT != unix.S_IFREG || now.Ino != st.Ino || now.Dev != st.Dev {
		return fmt.Errorf("%s changed during copy", entry)
	}
	ofd, err := unix.Openat(dfd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("create %s: %w", entry, err)
	}
	out := os.NewFile(uintptr(ofd), entry)
	defer out.Close()
	if _, err := io.Copy(out, in); err != nil {
		return fmt.Errorf("copy %s: %w", entry, err)
	}
	if err := setMetaFd(ofd, fd, st); err != nil {
		return fmt.Errorf("%s: %w", entry, err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("close %s: %w", entry, err)
	}
	return setTimes(dfd, name, st)
}

// setMetaFd gives dst the owner and mode in st and the extended attributes of sfd (times are set separately,
// once nothing more is written).
func setMetaFd(dst, sfd int, st *unix.Stat_t) error {
	if err := unix.Fchown(dst, int(st.Uid), int(st.Gid)); err != nil {
		return fmt.Errorf("chown: %w", err)
	}
	copyXattrs(dst, sfd)
	// After chown, which clears set-id bits.
	if err := unix.Fchmod(dst, st.Mode&0o7777); err != nil {
		return fmt.Errorf("chmod: %w", err)
	}
	return nil
}

func setLinkMeta(dfd int, name string, st *unix.Stat_t) error {
	if err := unix.Fchownat(dfd, name, int(st.Uid), int(st.Gid), unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("chown %s: %w", name, err)
	}
	return setTimes(dfd, name, st)
}

func setTimes(dfd int, name string, st *unix.Stat_t) error {
	if err := unix.UtimesNanoAt(dfd, name, []unix.Timespec{st.Atim, st.Mtim}, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("set times of %s: %w", name, err)
	}
	return nil
}

// copyXattrs copies extended attributes (file capabilities, ACLs, user.*) best-effort: a filesystem without
// support for one must not fail the copy.
func copyXattrs(dst, src int) {
	size, err := unix.Flistxattr(src, nil)
	if err != nil || size <= 0 {
		return
	}
	buf := make([]byte, size)
	if size, err = unix.Flistxattr(src, buf); err != nil {
		return
	}
	for _, attr := range splitNul(buf[:size]) {
		vsize, err := unix.Fgetxattr(src, attr, nil)
		if err != nil {
			continue
		}
		val := make([]byte, vsize)
		if vsize, err = unix.Fgetxattr(src, attr, val); err != nil {
			continue
		}
		if err := unix.Fsetxattr(dst, attr, val[:vsize], 0); err != nil {
			slog.Debug("copy image data: cannot copy xattr", "xattr", attr, "error", err)
		}
	}
}

func splitNul(b []byte) []string {
	var out []string
	start := 0
	for i, c := range b {
		if c == 0 {
			if i > start {
				out = append(out, string(b[start:i]))
			}
			start = i + 1
		}
	}
	return out
}

func readlinkat(dirfd int, name string) (string, error) {
	for size := 256; ; size *= 2 {
		buf := make([]byte, size)
		n, err := unix.Readlinkat(dirfd, name, buf)
		if err != nil {
			return "", err
		}
		if n < size {
			return string(buf[:n]), nil
		}
	}
}
