package containers

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/jonboulle/clockwork"
	"github.com/moby/moby/api/types/container"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth/berth/internal/events"
	"github.com/berth/berth/internal/image"
	berthnet "github.com/berth/berth/internal/network"
	"github.com/berth/berth/internal/oci"
	"github.com/berth/berth/internal/task"
	"github.com/berth/berth/internal/volume"
)

// The fakes stand in for the rest of the engine so that the containers service runs without root, processes or
// kernel objects: tasks are goroutine-free records that exit when a test (or a signal) says so, snapshots are
// directories, images one busybox, volumes a map. They keep what a test needs to see (signals sent, processes
// exec'd) and nothing else.

// fakeTasks is a task.Runtime whose tasks exit on demand.
type fakeTasks struct {
	mu    sync.Mutex
	tasks map[string]*fakeTask // the latest task of each ID
	pid   int
	// ignore lists the signals each container's tasks do not die of (a process that traps SIGTERM).
	ignore map[string]map[syscall.Signal]bool
	// probes is the exit code of the next exec'd processes of a container (health checks), default 0; hang
	// makes them never exit.
	probes map[string]int
	hang   map[string]bool
	// failCreate makes the next Create of a container fail with this message (a missing command).
	failCreate map[string]string
	deleted    []string
	clock      clockwork.Clock
	// gate, when set, holds every Create until it is closed; entered is signalled as a Create waits.
	gate, entered chan struct{}
}

func newFakeTasks() *fakeTasks {
	return &fakeTasks{tasks: map[string]*fakeTask{}, pid: 1000, ignore: map[string]map[syscall.Signal]bool{},
		probes: map[string]int{}, hang: map[string]bool{}, failCreate: map[string]string{}}
}

var _ task.Runtime = (*fakeTasks)(nil)

func (f *fakeTasks) Create(ctx context.Context, spec task.Spec) (task.Task, error) {
	f.mu.Lock()
	gate, entered := f.gate, f.entered
	f.mu.Unlock()
	if gate != nil {
		entered <- struct{}{}
		<-gate
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if msg, ok := f.failCreate[spec.ID]; ok {
		delete(f.failCreate, spec.ID)
		return nil, fmt.Errorf("failed to create task for container: OCI runtime create failed: %s: %w", msg, errdefs.ErrUnknown)
	}
	f.pid++
	oci := *spec.OCI
	root := *oci.Root
	root.Path, _ = spec.Rootfs[0].BindSource()
	oci.Root = &root
	t := &fakeTask{rt: f, id: spec.ID, pid: f.pid, spec: &oci, io: spec.IO, exited: make(chan struct{})}
	f.tasks[spec.ID] = t
	return t, nil
}

func (f *fakeTasks) Connect(ctx context.Context, id, bundle string) (task.Task, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if t, ok := f.tasks[id]; ok {
		return t, nil
	}
	return nil, fmt.Errorf("task %s: %w", id, errdefs.ErrNotFound)
}

func (f *fakeTasks) Delete(ctx context.Context, id, bundle string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.deleted = append(f.deleted, id)
	return nil
}

// task returns the current task of container id.
func (f *fakeTasks) task(id string) *fakeTask {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tasks[id]
}

type fakeTask struct {
	rt   *fakeTasks
	id   string
	pid  int
	spec *specs.Spec
	io   task.IO

	mu      sync.Mutex
	started bool
	paused  bool
	signals []syscall.Signal
	exit    task.Exit
	exited  chan struct{}
}

func (t *fakeTask) ID() string { return t.id }
func (t *fakeTask) Pid() int   { return t.pid }

func (t *fakeTask) Start(ctx context.Context) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.started = true
	return nil
}

// exitWith ends the task; later calls do nothing.
func (t *fakeTask) exitWith(code int) { t.end(task.Exit{Code: code}) }

func (t *fakeTask) end(e task.Exit) {
	t.mu.Lock()
	defer t.mu.Unlock()
	select {
	case <-t.exited:
		return
	default:
	}
	e.At = t.rt.clock.Now()
	t.exit = e
	close(t.exited)
}

func (t *fakeTask) Wait(ctx context.Context) (task.Exit, error) {
	select {
	case <-t.exited:
		return t.exit, nil
	case <-ctx.Done():
		return task.Exit{}, ctx.Err()
	}
}

func (t *fakeTask) Kill(ctx context.Context, sig syscall.Signal, all bool) error {
	t.mu.Lock()
	t.signals = append(t.signals, sig)
	ignored := t.rt.ignoring(t.id, sig)
	t.mu.Unlock()
	select {
	case <-t.exited:
		return fmt.Errorf("container not running: %w", errdefs.ErrNotFound)
	default:
	}
	if !ignored && (sig == syscall.SIGKILL || sig == syscall.SIGTERM || sig == syscall.SIGINT || sig == syscall.SIGQUIT) {
		t.exitWith(128 + int(sig))
	}
	return nil
}

func (f *fakeTasks) ignoring(id string, sig syscall.Signal) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return sig != syscall.SIGKILL && f.ignore[id][sig]
}

func (t *fakeTask) Pause(ctx context.Context) error {
	t.mu.Lock()
	t.paused = true
	t.mu.Unlock()
	return nil
}
func (t *fakeTask) Resume(ctx context.Context) error {
	t.mu.Lock()
	t.paused = false
	t.mu.Unlock()
	return nil
}
func (t *fakeTask) Update(ctx context.Context, res *specs.LinuxResources) error { return nil }
func (t *fakeTask) Pids(ctx context.Context) ([]int, error)                     { return []int{t.pid}, nil }
func (t *fakeTask) Spec(ctx context.Context) (*specs.Spec, error)               { return t.spec, nil }
func (t *fakeTask) Metrics(ctx context.Context) (*task.Metrics, error)          { return &task.Metrics{}, nil }
func (t *fakeTask) Resize(ctx context.Context, w, h uint16) error               { return nil }
func (t *fakeTask) CloseStdin(ctx context.Context) error                        { return nil }

// Attach returns a stream that ends when the task exits.
func (t *fakeTask) Attach(ctx context.Context, stdin, stdout, stderr bool) (io.ReadWriteCloser, error) {
	a, b := net.Pipe()
	go func() {
		<-t.exited
		b.Close()
	}()
	return a, nil
}

func (t *fakeTask) Exec(ctx context.Context, spec task.ExecSpec) (task.Process, error) {
	t.rt.mu.Lock()
	code, hang := t.rt.probes[t.id], t.rt.hang[t.id]
	t.rt.mu.Unlock()
	p := &fakeProcess{pid: t.pid + 500, done: make(chan struct{})}
	if hang {
		// A hung probe says nothing until it is killed.
		return p, nil
	}
	if spec.Stdout != nil {
		fmt.Fprintf(spec.Stdout, "probe output %d\n", code)
	}
	if !hang {
		p.exit = task.Exit{Code: code}
		close(p.done)
	}
	return p, nil
}

type fakeProcess struct {
	pid  int
	once sync.Once
	exit task.Exit
	done chan struct{}
}

func (p *fakeProcess) Pid() int { return p.pid }
func (p *fakeProcess) Wait(ctx context.Context) (task.Exit, error) {
	select {
	case <-p.done:
		return p.exit, nil
	case <-ctx.Done():
		return task.Exit{}, ctx.Err()
	}
}
func (p *fakeProcess) Resize(ctx context.Context, w, h uint16) error { return nil }
func (p *fakeProcess) Kill(ctx context.Context, sig syscall.Signal) error {
	p.once.Do(func() {
		select {
		case <-p.done:
		default:
			p.exit = task.Exit{Code: 128 + int(sig)}
			close(p.done)
		}
	})
	return nil
}

// fakeSnapshots keeps each container's root filesystem as a plain directory.
type fakeSnapshots struct {
	root string
}

func (s *fakeSnapshots) dir(id string) string { return filepath.Join(s.root, "containers", id) }

func (s *fakeSnapshots) Create(ctx context.Context, id string, chainID digest.Digest) error {
	return os.MkdirAll(filepath.Join(s.dir(id), "merged"), 0o755)
}
func (s *fakeSnapshots) Mount(ctx context.Context, id string) (string, error) {
	return filepath.Join(s.dir(id), "merged"), nil
}
func (s *fakeSnapshots) Unmount(ctx context.Context, id string) error { return nil }
func (s *fakeSnapshots) Remove(ctx context.Context, id string) error  { return os.RemoveAll(s.dir(id)) }
func (s *fakeSnapshots) Containers(ctx context.Context) ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(s.root, "containers"))
	var ids []string
	for _, e := range entries {
		ids = append(ids, e.Name())
	}
	return ids, err
}
func (s *fakeSnapshots) Upper(id string) string { return filepath.Join(s.dir(id), "upper") }
func (s *fakeSnapshots) LowersOf(ctx context.Context, id string) ([]string, error) {
	return nil, nil
}
func (s *fakeSnapshots) Lowers(ctx context.Context, chainID digest.Digest) ([]string, error) {
	return nil, nil
}
func (s *fakeSnapshots) EnsureLayer(ctx context.Context, chainID, parent digest.Digest, apply func(dir string) error) (string, error) {
	dir := filepath.Join(s.root, "layers", chainID.Encoded())
	if _, err := os.Stat(dir); err == nil {
		return dir, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	return dir, apply(dir)
}
func (s *fakeSnapshots) Usage(ctx context.Context, id string) int64 { return 0 }

// fakeImages holds one image, busybox, whose command is sh.
type fakeImages struct{}

var busyboxID = digest.FromString("busybox")

func (fakeImages) Get(ctx context.Context, ref string) (*image.Image, error) {
	if ref != "busybox" && ref != busyboxID.String() {
		return nil, errdefs.ErrNotFound.WithMessage("No such image: " + ref)
	}
	img := &image.Image{ID: busyboxID, RepoTags: []string{"busybox:latest"}}
	img.Config.Config.Cmd = []string{"sh"}
	return img, nil
}
func (f fakeImages) Config(ctx context.Context, ref string) (*ocispec.Image, error) {
	if _, err := f.Get(ctx, ref); err != nil {
		return nil, err
	}
	return &ocispec.Image{Config: ocispec.ImageConfig{Cmd: []string{"sh"}}}, nil
}
func (fakeImages) Size(ctx context.Context, ref string) (int64, error) { return 0, nil }
func (fakeImages) Descendants(ctx context.Context, ref string) ([]digest.Digest, error) {
	return []digest.Digest{busyboxID}, nil
}
func (fakeImages) Commit(ctx context.Context, parentID string, layer io.Reader, cfg image.CommitConfig) (digest.Digest, error) {
	return "", errdefs.ErrNotImplemented
}

// fakeVolumes is a map of named volumes.
type fakeVolumes struct {
	mu   sync.Mutex
	root string
	vols map[string]volume.Volume
	n    int
}

func (v *fakeVolumes) Create(ctx context.Context, name string, labels, opts map[string]string) (volume.Volume, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if name == "" {
		v.n++
		name = fmt.Sprintf("anon%d", v.n)
	}
	vol := volume.Volume{Name: name, Driver: "local", Mountpoint: filepath.Join(v.root, name)}
	os.MkdirAll(vol.Mountpoint, 0o755)
	v.vols[name] = vol
	return vol, nil
}
func (v *fakeVolumes) Get(ctx context.Context, name string) (volume.Volume, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	vol, ok := v.vols[name]
	if !ok {
		return vol, errdefs.ErrNotFound.WithMessage("get " + name + ": no such volume")
	}
	return vol, nil
}
func (v *fakeVolumes) Remove(ctx context.Context, name string, force bool, inUse func(string) []string) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	delete(v.vols, name)
	return nil
}

// fakeNetworks serves containers that use network mode none or host; anything else is not wired in these tests.
type fakeNetworks struct {
	Networks
}

func (fakeNetworks) Endpoints(containerID string) map[string]berthnet.Endpoint { return nil }
func (fakeNetworks) Get(ref string) (berthnet.Network, error) {
	return berthnet.Network{}, errdefs.ErrNotFound.WithMessage("network " + ref + " not found")
}

// recorder keeps the events the service publishes.
type recorder struct {
	mu    sync.Mutex
	log   []string
	execs map[string]int // exec'd processes that ended, by container name
}

func (r *recorder) Publish(typ events.Type, action events.Action, id string, attrs map[string]string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if strings.HasPrefix(string(action), "exec_") {
		// Probes are counted, not listed: scenarios wait on the count (probed).
		if action == "exec_die" {
			if r.execs == nil {
				r.execs = map[string]int{}
			}
			r.execs[attrs["name"]]++
		}
		return
	}
	line := fmt.Sprintf("%s %s %s", typ, action, attrs["name"])
	var extra []string
	for _, k := range []string{"exitCode", "signal"} {
		if v, ok := attrs[k]; ok {
			extra = append(extra, k+"="+v)
		}
	}
	if len(extra) > 0 {
		line += " " + strings.Join(extra, " ")
	}
	r.log = append(r.log, line)
}

// execsOf is how many exec'd processes of container name have ended.
func (r *recorder) execsOf(name string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.execs[name]
}

// take returns the events published since the last take.
func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.log
	r.log = nil
	return out
}

// testService is a containers service over the fakes, with a fake clock.
type testService struct {
	*Service
	tasks  *fakeTasks
	clock  *clockwork.FakeClock
	events *recorder
	dir    string
}

func newTestService(t *testing.T) *testService {
	t.Helper()
	dir := t.TempDir()
	ts := &testService{tasks: newFakeTasks(), clock: clockwork.NewFakeClock(), events: &recorder{}, dir: dir}
	ts.tasks.clock = ts.clock
	svc, err := New(Config{
		Root:           filepath.Join(dir, "containers"),
		RunRoot:        filepath.Join(dir, "run"),
		Runtimes:       map[string]task.Runtime{"runc": ts.tasks},
		DefaultRuntime: "runc",
		DefaultNetwork: "none",
		Caps:           oci.AllCapabilities(),
		Clock:          ts.clock,
	}, fakeImages{}, &fakeSnapshots{root: filepath.Join(dir, "snapshots")},
		&fakeVolumes{root: filepath.Join(dir, "volumes"), vols: map[string]volume.Volume{}}, fakeNetworks{}, ts.events)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	ts.Service = svc
	return ts
}

// describe is one line about a container, as the scenarios print it.
func (ts *testService) describe(ctx context.Context, name string) string {
	resp, err := ts.Inspect(ctx, name, false)
	if err != nil {
		return fmt.Sprintf("%s: %v", name, err)
	}
	st := resp.State
	line := fmt.Sprintf("%s: %s restarts=%d", name, st.Status, resp.RestartCount)
	if st.Status == container.StateExited || st.Status == container.StateRestarting {
		line += fmt.Sprintf(" exit=%d", st.ExitCode)
	}
	if st.OOMKilled {
		line += " oom-killed"
	}
	if st.Health != nil {
		line += fmt.Sprintf(" health=%s streak=%d", st.Health.Status, st.Health.FailingStreak)
	}
	if st.Error != "" {
		line += fmt.Sprintf(" error=%q", st.Error)
	}
	return line
}

// names lists the containers the service knows, sorted.
func (ts *testService) names(ctx context.Context) []string {
	list, _ := ts.List(ctx, ListOptions{All: true})
	var out []string
	for _, s := range list {
		out = append(out, strings.TrimPrefix(s.Names[0], "/"))
	}
	sort.Strings(out)
	return out
}
