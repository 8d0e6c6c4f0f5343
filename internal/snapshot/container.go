package snapshot

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/moby/sys/mountinfo"
	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"

	"github.com/berth/berth/internal/mount"
)

// Create makes the container snapshot id over layer chainID ("" for an empty root filesystem): empty upper and
// work directories and a merged mount point, not yet mounted. The upper directory takes the mode and owner of
// the image's root directory, which is what the container sees as "/". It fails with errdefs.ErrAlreadyExists
// if id exists and errdefs.ErrNotFound if the layer does not.
func (s *Store) Create(ctx context.Context, id string, chainID digest.Digest) error {
	if err := checkID(id); err != nil {
		return err
	}
	unlock := s.lock("container/" + id)
	defer unlock()
	final := s.containerPath(id)
	if _, err := os.Lstat(final); err == nil {
		return fmt.Errorf("snapshot: container snapshot %s: %w", id, errdefs.ErrAlreadyExists)
	}
	rootDir := filepath.Join(s.root, emptyDir)
	if chainID != "" {
		if err := checkChainID(chainID); err != nil {
			return err
		}
		dir, ok := s.Layer(ctx, chainID)
		if !ok {
			return fmt.Errorf("snapshot: layer %s of container snapshot %s: %w", chainID, id, errdefs.ErrNotFound)
		}
		rootDir = dir
	}
	var rootSt unix.Stat_t
	if err := unix.Stat(rootDir, &rootSt); err != nil {
		return fmt.Errorf("snapshot: container snapshot %s: %w", id, err)
	}

	tmp, err := os.MkdirTemp(filepath.Dir(final), id+tmpInfix)
	if err != nil {
		return fmt.Errorf("snapshot: container snapshot %s: %w", id, err)
	}
	committed := false
	defer func() {
		if !committed {
			os.RemoveAll(tmp)
		}
	}()
	for _, d := range []string{upperDir, workDir, mergedDir} {
		if err := os.Mkdir(filepath.Join(tmp, d), 0o755); err != nil {
			return fmt.Errorf("snapshot: container snapshot %s: %w", id, err)
		}
	}
	upper := filepath.Join(tmp, upperDir)
	if err := os.Lchown(upper, int(rootSt.Uid), int(rootSt.Gid)); err != nil {
		return fmt.Errorf("snapshot: container snapshot %s: %w", id, err)
	}
	if err := unix.Chmod(upper, rootSt.Mode&0o7777); err != nil {
		return fmt.Errorf("snapshot: container snapshot %s: %w", id, err)
	}
	if err := os.WriteFile(filepath.Join(tmp, parentFile), []byte(chainID), 0o600); err != nil {
		return fmt.Errorf("snapshot: container snapshot %s: %w", id, err)
	}
	if err := os.Rename(tmp, final); err != nil {
		if errors.Is(err, unix.EEXIST) || errors.Is(err, unix.ENOTEMPTY) {
			return fmt.Errorf("snapshot: container snapshot %s: %w", id, errdefs.ErrAlreadyExists)
		}
		return fmt.Errorf("snapshot: container snapshot %s: %w", id, err)
	}
	committed = true
	return nil
}

// Containers lists the ids of all container snapshots.
func (s *Store) Containers(ctx context.Context) ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(s.root, containersDir))
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	var ids []string
	for _, e := range ents {
		if checkID(e.Name()) == nil {
			ids = append(ids, e.Name())
		}
	}
	return ids, nil
}

// dir returns the directory of container snapshot id, or an error wrapping errdefs.ErrNotFound.
func (s *Store) dir(id string) (string, error) {
	if err := checkID(id); err != nil {
		return "", err
	}
	p := s.containerPath(id)
	if _, err := os.Stat(filepath.Join(p, parentFile)); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("snapshot: container snapshot %s: %w", id, errdefs.ErrNotFound)
		}
		return "", fmt.Errorf("snapshot: container snapshot %s: %w", id, err)
	}
	return p, nil
}

// Upper returns the upper directory of container snapshot id: the container's changes, in overlay format. It
// only computes the path ("" for an invalid id); the snapshot may not exist.
func (s *Store) Upper(id string) string {
	if checkID(id) != nil {
		return ""
	}
	return filepath.Join(s.containerPath(id), upperDir)
}

// LowersOf returns the layer directories under container snapshot id, top-first (none for an empty root
// filesystem): with Upper, the input of archive.Changes and archive.WriteDiff.
func (s *Store) LowersOf(ctx context.Context, id string) ([]string, error) {
	chainID, err := s.chainOf(id)
	if err != nil || chainID == "" {
		return nil, err
	}
	return s.Lowers(ctx, chainID)
}

// chainOf returns the chain ID container snapshot id was created from.
func (s *Store) chainOf(id string) (digest.Digest, error) {
	p, err := s.dir(id)
	if err != nil {
		return "", err
	}
	b, err := os.ReadFile(filepath.Join(p, parentFile))
	if err != nil {
		return "", fmt.Errorf("snapshot: container snapshot %s: %w", id, err)
	}
	return digest.Digest(strings.TrimSpace(string(b))), nil
}

// Mount mounts the overlay of container snapshot id and returns the merged directory, the container's root
// filesystem. If it is already mounted, Mount just returns the directory.
func (s *Store) Mount(ctx context.Context, id string) (string, error) {
	if err := checkID(id); err != nil {
		return "", err
	}
	unlock := s.lock("container/" + id)
	defer unlock()
	p, err := s.dir(id)
	if err != nil {
		return "", err
	}
	merged := filepath.Join(p, mergedDir)
	if mounted, err := mountinfo.Mounted(merged); err != nil {
		return "", fmt.Errorf("snapshot: container snapshot %s: %w", id, err)
	} else if mounted {
		return merged, nil
	}
	m, err := s.overlay(ctx, id, p)
	if err != nil {
		return "", err
	}
	if err := m.Mount(merged); err != nil {
		return "", fmt.Errorf("snapshot: mounting container snapshot %s: %w", id, err)
	}
	slog.Debug("snapshot: mounted", "container", id)
	return merged, nil
}

// Mounts describes the root filesystem of container snapshot id as mounts, without mounting anything: an
// overlay of its layers and its upper directory. A runtime that does not mount on this host (a VM sharing the
// directories with its guest) takes these.
func (s *Store) Mounts(ctx context.Context, id string) ([]mount.Mount, error) {
	p, err := s.dir(id)
	if err != nil {
		return nil, err
	}
	m, err := s.overlay(ctx, id, p)
	if err != nil {
		return nil, err
	}
	return []mount.Mount{m}, nil
}

func (s *Store) overlay(ctx context.Context, id, dir string) (mount.Mount, error) {
	lowers, err := s.LowersOf(ctx, id)
	if err != nil {
		return mount.Mount{}, err
	}
	if len(lowers) == 0 {
		lowers = []string{filepath.Join(s.root, emptyDir)}
	}
	return mount.Overlay(lowers, filepath.Join(dir, upperDir), filepath.Join(dir, workDir)), nil
}

// Mounted reports whether the overlay of container snapshot id is mounted.
func (s *Store) Mounted(ctx context.Context, id string) (bool, error) {
	p, err := s.dir(id)
	if err != nil {
		return false, err
	}
	mounted, err := mountinfo.Mounted(filepath.Join(p, mergedDir))
	if err != nil {
		return false, fmt.Errorf("snapshot: container snapshot %s: %w", id, err)
	}
	return mounted, nil
}

// Unmount unmounts the overlay of container snapshot id, detaching it lazily if it is busy. Unmounting a
// snapshot that is not mounted, or does not exist, is not an error.
func (s *Store) Unmount(ctx context.Context, id string) error {
	if err := checkID(id); err != nil {
		return err
	}
	unlock := s.lock("container/" + id)
	defer unlock()
	return mount.Unmount(filepath.Join(s.containerPath(id), mergedDir))
}

// Remove unmounts container snapshot id if needed and deletes it. Removing a missing snapshot is not an error.
func (s *Store) Remove(ctx context.Context, id string) error {
	if err := checkID(id); err != nil {
		return err
	}
	unlock := s.lock("container/" + id)
	defer unlock()
	p := s.containerPath(id)
	if err := mount.Unmount(filepath.Join(p, mergedDir)); err != nil {
		return err
	}
	if err := s.removeDir(p); err != nil {
		return fmt.Errorf("snapshot: removing container snapshot %s: %w", id, err)
	}
	return nil
}

// Usage returns the bytes a container has written: the size of the regular files and symlinks in its upper
// directory, each hard-linked file counted once (what `docker ps --size` shows as the writable layer). It is
// best effort, for display: on an error it logs and returns 0.
func (s *Store) Usage(ctx context.Context, id string) int64 {
	size, err := dirUsage(ctx, s.Upper(id))
	if err != nil {
		slog.Warn("snapshot: cannot compute usage", "container", id, "err", err)
		return 0
	}
	return size
}

// LayerUsage returns the bytes layer chainID's files take (its diff and the store's bookkeeping beside it),
// each hard-linked file counted once: what removing it frees. 0 when there is no such layer.
func (s *Store) LayerUsage(ctx context.Context, chainID digest.Digest) int64 {
	dir, ok := s.Layer(ctx, chainID)
	if !ok {
		return 0
	}
	size, err := dirUsage(ctx, filepath.Dir(dir))
	if err != nil {
		slog.WarnContext(ctx, "snapshot: measuring a layer", "layer", chainID, "err", err)
	}
	return size
}

// dirUsage is the size of the files under dir, each hard-linked file counted once (file sizes, not blocks, as
// docker shows them). Files removed while it walks are skipped; what it saw is returned with any other error.
func dirUsage(ctx context.Context, dir string) (int64, error) {
	var size int64
	seen := map[uint64]bool{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && p != dir {
				return nil // removed (by the running container) while we walked
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return nil
		}
		if st.Nlink > 1 {
			if seen[st.Ino] {
				return nil
			}
			seen[st.Ino] = true
		}
		size += st.Size
		return nil
	})
	return size, err
}

// checkNoMounts refuses to let a directory be deleted while anything is mounted below it: deleting through a
// mount would delete what is mounted.
func (s *Store) checkNoMounts(p string) error {
	mounts, err := mountinfo.GetMounts(mountinfo.PrefixFilter(p))
	if err != nil {
		return err
	}
	if len(mounts) > 0 {
		return fmt.Errorf("%s is still mounted: %w", mounts[0].Mountpoint, errdefs.ErrConflict)
	}
	return nil
}
