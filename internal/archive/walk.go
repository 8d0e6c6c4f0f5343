package archive

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// node is one entry of a tree walked through directory descriptors. It stays valid only during the callback.
type node struct {
	rel   string // slash-separated path below the walk root; "" for the root itself
	dirfd int    // directory holding the entry, or AT_FDCWD for the root (then name is its path)
	name  string
	st    unix.Stat_t
}

func (n *node) kind() uint32 { return n.st.Mode & unix.S_IFMT }

func (n *node) isDir() bool { return n.kind() == unix.S_IFDIR }

// isWhiteout reports whether n is an overlayfs whiteout: a character device with device number 0/0.
func (n *node) isWhiteout() bool { return n.kind() == unix.S_IFCHR && n.st.Rdev == 0 }

// xattrPath is a path that the l*xattr calls resolve to n without following n itself.
func (n *node) xattrPath() string {
	if n.dirfd == unix.AT_FDCWD {
		return n.name
	}
	return fmt.Sprintf("/proc/self/fd/%d/%s", n.dirfd, n.name)
}

// open opens a regular file for reading without following symlinks or blocking on a fifo swapped in for it,
// and refreshes n.st from the opened file. It returns os.ErrNotExist when the entry vanished or changed type.
func (n *node) open() (*os.File, error) {
	fd, err := unix.Openat(n.dirfd, n.name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ELOOP) {
			return nil, os.ErrNotExist
		}
		return nil, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		unix.Close(fd)
		return nil, os.ErrNotExist
	}
	n.st = st
	return os.NewFile(uintptr(fd), n.name), nil
}

func (n *node) readlink() (string, error) {
	buf := make([]byte, 256)
	for {
		sz, err := unix.Readlinkat(n.dirfd, n.name, buf)
		if err != nil {
			return "", err
		}
		if sz < len(buf) {
			return string(buf[:sz]), nil
		}
		buf = make([]byte, 2*len(buf))
	}
}

// xattrs returns n's extended attributes, or nil where the filesystem has none.
func (n *node) xattrs() (map[string]string, error) {
	p := n.xattrPath()
	sz, err := unix.Llistxattr(p, nil)
	if err != nil || sz == 0 {
		if err == nil || errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.ENOENT) {
			return nil, nil
		}
		return nil, fmt.Errorf("listing xattrs of %s: %w", n.rel, err)
	}
	buf := make([]byte, sz)
	if sz, err = unix.Llistxattr(p, buf); err != nil {
		return nil, fmt.Errorf("listing xattrs of %s: %w", n.rel, err)
	}
	out := map[string]string{}
	for _, name := range strings.Split(string(buf[:sz]), "\x00") {
		if name == "" {
			continue
		}
		v, err := lgetxattr(p, name)
		if err != nil {
			if errors.Is(err, unix.ENODATA) {
				continue
			}
			return nil, fmt.Errorf("reading xattr %s of %s: %w", name, n.rel, err)
		}
		out[name] = string(v)
	}
	return out, nil
}

func lgetxattr(p, name string) ([]byte, error) {
	buf := make([]byte, 128)
	for {
		sz, err := unix.Lgetxattr(p, name, buf)
		if errors.Is(err, unix.ERANGE) {
			if sz, err = unix.Lgetxattr(p, name, nil); err != nil {
				return nil, err
			}
			buf = make([]byte, sz+1)
			continue
		}
		if err != nil {
			return nil, err
		}
		return buf[:sz], nil
	}
}

// walk calls fn for root and, in sorted pre-order, every entry below it, never following symlinks. Returning
// fs.SkipDir from fn for a directory skips its contents. Entries that vanish during the walk are skipped.
func walk(ctx context.Context, root string, fn func(*node) error) error {
	n := &node{dirfd: unix.AT_FDCWD, name: root}
	if err := unix.Lstat(root, &n.st); err != nil {
		return &os.PathError{Op: "lstat", Path: root, Err: err}
	}
	if err := fn(n); err != nil {
		if errors.Is(err, fs.SkipDir) {
			return nil
		}
		return err
	}
	if !n.isDir() {
		return nil
	}
	fd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: root, Err: err}
	}
	return walkDir(ctx, os.NewFile(uintptr(fd), root), "", fn)
}

// walkDir walks the children of the open directory d (which it closes) whose path below the root is rel.
func walkDir(ctx context.Context, d *os.File, rel string, fn func(*node) error) error {
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return fmt.Errorf("reading directory %q: %w", "/"+rel, err)
	}
	sort.Strings(names)
	dfd := int(d.Fd())
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := &node{rel: path.Join(rel, name), dirfd: dfd, name: name}
		if err := unix.Fstatat(dfd, name, &n.st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			if errors.Is(err, unix.ENOENT) {
				continue
			}
			return fmt.Errorf("stat %q: %w", "/"+n.rel, err)
		}
		if err := fn(n); err != nil {
			if errors.Is(err, fs.SkipDir) {
				continue
			}
			return err
		}
		if !n.isDir() {
			continue
		}
		cfd, err := unix.Openat(dfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
				continue // replaced while we looked at it
			}
			return fmt.Errorf("opening %q: %w", "/"+n.rel, err)
		}
		var st unix.Stat_t
		if err := unix.Fstat(cfd, &st); err != nil || st.Dev != n.st.Dev || st.Ino != n.st.Ino {
			unix.Close(cfd)
			continue
		}
		if err := walkDir(ctx, os.NewFile(uintptr(cfd), name), n.rel, fn); err != nil {
			return err
		}
	}
	return nil
}

// tarWriter writes nodes as PAX tar entries, turning repeated inodes of regular files into hard links.
type tarWriter struct {
	tw    *tar.Writer
	links map[[2]uint64]string
	buf   []byte
}

func newTarWriter(w io.Writer) *tarWriter {
	return &tarWriter{
		tw:    tar.NewWriter(w),
		links: map[[2]uint64]string{},
		buf:   make([]byte, 128<<10),
	}
}

// header builds the tar header of n under name (without a trailing slash). Times are truncated to the second
// and atime/ctime left out so the same tree always produces the same bytes.
func (t *tarWriter) header(n *node, name string) (*tar.Header, error) {
	hdr := &tar.Header{
		Name:    name,
		Mode:    int64(n.st.Mode & 0o7777),
		Uid:     int(n.st.Uid),
		Gid:     int(n.st.Gid),
		ModTime: time.Unix(n.st.Mtim.Sec, 0),
		Format:  tar.FormatPAX,
	}
	switch n.kind() {
	case unix.S_IFDIR:
		hdr.Typeflag = tar.TypeDir
		hdr.Name += "/"
	case unix.S_IFREG:
		hdr.Typeflag = tar.TypeReg
		hdr.Size = n.st.Size
	case unix.S_IFLNK:
		target, err := n.readlink()
		if err != nil {
			return nil, err
		}
		hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, target
	case unix.S_IFCHR, unix.S_IFBLK:
		hdr.Typeflag = tar.TypeChar
		if n.kind() == unix.S_IFBLK {
			hdr.Typeflag = tar.TypeBlock
		}
		hdr.Devmajor, hdr.Devminor = int64(unix.Major(n.st.Rdev)), int64(unix.Minor(n.st.Rdev))
	case unix.S_IFIFO:
		hdr.Typeflag = tar.TypeFifo
	default:
		return nil, nil // sockets cannot be archived
	}
	xattrs, err := n.xattrs()
	if err != nil {
		return nil, err
	}
	for k, v := range xattrs {
		if !strings.HasPrefix(k, overlayXattrPrefix) { // overlayfs internals never leave the host
			if hdr.PAXRecords == nil {
				hdr.PAXRecords = map[string]string{}
			}
			hdr.PAXRecords[paxXattrPrefix+k] = v
		}
	}
	return hdr, nil
}

// write archives n under name, with its content if it is a regular file.
func (t *tarWriter) write(n *node, name string) error {
	var f *os.File
	if n.kind() == unix.S_IFREG {
		var err error
		if f, err = n.open(); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil // removed or replaced while we walked
			}
			return err
		}
		defer f.Close()
	}
	hdr, err := t.header(n, name)
	if err != nil || hdr == nil {
		return err
	}
	if f != nil && n.st.Nlink > 1 {
		key := [2]uint64{n.st.Dev, n.st.Ino}
		if first, ok := t.links[key]; ok {
			hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, first, 0
			f = nil
		} else {
			t.links[key] = name
		}
	}
	if err := t.tw.WriteHeader(hdr); err != nil {
		return err
	}
	if f == nil {
		return nil
	}
	copied, err := io.CopyBuffer(t.tw, io.LimitReader(f, hdr.Size), t.buf)
	if err != nil {
		return fmt.Errorf("reading %q: %w", "/"+n.rel, err)
	}
	if copied < hdr.Size {
		// The file shrank while we read it; pad so the archive stays well-formed.
		slog.Warn("archive: file changed while archiving", "path", "/"+n.rel)
		_, err = io.CopyN(t.tw, zeros{}, hdr.Size-copied)
	}
	return err
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
