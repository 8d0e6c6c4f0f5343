// Package archive makes and unpacks the tar streams `berth cp` exchanges with the daemon's archive
// endpoints. Tar builds an archive of a local file or directory under a chosen top-level name; Extract
// unpacks one into a local directory through an os.Root, so no entry (nor a symlink planted by an
// earlier entry) can write outside that directory.
package archive

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Tar streams a tar archive of src. Its top-level entry is named name (a file, or a directory followed by
// its contents); with an empty name a directory's contents are placed at the archive root instead.
// followLink makes a symlink src archive its target.
func Tar(src, name string, followLink bool) (io.ReadCloser, error) {
	stat := os.Lstat
	if followLink {
		stat = os.Stat
	}
	fi, err := stat(src)
	if err != nil {
		return nil, err
	}
	if name == "" && !fi.IsDir() {
		return nil, errors.New("archive: only a directory can be archived without a top-level name")
	}
	pr, pw := io.Pipe()
	go func() {
		tw := tar.NewWriter(pw)
		w := &tarWriter{tw: tw, links: map[[2]uint64]string{}}
		err := w.add(src, name, fi)
		if err == nil && fi.IsDir() {
			err = filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				if p == src {
					return nil
				}
				rel, err := filepath.Rel(src, p)
				if err != nil {
					return err
				}
				info, err := d.Info()
				if err != nil {
					return err
				}
				return w.add(p, path.Join(name, filepath.ToSlash(rel)), info)
			})
		}
		if err == nil {
			err = tw.Close()
		}
		pw.CloseWithError(err)
	}()
	return pr, nil
}

type tarWriter struct {
	tw    *tar.Writer
	links map[[2]uint64]string // (dev, inode) -> first name, for hard links
}

func (w *tarWriter) add(p, name string, fi fs.FileInfo) error {
	if name == "" { // the root of a contents-only archive
		return nil
	}
	link := ""
	if fi.Mode()&fs.ModeSymlink != 0 {
		var err error
		if link, err = os.Readlink(p); err != nil {
			return err
		}
	}
	hdr, err := tar.FileInfoHeader(fi, link)
	if err != nil {
		return err
	}
	hdr.Name = name
	if fi.IsDir() {
		hdr.Name += "/"
	}
	hdr.Uname, hdr.Gname = "", ""
	hdr.Format = tar.FormatPAX
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && fi.Mode().IsRegular() && st.Nlink > 1 {
		key := [2]uint64{uint64(st.Dev), st.Ino}
		if first, seen := w.links[key]; seen {
			hdr.Typeflag = tar.TypeLink
			hdr.Linkname = first
			hdr.Size = 0
			return w.tw.WriteHeader(hdr)
		}
		w.links[key] = name
	}
	if err := w.tw.WriteHeader(hdr); err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return nil
	}
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(w.tw, f)
	return err
}

// Rebase renames entries whose first path element is from to to: "from" and "from/x" become "to" and
// "to/x"; other entries are kept. An empty from matches the first entry's top-level name (which may be
// "." for an archive of "dir/."); an empty to puts the contents at the root.
func Rebase(from, to string) func(string) string {
	return func(name string) string {
		name = strings.TrimPrefix(name, "/")
		if from == "" {
			from, _, _ = strings.Cut(name, "/")
		}
		if name == from {
			return to
		}
		if rest, ok := strings.CutPrefix(name, from+"/"); ok {
			if rest == "" {
				return to
			}
			return to + "/" + rest
		}
		return name
	}
}

// Extract unpacks the tar stream r into the existing directory dir. rename, if not nil, maps each entry
// name (as written in the archive) first. Entries cannot escape dir: names are cleaned, and every file operation goes through an
// os.Root, which also refuses to follow symlinks out of it. Directories are never replaced by
// non-directories or vice versa. Ownership is not restored; device nodes are skipped.
func Extract(r io.Reader, dir string, rename func(string) string) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()

	type dirTime struct {
		name  string
		mtime time.Time
	}
	var dirTimes []dirTime
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if hdr.Typeflag == tar.TypeXGlobalHeader {
			continue
		}
		name := hdr.Name
		if rename != nil {
			name = rename(name)
		}
		if name, err = cleanName(name); err != nil {
			return err
		}
		if name == "." {
			if hdr.Typeflag == tar.TypeDir {
				continue
			}
			return fmt.Errorf("archive: invalid entry %q", hdr.Name)
		}
		if parent := path.Dir(name); parent != "." {
			if err := root.MkdirAll(parent, 0o755); err != nil {
				return err
			}
		}
		mode := fs.FileMode(hdr.Mode) & fs.ModePerm
		switch hdr.Typeflag {
		case tar.TypeDir:
			if fi, err := root.Lstat(name); err == nil && !fi.IsDir() {
				return fmt.Errorf("cannot overwrite non-directory %q with directory", name)
			}
			if err := root.MkdirAll(name, 0o755); err != nil {
				return err
			}
			if err := root.Chmod(name, mode); err != nil {
				return err
			}
			dirTimes = append(dirTimes, dirTime{name, hdr.ModTime})
		case tar.TypeReg, tar.TypeRegA:
			if err := replaceNonDir(root, name); err != nil {
				return err
			}
			f, err := root.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY, mode)
			if err != nil {
				return err
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
			if err := root.Chmod(name, mode); err != nil {
				return err
			}
			_ = root.Chtimes(name, hdr.AccessTime, hdr.ModTime)
		case tar.TypeSymlink:
			if err := replaceNonDir(root, name); err != nil {
				return err
			}
			if err := root.Symlink(hdr.Linkname, name); err != nil {
				return err
			}
		case tar.TypeLink:
			target := hdr.Linkname
			if rename != nil {
				target = rename(target)
			}
			if target, err = cleanName(target); err != nil {
				return err
			}
			if err := replaceNonDir(root, name); err != nil {
				return err
			}
			if err := root.Link(target, name); err != nil {
				return err
			}
		default:
			slog.Debug("archive: skipping entry", "name", hdr.Name, "type", string(hdr.Typeflag))
		}
	}
	// Directory times last: writing their contents changed them.
	for i := len(dirTimes) - 1; i >= 0; i-- {
		_ = root.Chtimes(dirTimes[i].name, dirTimes[i].mtime, dirTimes[i].mtime)
	}
	return nil
}

// cleanName makes an entry name relative and clean, refusing ones that climb out with "..".
func cleanName(name string) (string, error) {
	clean := path.Clean("/" + strings.ReplaceAll(name, `\`, "/"))
	clean = strings.TrimPrefix(clean, "/")
	if clean == "" {
		clean = "."
	}
	for _, part := range strings.Split(path.Clean(name), "/") {
		if part == ".." {
			return "", fmt.Errorf("archive: entry %q escapes the destination", name)
		}
	}
	return clean, nil
}

// replaceNonDir removes an existing file or symlink at name; an existing directory is an error.
func replaceNonDir(root *os.Root, name string) error {
	fi, err := root.Lstat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return fmt.Errorf("cannot overwrite directory %q with non-directory", name)
	}
	return root.Remove(name)
}
