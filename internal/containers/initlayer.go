package containers

import (
	"context"
	"os"
	"path/filepath"
	"syscall"

	"github.com/opencontainers/go-digest"
)

// initPaths are the mount points the runtime needs in every container. Like docker's "-init" layer, they live in
// a layer between the image and the container, so they never show up in diff or commit.
var initPaths = []struct {
	path string
	dir  bool
}{
	{"dev", true}, {"dev/pts", true}, {"dev/shm", true}, {"proc", true}, {"sys", true}, {"etc", true},
	{"etc/hostname", false}, {"etc/hosts", false}, {"etc/resolv.conf", false}, {".dockerenv", false},
}

// initLayer returns the chain ID of the init layer over an image's top layer, creating it once per image.
func (d *Service) initLayer(ctx context.Context, parent digest.Digest) (digest.Digest, error) {
	id := InitChainID(parent)
	var lowers []string
	if parent != "" {
		l, err := d.snapshots.Lowers(ctx, parent)
		if err != nil {
			return "", err
		}
		lowers = l
	}
	_, err := d.snapshots.EnsureLayer(ctx, id, parent, func(dir string) error {
		for _, p := range initPaths {
			st, found := lookupLowers(lowers, p.path)
			switch {
			case found && p.dir && st.IsDir():
				// Keep the image's directory as it is; only children are added.
				continue
			case found:
				// The image has something else there (a file, or a symlink such as /etc -> /usr/etc): keep it.
				continue
			case !parentOK(lowers, dir, p.path):
				continue
			}
			target := filepath.Join(dir, p.path)
			if p.dir {
				if err := os.MkdirAll(target, 0o755); err != nil {
					return err
				}
				continue
			}
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			f, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY, 0o644)
			if err != nil {
				return err
			}
			f.Close()
		}
		// A directory created here would hide the image's own metadata for that directory; copy it over.
		for _, p := range []string{"etc", "dev"} {
			if st, ok := lookupLowers(lowers, p); ok && st.IsDir() {
				if sys, ok := st.Sys().(*syscall.Stat_t); ok {
					os.Lchown(filepath.Join(dir, p), int(sys.Uid), int(sys.Gid))
				}
				os.Chmod(filepath.Join(dir, p), st.Mode().Perm())
			}
		}
		return nil
	})
	return id, err
}

// InitChainID names the init layer over an image whose top layer has chain ID parent ("" for no layers).
func InitChainID(parent digest.Digest) digest.Digest {
	return digest.FromString(string(parent) + " berth-init")
}

// lookupLowers finds the topmost entry for rel in the image's layers (top-first), honouring whiteouts.
func lookupLowers(lowers []string, rel string) (os.FileInfo, bool) {
	for _, l := range lowers {
		st, err := os.Lstat(filepath.Join(l, rel))
		if err != nil {
			continue
		}
		if st.Mode()&os.ModeCharDevice != 0 {
			if sys, ok := st.Sys().(*syscall.Stat_t); ok && sys.Rdev == 0 {
				return nil, false // whiteout
			}
		}
		return st, true
	}
	return nil, false
}

// parentOK reports whether rel's parent is (or will be) a real directory, never a symlink in the image.
func parentOK(lowers []string, dir, rel string) bool {
	parent := filepath.Dir(rel)
	if parent == "." {
		return true
	}
	if st, ok := lookupLowers(lowers, parent); ok {
		return st.IsDir()
	}
	st, err := os.Lstat(filepath.Join(dir, parent))
	return err == nil && st.IsDir()
}
