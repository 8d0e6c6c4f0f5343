// Package atomicfile replaces files so that a reader, or the file system after a crash, sees either the whole
// old content or the whole new one, never a torn or empty file. It owns the one way Berth does this: a temp
// file in the same directory, write, chmod, fsync, rename over the target, fsync of the directory.
//
// Durability is the default. NoSync skips both fsyncs for files that are rewritten at every start and that
// nothing needs after a host crash (a container's OCI bundle, the daemon's per-start state): the rename still
// keeps readers from seeing a partial file, but a power cut may leave the old content, an empty file or none.
//
// The streaming form, for content too large to hold or named only once written:
//
//	f, err := atomicfile.Create(path, 0o644)
//	defer f.Close()             // discards the temp file unless committed
//	_, err = io.Copy(f, r)
//	err = f.Commit()            // fsync, rename into place, fsync the directory
//
// The package is a leaf (standard library only, and no fmt: Errorf alone adds 160 KB to the shim, which links
// it).
package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
)

// Option changes how a file is written.
type Option func(*options)

type options struct {
	noSync    bool
	noReplace bool
}

// NoSync skips the fsync of the file and of its directory: the replacement is still atomic for readers, but a
// host crash may lose it. Only for files that are regenerated at every start or that no one needs after a
// reboot; anything a user was told is saved stays durable.
func NoSync() Option { return func(o *options) { o.noSync = true } }

// NoReplace makes the commit create the file only where none exists: the temp file is linked to the path, not
// renamed over it, and the commit fails with an error matching os.ErrExist if something else created the path
// meanwhile (a key generated once, which two starting processes must not each replace with their own).
func NoReplace() Option { return func(o *options) { o.noReplace = true } }

// fsync is (*os.File).Sync; tests replace it to see what is synced, and to fail.
var fsync = (*os.File).Sync

// WriteFile replaces path with data, with mode perm (applied as given, not masked by the umask). On error
// path still holds its old content (or is still absent) and no temp file is left behind, except when only the
// final directory fsync fails: then the new content is in place but may not survive a crash.
func WriteFile(path string, data []byte, perm os.FileMode, opts ...Option) error {
	f, err := Create(path, perm, opts...)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.Write(data); err != nil {
		return err
	}
	return f.Commit()
}

// File is the new content of a file being written; it becomes visible only on Commit.
type File struct {
	f         *os.File
	path      string
	sync      bool
	noReplace bool
	done      bool
}

// Create starts replacing path: a temp file with mode perm in path's directory, which must exist.
func Create(path string, perm os.FileMode, opts ...Option) (*File, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, err
	}
	if err := f.Chmod(perm); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	return &File{f: f, path: path, sync: !o.noSync, noReplace: o.noReplace}, nil
}

var errDone = errors.New("atomicfile: file already committed or closed")

// Write appends p to the new content.
func (f *File) Write(p []byte) (int, error) {
	if f.done {
		return 0, errDone
	}
	return f.f.Write(p)
}

// ReadFrom appends r's content, letting the kernel copy where it can (as io.Copy to an *os.File does).
func (f *File) ReadFrom(r io.Reader) (int64, error) {
	if f.done {
		return 0, errDone
	}
	return f.f.ReadFrom(r)
}

// Commit makes the content written so far visible at the path given to Create.
func (f *File) Commit() error {
	return f.CommitAs(f.path)
}

// CommitAs is Commit to another name in the same directory, for stores that name a file after its content
// (a digest known only once it is written). Commit or CommitAs succeeds at most once; afterwards Close is a
// no-op. On error the temp file is removed and the target keeps its old content.
func (f *File) CommitAs(path string) error {
	if f.done {
		return errDone
	}
	if filepath.Dir(path) != filepath.Dir(f.path) {
		f.Close()
		return errors.New("atomicfile: " + path + " is not in the directory of " + f.path)
	}
	f.done = true
	tmp := f.f.Name()
	var err error
	if f.sync {
		err = fsync(f.f)
	}
	if cerr := f.f.Close(); err == nil {
		err = cerr
	}
	switch {
	case err != nil:
	case f.noReplace:
		err = os.Link(tmp, path)
		os.Remove(tmp)
	default:
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	if f.sync {
		return SyncDir(filepath.Dir(path))
	}
	return nil
}

// Close discards the content unless it was committed; it is safe to defer right after Create.
func (f *File) Close() error {
	if f.done {
		return nil
	}
	f.done = true
	err := f.f.Close()
	if rerr := os.Remove(f.f.Name()); err == nil {
		err = rerr
	}
	return err
}

// SyncDir makes the names in dir durable: after a rename, link or remove in dir (of a file or a directory),
// this is what makes the change survive a crash.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := fsync(d); err != nil {
		return &os.PathError{Op: "sync", Path: dir, Err: err}
	}
	return nil
}
