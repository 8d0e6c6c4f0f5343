// Package snapshot owns Berth's overlayfs storage under <data-root>/overlay: one immutable directory per image
// layer, named by chain ID, and for each container a writable upper/work pair and the merged mount point that
// the OCI runtime uses as the container's root filesystem.
package snapshot

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"

	"github.com/containerd/errdefs"
	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"

	"github.com/berth/berth/internal/mount"
)

// Store manages layer snapshots and container snapshots on overlayfs.
//
// Terms:
//
//   - A layer is the extracted content of one image layer, in overlay format (a whiteout is a 0/0 character
//     device, an opaque directory has trusted.overlay.opaque=y), stored in layers/<chain-id-hex>/diff. It is
//     named by its chain ID (the digest that identifies the layer together with all layers below it), is
//     immutable once committed and records its parent chain ID, so the lower directories of a whole image can
//     be computed from the top chain ID alone.
//   - A container snapshot is the writable view of one container: containers/<id>/upper and work, and
//     containers/<id>/merged, where an overlay of upper over the layers of a chain ID is mounted. A snapshot of
//     an image without layers (FROM scratch) sits over an empty directory.
//
// A layer is committed atomically: EnsureLayer fills a temporary directory and renames it into place, so a
// half-extracted layer is never visible, and a crash leaves only temporary directories that New removes.
// Callers for the same chain ID are serialised, so the layer is extracted once.
//
//	diff, err := s.EnsureLayer(ctx, chainID, parentChainID, func(dir string) error {
//		_, err := archive.Apply(ctx, dir, layerTar)
//		return err
//	})
//	...
//	err = s.RemoveLayer(ctx, chainID) // once no image or container refers to it; the caller tracks that
//
// A container snapshot lives as long as its container:
//
//	err := s.Create(ctx, id, topChainID)   // docker create
//	rootfs, err := s.Mount(ctx, id)        // docker start: give rootfs to the OCI runtime
//	upper := s.Upper(id)                   // docker diff / commit, with archive.Changes or archive.WriteDiff
//	lowers, err := s.LowersOf(ctx, id)
//	err = s.Unmount(ctx, id)               // after the container stopped
//	err = s.Remove(ctx, id)                // docker rm: unmounts if needed, then deletes everything
//
// Mounts are plain mount(2) calls in the caller's mount namespace, so an OCI runtime started from the host
// namespace sees them. Mount and Unmount are idempotent. A Store is safe for concurrent use; only one Store
// (one daemon) may own a directory at a time.
type Store struct {
	root string

	mu    sync.Mutex
	locks map[string]*keyLock
}

type keyLock struct {
	mu   sync.Mutex
	refs int
}

// The layout under the store's root.
const (
	layersDir     = "layers"
	containersDir = "containers"
	emptyDir      = "empty" // the lower dir of a container snapshot without layers
	diffDir       = "diff"
	parentFile    = "parent"
	upperDir      = "upper"
	workDir       = "work"
	mergedDir     = "merged"
	tmpInfix      = ".tmp-" // <name>.tmp-<random>: being created
	rmInfix       = ".rm-"  // <name>.rm-<random>: being removed
	maxChainDepth = 500     // overlayfs stacks at most 500 lower layers
)

// validID is compiled on first use: every berth command links this package, only the daemon uses it.
var validID = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)
})

// New opens the store rooted at root (normally <data-root>/overlay), creating its directories and removing
// what an interrupted create or remove left behind.
func New(root string) (*Store, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("snapshot: root %q: %w", root, err)
	}
	for _, d := range []string{abs, filepath.Join(abs, layersDir), filepath.Join(abs, containersDir), filepath.Join(abs, emptyDir)} {
		if err := os.MkdirAll(d, 0o711); err != nil {
			return nil, fmt.Errorf("snapshot: %w", err)
		}
	}
	// Mount points are compared with the mount table, which holds resolved paths.
	if abs, err = filepath.EvalSymlinks(abs); err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	s := &Store{root: abs, locks: map[string]*keyLock{}}
	for _, d := range []string{layersDir, containersDir} {
		ents, err := os.ReadDir(filepath.Join(abs, d))
		if err != nil {
			return nil, fmt.Errorf("snapshot: %w", err)
		}
		for _, e := range ents {
			if n := e.Name(); strings.Contains(n, tmpInfix) || strings.Contains(n, rmInfix) {
				p := filepath.Join(abs, d, n)
				err := mount.Unmount(filepath.Join(p, mergedDir))
				if err == nil {
					err = s.removeDir(p)
				}
				if err != nil {
					slog.Warn("snapshot: cannot remove leftover directory", "path", p, "err", err)
					continue
				}
				slog.Info("snapshot: removed leftover directory", "path", p)
			}
		}
	}
	return s, nil
}

// lock serialises work on one layer or container and returns the unlock function.
func (s *Store) lock(key string) func() {
	s.mu.Lock()
	l := s.locks[key]
	if l == nil {
		l = &keyLock{}
		s.locks[key] = l
	}
	l.refs++
	s.mu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		s.mu.Lock()
		if l.refs--; l.refs == 0 {
			delete(s.locks, key)
		}
		s.mu.Unlock()
	}
}

func checkChainID(chainID digest.Digest) error {
	if err := chainID.Validate(); err != nil {
		return fmt.Errorf("snapshot: chain ID %q: %w: %w", chainID, errdefs.ErrInvalidArgument, err)
	}
	if chainID.Algorithm() != digest.SHA256 {
		return fmt.Errorf("snapshot: chain ID %q: only sha256 chain IDs are supported: %w", chainID, errdefs.ErrInvalidArgument)
	}
	return nil
}

func checkID(id string) error {
	if !validID().MatchString(id) || strings.Contains(id, tmpInfix) || strings.Contains(id, rmInfix) {
		return fmt.Errorf("snapshot: invalid container snapshot id %q: %w", id, errdefs.ErrInvalidArgument)
	}
	return nil
}

func (s *Store) layerPath(chainID digest.Digest) string {
	return filepath.Join(s.root, layersDir, chainID.Encoded())
}

func (s *Store) containerPath(id string) string {
	return filepath.Join(s.root, containersDir, id)
}

// Layer returns the diff directory of the committed layer chainID, and whether it exists.
func (s *Store) Layer(ctx context.Context, chainID digest.Digest) (dir string, ok bool) {
	if checkChainID(chainID) != nil {
		return "", false
	}
	dir = filepath.Join(s.layerPath(chainID), diffDir)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return "", false
	}
	return dir, true
}

// Layers lists the chain IDs of all committed layers.
func (s *Store) Layers(ctx context.Context) ([]digest.Digest, error) {
	ents, err := os.ReadDir(filepath.Join(s.root, layersDir))
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	var out []digest.Digest
	for _, e := range ents {
		d := digest.NewDigestFromEncoded(digest.SHA256, e.Name())
		if d.Validate() == nil {
			out = append(out, d)
		}
	}
	return out, nil
}

// EnsureLayer returns the diff directory of layer chainID, creating it first if needed: apply is called with an
// empty directory to fill, which becomes the layer once apply returns nil. parent is the chain ID of the layer
// below ("" for a base layer) and must already exist (errdefs.ErrNotFound otherwise). Concurrent calls for one
// chain ID call apply once; the others wait and return the same directory.
func (s *Store) EnsureLayer(ctx context.Context, chainID, parent digest.Digest, apply func(dir string) error) (string, error) {
	if err := checkChainID(chainID); err != nil {
		return "", err
	}
	if parent != "" {
		if err := checkChainID(parent); err != nil {
			return "", err
		}
		if parent == chainID {
			return "", fmt.Errorf("snapshot: layer %s is its own parent: %w", chainID, errdefs.ErrInvalidArgument)
		}
	}
	unlock := s.lock("layer/" + chainID.Encoded())
	defer unlock()
	if dir, ok := s.Layer(ctx, chainID); ok {
		return dir, nil
	}
	if parent != "" {
		if _, ok := s.Layer(ctx, parent); !ok {
			return "", fmt.Errorf("snapshot: parent layer %s of %s: %w", parent, chainID, errdefs.ErrNotFound)
		}
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}

	final := s.layerPath(chainID)
	tmp, err := os.MkdirTemp(filepath.Dir(final), chainID.Encoded()+tmpInfix)
	if err != nil {
		return "", fmt.Errorf("snapshot: layer %s: %w", chainID, err)
	}
	committed := false
	defer func() {
		if !committed {
			if err := os.RemoveAll(tmp); err != nil {
				slog.Warn("snapshot: cannot remove temporary layer dir", "path", tmp, "err", err)
			}
		}
	}()
	if err := os.Mkdir(filepath.Join(tmp, diffDir), 0o755); err != nil {
		return "", fmt.Errorf("snapshot: layer %s: %w", chainID, err)
	}
	if err := os.WriteFile(filepath.Join(tmp, parentFile), []byte(parent), 0o600); err != nil {
		return "", fmt.Errorf("snapshot: layer %s: %w", chainID, err)
	}
	if err := apply(filepath.Join(tmp, diffDir)); err != nil {
		return "", fmt.Errorf("snapshot: applying layer %s: %w", chainID, err)
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if err := syncfs(tmp); err != nil {
		return "", fmt.Errorf("snapshot: layer %s: %w", chainID, err)
	}
	if err := os.Rename(tmp, final); err != nil {
		// Another process committed the same layer first: theirs is as good as ours.
		if dir, ok := s.Layer(ctx, chainID); ok && (errors.Is(err, unix.EEXIST) || errors.Is(err, unix.ENOTEMPTY)) {
			return dir, nil
		}
		return "", fmt.Errorf("snapshot: committing layer %s: %w", chainID, err)
	}
	committed = true
	slog.Debug("snapshot: layer committed", "chainID", chainID, "parent", parent)
	return filepath.Join(final, diffDir), nil
}

// syncfs flushes the filesystem holding dir, so a layer is on disk before its rename makes it visible.
func syncfs(dir string) error {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.Syncfs(fd)
}

// Lowers returns the diff directories of layer chainID and all its parents, top-first: the lowerdir list of
// an overlay mount.
func (s *Store) Lowers(ctx context.Context, chainID digest.Digest) ([]string, error) {
	if err := checkChainID(chainID); err != nil {
		return nil, err
	}
	var dirs []string
	for cur := chainID; cur != ""; {
		if len(dirs) == maxChainDepth {
			return nil, fmt.Errorf("snapshot: layer %s: chain deeper than %d layers: %w", chainID, maxChainDepth, errdefs.ErrInvalidArgument)
		}
		dir, ok := s.Layer(ctx, cur)
		if !ok {
			return nil, fmt.Errorf("snapshot: layer %s: %w", cur, errdefs.ErrNotFound)
		}
		dirs = append(dirs, dir)
		b, err := os.ReadFile(filepath.Join(s.layerPath(cur), parentFile))
		if err != nil {
			return nil, fmt.Errorf("snapshot: layer %s: %w", cur, err)
		}
		next := digest.Digest(strings.TrimSpace(string(b)))
		if next != "" {
			if err := checkChainID(next); err != nil {
				return nil, fmt.Errorf("snapshot: layer %s has a corrupt parent: %w", cur, err)
			}
		}
		cur = next
	}
	return dirs, nil
}

// RemoveLayer deletes layer chainID. The caller guarantees that no image, container or other layer uses it.
// Removing a missing layer is not an error.
func (s *Store) RemoveLayer(ctx context.Context, chainID digest.Digest) error {
	if err := checkChainID(chainID); err != nil {
		return err
	}
	unlock := s.lock("layer/" + chainID.Encoded())
	defer unlock()
	if err := s.removeDir(s.layerPath(chainID)); err != nil {
		return fmt.Errorf("snapshot: removing layer %s: %w", chainID, err)
	}
	return nil
}

// removeDir renames p aside (so it disappears atomically) and deletes it. A missing p is not an error.
func (s *Store) removeDir(p string) error {
	if err := s.checkNoMounts(p); err != nil {
		return err
	}
	if !strings.Contains(filepath.Base(p), tmpInfix) && !strings.Contains(filepath.Base(p), rmInfix) {
		aside := p + rmInfix + rand.Text()
		if err := os.Rename(p, aside); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		p = aside
	}
	return os.RemoveAll(p)
}
