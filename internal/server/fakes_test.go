package server

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/http/httptest"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/container"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth/berth/client"
	"github.com/berth/berth/internal/builder"
	"github.com/berth/berth/internal/containers"
	"github.com/berth/berth/internal/distribution"
	berthevents "github.com/berth/berth/internal/events"
	"github.com/berth/berth/internal/filters"
	"github.com/berth/berth/internal/image"
	berthnet "github.com/berth/berth/internal/network"
	"github.com/berth/berth/internal/sysinfo"
	"github.com/berth/berth/internal/volume"
)

// The fakes below stand in for the engine's services. They keep just enough state to answer like the real ones
// (in memory, no root, no processes) and record what the server passed them, so the tests assert what the server
// owns: routing, parameters, statuses, headers, stream framing and hijacking. A method a test does not need is
// left to the embedded interface (calling it panics, which fails the test loudly).

type fakeContainer struct {
	id, name string
	cfg      container.Config
	hc       container.HostConfig
	running  bool
	exit     int
	logs     string // written by Logs as is
}

type fakeContainers struct {
	ContainerBackend
	ContainerStreamBackend
	ContainerFilesBackend
	ExecBackend

	mu    sync.Mutex
	byID  map[string]*fakeContainer
	n     int
	calls []string // "stop id signal timeout", ... in order
	bus   *berthevents.Bus
}

func newFakeContainers(bus *berthevents.Bus) *fakeContainers {
	return &fakeContainers{byID: map[string]*fakeContainer{}, bus: bus}
}

func (f *fakeContainers) record(format string, args ...any) {
	f.mu.Lock()
	f.calls = append(f.calls, fmt.Sprintf(format, args...))
	f.mu.Unlock()
}

func (f *fakeContainers) lastCall() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.calls) == 0 {
		return ""
	}
	return f.calls[len(f.calls)-1]
}

func (f *fakeContainers) get(ref string) (*fakeContainer, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.byID {
		if c.id == ref || c.name == strings.TrimPrefix(ref, "/") {
			return c, nil
		}
	}
	return nil, errdefs.ErrNotFound.WithMessage("No such container: " + ref)
}

func (f *fakeContainers) Create(ctx context.Context, opts containers.CreateOptions) (container.CreateResponse, error) {
	if opts.Config.Image == "" {
		return container.CreateResponse{}, errdefs.ErrInvalidArgument.WithMessage("No command specified")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	id := fmt.Sprintf("%064d", f.n)
	name := opts.Name
	if name == "" {
		name = fmt.Sprintf("c%d", f.n)
	}
	c := &fakeContainer{id: id, name: name, cfg: *opts.Config}
	if opts.HostConfig != nil {
		c.hc = *opts.HostConfig
	}
	f.byID[id] = c
	return container.CreateResponse{ID: id, Warnings: []string{}}, nil
}

func (f *fakeContainers) List(ctx context.Context, opts containers.ListOptions) ([]container.Summary, error) {
	f.record("list all=%v filters=%v", opts.All, opts.Filters)
	f.mu.Lock()
	defer f.mu.Unlock()
	out := []container.Summary{}
	for _, c := range f.byID {
		if opts.All || c.running {
			out = append(out, container.Summary{ID: c.id, Names: []string{"/" + c.name}, Image: c.cfg.Image, ImageID: "sha256:img"})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

func (f *fakeContainers) Inspect(ctx context.Context, ref string, size bool) (container.InspectResponse, error) {
	c, err := f.get(ref)
	if err != nil {
		return container.InspectResponse{}, err
	}
	return container.InspectResponse{ID: c.id, Name: "/" + c.name, Config: &c.cfg, HostConfig: &c.hc,
		State: &container.State{Running: c.running, ExitCode: c.exit}}, nil
}

func (f *fakeContainers) Start(ctx context.Context, ref string) error {
	c, err := f.get(ref)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if c.running {
		return errdefs.ErrNotModified.WithMessage("container already started")
	}
	c.running = true
	return nil
}

func (f *fakeContainers) Stop(ctx context.Context, ref, signal string, timeout *int) error {
	t := "nil"
	if timeout != nil {
		t = fmt.Sprint(*timeout)
	}
	f.record("stop %s signal=%s timeout=%s", ref, signal, t)
	c, err := f.get(ref)
	if err != nil {
		return err
	}
	f.mu.Lock()
	c.running = false
	f.mu.Unlock()
	return nil
}

func (f *fakeContainers) Kill(ctx context.Context, ref, signal string) error {
	f.record("kill %s signal=%s", ref, signal)
	_, err := f.get(ref)
	return err
}

func (f *fakeContainers) Remove(ctx context.Context, ref string, opts containers.RemoveOptions) error {
	f.record("remove %s force=%v volumes=%v", ref, opts.Force, opts.Volumes)
	c, err := f.get(ref)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if c.running && !opts.Force {
		return errdefs.ErrConflict.WithMessage("cannot remove container: container is running: stop the container before removing or force remove")
	}
	delete(f.byID, c.id)
	return nil
}

func (f *fakeContainers) Wait(ctx context.Context, ref string, cond container.WaitCondition, ready func()) (int, error) {
	f.record("wait %s condition=%s", ref, cond)
	c, err := f.get(ref)
	if err != nil {
		return 0, err
	}
	ready()
	return c.exit, nil
}

func (f *fakeContainers) AttachTTY(ref string) (bool, error) {
	c, err := f.get(ref)
	if err != nil {
		return false, err
	}
	return c.cfg.Tty, nil
}

// Attach echoes the client's stdin back on stdout, framed or raw as the real service does.
func (f *fakeContainers) Attach(ctx context.Context, ref string, opts containers.AttachOptions) error {
	c, err := f.get(ref)
	if err != nil {
		return err
	}
	if err := opts.Ready(); err != nil {
		return err
	}
	if opts.Stdin == nil {
		return nil
	}
	buf := make([]byte, 64)
	n, err := opts.Stdin.Read(buf)
	if err != nil {
		return err
	}
	if c.cfg.Tty {
		_, err = opts.Out.Write(buf[:n])
	} else {
		_, err = opts.Out.Write(frame(1, buf[:n]))
	}
	return err
}

// frame is one stdcopy frame of the multiplexed stream.
func frame(stream byte, p []byte) []byte {
	n := len(p)
	return append([]byte{stream, 0, 0, 0, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}, p...)
}

func (f *fakeContainers) Logs(ctx context.Context, ref string, opts containers.LogsOptions, out io.Writer) error {
	f.record("logs %s stdout=%v stderr=%v tail=%s timestamps=%v", ref, opts.Stdout, opts.Stderr, opts.Tail, opts.Timestamps)
	c, err := f.get(ref)
	if err != nil {
		return err
	}
	if c.logs == "\x00unreadable" {
		return errdefs.ErrNotImplemented.WithMessage("configured logging driver does not support reading")
	}
	if opts.Ready != nil {
		opts.Ready()
	}
	_, err = io.WriteString(out, c.logs)
	return err
}

func (f *fakeContainers) StatPath(ctx context.Context, ref, path string) (container.PathStat, error) {
	if _, err := f.get(ref); err != nil {
		return container.PathStat{}, err
	}
	if path != "/etc/hostname" {
		return container.PathStat{}, errdefs.ErrNotFound.WithMessage("Could not find the file " + path + " in container " + ref)
	}
	return container.PathStat{Name: "hostname", Size: 13, Mode: 0o644}, nil
}

func (f *fakeContainers) ArchivePath(ctx context.Context, ref, path string, stat func(container.PathStat), w io.Writer) error {
	st, err := f.StatPath(ctx, ref, path)
	if err != nil {
		return err
	}
	stat(st)
	_, err = io.WriteString(w, "tar bytes")
	return err
}

func (f *fakeContainers) ExecCreate(ctx context.Context, ref string, cfg container.ExecCreateRequest) (string, error) {
	c, err := f.get(ref)
	if err != nil {
		return "", err
	}
	if !c.running {
		return "", errdefs.ErrConflict.WithMessage(fmt.Sprintf("container %s is not running", c.id))
	}
	f.record("exec-create %s cmd=%v", ref, cfg.Cmd)
	return "exec1", nil
}

func (f *fakeContainers) ExecTTY(id string) (bool, error) {
	if id != "exec1" {
		return false, errdefs.ErrNotFound.WithMessage("No such exec instance: " + id)
	}
	return false, nil
}

func (f *fakeContainers) ExecStart(ctx context.Context, id string, opts containers.ExecStartOptions) error {
	f.record("exec-start %s detach=%v", id, opts.Detach)
	if opts.Detach {
		return nil
	}
	_, err := opts.Out.Write(frame(2, []byte("from exec\n")))
	return err
}

// fakeImages answers from tags (reference -> image ID) and, for richer answers, from records (by image ID);
// List, History, Delete and Prune answer what the test put in summaries, history, deleted and pruned.
type fakeImages struct {
	ImageBackend
	mu        sync.Mutex
	tags      map[string]string // reference -> image ID
	records   map[string]*image.Image
	summaries []image.Summary
	history   []image.HistoryEntry
	deleted   []image.DeleteItem
	pruned    image.PruneResult
	calls     []string
}

func (f *fakeImages) record(format string, args ...any) {
	f.calls = append(f.calls, fmt.Sprintf(format, args...))
}

func (f *fakeImages) List(ctx context.Context, all bool, args filters.Args) ([]image.Summary, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("list all=%v filters=%v", all, args)
	if f.summaries != nil {
		return f.summaries, nil
	}
	out := []image.Summary{}
	for ref, id := range f.tags {
		out = append(out, image.Summary{ID: digest.Digest(id), RepoTags: []string{ref}, Size: 100})
	}
	return out, nil
}

func (f *fakeImages) resolveLocked(ref string) (string, error) {
	if id, ok := f.tags[ref]; ok {
		return id, nil
	}
	if _, ok := f.records[ref]; ok {
		return ref, nil
	}
	return "", errdefs.ErrNotFound.WithMessage("No such image: " + ref)
}

func (f *fakeImages) Get(ctx context.Context, ref string) (*image.Image, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id, err := f.resolveLocked(ref)
	if err != nil {
		return nil, err
	}
	if rec, ok := f.records[id]; ok {
		img := *rec
		return &img, nil
	}
	return &image.Image{ID: digest.Digest(id), RepoTags: []string{ref}, RepoDigests: []string{}}, nil
}

func (f *fakeImages) History(ctx context.Context, ref string) ([]image.HistoryEntry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.resolveLocked(ref); err != nil {
		return nil, err
	}
	return f.history, nil
}

func (f *fakeImages) Tag(ctx context.Context, source, target string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	id, ok := f.tags[source]
	if !ok {
		return errdefs.ErrNotFound.WithMessage("No such image: " + source)
	}
	f.tags[target] = id
	return nil
}

func (f *fakeImages) Delete(ctx context.Context, ref string, force, noPrune bool) ([]image.DeleteItem, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("delete %s force=%v noprune=%v", ref, force, noPrune)
	if _, err := f.resolveLocked(ref); err != nil {
		return nil, err
	}
	return f.deleted, nil
}

func (f *fakeImages) Prune(ctx context.Context, all bool, args filters.Args) (image.PruneResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("prune all=%v filters=%v", all, args)
	return f.pruned, nil
}

// fakeDistribution records the credentials each call was given; a login succeeds for alice:s3cret only.
type fakeDistribution struct {
	mu      sync.Mutex
	auths   []distribution.Credentials
	results []distribution.SearchResult
}

func (f *fakeDistribution) got(c distribution.Credentials) {
	f.mu.Lock()
	f.auths = append(f.auths, c)
	f.mu.Unlock()
}

func (f *fakeDistribution) last() distribution.Credentials {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.auths) == 0 {
		return distribution.Credentials{ServerAddress: "no call"}
	}
	return f.auths[len(f.auths)-1]
}

func (f *fakeDistribution) Pull(ctx context.Context, ref reference.Named, platform *ocispec.Platform, auth distribution.Credentials, progress image.ProgressFunc) (digest.Digest, error) {
	f.got(auth)
	progress(image.Progress{Status: "Status: Downloaded newer image for " + reference.FamiliarString(ref)})
	return "sha256:pulled", nil
}

func (f *fakeDistribution) Push(ctx context.Context, ref reference.NamedTagged, auth distribution.Credentials, progress image.ProgressFunc) error {
	f.got(auth)
	progress(image.Progress{Pushed: &image.PushResult{Tag: ref.Tag(), Digest: "sha256:abc", Size: 527}})
	return nil
}

func (f *fakeDistribution) Login(ctx context.Context, auth distribution.Credentials) (distribution.LoginResult, error) {
	f.got(auth)
	if auth.Username != "alice" || auth.Password != "s3cret" {
		return distribution.LoginResult{}, errdefs.ErrUnauthenticated.WithMessage("login attempt to https://r.example/v2/ failed with status: 401 Unauthorized")
	}
	return distribution.LoginResult{}, nil
}

func (f *fakeDistribution) Search(ctx context.Context, term string, limit int, auth distribution.Credentials) ([]distribution.SearchResult, error) {
	f.got(auth)
	return f.results, nil
}

type fakeVolumes struct {
	VolumeBackend
	mu   sync.Mutex
	vols map[string]volume.Volume
}

func (f *fakeVolumes) Create(ctx context.Context, name string, labels, opts map[string]string) (volume.Volume, error) {
	if strings.Contains(name, "/") {
		return volume.Volume{}, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("create %s: %q includes invalid characters for a local volume name", name, name))
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	v := volume.Volume{Name: name, Driver: "local", Labels: labels, Options: opts, Mountpoint: "/var/lib/berth/volumes/" + name + "/_data",
		CreatedAt: time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)}
	f.vols[name] = v
	return v, nil
}

func (f *fakeVolumes) List(ctx context.Context, args filters.Args) ([]volume.Volume, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []volume.Volume
	for _, v := range f.vols {
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (f *fakeVolumes) Inspect(ctx context.Context, name string) (volume.Volume, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.vols[name]
	if !ok {
		return volume.Volume{}, errdefs.ErrNotFound.WithMessage("get " + name + ": no such volume")
	}
	return v, nil
}

func (f *fakeVolumes) Prune(ctx context.Context, args filters.Args) (volume.PruneReport, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	rep := volume.PruneReport{}
	for name := range f.vols {
		rep.Deleted = append(rep.Deleted, name)
		rep.SpaceReclaimed += 42
	}
	sort.Strings(rep.Deleted)
	clear(f.vols)
	return rep, nil
}

func (f *fakeVolumes) Usage(ctx context.Context, name string) (volume.Usage, error) {
	return volume.Usage{Size: 42, RefCount: 1}, nil
}

// fakeNetworks keeps networks in a map and records what the routes pass, in words.
type fakeNetworks struct {
	mu    sync.Mutex
	nets  map[string]berthnet.Network // by name
	calls []string
	err   error // returned by the next call that changes something
}

func newFakeNetworks() *fakeNetworks {
	return &fakeNetworks{nets: map[string]berthnet.Network{
		"bridge": {Name: "bridge", ID: "n1", Driver: "bridge", Scope: "local", EnableIPv4: true,
			IPAM: berthnet.IPAM{Driver: "default", Config: []berthnet.IPAMConfig{{Subnet: netip.MustParsePrefix("172.17.0.0/16"), Gateway: netip.MustParseAddr("172.17.0.1")}}}},
	}}
}

func (f *fakeNetworks) record(format string, args ...any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fmt.Sprintf(format, args...))
	err := f.err
	f.err = nil
	return err
}

func (f *fakeNetworks) lastCall() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.calls) == 0 {
		return ""
	}
	return f.calls[len(f.calls)-1]
}

func (f *fakeNetworks) List(ctx context.Context, args filters.Args) ([]berthnet.Network, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []berthnet.Network
	for _, name := range slices.Sorted(maps.Keys(f.nets)) {
		if args.Match("name", name) {
			out = append(out, f.nets[name])
		}
	}
	return out, nil
}

func (f *fakeNetworks) Inspect(ctx context.Context, ref string) (berthnet.Network, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if n, ok := f.nets[ref]; ok {
		return n, nil
	}
	return berthnet.Network{}, errdefs.ErrNotFound.WithMessage("network " + ref + " not found")
}

func (f *fakeNetworks) Create(ctx context.Context, o berthnet.CreateOptions) (berthnet.Network, error) {
	if err := f.record("create %s driver=%q internal=%v attachable=%v ipv6=%v labels=%v options=%v ipam=%+v", o.Name, o.Driver, o.Internal, o.Attachable, o.EnableIPv6, o.Labels, o.Options, o.IPAM); err != nil {
		return berthnet.Network{}, err
	}
	n := berthnet.Network{Name: o.Name, ID: "id-" + o.Name, Driver: o.Driver, Scope: "local"}
	f.mu.Lock()
	f.nets[o.Name] = n
	f.mu.Unlock()
	return n, nil
}

func (f *fakeNetworks) Remove(ctx context.Context, ref string) error {
	return f.record("remove %s", ref)
}

func (f *fakeNetworks) Connect(ctx context.Context, netRef, containerRef string, o berthnet.EndpointOptions) error {
	return f.record("connect %s %s aliases=%v ip=%v ip6=%v mac=%v links=%v driveropts=%v gwprio=%d", netRef, containerRef, o.Aliases, o.IPv4Address, o.IPv6Address, o.MacAddress, o.Links, o.DriverOpts, o.GwPriority)
}

func (f *fakeNetworks) Disconnect(ctx context.Context, netRef, containerRef string, force bool) error {
	return f.record("disconnect %s %s force=%v", netRef, containerRef, force)
}

func (f *fakeNetworks) Prune(ctx context.Context, args filters.Args) ([]string, error) {
	return []string{"old"}, f.record("prune %v", args)
}

type fakeBuild struct {
	BuildBackend
	output string // written before the result
	err    error
}

func (f fakeBuild) Build(ctx context.Context, r io.Reader, opts builder.Options, out io.Writer) (string, error) {
	if f.output != "" {
		io.WriteString(out, f.output)
	}
	if f.err != nil {
		return "", f.err
	}
	return "sha256:built", nil
}

type fakeSystem struct{ info sysinfo.Info }

func (f fakeSystem) Info(ctx context.Context) sysinfo.Info { return f.info }
func (fakeSystem) KernelVersion() string                   { return "6.0.0-fake" }

// fakeEngine is a whole set of fakes, wired as the daemon wires the real services.
type fakeEngine struct {
	containers *fakeContainers
	images     *fakeImages
	dist       *fakeDistribution
	volumes    *fakeVolumes
	networks   *fakeNetworks
	bus        *berthevents.Bus
	build      fakeBuild
	system     fakeSystem
}

func newFakeEngine() *fakeEngine {
	bus := berthevents.New()
	return &fakeEngine{
		containers: newFakeContainers(bus),
		images:     &fakeImages{tags: map[string]string{"busybox:latest": "sha256:img"}, records: map[string]*image.Image{}},
		dist:       &fakeDistribution{},
		volumes:    &fakeVolumes{vols: map[string]volume.Volume{}},
		networks:   newFakeNetworks(),
		bus:        bus,
	}
}

func (e *fakeEngine) backends() Backends {
	return Backends{
		Containers:   e.containers,
		Streams:      e.containers,
		Files:        e.containers,
		Exec:         e.containers,
		Images:       e.images,
		Distribution: e.dist,
		Build:        e.build,
		Networks:     e.networks,
		Volumes:      e.volumes,
		System:       e.system,
		Events:       e.bus,
	}
}

// serve starts the API over e on a loopback port and returns a Berth client for it.
func (e *fakeEngine) serve(t *testing.T) (*httptest.Server, *client.Client) {
	t.Helper()
	srv := httptest.NewServer(New(e.backends()))
	t.Cleanup(srv.Close)
	c, err := client.New("tcp://" + srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return srv, c
}

// eventually polls cond for a second; the fakes run handlers on the server's goroutines.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
