package archive

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"path"

	"golang.org/x/sys/unix"
)

// WriteDiff writes the overlay upper directory upper to w as a Docker layer: an uncompressed PAX tar in sorted
// pre-order (a directory before its contents), names relative without "./" ("tmp/", "tmp/x"). Whiteouts (0/0
// character devices) become empty "dir/.wh.name" files and an opaque directory is followed by a
// "dir/.wh..wh..opq" entry. Mode, ownership, modification time (to the second) and xattrs other than
// trusted.overlay.* are kept; files linked more than once in the tree become hard-link entries.
func WriteDiff(ctx context.Context, w io.Writer, upper string) error {
	t := newTarWriter(w)
	err := walk(ctx, upper, func(n *node) error {
		if n.rel == "" {
			return nil
		}
		if n.isWhiteout() {
			hdr := &tar.Header{
				Typeflag: tar.TypeReg,
				Name:     path.Join(path.Dir(n.rel), whiteoutPrefix+n.name),
				Mode:     0o600,
				Uid:      int(n.st.Uid),
				Gid:      int(n.st.Gid),
				ModTime:  timeSec(n.st.Mtim),
				Format:   tar.FormatPAX,
			}
			return t.tw.WriteHeader(hdr)
		}
		if err := t.write(n, n.rel); err != nil {
			return err
		}
		if n.isDir() {
			opaque, err := lgetxattr(n.xattrPath(), overlayOpaque)
			if err != nil && !errors.Is(err, unix.ENODATA) && !errors.Is(err, unix.ENOTSUP) {
				return fmt.Errorf("reading %s of %q: %w", overlayOpaque, n.rel, err)
			}
			if err == nil && string(opaque) == "y" {
				return t.tw.WriteHeader(&tar.Header{
					Typeflag: tar.TypeReg,
					Name:     path.Join(n.rel, whiteoutOpaqueDir),
					Mode:     int64(n.st.Mode & 0o777),
					Uid:      int(n.st.Uid),
					Gid:      int(n.st.Gid),
					ModTime:  timeSec(n.st.Mtim),
					Format:   tar.FormatPAX,
				})
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("archive: diff of %s: %w", upper, err)
	}
	if err := t.tw.Close(); err != nil {
		return fmt.Errorf("archive: diff of %s: %w", upper, err)
	}
	return nil
}
