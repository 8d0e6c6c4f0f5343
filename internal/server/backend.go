package server

import (
	"context"
	"io"

	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/container"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth/berth/internal/builder"
	"github.com/berth/berth/internal/containers"
	"github.com/berth/berth/internal/distribution"
	"github.com/berth/berth/internal/events"
	"github.com/berth/berth/internal/filters"
	"github.com/berth/berth/internal/image"
	berthnet "github.com/berth/berth/internal/network"
	"github.com/berth/berth/internal/sysinfo"
	"github.com/berth/berth/internal/volume"
)

// The server reaches the engine only through the role interfaces below, one per area of the API (as moby's
// api/server/router/*/backend.go). Each route takes the smallest one it needs; the daemon wires the services
// that implement them, and the server's tests use fakes.

// Backends are the services the API serves.
type Backends struct {
	Containers   ContainerBackend
	Streams      ContainerStreamBackend
	Files        ContainerFilesBackend
	Exec         ExecBackend
	Images       ImageBackend
	Distribution DistributionBackend
	Build        BuildBackend
	Networks     NetworkBackend
	Volumes      VolumeBackend
	System       SystemBackend
	Events       EventsBackend
	// Swarm is swarm mode (nil: the node is in no swarm and cannot join one).
	Swarm SwarmBackend
	// VMs is Berth's virtual machine API (nil: the daemon runs none).
	VMs VMBackend
}

// ContainerBackend is the containers' lifecycle.
type ContainerBackend interface {
	Create(ctx context.Context, opts containers.CreateOptions) (container.CreateResponse, error)
	List(ctx context.Context, opts containers.ListOptions) ([]container.Summary, error)
	Inspect(ctx context.Context, ref string, size bool) (container.InspectResponse, error)
	Start(ctx context.Context, ref string) error
	// Stop and Restart take the stop signal ("" for the container's) and a timeout in seconds (nil for the
	// container's own; negative waits forever).
	Stop(ctx context.Context, ref, signal string, timeout *int) error
	Restart(ctx context.Context, ref, signal string, timeout *int) error
	Kill(ctx context.Context, ref, signal string) error
	Pause(ctx context.Context, ref string) error
	Unpause(ctx context.Context, ref string) error
	Rename(ctx context.Context, ref, newName string) error
	Update(ctx context.Context, ref string, u container.UpdateConfig) ([]string, error)
	Remove(ctx context.Context, ref string, opts containers.RemoveOptions) error
	// Wait blocks until cond holds and returns the exit code; ready is called once the wait is registered.
	Wait(ctx context.Context, ref string, cond container.WaitCondition, ready func()) (int, error)
	PruneContainers(ctx context.Context, f filters.Args) (container.PruneReport, error)
}

// ContainerStreamBackend is what streams a container's I/O and figures to a client.
type ContainerStreamBackend interface {
	// AttachTTY reports whether the container has a terminal (raw stream) or not (multiplexed stream).
	AttachTTY(ref string) (bool, error)
	Attach(ctx context.Context, ref string, opts containers.AttachOptions) error
	Resize(ctx context.Context, ref string, height, width uint16) error
	Logs(ctx context.Context, ref string, opts containers.LogsOptions, out io.Writer) error
	Stats(ctx context.Context, ref string, stream, oneShot bool, out io.Writer) error
	Top(ctx context.Context, ref, psArgs string) (container.TopResponse, error)
}

// ContainerFilesBackend is a container's filesystem: copying files in and out, its changes, export and commit.
type ContainerFilesBackend interface {
	StatPath(ctx context.Context, ref, path string) (container.PathStat, error)
	ArchivePath(ctx context.Context, ref, path string, stat func(container.PathStat), w io.Writer) error
	ExtractToPath(ctx context.Context, ref, path string, noOverwriteDirNonDir bool, r io.Reader) error
	Export(ctx context.Context, ref string, w io.Writer) error
	Changes(ctx context.Context, ref string) ([]container.FilesystemChange, error)
	Commit(ctx context.Context, opts containers.CommitOptions) (string, error)
}

// ExecBackend runs processes in running containers.
type ExecBackend interface {
	ExecCreate(ctx context.Context, ref string, cfg container.ExecCreateRequest) (string, error)
	// ExecTTY reports whether the exec has a terminal.
	ExecTTY(id string) (bool, error)
	ExecStart(ctx context.Context, id string, opts containers.ExecStartOptions) error
	ExecResize(ctx context.Context, id string, height, width uint16) error
	ExecInspect(ctx context.Context, id string) (container.ExecInspectResponse, error)
}

// ImageBackend is the local image store. Get is inspect's record; the routes turn the records into Docker's
// shapes (images.go).
type ImageBackend interface {
	List(ctx context.Context, all bool, f filters.Args) ([]image.Summary, error)
	Get(ctx context.Context, ref string) (*image.Image, error)
	History(ctx context.Context, ref string) ([]image.HistoryEntry, error)
	Tag(ctx context.Context, source, target string) error
	Import(ctx context.Context, r io.Reader, ref string, changes []string, message string, platform *ocispec.Platform) (digest.Digest, error)
	Load(ctx context.Context, r io.Reader) ([]string, error)
	Save(ctx context.Context, w io.Writer, names []string) error
	// Delete and Prune refuse, or skip, images that containers use.
	Delete(ctx context.Context, ref string, force, noPrune bool) ([]image.DeleteItem, error)
	Prune(ctx context.Context, all bool, f filters.Args) (image.PruneResult, error)
}

// DistributionBackend moves images between the store and registries, with the credentials the client sent
// (decoded from X-Registry-Auth or the login body by the routes).
type DistributionBackend interface {
	Pull(ctx context.Context, ref reference.Named, platform *ocispec.Platform, auth distribution.Credentials, progress image.ProgressFunc) (digest.Digest, error)
	Push(ctx context.Context, ref reference.NamedTagged, auth distribution.Credentials, progress image.ProgressFunc) error
	Login(ctx context.Context, auth distribution.Credentials) (distribution.LoginResult, error)
	// Search takes Docker's term ("text" for Docker Hub, "host/text" for a registry) and at most limit
	// results, 0 for the default.
	Search(ctx context.Context, term string, limit int, auth distribution.Credentials) ([]distribution.SearchResult, error)
}

// BuildBackend builds images from a context and a Dockerfile.
type BuildBackend interface {
	// Build reads the context tar from r, writes the build's output text to out and returns the image ID.
	Build(ctx context.Context, r io.Reader, opts builder.Options, out io.Writer) (string, error)
	// Prune empties the build cache; it returns the cache keys dropped and the bytes reclaimed.
	Prune(ctx context.Context) ([]string, int64, error)
}

// NetworkBackend is networks and containers' attachments to them, in Berth's types (the routes convert).
type NetworkBackend interface {
	List(ctx context.Context, f filters.Args) ([]berthnet.Network, error)
	Inspect(ctx context.Context, ref string) (berthnet.Network, error)
	Create(ctx context.Context, opts berthnet.CreateOptions) (berthnet.Network, error)
	Remove(ctx context.Context, ref string) error
	Connect(ctx context.Context, netRef, containerRef string, opts berthnet.EndpointOptions) error
	Disconnect(ctx context.Context, netRef, containerRef string, force bool) error
	Prune(ctx context.Context, f filters.Args) ([]string, error)
}

// VolumeBackend is named volumes.
type VolumeBackend interface {
	List(ctx context.Context, f filters.Args) ([]volume.Volume, error)
	Inspect(ctx context.Context, name string) (volume.Volume, error)
	// Create makes a volume (anonymous when name is empty) or returns the existing one of that name.
	Create(ctx context.Context, name string, labels, opts map[string]string) (volume.Volume, error)
	Remove(ctx context.Context, name string, force bool) error
	Prune(ctx context.Context, f filters.Args) (volume.PruneReport, error)
	// Usage is the size of a volume's data and how many containers use it.
	Usage(ctx context.Context, name string) (volume.Usage, error)
}

// SystemBackend describes the engine.
type SystemBackend interface {
	Info(ctx context.Context) sysinfo.Info
	// KernelVersion is the host kernel's release, for /version.
	KernelVersion() string
}

// EventsBackend is the engine's event stream.
type EventsBackend interface {
	// Subscribe places a subscription in the event history (see events.Options); it fails with an
	// events.LostError when the events asked for are no longer all held.
	Subscribe(opts events.Options) (*events.Subscription, error)
}
