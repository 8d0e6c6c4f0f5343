package archive

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// ChangeKind is the kind of a filesystem change, numbered as in the Docker API's FilesystemChange.Kind.
type ChangeKind int

// The kinds of change, with the numbers the Docker API uses.
const (
	ChangeModify ChangeKind = 0
	ChangeAdd    ChangeKind = 1
	ChangeDelete ChangeKind = 2
)

// String returns the letter `docker diff` prints for k: "C", "A" or "D".
func (k ChangeKind) String() string {
	switch k {
	case ChangeModify:
		return "C"
	case ChangeAdd:
		return "A"
	case ChangeDelete:
		return "D"
	}
	return fmt.Sprintf("ChangeKind(%d)", int(k))
}

// Change is one changed path of a container's filesystem.
type Change struct {
	Kind ChangeKind
	Path string // absolute, as seen in the container ("/tmp/x")
}

// Changes lists what the overlay upper directory upper changes over the layers lowers (top-first), sorted by
// path. A whiteout is a Delete; an entry visible in the lowers is a Modify, anything else an Add. Directories
// that only hold changes are in upper too, so they are listed as Modify (`C /tmp` before `A /tmp/x`). An
// opaque directory is a Modify (an Add if no lower has it) and everything below it an Add.
func Changes(upper string, lowers []string) ([]Change, error) {
	var (
		out    []Change
		opaque []string // opaque directories seen so far (walk is pre-order)
	)
	err := walk(context.Background(), upper, func(n *node) error {
		if n.rel == "" {
			return nil
		}
		p := "/" + n.rel
		if n.isWhiteout() {
			out = append(out, Change{Kind: ChangeDelete, Path: p})
			return nil
		}
		kind := ChangeAdd
		if !below(opaque, n.rel) && inLowers(lowers, n.rel) {
			kind = ChangeModify
		}
		out = append(out, Change{Kind: kind, Path: p})
		if n.isDir() {
			v, err := lgetxattr(n.xattrPath(), overlayOpaque)
			if err == nil && string(v) == "y" {
				opaque = append(opaque, n.rel)
			} else if err != nil && !errors.Is(err, unix.ENODATA) && !errors.Is(err, unix.ENOTSUP) {
				return fmt.Errorf("reading %s of %q: %w", overlayOpaque, p, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("archive: changes of %s: %w", upper, err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

// below reports whether rel is strictly below one of dirs.
func below(dirs []string, rel string) bool {
	for _, d := range dirs {
		if strings.HasPrefix(rel, d+"/") {
			return true
		}
	}
	return false
}

// inLowers reports whether rel is visible in the overlay of lowers (top-first), honouring whiteouts, opaque
// directories and non-directories that hide what lies below them.
func inLowers(lowers []string, rel string) bool {
	parts := strings.Split(rel, "/")
	for _, l := range lowers {
		cur := l
		hidden := false // an ancestor in this layer is opaque: lower layers cannot show rel
		for i, part := range parts {
			cur = filepath.Join(cur, part)
			var st unix.Stat_t
			if err := unix.Lstat(cur, &st); err != nil {
				if hidden {
					return false
				}
				break // not in this layer; look further down
			}
			if st.Mode&unix.S_IFMT == unix.S_IFCHR && st.Rdev == 0 {
				return false // whited out
			}
			if i == len(parts)-1 {
				return true
			}
			if st.Mode&unix.S_IFMT != unix.S_IFDIR {
				return false // a non-directory hides everything below its path
			}
			if v, err := lgetxattr(cur, overlayOpaque); err == nil && string(v) == "y" {
				hidden = true
			}
		}
	}
	return false
}
