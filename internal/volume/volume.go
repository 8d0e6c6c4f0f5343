// Package volume owns named volumes with Docker's "local" driver: each volume is a directory
// <root>/<name>/_data with its labels, options and creation time in <root>/<name>/meta.json. Volumes created with
// type/device/o options are mounted on their _data directory while in use (tmpfs, bind, or any filesystem the
// kernel mounts from a device). The package also copies an image's content into a fresh volume (CopyImageData).
//
// A volume's life:
//
//	v, _ := store.Create(ctx, "data", labels, nil)   // idempotent: an existing "data" is returned as is
//	dir, _ := store.Mount(ctx, "data")               // per container start; mounts type/device/o volumes
//	_ = volume.CopyImageData(rootfsPath, dir)        // first use: seed an empty volume from the image
//	_ = store.Unmount(ctx, "data")                   // per container stop
//	_ = store.Remove(ctx, "data", false, inUse)      // ErrConflict while a container uses it
//
// The store does not know containers; callers say which containers use a volume through an in-use callback.
package volume

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/sys/mountinfo"

	"github.com/berth/berth/internal/atomicfile"
	"github.com/berth/berth/internal/filters"
)

const (
	// DriverName is the only driver this store implements.
	DriverName = "local"
	// AnonymousLabel marks volumes created without a name; prune removes only these unless all=true.
	AnonymousLabel = "com.docker.volume.anonymous"

	dataDir  = "_data"
	metaFile = "meta.json"
	// Staging and trash names start with '.', which a volume name cannot.
	tmpPrefix   = ".tmp-"
	trashPrefix = ".rm-"
)

// nameRegex is Docker's rule for local volume names.
var nameRegex = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

// Volume is a named volume as the store describes it.
type Volume struct {
	Name   string
	Driver string
	// Mountpoint is the directory containers mount (<root>/<name>/_data).
	Mountpoint string
	CreatedAt  time.Time
	Labels     map[string]string
	// Options are the driver options it was created with (type, device, o).
	Options map[string]string
}

// Anonymous reports whether the volume was created without a name (prune removes only these unless all=true).
func (v Volume) Anonymous() bool {
	_, ok := v.Labels[AnonymousLabel]
	return ok
}

// Usage is what a volume takes: the bytes of its data and how many containers use it.
type Usage struct {
	Size     int64
	RefCount int
}

// PruneReport is what a prune removed: the volumes, and the bytes their data took, which the removal freed.
type PruneReport struct {
	Deleted        []string
	SpaceReclaimed uint64
}

// InUseFunc returns the IDs of the containers using a volume (none: nil).
type InUseFunc func(name string) []string

// Store is the local volume driver rooted at <data-root>/volumes. It is safe for concurrent use.
type Store struct {
	root  string
	inUse InUseFunc

	mu     sync.Mutex
	mounts map[string]int // active Mount calls per volume with mount options
}

// Option configures a Store.
type Option func(*Store)

// WithInUse sets how the store learns which containers use a volume: List's dangling filter uses it, and so do
// Remove and Prune when they are given no callback of their own.
func WithInUse(fn InUseFunc) Option { return func(s *Store) { s.inUse = fn } }

// meta is the on-disk record of a volume.
type meta struct {
	Driver    string            `json:"driver"`
	Labels    map[string]string `json:"labels,omitempty"`
	Options   map[string]string `json:"options,omitempty"`
	CreatedAt time.Time         `json:"createdAt"`
}

// New opens (creating it if needed) the volume store at root and clears leftovers of interrupted operations.
func New(root string, opts ...Option) (*Store, error) {
	s := &Store{root: root, mounts: map[string]int{}}
	for _, o := range opts {
		o(s)
	}
	if err := os.MkdirAll(root, 0o701); err != nil {
		return nil, fmt.Errorf("create volume root: %w", err)
	}
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("read volume root: %w", err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), tmpPrefix) || strings.HasPrefix(e.Name(), trashPrefix) {
			p := filepath.Join(root, e.Name())
			if err := removeUnmounted(p); err != nil {
				slog.Warn("cannot remove leftover volume directory", "path", p, "error", err)
			}
		}
	}
	return s, nil
}

func (s *Store) dir(name string) string      { return filepath.Join(s.root, name) }
func (s *Store) dataPath(name string) string { return filepath.Join(s.root, name, dataDir) }

func notFound(op, name string) error {
	return errdefs.ErrNotFound.WithMessage(fmt.Sprintf("%s %s: no such volume", op, name))
}

// validateName applies Docker's local volume name rules.
func validateName(name string) error {
	if len(name) == 1 {
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf(
			"create %s: volume name is too short, names should be at least two alphanumeric characters", name))
	}
	if !nameRegex.MatchString(name) {
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf(
			"create %s: %q includes invalid characters for a local volume name, only %q are allowed. "+
				"If you intended to pass a host directory, use absolute path", name, name, "[a-zA-Z0-9][a-zA-Z0-9_.-]"))
	}
	return nil
}

// load reads a volume's record; a missing or invalid name is ErrNotFound with Docker's "<op> <name>: no such volume".
func (s *Store) load(op, name string) (meta, error) {
	if !nameRegex.MatchString(name) {
		return meta{}, notFound(op, name)
	}
	data, err := os.ReadFile(filepath.Join(s.dir(name), metaFile))
	if errors.Is(err, fs.ErrNotExist) {
		return meta{}, notFound(op, name)
	}
	if err != nil {
		return meta{}, fmt.Errorf("%s %s: %w", op, name, err)
	}
	var m meta
	if err := json.Unmarshal(data, &m); err != nil {
		return meta{}, fmt.Errorf("%s %s: corrupt %s: %v: %w", op, name, metaFile, err, errdefs.ErrDataLoss)
	}
	return m, nil
}

func (s *Store) volume(name string, m meta) Volume {
	return Volume{
		Name:       name,
		Driver:     m.Driver,
		Mountpoint: s.dataPath(name),
		CreatedAt:  m.CreatedAt,
		Labels:     m.Labels,
		Options:    m.Options,
	}
}

// Create makes a volume. An empty name makes an anonymous volume with a random 64-hex name, labelled
// AnonymousLabel. Creating a name that exists returns the existing volume unchanged, as Docker does.
func (s *Store) Create(ctx context.Context, name string, labels, opts map[string]string) (Volume, error) {
	if err := ctx.Err(); err != nil {
		return Volume{}, err
	}
	if name == "" {
		var b [32]byte
		if _, err := rand.Read(b[:]); err != nil {
			return Volume{}, fmt.Errorf("create: random name: %w", err)
		}
		name = hex.EncodeToString(b[:])
		labels = cloneMap(labels)
		if labels == nil {
			labels = map[string]string{}
		}
		labels[AnonymousLabel] = ""
	}
	if err := validateName(name); err != nil {
		return Volume{}, err
	}
	if _, err := parseOptions(opts); err != nil {
		return Volume{}, fmt.Errorf("create %s: %w", name, err)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if m, err := s.load("create", name); err == nil {
		return s.volume(name, m), nil
	} else if !errdefs.IsNotFound(err) {
		return Volume{}, err
	}
	if _, err := os.Lstat(s.dir(name)); err == nil {
		// A directory without a record: not ours to reuse silently.
		return Volume{}, fmt.Errorf("create %s: %s exists without %s: %w", name, s.dir(name), metaFile, errdefs.ErrConflict)
	}

	m := meta{Driver: DriverName, Labels: cloneMap(labels), Options: cloneMap(opts), CreatedAt: time.Now().UTC().Truncate(time.Second)}
	tmp, err := os.MkdirTemp(s.root, tmpPrefix)
	if err != nil {
		return Volume{}, fmt.Errorf("create %s: %w", name, err)
	}
	committed := false
	defer func() {
		if !committed {
			_ = os.RemoveAll(tmp)
		}
	}()
	if err := os.Chmod(tmp, 0o755); err != nil {
		return Volume{}, fmt.Errorf("create %s: %w", name, err)
	}
	if err := os.Mkdir(filepath.Join(tmp, dataDir), 0o755); err != nil {
		return Volume{}, fmt.Errorf("create %s: %w", name, err)
	}
	data, err := json.Marshal(m)
	if err != nil {
		return Volume{}, fmt.Errorf("create %s: %w", name, err)
	}
	if err := atomicfile.WriteFile(filepath.Join(tmp, metaFile), data, 0o600); err != nil {
		return Volume{}, fmt.Errorf("create %s: %w", name, err)
	}
	// The volume appears whole or not at all.
	if err := os.Rename(tmp, s.dir(name)); err != nil {
		return Volume{}, fmt.Errorf("create %s: %w", name, err)
	}
	committed = true
	if err := atomicfile.SyncDir(s.root); err != nil {
		return Volume{}, fmt.Errorf("create %s: %w", name, err)
	}
	slog.Debug("volume created", "volume", name)
	return s.volume(name, m), nil
}

// Get returns a volume, or ErrNotFound "get <name>: no such volume".
func (s *Store) Get(ctx context.Context, name string) (Volume, error) {
	if err := ctx.Err(); err != nil {
		return Volume{}, err
	}
	m, err := s.load("get", name)
	if err != nil {
		return Volume{}, err
	}
	return s.volume(name, m), nil
}

// Path returns the directory a container mounts for the volume (<root>/<name>/_data).
func (s *Store) Path(name string) (string, error) {
	if _, err := s.load("get", name); err != nil {
		return "", err
	}
	return s.dataPath(name), nil
}

// names lists the volumes on disk, sorted.
func (s *Store) names() ([]string, error) {
	entries, err := os.ReadDir(s.root)
	if err != nil {
		return nil, fmt.Errorf("list volumes: %w", err)
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() && nameRegex.MatchString(e.Name()) {
			out = append(out, e.Name())
		}
	}
	slices.Sort(out)
	return out, nil
}

// List returns the volumes matching filters, sorted by name. Filters are Docker's: name (exact or regular
// expression), label ("key" or "key=value", all must match), driver, and dangling ("true"/"1" for volumes no
// container uses, "false"/"0" for used ones; needs WithInUse).
func (s *Store) List(ctx context.Context, f filters.Args) ([]Volume, error) {
	if err := f.Validate("name", "label", "driver", "dangling"); err != nil {
		return nil, err
	}
	dangling, err := f.GetBoolOrDefault("dangling", false)
	if err != nil {
		return nil, err
	}
	names, err := s.names()
	if err != nil {
		return nil, err
	}
	out := []Volume{}
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		m, err := s.load("get", name)
		if err != nil {
			if !errdefs.IsNotFound(err) { // not found: removed meanwhile
				slog.Warn("skipping unreadable volume", "volume", name, "error", err)
			}
			continue
		}
		if !f.Match("name", name) || !f.MatchKVList("label", m.Labels) || !f.ExactMatch("driver", m.Driver) {
			continue
		}
		if f.Contains("dangling") {
			used := s.inUse != nil && len(s.inUse(name)) > 0
			if used == dangling {
				continue
			}
		}
		out = append(out, s.volume(name, m))
	}
	return out, nil
}

// Remove deletes a volume and its data. A volume in use is ErrConflict
// "remove <name>: volume is in use - [<ids>]", even with force; force only makes a missing volume no error.
// inUse nil falls back to WithInUse.
func (s *Store) Remove(ctx context.Context, name string, force bool, inUse func(name string) []string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if inUse == nil {
		inUse = s.inUse
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.removeLocked(name, force, inUse)
}

func (s *Store) removeLocked(name string, force bool, inUse func(string) []string) error {
	if _, err := s.load("remove", name); err != nil {
		if force && errdefs.IsNotFound(err) {
			return nil
		}
		return err
	}
	if inUse != nil {
		if ids := inUse(name); len(ids) > 0 {
			return errdefs.ErrConflict.WithMessage(fmt.Sprintf("remove %s: volume is in use - [%s]", name, strings.Join(ids, ", ")))
		}
	}
	if err := s.unmountAll(name); err != nil {
		return fmt.Errorf("remove %s: %w", name, err)
	}
	if err := checkUnmounted(s.dir(name)); err != nil {
		return fmt.Errorf("remove %s: %w", name, err)
	}
	trash, err := os.MkdirTemp(s.root, trashPrefix)
	if err != nil {
		return fmt.Errorf("remove %s: %w", name, err)
	}
	// Rename first so the volume disappears at once, then delete at leisure.
	target := filepath.Join(trash, name)
	if err := os.Rename(s.dir(name), target); err != nil {
		_ = os.Remove(trash)
		return fmt.Errorf("remove %s: %w", name, err)
	}
	if err := atomicfile.SyncDir(s.root); err != nil {
		slog.Warn("sync volume root", "error", err)
	}
	if err := removeUnmounted(trash); err != nil {
		return fmt.Errorf("remove %s: %w", name, err)
	}
	slog.Debug("volume removed", "volume", name)
	return nil
}

// Prune removes the volumes no container uses: only anonymous ones unless the filter all=true (Docker ≥ 23),
// narrowed by label and label! filters.
func (s *Store) Prune(ctx context.Context, f filters.Args, inUse func(name string) []string) (PruneReport, error) {
	report := PruneReport{}
	if err := f.Validate("label", "label!", "all"); err != nil {
		return report, err
	}
	all := false
	switch vs := f.Get("all"); {
	case len(vs) > 1:
		return report, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid filter 'all=%s': only one value is expected", vs))
	case len(vs) == 1:
		// Docker reads this one with strconv.ParseBool, unlike its other boolean filters.
		b, err := strconv.ParseBool(vs[0])
		if err != nil {
			return report, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid filter 'all': %v", err))
		}
		all = b
	}
	if inUse == nil {
		inUse = s.inUse
	}
	names, err := s.names()
	if err != nil {
		return report, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			return report, err
		}
		m, err := s.load("get", name)
		if err != nil {
			continue
		}
		if _, anon := m.Labels[AnonymousLabel]; !anon && !all {
			continue
		}
		if !f.MatchLabels(m.Labels) {
			continue
		}
		if inUse != nil && len(inUse(name)) > 0 {
			continue
		}
		size, err := dirSize(ctx, s.dataPath(name))
		if err != nil {
			slog.Warn("cannot size volume", "volume", name, "error", err)
		}
		if err := s.removeLocked(name, false, inUse); err != nil {
			slog.Warn("cannot prune volume", "volume", name, "error", err)
			continue
		}
		report.Deleted = append(report.Deleted, name)
		if size > 0 {
			report.SpaceReclaimed += uint64(size)
		}
	}
	return report, nil
}

// Size returns the bytes used by a volume's data (file sizes, hard links counted once).
func (s *Store) Size(ctx context.Context, name string) (int64, error) {
	if _, err := s.load("get", name); err != nil {
		return 0, err
	}
	return dirSize(ctx, s.dataPath(name))
}

// Usage returns what `system df` shows of a volume: its size and how many containers use it.
func (s *Store) Usage(ctx context.Context, name string) (Usage, error) {
	size, err := s.Size(ctx, name)
	if err != nil {
		return Usage{}, err
	}
	u := Usage{Size: size}
	if s.inUse != nil {
		u.RefCount = len(s.inUse(name))
	}
	return u, nil
}

// dirSize sums the sizes of the non-directories under dir without following symlinks, hard links once.
func dirSize(ctx context.Context, dir string) (int64, error) {
	seen := map[inodeKey]bool{}
	var total int64
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.IsDir() {
			return nil // directory sizes are not counted, as in Docker
		}
		info, err := d.Info()
		if err != nil {
			return nil // removed meanwhile
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok && st.Nlink > 1 {
			key := inodeKey{uint64(st.Dev), st.Ino}
			if seen[key] {
				return nil
			}
			seen[key] = true
		}
		total += info.Size()
		return nil
	})
	return total, err
}

// inodeKey identifies a file across hard links.
type inodeKey struct{ dev, ino uint64 }

func cloneMap(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// removeUnmounted deletes path recursively, refusing if anything below it is still a mount point (deleting
// through a bind mount would destroy the host's data).
func removeUnmounted(path string) error {
	if err := checkUnmounted(path); err != nil {
		return err
	}
	return os.RemoveAll(path)
}

// checkUnmounted fails with ErrFailedPrecondition if path or anything below it is a mount point.
func checkUnmounted(path string) error {
	mounts, err := mountinfo.GetMounts(mountinfo.PrefixFilter(path))
	if err != nil {
		return err
	}
	if len(mounts) > 0 {
		return fmt.Errorf("%s is still mounted: %w", mounts[0].Mountpoint, errdefs.ErrFailedPrecondition)
	}
	return nil
}
