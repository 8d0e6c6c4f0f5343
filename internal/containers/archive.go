package containers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/containerd/errdefs"
	securejoin "github.com/cyphar/filepath-securejoin"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"

	"github.com/berth/berth/internal/archive"
	"github.com/berth/berth/internal/events"
	"github.com/berth/berth/internal/image"
)

func secureJoin(root, p string) (string, error) {
	return securejoin.SecureJoin(root, p)
}

// containerRoot returns a host path that shows the container's filesystem with its mounts, and a release func.
// A running container is reached through /proc/<pid>/root (its own mount namespace, mounts included); a stopped
// one through its snapshot, with bind and volume mounts mapped by hand.
func (d *Service) containerRoot(ctx context.Context, c *Container) (string, []MountPoint, func(), error) {
	c.mu.Lock()
	running, pid, mps := c.running(), c.State.Pid, append([]MountPoint{}, c.MountPoints...)
	c.mu.Unlock()
	if running && pid > 0 {
		return fmt.Sprintf("/proc/%d/root", pid), nil, func() {}, nil
	}
	root, err := d.snapshots.Mount(ctx, c.ID)
	if err != nil {
		return "", nil, nil, err
	}
	release := func() {
		c.mu.Lock()
		if !c.running() {
			d.snapshots.Unmount(context.WithoutCancel(ctx), c.ID)
		}
		c.mu.Unlock()
	}
	return root, mps, release, nil
}

// resolveInContainer maps an absolute container path to a host path that cannot escape the container, every
// symlink on the way (the last element's included) followed inside it.
func resolveInContainer(root string, mps []MountPoint, p string) (string, error) {
	base, _, rel := splitMount(root, mps, p)
	h, err := securejoin.SecureJoin(base, rel)
	return h, pathErrCause(err)
}

// splitMount finds the filesystem that holds container path p: the root, or a bind/volume mount's source; it
// returns that filesystem's host path, where it is mounted in the container and the path relative to it.
func splitMount(root string, mps []MountPoint, p string) (base, dest, rel string) {
	p = path.Clean("/" + p)
	sort.Slice(mps, func(i, j int) bool { return len(mps[i].Destination) > len(mps[j].Destination) })
	for _, m := range mps {
		if m.Type == mount.TypeTmpfs || m.Source == "" {
			continue
		}
		if p == m.Destination || strings.HasPrefix(p, strings.TrimSuffix(m.Destination, "/")+"/") {
			return m.Source, m.Destination, "/" + strings.TrimPrefix(p, m.Destination)
		}
	}
	return root, "/", p
}

// containerPath is docker's reading of a request's path: absolute and clean, with a trailing "/" or "/." kept,
// since they ask for what a symlink leads to, or for a directory's contents (archive.PreserveTrailingDotOrSeparator).
func containerPath(p string) string {
	abs := path.Join("/", p)
	if path.Base(p) == "." { // "", ".", "dir/."
		abs = strings.TrimSuffix(abs, "/") + "/."
	}
	if !strings.HasSuffix(abs, "/") && strings.HasSuffix(p, "/") {
		abs += "/"
	}
	return abs
}

// resolvePath is docker's container.ResolvePath: the parent of abs is resolved inside the container (symlinks
// followed, never out of it) and its last element is not, so that a symlink there is seen as itself; a path
// ending in "/" or "/." names what its last element leads to. followed says the whole path was resolved.
func resolvePath(root string, mps []MountPoint, abs string) (host string, followed bool, err error) {
	dir, base := path.Split(abs)
	if base == "" || base == "." {
		host, err = resolveInContainer(root, mps, abs)
		return host, true, err
	}
	hostDir, err := resolveInContainer(root, mps, dir)
	if err != nil {
		return "", false, err
	}
	return filepath.Join(hostDir, base), false, nil
}

// linkTarget is where symlink abs leads in the container: the absolute container path of its full
// resolution, which never leaves the container (nor the mount it is in, for a stopped container's volumes).
func linkTarget(root string, mps []MountPoint, abs string) (string, error) {
	base, dest, rel := splitMount(root, mps, abs)
	h, err := securejoin.SecureJoin(base, rel)
	if err != nil {
		return "", pathErrCause(err)
	}
	return path.Join(dest, strings.TrimPrefix(h, strings.TrimSuffix(base, "/"))), nil
}

// StatPath describes a path in the container (HEAD /containers/{id}/archive).
func (d *Service) StatPath(ctx context.Context, ref, p string) (container.PathStat, error) {
	c, err := d.containers.get(ref)
	if err != nil {
		return container.PathStat{}, err
	}
	root, mps, release, err := d.containerRoot(ctx, c)
	if err != nil {
		return container.PathStat{}, err
	}
	defer release()
	ps, _, err := statPath(root, mps, ref, containerPath(p))
	return ps, err
}

// statPath is docker's container.StatPath: the last element of abs is not followed, and a symlink's
// LinkTarget is the absolute container path it leads to, resolved inside the container (the docker CLI
// follows it with it: cp -L, and cp into a link). It returns the host path it described.
func statPath(root string, mps []MountPoint, ref, abs string) (container.PathStat, string, error) {
	host, _, err := resolvePath(root, mps, abs)
	if err != nil {
		return container.PathStat{}, "", err
	}
	st, err := os.Lstat(host)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return container.PathStat{}, "", errdefs.ErrNotFound.WithMessage(fmt.Sprintf("Could not find the file %s in container %s", abs, ref))
		}
		return container.PathStat{}, "", fmt.Errorf("stat %s in container %s: %w", abs, ref, pathErrCause(err))
	}
	ps := container.PathStat{Name: path.Base(abs), Size: st.Size(), Mode: st.Mode(), Mtime: st.ModTime()}
	if st.Mode()&os.ModeSymlink != 0 {
		if ps.LinkTarget, err = linkTarget(root, mps, abs); err != nil {
			return container.PathStat{}, "", err
		}
	}
	return ps, host, nil
}

// pathErrCause drops the host path an *os.PathError names: messages go to API clients.
func pathErrCause(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// ArchivePath writes a tar of path p in the container to w, after calling stat with the path's description
// (GET /containers/{id}/archive). As docker's, the last element of p is archived as it is, a symlink as a
// symlink, unless p ends in "/" or "/."; entries are named after p's last element ("." for "/." and "/").
func (d *Service) ArchivePath(ctx context.Context, ref, p string, stat func(container.PathStat), w io.Writer) error {
	c, err := d.containers.get(ref)
	if err != nil {
		return err
	}
	root, mps, release, err := d.containerRoot(ctx, c)
	if err != nil {
		return err
	}
	defer release()
	abs := containerPath(p)
	ps, host, err := statPath(root, mps, ref, abs)
	if err != nil {
		return err
	}
	stat(ps)
	base := path.Base(abs)
	if base == "/" {
		base = "."
	}
	return archive.TarDir(ctx, w, host, archive.TarOptions{RebaseName: base, IncludeSelf: true})
}

// ExtractToPath unpacks a tar, plain or compressed (gzip, bzip2, xz, zstd), into directory p of the container
// (PUT /containers/{id}/archive). p is resolved inside the container, a symlink at its end included, as
// docker's extraction point is.
func (d *Service) ExtractToPath(ctx context.Context, ref, p string, noOverwriteDirNonDir bool, r io.Reader) error {
	c, err := d.containers.get(ref)
	if err != nil {
		return err
	}
	c.mu.Lock()
	readonly := c.HostConfig.ReadonlyRootfs
	c.mu.Unlock()
	root, mps, release, err := d.containerRoot(ctx, c)
	if err != nil {
		return err
	}
	defer release()
	abs := containerPath(p)
	host, err := resolveInContainer(root, mps, abs)
	if err != nil {
		return err
	}
	st, err := os.Stat(host)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return errdefs.ErrNotFound.WithMessage(fmt.Sprintf("Could not find the file %s in container %s", abs, ref))
		}
		return fmt.Errorf("extraction point %s in container %s: %w", abs, ref, pathErrCause(err))
	}
	if !st.IsDir() {
		return errdefs.ErrInvalidArgument.WithMessage("extraction point is not a directory")
	}
	if readonly {
		return errdefs.ErrPermissionDenied.WithMessage("container rootfs is marked read-only")
	}
	// Resolve the destination and every entry inside the container's root, so symlinks in the tar or the
	// container resolve as they would in the container.
	base, _, rel := splitMount(root, mps, abs)
	if err := archive.ApplyTo(ctx, base, rel, r, noOverwriteDirNonDir); err != nil {
		return err
	}
	d.containerEvent(c, events.Action("extract-to-dir"), nil)
	return nil
}

// Export writes a tar of the container's whole filesystem (its snapshot, without volumes).
func (d *Service) Export(ctx context.Context, ref string, w io.Writer) error {
	c, err := d.containers.get(ref)
	if err != nil {
		return err
	}
	root, err := d.snapshots.Mount(ctx, c.ID)
	if err != nil {
		return err
	}
	defer func() {
		c.mu.Lock()
		if !c.running() {
			d.snapshots.Unmount(context.WithoutCancel(ctx), c.ID)
		}
		c.mu.Unlock()
	}()
	if err := archive.TarDir(ctx, w, root, archive.TarOptions{}); err != nil {
		return err
	}
	d.containerEvent(c, events.ActionExport, nil)
	return nil
}

// Changes lists what the container changed in its filesystem (docker diff).
func (d *Service) Changes(ctx context.Context, ref string) ([]container.FilesystemChange, error) {
	c, err := d.containers.get(ref)
	if err != nil {
		return nil, err
	}
	lowers, err := d.snapshots.LowersOf(ctx, c.ID)
	if err != nil {
		return nil, err
	}
	changes, err := archive.Changes(d.snapshots.Upper(c.ID), lowers)
	if err != nil {
		return nil, err
	}
	out := make([]container.FilesystemChange, 0, len(changes))
	for _, ch := range changes {
		out = append(out, container.FilesystemChange{Kind: container.ChangeType(ch.Kind), Path: ch.Path})
	}
	return out, nil
}

// Commit makes a new image from the container's changes.
func (d *Service) Commit(ctx context.Context, opts CommitOptions) (string, error) {
	c, err := d.containers.get(opts.Container)
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	running := c.State.Status == container.StateRunning
	imageID := c.ImageID
	cfg := *c.Config
	c.mu.Unlock()
	if opts.Pause && running {
		if err := d.Pause(ctx, c.ID); err == nil {
			defer d.Unpause(context.WithoutCancel(ctx), c.ID)
		}
	}
	if opts.Config != nil {
		merged := *opts.Config
		if len(merged.Cmd) == 0 {
			merged.Cmd = cfg.Cmd
		}
		if len(merged.Entrypoint) == 0 {
			merged.Entrypoint = cfg.Entrypoint
		}
		if len(merged.Env) == 0 {
			merged.Env = cfg.Env
		}
		if merged.WorkingDir == "" {
			merged.WorkingDir = cfg.WorkingDir
		}
		if merged.User == "" {
			merged.User = cfg.User
		}
		if merged.Labels == nil {
			merged.Labels = cfg.Labels
		}
		if merged.ExposedPorts == nil {
			merged.ExposedPorts = cfg.ExposedPorts
		}
		if merged.Volumes == nil {
			merged.Volumes = cfg.Volumes
		}
		if merged.StopSignal == "" {
			merged.StopSignal = cfg.StopSignal
		}
		cfg = merged
	}
	ref := opts.Repo
	if ref != "" && opts.Tag != "" {
		ref += ":" + opts.Tag
	}
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(archive.WriteDiff(ctx, pw, d.snapshots.Upper(c.ID)))
	}()
	id, err := d.images.Commit(ctx, imageID, pr, image.CommitConfig{
		Config:      commitConfig(&cfg),
		ContainerID: c.ID,
		Comment:     opts.Comment,
		Author:      opts.Author,
		Changes:     opts.Changes,
		Ref:         ref,
	})
	pr.CloseWithError(io.ErrClosedPipe)
	if err != nil {
		return "", err
	}
	d.containerEvent(c, events.ActionCommit, nil)
	return id.String(), nil
}

// commitConfig is the part of a container's config an image keeps, in the image config's terms. An empty but
// non-nil Entrypoint stays so (it clears the image's: run --entrypoint "").
func commitConfig(c *container.Config) *dockerspec.DockerOCIImageConfig {
	out := &dockerspec.DockerOCIImageConfig{}
	out.User = c.User
	out.Env = c.Env
	out.Entrypoint = c.Entrypoint
	out.Cmd = c.Cmd
	out.Volumes = c.Volumes
	out.WorkingDir = c.WorkingDir
	out.Labels = c.Labels
	out.StopSignal = c.StopSignal
	out.ArgsEscaped = c.ArgsEscaped
	out.Healthcheck = c.Healthcheck
	out.OnBuild = c.OnBuild
	out.Shell = c.Shell
	if len(c.ExposedPorts) > 0 {
		out.ExposedPorts = make(map[string]struct{}, len(c.ExposedPorts))
		for p := range c.ExposedPorts {
			out.ExposedPorts[p.String()] = struct{}{}
		}
	}
	return out
}

// Mount makes container ref's root filesystem available on the host, with its volumes and binds, for the
// builder's COPY steps; release undoes what it mounted.
func (d *Service) Mount(ctx context.Context, ref string) (root string, release func(), err error) {
	c, err := d.containers.get(ref)
	if err != nil {
		return "", nil, err
	}
	root, _, release, err = d.containerRoot(ctx, c)
	return root, release, err
}
