package archive

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"github.com/cyphar/filepath-securejoin/pathrs-lite/procfs"
	"golang.org/x/sys/unix"
)

// Names and attributes of the two whiteout formats: AUFS (in layer tars) and overlayfs (on disk).
const (
	whiteoutPrefix     = ".wh."
	whiteoutMetaPrefix = ".wh..wh."
	whiteoutOpaqueDir  = ".wh..wh..opq"
	overlayXattrPrefix = "trusted.overlay."
	overlayOpaque      = "trusted.overlay.opaque"
	paxXattrPrefix     = "SCHILY.xattr."
)

// Apply extracts the layer tar read from r (plain, gzip, bzip2, xz or zstd: see Decompress) into the directory
// root in overlayfs format and returns the number of bytes of regular-file content written.
//
// An AUFS whiteout entry "dir/.wh.name" becomes a 0/0 character device "dir/name" and "dir/.wh..wh..opq" sets
// the xattr trusted.overlay.opaque=y on "dir". Mode (with setuid, setgid and sticky bits), ownership, times,
// xattrs (SCHILY.xattr PAX records, except trusted.overlay.* which would change what overlayfs shows),
// symlinks, hard links, devices and fifos are preserved. An entry replaces whatever is at its path unless both
// are directories, in which case the directory keeps its contents. No entry can create or change anything
// outside root: an entry whose name or hard-link target climbs out of root fails the whole Apply with an error
// wrapping errdefs.ErrInvalidArgument.
func Apply(ctx context.Context, root string, r io.Reader) (int64, error) {
	rd, err := Decompress(r)
	if err != nil {
		return 0, err
	}
	defer rd.Close()
	x, err := newExtractor(root)
	if err != nil {
		return 0, err
	}
	defer x.close()
	x.overlay = true
	if err := x.run(ctx, ctxReader{ctx: ctx, r: rd}); err != nil {
		return x.size, err
	}
	return x.size, nil
}

// ApplyTo is ApplyUncompressedTo of a tar that may be compressed (see Decompress), as docker's PUT
// /containers/{id}/archive takes it.
func ApplyTo(ctx context.Context, root, dest string, r io.Reader, noOverwriteDirNonDir bool) error {
	rd, err := Decompress(r)
	if err != nil {
		return err
	}
	defer rd.Close()
	return ApplyUncompressedTo(ctx, root, dest, rd, noOverwriteDirNonDir)
}

// ApplyUncompressedTo extracts the plain tar read from r into dest, a path inside the container root filesystem
// root (as seen from inside the container: "/etc" is root/etc). dest and every entry are resolved inside root,
// so a symlink in the container that points to /etc leads to root/etc, never to the host's /etc. Whiteout names
// get no special treatment. With noOverwriteDirNonDir, replacing an existing directory with a non-directory, or
// the reverse, fails with an error wrapping errdefs.ErrConflict. dest must exist (errdefs.ErrNotFound) and be a
// directory (errdefs.ErrInvalidArgument).
func ApplyUncompressedTo(ctx context.Context, root, dest string, r io.Reader, noOverwriteDirNonDir bool) error {
	x, err := newExtractor(root)
	if err != nil {
		return err
	}
	defer x.close()
	x.noOverwriteDirNonDir = noOverwriteDirNonDir
	if x.prefix, err = x.resolveDir(dest); err != nil {
		return err
	}
	return x.run(ctx, ctxReader{ctx: ctx, r: r})
}

// ctxReader fails reads once its context is done, so a long extraction stops promptly.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// extractor holds the state of one extraction: the root handle every lookup starts from, a cache of the last
// parent directory handle, and the directories whose times are set once all their children exist.
type extractor struct {
	root     *os.File // O_PATH handle of the extraction root
	rootPath string
	prefix   string // in-root directory that entry names are relative to ("." for the root)

	overlay              bool // convert AUFS whiteouts to overlayfs ones
	noOverwriteDirNonDir bool

	cacheRel string
	cacheDir *os.File

	dirTimes []dirTime
	size     int64
	buf      []byte
}

type dirTime struct {
	rel          string
	atime, mtime time.Time
}

func newExtractor(root string) (*extractor, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("archive: root %q: %w", root, err)
	}
	f, err := os.OpenFile(abs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("archive: root %q: %w", root, errdefs.ErrNotFound)
		}
		return nil, fmt.Errorf("archive: root: %w", err)
	}
	return &extractor{root: f, rootPath: abs, prefix: ".", buf: make([]byte, 128<<10)}, nil
}

func (x *extractor) close() {
	x.dropCache()
	x.root.Close()
}

func (x *extractor) dropCache() {
	if x.cacheDir != nil {
		x.cacheDir.Close()
		x.cacheDir, x.cacheRel = nil, ""
	}
}

// resolveDir resolves dest inside the root and returns its canonical in-root path ("." for the root itself).
func (x *extractor) resolveDir(dest string) (string, error) {
	f, err := pathrs.OpenatInRoot(x.root, dest)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("archive: destination %q: %w", dest, errdefs.ErrNotFound)
		}
		return "", fmt.Errorf("archive: destination %q: %w", dest, pathless(err))
	}
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return "", fmt.Errorf("archive: destination %q: %w", dest, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return "", fmt.Errorf("archive: destination %q is not a directory: %w", dest, errdefs.ErrInvalidArgument)
	}
	destReal, err := procfs.ProcSelfFdReadlink(f)
	if err != nil {
		return "", fmt.Errorf("archive: destination %q: %w", dest, err)
	}
	rootReal, err := procfs.ProcSelfFdReadlink(x.root)
	if err != nil {
		return "", fmt.Errorf("archive: root: %w", err)
	}
	if destReal == rootReal {
		return ".", nil
	}
	rel, ok := strings.CutPrefix(destReal, strings.TrimSuffix(rootReal, "/")+"/")
	if !ok {
		return "", fmt.Errorf("archive: destination %q moved out of the root: %w", dest, errdefs.ErrInvalidArgument)
	}
	return rel, nil
}

// inRoot maps a tar name to a cleaned path relative to the root. Absolute names are made relative; a name
// that climbs above the extraction directory with ".." is an error.
func (x *extractor) inRoot(name string) (string, error) {
	p := path.Clean(name)
	if path.IsAbs(p) {
		p = path.Clean(strings.TrimLeft(p, "/"))
		if p == "" {
			p = "."
		}
	}
	if p == ".." || strings.HasPrefix(p, "../") {
		return "", fmt.Errorf("archive: entry %q escapes the root: %w", name, errdefs.ErrInvalidArgument)
	}
	return path.Join(x.prefix, p), nil
}

// parent returns a handle, owned by the caller, to the in-root directory rel, creating missing directories
// (mode 0755). The last lookup is cached: layers list many entries of one directory in a row.
func (x *extractor) parent(rel string) (*os.File, error) {
	if x.cacheDir == nil || x.cacheRel != rel {
		x.dropCache()
		f, err := pathrs.MkdirAllHandle(x.root, rel, 0o755)
		if err != nil {
			return nil, pathless(err)
		}
		x.cacheDir, x.cacheRel = f, rel
	}
	return dupFile(x.cacheDir)
}

func (x *extractor) run(ctx context.Context, r io.Reader) error {
	tr := tar.NewReader(r)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return readErr(ctx, err)
		}
		if err := x.entry(hdr, tr); err != nil {
			return err
		}
	}
	for _, d := range x.dirTimes {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := x.setDirTimes(d); err != nil {
			return err
		}
	}
	// Drain trailing padding so a decompressor verifies its checksum and a digesting caller sees every byte.
	if _, err := io.Copy(io.Discard, r); err != nil {
		return readErr(ctx, err)
	}
	return nil
}

// readErr classifies a failure to read the archive: cancellation, or a malformed archive.
func readErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return fmt.Errorf("archive: reading tar: %w: %w", errdefs.ErrInvalidArgument, err)
}

func (x *extractor) entry(hdr *tar.Header, tr io.Reader) error {
	rel, err := x.inRoot(hdr.Name)
	if err != nil {
		return err
	}
	switch hdr.Typeflag {
	case tar.TypeGNUSparse, tar.TypeCont:
		hdr.Typeflag = tar.TypeReg // the reader expands sparse files; contiguous files are plain files
	}
	switch hdr.Typeflag {
	case tar.TypeXGlobalHeader:
		return nil
	case tar.TypeDir, tar.TypeReg, tar.TypeSymlink, tar.TypeLink, tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
	default:
		slog.Debug("archive: skipping unsupported tar entry", "name", hdr.Name, "type", string(hdr.Typeflag))
		return nil
	}
	if x.overlay {
		if base := path.Base(rel); strings.HasPrefix(base, whiteoutPrefix) {
			if err := x.whiteout(rel, hdr); err != nil {
				return fmt.Errorf("archive: entry %q: %w", hdr.Name, err)
			}
			return nil
		}
	}
	if rel == x.prefix {
		// The extraction directory itself: only a layer may change the root's metadata.
		if x.prefix != "." || hdr.Typeflag != tar.TypeDir {
			return nil
		}
		t := target{dirfd: unix.AT_FDCWD, name: x.rootPath}
		if err := x.setMeta(t, -1, hdr); err != nil {
			return fmt.Errorf("archive: entry %q: %w", hdr.Name, err)
		}
		x.dirTimes = append(x.dirTimes, dirTime{rel: ".", atime: atime(hdr), mtime: hdr.ModTime})
		return nil
	}
	if err := x.create(rel, hdr, tr); err != nil {
		if errors.Is(err, errdefs.ErrInvalidArgument) || errors.Is(err, errdefs.ErrConflict) {
			return err
		}
		if archiveFault(err) {
			return fmt.Errorf("archive: entry %q: %w: %w", hdr.Name, err, errdefs.ErrInvalidArgument)
		}
		return fmt.Errorf("archive: entry %q: %w", hdr.Name, err)
	}
	return nil
}

// pathless returns the cause of a failed lookup in the root without the wrappers around it, which name host
// paths (the root's own among them): the message goes to API clients, and only the entry's name means
// anything to them.
func pathless(err error) error {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err
		}
		err = u
	}
}

// archiveFault reports whether an entry failed because of what the archive asks for, given the tree it lands
// in: a parent that is missing or not a directory (a dangling or climbing symlink included), a loop, a name
// too long, a hard link to nothing. Docker's extraction fails on the same entries.
func archiveFault(err error) bool {
	for _, e := range []unix.Errno{unix.ENOENT, unix.ENOTDIR, unix.ELOOP, unix.EXDEV, unix.EEXIST, unix.EISDIR,
		unix.ENOTEMPTY, unix.ENAMETOOLONG, unix.EINVAL, unix.EMLINK} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// whiteout converts an AUFS whiteout entry into its overlayfs form.
func (x *extractor) whiteout(rel string, hdr *tar.Header) error {
	dir, base := path.Dir(rel), path.Base(rel)
	if base == whiteoutOpaqueDir {
		d, err := x.parent(dir)
		if err != nil {
			return err
		}
		defer d.Close()
		return unix.Fsetxattr(int(d.Fd()), overlayOpaque, []byte("y"), 0)
	}
	if strings.HasPrefix(base, whiteoutMetaPrefix) {
		return nil // other AUFS metadata (.wh..wh.plnk, .wh..wh.aufs) has no overlay equivalent
	}
	name := strings.TrimPrefix(base, whiteoutPrefix)
	if name == "" || name == "." || name == ".." {
		return fmt.Errorf("invalid whiteout name: %w", errdefs.ErrInvalidArgument)
	}
	d, err := x.parent(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	dfd := int(d.Fd())
	if err := x.removeExisting(dfd, name); err != nil {
		return err
	}
	if err := unix.Mknodat(dfd, name, unix.S_IFCHR, 0); err != nil {
		return err
	}
	return unix.Fchownat(dfd, name, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW)
}

// removeExisting removes whatever is at name in dirfd, forgetting the cached parent handle when a directory
// or symlink goes away (either may be part of the cached path).
func (x *extractor) removeExisting(dirfd int, name string) error {
	var st unix.Stat_t
	if err := unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return err
	}
	if t := st.Mode & unix.S_IFMT; t == unix.S_IFDIR || t == unix.S_IFLNK {
		x.dropCache()
	}
	return removeAllAt(dirfd, name)
}

func (x *extractor) create(rel string, hdr *tar.Header, tr io.Reader) error {
	d, err := x.parent(path.Dir(rel))
	if err != nil {
		return err
	}
	defer d.Close()
	dfd, leaf := int(d.Fd()), path.Base(rel)

	var link struct {
		dir  *os.File
		name string
	}
	if hdr.Typeflag == tar.TypeLink {
		lrel, err := x.inRoot(hdr.Linkname)
		if err != nil {
			return fmt.Errorf("archive: entry %q: hard link target %q escapes the root: %w", hdr.Name, hdr.Linkname, errdefs.ErrInvalidArgument)
		}
		if lrel == x.prefix || lrel == "." {
			return fmt.Errorf("archive: entry %q: hard link to the root: %w", hdr.Name, errdefs.ErrInvalidArgument)
		}
		if lrel == rel {
			return nil
		}
		link.dir, err = pathrs.OpenatInRoot(x.root, path.Dir(lrel))
		if err != nil {
			return fmt.Errorf("hard link target %q: %w", hdr.Linkname, pathless(err))
		}
		defer link.dir.Close()
		link.name = path.Base(lrel)
	}

	var st unix.Stat_t
	err = unix.Fstatat(dfd, leaf, &st, unix.AT_SYMLINK_NOFOLLOW)
	exists := err == nil
	if err != nil && !errors.Is(err, unix.ENOENT) {
		return err
	}
	isDir := exists && st.Mode&unix.S_IFMT == unix.S_IFDIR
	if exists && x.noOverwriteDirNonDir && isDir != (hdr.Typeflag == tar.TypeDir) {
		if isDir {
			return fmt.Errorf("archive: entry %q: cannot overwrite directory with non-directory: %w", hdr.Name, errdefs.ErrConflict)
		}
		return fmt.Errorf("archive: entry %q: cannot overwrite non-directory with directory: %w", hdr.Name, errdefs.ErrConflict)
	}
	if exists && !(isDir && hdr.Typeflag == tar.TypeDir) {
		if link.dir != nil {
			var lst unix.Stat_t
			if unix.Fstatat(int(link.dir.Fd()), link.name, &lst, unix.AT_SYMLINK_NOFOLLOW) == nil && lst.Dev == st.Dev && lst.Ino == st.Ino {
				return nil // already the same file
			}
		}
		if err := x.removeExisting(dfd, leaf); err != nil {
			return err
		}
	}

	t := target{dirfd: dfd, name: leaf}
	mode := uint32(hdr.Mode & 0o7777)
	switch hdr.Typeflag {
	case tar.TypeDir:
		if !isDir {
			if err := unix.Mkdirat(dfd, leaf, 0o700); err != nil {
				return err
			}
		}
		fd, err := unix.Openat(dfd, leaf, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		if err := x.setMeta(t, fd, hdr); err != nil {
			return err
		}
		x.dirTimes = append(x.dirTimes, dirTime{rel: rel, atime: atime(hdr), mtime: hdr.ModTime})
		return nil
	case tar.TypeReg:
		fd, err := unix.Openat(dfd, leaf, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if err != nil {
			return err
		}
		f := os.NewFile(uintptr(fd), leaf)
		defer f.Close()
		n, err := io.CopyBuffer(struct{ io.Writer }{f}, tr, x.buf)
		x.size += n
		if err != nil {
			return err
		}
		if err := x.setMeta(t, fd, hdr); err != nil {
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		return setTimes(t, hdr)
	case tar.TypeSymlink:
		if err := unix.Symlinkat(hdr.Linkname, dfd, leaf); err != nil {
			return err
		}
	case tar.TypeLink:
		// Without AT_SYMLINK_FOLLOW a symlink target is linked as the symlink itself, never followed.
		return unix.Linkat(int(link.dir.Fd()), link.name, dfd, leaf, 0)
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		kind := map[byte]uint32{tar.TypeChar: unix.S_IFCHR, tar.TypeBlock: unix.S_IFBLK, tar.TypeFifo: unix.S_IFIFO}[hdr.Typeflag]
		dev := unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor))
		if err := unix.Mknodat(dfd, leaf, kind|(mode&0o777), int(dev)); err != nil {
			return err
		}
	}
	if err := x.setMeta(t, -1, hdr); err != nil {
		return err
	}
	return setTimes(t, hdr)
}

func setTimes(t target, hdr *tar.Header) error {
	ts := []unix.Timespec{timespec(atime(hdr)), timespec(hdr.ModTime)}
	return unix.UtimesNanoAt(t.dirfd, t.name, ts, unix.AT_SYMLINK_NOFOLLOW)
}

// target names a just-created entry: a leaf in a directory handle, or (dirfd AT_FDCWD) the absolute root path.
type target struct {
	dirfd int
	name  string
}

// xattrPath is a path that the l*xattr calls resolve to the target without following its last component.
func (t target) xattrPath() string {
	if t.dirfd == unix.AT_FDCWD {
		return t.name
	}
	return fmt.Sprintf("/proc/self/fd/%d/%s", t.dirfd, t.name)
}

// setMeta sets ownership, mode and xattrs (in that order: chown clears setuid bits and file capabilities).
// fd, when not -1, is an open descriptor of the target itself and is preferred over the name.
func (x *extractor) setMeta(t target, fd int, hdr *tar.Header) error {
	if fd >= 0 {
		if err := unix.Fchown(fd, hdr.Uid, hdr.Gid); err != nil {
			return err
		}
	} else if err := unix.Fchownat(t.dirfd, t.name, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return err
	}
	if hdr.Typeflag != tar.TypeSymlink {
		mode := uint32(hdr.Mode & 0o7777)
		var err error
		if fd >= 0 {
			err = unix.Fchmod(fd, mode)
		} else {
			err = chmodNoFollow(t, mode)
		}
		if err != nil {
			return err
		}
	}
	keys := make([]string, 0, len(hdr.PAXRecords))
	for k := range hdr.PAXRecords {
		if strings.HasPrefix(k, paxXattrPrefix) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		name, value := strings.TrimPrefix(k, paxXattrPrefix), []byte(hdr.PAXRecords[k])
		if strings.HasPrefix(name, overlayXattrPrefix) {
			slog.Debug("archive: dropping overlay xattr from tar entry", "name", hdr.Name, "xattr", name)
			continue
		}
		var err error
		if fd >= 0 {
			err = unix.Fsetxattr(fd, name, value, 0)
		} else {
			err = unix.Lsetxattr(t.xattrPath(), name, value, 0)
		}
		if err != nil {
			if strings.HasPrefix(name, "trusted.") {
				return fmt.Errorf("setting xattr %s: %w", name, err)
			}
			slog.Debug("archive: cannot set xattr", "name", hdr.Name, "xattr", name, "err", err)
		}
	}
	return nil
}

// chmodNoFollow changes the mode of a non-symlink target without following a symlink that may have replaced it.
func chmodNoFollow(t target, mode uint32) error {
	err := unix.Fchmodat(t.dirfd, t.name, mode, unix.AT_SYMLINK_NOFOLLOW)
	if !errors.Is(err, unix.EOPNOTSUPP) && !errors.Is(err, unix.ENOSYS) {
		return err
	}
	// No fchmodat2 (Linux < 6.6): chmod through a verified O_PATH handle.
	fd, err := unix.Openat(t.dirfd, t.name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT == unix.S_IFLNK {
		return nil
	}
	return unix.Chmod(fmt.Sprintf("/proc/self/fd/%d", fd), mode)
}

func (x *extractor) setDirTimes(d dirTime) error {
	ts := []unix.Timespec{timespec(d.atime), timespec(d.mtime)}
	if d.rel == "." {
		return unix.UtimesNanoAt(unix.AT_FDCWD, x.rootPath, ts, 0)
	}
	// A later entry may have replaced the directory or a parent: then there is nothing left to set. This runs
	// after every entry, so the parent cache may now hold O_PATH handles.
	gone := func(err error) bool {
		return errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ELOOP)
	}
	dir := path.Dir(d.rel)
	if x.cacheDir == nil || x.cacheRel != dir {
		x.dropCache()
		f, err := pathrs.OpenatInRoot(x.root, dir)
		if err != nil {
			if gone(err) {
				return nil
			}
			return fmt.Errorf("archive: setting times of %q: %w", d.rel, pathless(err))
		}
		x.cacheDir, x.cacheRel = f, dir
	}
	if err := unix.UtimesNanoAt(int(x.cacheDir.Fd()), path.Base(d.rel), ts, unix.AT_SYMLINK_NOFOLLOW); err != nil && !gone(err) {
		return fmt.Errorf("archive: setting times of %q: %w", d.rel, err)
	}
	return nil
}

func atime(hdr *tar.Header) time.Time {
	if hdr.AccessTime.IsZero() {
		return hdr.ModTime
	}
	return hdr.AccessTime
}

func timespec(t time.Time) unix.Timespec {
	return unix.Timespec{Sec: t.Unix(), Nsec: int64(t.Nanosecond())}
}

func dupFile(f *os.File) (*os.File, error) {
	fd, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), f.Name()), nil
}

// removeAllAt removes name in dirfd and, if it is a directory, everything below it, without following symlinks.
func removeAllAt(dirfd int, name string) error {
	err := unix.Unlinkat(dirfd, name, 0)
	if err == nil || errors.Is(err, unix.ENOENT) {
		return nil
	}
	if !errors.Is(err, unix.EISDIR) {
		return err
	}
	for range 5 { // retry if something appears in the directory while it is emptied
		fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			if errors.Is(err, unix.ENOENT) {
				return nil
			}
			return err
		}
		d := os.NewFile(uintptr(fd), name)
		names, err := d.Readdirnames(-1)
		if err == nil {
			for _, n := range names {
				if err = removeAllAt(fd, n); err != nil {
					break
				}
			}
		}
		d.Close()
		if err != nil {
			return err
		}
		err = unix.Unlinkat(dirfd, name, unix.AT_REMOVEDIR)
		if err == nil || errors.Is(err, unix.ENOENT) {
			return nil
		}
		if !errors.Is(err, unix.ENOTEMPTY) {
			return err
		}
	}
	return unix.ENOTEMPTY
}
