// Package containers is Berth's containers service: Docker's container model (records, create, start, stop,
// kill, remove, restart policies, exec, attach, logs, stats, health checks, copying files, commit) over the
// engine's images, snapshots, volumes, networks and tasks.
package containers

import (
	"errors"
	"io"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"

	"github.com/berth/berth/internal/filters"
)

// CreateOptions are the parameters of a container's creation (POST /containers/create).
type CreateOptions struct {
	Name             string
	Config           *container.Config
	HostConfig       *container.HostConfig
	NetworkingConfig *network.NetworkingConfig
	Platform         string
}

// ListOptions select containers for a listing (GET /containers/json).
type ListOptions struct {
	All     bool
	Limit   int
	Size    bool
	Filters filters.Args
}

// RemoveOptions are the parameters of a container's removal (DELETE /containers/{id}).
type RemoveOptions struct {
	Force   bool
	Volumes bool
	Link    bool
}

// LogsOptions select what of a container's log to read (GET /containers/{id}/logs).
type LogsOptions struct {
	Stdout, Stderr bool
	Follow         bool
	Tail           string // "all" or a number
	Since, Until   string // unix timestamps with optional fraction, as the docker CLI sends
	Timestamps     bool
	Details        bool
	// Ready, if set, is called once the log is found readable and before it is read: the API answers there.
	Ready func()
}

// AttachOptions are a client's streams and choices for attaching to a container (POST /containers/{id}/attach).
type AttachOptions struct {
	Stdin          io.Reader // the client's input; nil when stdin is not attached
	CloseWrite     func()    // half-closes the client connection after output ends (may be nil)
	Out            io.Writer // the client's output: stdcopy frames, or raw bytes for a tty
	Stdout, Stderr bool
	DetachKeys     string
	Logs           bool
	// Ready, if set, is called once the stream is registered (with the shim, or for the next start) and before
	// any output flows: the API answers the hijack there, so a client's start request cannot overtake it.
	Ready func() error
}

// ErrDetached reports that the client typed the detach key sequence.
var ErrDetached = errors.New("detached from container")

// ExecStartOptions are the client's streams for starting an exec (POST /exec/{id}/start); all nil when detached.
type ExecStartOptions struct {
	Detach bool
	Stdin  io.Reader
	Out    io.Writer
	// Stdout and Stderr, when set, receive the process's output unframed (the daemon's own execs: health checks).
	Stdout, Stderr io.Writer
}

// CommitOptions are the parameters of making an image from a container (POST /commit).
type CommitOptions struct {
	Container string
	Repo, Tag string
	Comment   string
	Author    string
	Changes   []string
	Pause     bool
	Config    *container.Config
}
