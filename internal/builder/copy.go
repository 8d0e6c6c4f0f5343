package builder

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/containerd/errdefs"
	securejoin "github.com/cyphar/filepath-securejoin"

	"github.com/berth/berth/internal/archive"
)

// source is one file, directory or symlink a COPY or ADD reads, found under a root (the context or an image).
type source struct {
	rel  string // path relative to the root, slash-separated, "." for the root itself
	abs  string // host path
	info fs.FileInfo
}

// forbidden reports a source path that leaves the context, as docker says it.
func forbidden(p string) error {
	return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("forbidden path outside the build context: %s ()", p))
}

func notFound(p string) error {
	return errdefs.ErrNotFound.WithMessage(fmt.Sprintf("file not found in build context or excluded by .dockerignore: stat %s: file does not exist", p))
}

// resolveSources finds the sources a COPY names under root. A path may not climb out of root; symlinks on the
// way are resolved inside root (so one pointing outside leads nowhere outside), and the last component is never
// followed: a symlink is copied as a symlink. Wildcards match with path.Match semantics.
func resolveSources(root string, patterns []string) ([]source, error) {
	var out []source
	for _, p := range patterns {
		clean := path.Clean(strings.TrimPrefix(filepath.ToSlash(p), "/"))
		if clean == ".." || strings.HasPrefix(clean, "../") {
			return nil, forbidden(p)
		}
		if strings.ContainsAny(clean, "*?[") {
			matches, err := globSources(root, clean)
			if err != nil {
				return nil, err
			}
			if len(matches) == 0 {
				return nil, errdefs.ErrNotFound.WithMessage("no source files were specified")
			}
			out = append(out, matches...)
			continue
		}
		var s source
		var err error
		if strings.HasSuffix(p, "/") || strings.HasSuffix(p, "/.") {
			// "dir/" names the directory itself: a symlink there is followed, inside root.
			s, err = lookupFollow(root, clean)
		} else {
			s, err = lookupSource(root, clean)
		}
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, notFound(clean)
			}
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// lookupSource resolves rel under root without following its last component.
func lookupSource(root, rel string) (source, error) {
	if rel == "." {
		fi, err := os.Lstat(root)
		return source{rel: ".", abs: root, info: fi}, err
	}
	dir, err := securejoin.SecureJoin(root, path.Dir(rel))
	if err != nil {
		// a symlink loop on the way: nothing there
		return source{}, &fs.PathError{Op: "stat", Path: rel, Err: fs.ErrNotExist}
	}
	abs := filepath.Join(dir, path.Base(rel))
	fi, err := os.Lstat(abs)
	if err != nil {
		return source{}, err
	}
	return source{rel: rel, abs: abs, info: fi}, nil
}

// lookupFollow resolves rel under root following every symlink inside root.
func lookupFollow(root, rel string) (source, error) {
	abs, err := securejoin.SecureJoin(root, rel)
	if err != nil {
		return source{}, &fs.PathError{Op: "stat", Path: rel, Err: fs.ErrNotExist}
	}
	fi, err := os.Lstat(abs)
	if err != nil {
		return source{}, err
	}
	return source{rel: rel, abs: abs, info: fi}, nil
}

// globSources walks root (never following symlinks) for paths matching pattern.
func globSources(root, pattern string) ([]source, error) {
	var out []source
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		if rel == "." {
			return nil
		}
		if ok, _ := path.Match(pattern, rel); ok {
			fi, err := d.Info()
			if err != nil {
				return err
			}
			out = append(out, source{rel: rel, abs: p, info: fi})
			if d.IsDir() {
				return fs.SkipDir
			}
		}
		return nil
	})
	return out, err
}

// hashSources is the cache checksum of the sources: path, type, mode, size, link target and content of every
// file under them, in walk order. It also names them for history like docker: file:<hex>, dir:<hex>, multi:<hex>.
func hashSources(srcs []source, bc *buildContext) (sum, name string, err error) {
	h := sha256.New()
	buf := make([]byte, 256<<10)
	for _, s := range srcs {
		err := filepath.WalkDir(s.abs, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			fi, err := d.Info()
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(s.abs, p)
			// A regular file's size and bytes are covered by its content digest below.
			fmt.Fprintf(h, "%s\x00%s\x00%o\x00", s.rel, rel, fi.Mode())
			if st, ok := fi.Sys().(*syscall.Stat_t); ok {
				fmt.Fprintf(h, "%d:%d\x00", st.Uid, st.Gid)
			}
			switch {
			case fi.Mode()&fs.ModeSymlink != 0:
				target, err := os.Readlink(p)
				if err != nil {
					return err
				}
				h.Write([]byte(target))
			case fi.Mode().IsRegular():
				// The content's own digest goes in, known from the upload or hashed here.
				d, ok := bc.digestOf(p)
				if !ok {
					fh := sha256.New()
					f, err := os.Open(p)
					if err != nil {
						return err
					}
					_, err = io.CopyBuffer(fh, f, buf)
					f.Close()
					if err != nil {
						return err
					}
					d = hex.EncodeToString(fh.Sum(nil))
				}
				h.Write([]byte(d))
			}
			h.Write([]byte{0})
			return nil
		})
		if err != nil {
			return "", "", err
		}
	}
	sum = hex.EncodeToString(h.Sum(nil))
	switch {
	case len(srcs) > 1:
		name = "multi:" + sum
	case len(srcs) == 1 && srcs[0].info.IsDir():
		name = "dir:" + sum
	default:
		name = "file:" + sum
	}
	return sum, name, nil
}

// copyOptions are a COPY's --chown and --chmod, resolved.
type copyOptions struct {
	uid, gid int
	chmod    *fs.FileMode
	// unpack extracts local tar archives (ADD).
	unpack bool
	// bc tells where a context file's content is (manifest placeholders); nil for other sources.
	bc *buildContext
}

// copyInto copies srcs into the container root filesystem root at dest (absolute, inside the container), with
// docker's rules: a directory's contents go into dest; a file goes to dest, or into it when dest ends in "/" or
// is an existing directory; several sources need a dest ending in "/". Every path is resolved inside root.
func copyInto(ctx context.Context, root string, srcs []source, dest string, opts copyOptions) error {
	destDir := strings.HasSuffix(dest, "/") || strings.HasSuffix(dest, "/.")
	if len(srcs) > 1 && !destDir {
		return errdefs.ErrInvalidArgument.WithMessage("When using COPY with more than one source file, the destination must be a directory and end with a /")
	}
	dest = path.Clean(dest)
	for _, s := range srcs {
		if err := ctx.Err(); err != nil {
			return err
		}
		switch {
		case s.info.IsDir():
			if err := copyTree(root, s.abs, dest, opts); err != nil {
				return err
			}
		case opts.unpack && s.info.Mode().IsRegular() && isArchive(opts.bc.contentOf(s.abs)):
			if err := unpackInto(ctx, root, opts.bc.contentOf(s.abs), dest, opts); err != nil {
				return err
			}
		default:
			target := dest
			if destDir || isDirIn(root, dest) {
				target = path.Join(dest, path.Base(s.rel))
			}
			if err := copyEntry(root, s.abs, s.info, target, opts); err != nil {
				return err
			}
		}
	}
	return nil
}

// isDirIn reports whether container path p is a directory in root.
func isDirIn(root, p string) bool {
	hp, err := securejoin.SecureJoin(root, p)
	if err != nil {
		return false
	}
	fi, err := os.Stat(hp)
	return err == nil && fi.IsDir()
}

// copyTree copies the contents of host directory src into container directory dest.
func copyTree(root, src, dest string, opts copyOptions) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		return copyEntry(root, p, fi, path.Join(dest, filepath.ToSlash(rel)), opts)
	})
}

// copyEntry creates container path target in root from the host file, directory or symlink at src.
func copyEntry(root, src string, fi fs.FileInfo, target string, opts copyOptions) error {
	parent, err := mkdirIn(root, path.Dir(target), opts)
	if err != nil {
		return err
	}
	hp := filepath.Join(parent, path.Base(target))
	if target == "/" {
		hp = root
	}
	mode := fi.Mode().Perm() | fi.Mode()&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)
	if opts.chmod != nil {
		mode = *opts.chmod
	}
	existing, lerr := os.Lstat(hp)
	switch {
	case fi.IsDir():
		if lerr == nil && !existing.IsDir() {
			if err := os.Remove(hp); err != nil {
				return err
			}
			lerr = fs.ErrNotExist
		}
		if lerr != nil {
			if err := os.Mkdir(hp, 0o755); err != nil {
				return err
			}
		}
	case fi.Mode()&fs.ModeSymlink != 0:
		link, err := os.Readlink(src)
		if err != nil {
			return err
		}
		if lerr == nil {
			if err := os.RemoveAll(hp); err != nil {
				return err
			}
		}
		if err := os.Symlink(link, hp); err != nil {
			return err
		}
		return os.Lchown(hp, opts.uid, opts.gid)
	case fi.Mode().IsRegular():
		if lerr == nil {
			if err := os.RemoveAll(hp); err != nil {
				return err
			}
		}
		if err := copyFile(opts.bc.contentOf(src), hp); err != nil {
			return err
		}
	default:
		return nil // devices, fifos and sockets in a context are skipped
	}
	if err := os.Lchown(hp, opts.uid, opts.gid); err != nil {
		return err
	}
	if err := os.Chmod(hp, mode); err != nil {
		return err
	}
	return os.Chtimes(hp, fi.ModTime(), fi.ModTime())
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// mkdirIn makes container directory dir in root (parents as needed, 0755, owned like the copied files when
// created) and returns its host path. Symlinks on the way are resolved inside root.
func mkdirIn(root, dir string, opts copyOptions) (string, error) {
	hp, err := securejoin.SecureJoin(root, dir)
	if err != nil {
		return "", err
	}
	if fi, err := os.Stat(hp); err == nil {
		if !fi.IsDir() {
			return "", errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("cannot copy to non-directory: %s", dir))
		}
		return hp, nil
	}
	if dir != "/" {
		if _, err := mkdirIn(root, path.Dir(dir), opts); err != nil {
			return "", err
		}
	}
	if hp, err = securejoin.SecureJoin(root, dir); err != nil {
		return "", err
	}
	if err := os.Mkdir(hp, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return "", err
	}
	if err := os.Lchown(hp, opts.uid, opts.gid); err != nil {
		return "", err
	}
	return hp, nil
}

// isArchive reports whether the file is a tar archive, plain or compressed (gzip, bzip2, xz, zstd: what ADD
// unpacks).
func isArchive(p string) bool {
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	r, err := archive.Decompress(f)
	if err != nil {
		return false
	}
	defer r.Close()
	hdr := make([]byte, 512)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return false
	}
	return bytes.Equal(hdr[257:262], []byte("ustar")) || validTarChecksum(hdr)
}

// validTarChecksum checks an old-style (v7) tar header's checksum.
func validTarChecksum(hdr []byte) bool {
	want, err := strconv.ParseUint(strings.TrimRight(strings.TrimSpace(string(hdr[148:156])), "\x00"), 8, 64)
	if err != nil {
		return false
	}
	var sum uint64
	for i, b := range hdr {
		if i >= 148 && i < 156 {
			b = ' '
		}
		sum += uint64(b)
	}
	return sum == want && hdr[0] != 0
}

// unpackInto extracts a local tar archive into container directory dest (ADD), safely inside root.
func unpackInto(ctx context.Context, root, src, dest string, opts copyOptions) error {
	if _, err := mkdirIn(root, dest, opts); err != nil {
		return err
	}
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	return archive.ApplyTo(ctx, root, dest, f, false)
}

// writeDownload writes an ADD <url> download to container path target (mode 0600, mtime from Last-Modified).
func writeDownload(root, file, target string, mode fs.FileMode, mtime time.Time, opts copyOptions) error {
	fi, err := os.Stat(file)
	if err != nil {
		return err
	}
	if opts.chmod != nil {
		mode = *opts.chmod
	}
	o := opts
	o.chmod = &mode
	if err := copyEntry(root, file, fi, target, o); err != nil {
		return err
	}
	hp, err := securejoin.SecureJoin(root, target)
	if err != nil {
		return err
	}
	if mtime.IsZero() {
		mtime = time.Now()
	}
	return os.Chtimes(hp, mtime, mtime)
}

// secureResolve resolves p inside root, following symlinks as if root were "/".
func secureResolve(root, p string) (string, error) {
	return securejoin.SecureJoin(root, p)
}
