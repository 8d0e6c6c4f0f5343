package archive

import (
	"context"
	"fmt"
	"io"
	"path"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// TarOptions shape the names TarDir gives its entries.
type TarOptions struct {
	// RebaseName replaces the base name of the archived directory or file in entry names: archiving
	// /var/lib/x/etc with RebaseName "config" yields "config/", "config/passwd"; with "." it yields "./",
	// "./passwd", as docker names a directory's contents. Empty means the base name.
	RebaseName string
	// IncludeSelf adds an entry for the directory itself and puts every name under it ("etc/", "etc/passwd"),
	// as `docker cp` does for a directory. Without it (and without RebaseName) names are relative to the
	// directory ("bin/", "bin/sh"), as `docker export` does.
	IncludeSelf bool
}

// TarDir writes dir to w as a plain PAX tar in sorted pre-order. Symlinks are archived as symlinks and never
// followed, including dir itself; a dir that is not a directory yields a single entry named after it. Files
// linked more than once become hard-link entries; xattrs are kept except overlayfs' own trusted.overlay.*. The caller resolves dir (e.g. inside a container's root).
func TarDir(ctx context.Context, w io.Writer, dir string, opts TarOptions) error {
	t := newTarWriter(w)
	var prefix string
	err := walk(ctx, dir, func(n *node) error {
		if n.rel == "" {
			base := opts.RebaseName
			if base == "" {
				base = filepath.Base(dir)
			}
			if !n.isDir() {
				return t.write(n, base)
			}
			if opts.IncludeSelf || opts.RebaseName != "" {
				prefix = base
			}
			if opts.IncludeSelf {
				return t.write(n, base)
			}
			return nil
		}
		if prefix == "." {
			// Docker's names for a directory's contents ("docker cp ctr:/dir/."): "./a", which the docker CLI
			// rebases by replacing the leading ".".
			return t.write(n, "./"+n.rel)
		}
		return t.write(n, path.Join(prefix, n.rel))
	})
	if err != nil {
		return fmt.Errorf("archive: tar of %s: %w", dir, err)
	}
	if err := t.tw.Close(); err != nil {
		return fmt.Errorf("archive: tar of %s: %w", dir, err)
	}
	return nil
}

func timeSec(ts unix.Timespec) time.Time { return time.Unix(ts.Sec, 0) }
