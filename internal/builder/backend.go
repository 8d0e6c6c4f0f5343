package builder

import (
	"context"
	"io"

	"github.com/berth/berth/internal/image"
)

// Backend is what the executor needs from the engine; internal/daemon implements it over its image store and its
// normal container path (create, start, wait, commit, remove). A RUN step is:
//
//	id, _ := b.CreateContainer(ctx, spec)         // from the step's parent image
//	b.StartContainer(ctx, id)
//	b.ContainerOutput(ctx, id, stdout, stderr)   // follows until the container stops
//	code, _ := b.WaitContainer(ctx, id)
//	b.ContainerChanges(ctx, id, w)                // the layer: a tar of the container's changes
//	b.CreateStep(ctx, parent, layer, cfg)
//	b.RemoveContainer(ctx, id)
//
// A COPY step creates a container without starting it and writes into MountContainer's root instead.
type Backend interface {
	// GetImage returns a local image by reference or ID. With pull set the implementation may fetch the image
	// first; a missing image is errdefs.ErrNotFound. It is the one place the builder gets a base image from.
	GetImage(ctx context.Context, ref string, opts GetImageOptions) (*image.Image, error)
	// CreateStep creates an untagged image from parentID plus an optional layer (see image.Store.CreateStep).
	CreateStep(ctx context.Context, parentID string, layer io.Reader, cfg image.StepConfig) (string, error)
	// TagImage points ref at the image id.
	TagImage(ctx context.Context, id, ref string) error
	// RemoveImage removes an untagged image a failed build made.
	RemoveImage(ctx context.Context, id string) error

	CreateContainer(ctx context.Context, spec ContainerSpec) (string, error)
	StartContainer(ctx context.Context, id string) error
	// ContainerOutput copies the container's stdout and stderr until it stops.
	ContainerOutput(ctx context.Context, id string, stdout, stderr io.Writer) error
	WaitContainer(ctx context.Context, id string) (int, error)
	// MountContainer returns a host path showing the stopped container's root filesystem, and its release.
	MountContainer(ctx context.Context, id string) (string, func(), error)
	// ContainerChanges writes a layer tar of the container's changes to w.
	ContainerChanges(ctx context.Context, id string, w io.Writer) error
	// RemoveContainer removes the container, stopping it if needed, with its anonymous volumes.
	RemoveContainer(ctx context.Context, id string) error
}

// GetImageOptions are the options of Backend.GetImage.
type GetImageOptions struct {
	// Pull asks for the newest image from its registry (--pull).
	Pull bool
	// Platform is FROM --platform or --platform, "" for the daemon's.
	Platform string
	// Out receives the pull's progress as lines, when a pull happens.
	Out io.Writer
}

// ContainerSpec is a build container: the parent image and the command with its environment.
type ContainerSpec struct {
	Image      string
	Cmd        []string
	Env        []string
	User       string
	WorkingDir string
	// Network is the RUN network (--network): "" for the daemon's default bridge.
	Network string
	// ExtraHosts are host:ip entries for /etc/hosts (--add-host).
	ExtraHosts []string
}
