package daemon

import (
	"context"
	"os"
	"path/filepath"
	goruntime "runtime"

	"github.com/berth/berth/internal/cgroups"
	"github.com/berth/berth/internal/filters"
	"github.com/berth/berth/internal/image"
	"github.com/berth/berth/internal/mount"
	berthnet "github.com/berth/berth/internal/network"
	"github.com/berth/berth/internal/snapshot"
	"github.com/berth/berth/internal/vm/instance"
)

// setupVMs starts the instance service (`berth vm`) when the VM runtime is installed.
func (d *Daemon) setupVMs(ctx context.Context) error {
	if d.vmTasks == nil {
		return nil
	}
	initPath, _ := findBinary("berth-vm-init")
	_, table := networkNames(d.cfg.DataRoot)
	kernel := d.cfg.VMKernel
	if kernel == "" {
		kernel = filepath.Join(d.cfg.DataRoot, "vm", "kernel")
	}
	defaultNet := berthnet.Bridge
	if d.cfg.Bridge == "none" {
		defaultNet = "none"
	}
	svc, err := instance.New(ctx, instance.Config{
		Root: filepath.Join(d.cfg.DataRoot, "vm"), RunRoot: filepath.Join(d.cfg.ExecRoot, "vm", "instances"),
		Kernel: kernel, InitPath: initPath, BootCache: filepath.Join(d.cfg.DataRoot, "vm", "boot"), Accel: d.cfg.VMAccel,
		FirewallTable: table + "-vm", DefaultNetwork: defaultNet,
		HostCPUs: goruntime.NumCPU(), HostMemoryMiB: int(cgroups.HostMemory() >> 20), Debug: d.Debug(),
	}, vmImages{images: d.images, snapshots: d.snapshots, tmp: filepath.Join(d.cfg.DataRoot, "vm", "tmp")}, vmNetworks{d.networks})
	if err != nil {
		return err
	}
	d.vms = svc
	return nil
}

// VMService is the instance service, nil when the daemon runs no virtual machines.
func (d *Daemon) VMService() *instance.Service { return d.vms }

// vmImages gives the instance service the engine's images: their IDs and labels, and their files as a
// read-only overlay of their layers (what a root disk is made from).
type vmImages struct {
	images    *image.Store
	snapshots *snapshot.Store
	tmp       string
}

func (a vmImages) Resolve(ctx context.Context, ref string) (instance.Image, error) {
	img, err := a.images.Get(ctx, ref)
	if err != nil {
		return instance.Image{}, err
	}
	return instance.Image{ID: img.ID.String(), Labels: img.Config.Config.Labels}, nil
}

// List lists the images `docker images` shows (intermediate ones of builds aside), with what EC2's
// DescribeImages shows of them.
func (a vmImages) List(ctx context.Context) ([]instance.Image, error) {
	list, err := a.images.List(ctx, false, filters.Args{})
	if err != nil {
		return nil, err
	}
	out := make([]instance.Image, 0, len(list))
	for _, sum := range list {
		img := instance.Image{ID: sum.ID.String(), Labels: sum.Labels, Names: sum.RepoTags, Created: sum.Created, Size: sum.Size}
		if full, err := a.images.Get(ctx, sum.ID.String()); err == nil {
			img.Architecture = full.Config.Architecture
		}
		out = append(out, img)
	}
	return out, nil
}

func (a vmImages) RootFS(ctx context.Context, id string) (string, func(), error) {
	img, err := a.images.Get(ctx, id)
	if err != nil {
		return "", nil, err
	}
	if err := os.MkdirAll(a.tmp, 0o700); err != nil {
		return "", nil, err
	}
	dir, err := os.MkdirTemp(a.tmp, "rootfs-")
	if err != nil {
		return "", nil, err
	}
	target := filepath.Join(dir, "merged")
	for _, d := range []string{target, filepath.Join(dir, "upper"), filepath.Join(dir, "work")} {
		os.MkdirAll(d, 0o700)
	}
	if top := img.TopChainID(); top != "" {
		lowers, err := a.snapshots.Lowers(ctx, top)
		if err != nil {
			os.RemoveAll(dir)
			return "", nil, err
		}
		// An empty upper: nothing writes to it (mkfs only reads), so the image's layers are left as they are.
		if err := mount.Overlay(lowers, filepath.Join(dir, "upper"), filepath.Join(dir, "work")).Mount(target); err != nil {
			os.RemoveAll(dir)
			return "", nil, err
		}
	}
	return target, func() {
		mount.Unmount(target)
		os.RemoveAll(dir)
	}, nil
}

// vmNetworks attaches instances to the engine's networks as it attaches containers, by their IDs.
type vmNetworks struct{ m *berthnet.Manager }

func (n vmNetworks) NewSandbox(ctx context.Context, id string) (string, error) {
	return n.m.NewSandbox(ctx, id)
}
func (n vmNetworks) SandboxPath(id string) string { return n.m.SandboxPath(id) }
func (n vmNetworks) DeleteSandbox(ctx context.Context, id string) error {
	return n.m.DeleteSandbox(ctx, id)
}
func (n vmNetworks) DetachAll(ctx context.Context, id string) { n.m.DetachAll(ctx, id) }

func (n vmNetworks) Attach(ctx context.Context, id, name, network, nsPath string) (instance.Endpoint, error) {
	ep, err := n.m.Attach(ctx, berthnet.Sandbox{ContainerID: id, Name: name, NetNSPath: nsPath}, network, berthnet.EndpointOptions{})
	if err != nil {
		return instance.Endpoint{}, err
	}
	return instance.Endpoint{Network: network, Addr: ep.Addr, Gateway: ep.Gateway, MAC: ep.MAC.String()}, nil
}

func (n vmNetworks) Endpoint(id string) (instance.Endpoint, bool) {
	for name, ep := range n.m.Endpoints(id) {
		return instance.Endpoint{Network: name, Addr: ep.Addr, Gateway: ep.Gateway, MAC: ep.MAC.String()}, true
	}
	return instance.Endpoint{}, false
}
