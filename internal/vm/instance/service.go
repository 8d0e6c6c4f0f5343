// Package instance is Berth's EC2: virtual machine instances booted from the engine's images, with key pairs,
// security groups and instance types. It is the engine service behind `berth vm` (and, next, the cloud
// endpoint's EC2 API): its types and errors carry EC2's names and codes so that front end maps onto it directly.
//
// An instance is a qemu machine (internal/vm/qemu) booted from the engine's kernel with Berth's guest init
// (internal/vm/boot, internal/vm/guest), on a root disk made from its image (internal/vm/disk: a shared ext4
// base and a qcow2 overlay of its own), attached to a Berth network like a container (a network namespace with a
// veth on the bridge, the guest's tap mirrored to it: internal/vm/vnet), behind its security groups
// (internal/vm/secgroup). Its qemu runs daemonized in a session of its own: instances keep running while the
// daemon is down, and a new Service finds them again from their pid files.
//
//	s, err := instance.New(ctx, cfg, images, networks)
//	inst, warnings, err := s.Run(ctx, instance.RunOptions{Image: "debian-ssh", Type: "t2.micro", KeyName: "me"})
//	inst, err = s.Wait(ctx, inst.ID, instance.Running)  // the guest's init answered; its SSH server started
//	err = s.Stop(ctx, inst.ID, false)                     // ACPI-like shutdown through the guest agent
//	err = s.Start(ctx, inst.ID)                           // same disk, same address
//	err = s.Terminate(ctx, inst.ID)                       // machine, disk, network and rules gone
package instance

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/berth/berth/internal/atomicfile"
)

// Images is what the service needs of the engine's images.
type Images interface {
	// Resolve finds an image by reference or ID.
	Resolve(ctx context.Context, ref string) (Image, error)
	// RootFS makes the image's files available, read-only, in a directory until release is called.
	RootFS(ctx context.Context, id string) (dir string, release func(), err error)
	// List lists the images instances may boot from (intermediate images of builds aside).
	List(ctx context.Context) ([]Image, error)
}

// Image is an image as the service sees it.
type Image struct {
	ID     string
	Labels map[string]string
	// Names are its repo:tag references, sorted; Created, Architecture (Go's names) and Size (bytes) as the
	// engine records them. (Resolve may leave them out.)
	Names        []string
	Created      time.Time
	Architecture string
	Size         int64
	// Tags are the caller's tags on the image (Service.Images).
	Tags map[string]string
}

// UserLabel is the image label naming the user an instance's SSH keys go to (root when absent).
const UserLabel = "berth.vm.user"

// Networks is what the service needs of the engine's networks: an instance is attached like a container, by
// its ID, in a network namespace of its own.
type Networks interface {
	NewSandbox(ctx context.Context, id string) (string, error)
	SandboxPath(id string) string
	DeleteSandbox(ctx context.Context, id string) error
	// Attach connects the namespace to network and returns the endpoint.
	Attach(ctx context.Context, id, name, network, nsPath string) (Endpoint, error)
	DetachAll(ctx context.Context, id string)
	// Endpoint is the instance's endpoint, if it has one.
	Endpoint(id string) (Endpoint, bool)
}

// Endpoint is an instance's address on a network.
type Endpoint struct {
	Network string
	Addr    netip.Prefix
	Gateway netip.Addr
	MAC     string
}

// Config configures a Service.
type Config struct {
	// Root keeps the records and disks (<data-root>/vm); RunRoot the machines' sockets and pid files
	// (<exec-root>/vm/instances).
	Root, RunRoot string
	// Kernel (a vmlinuz or a directory of unpacked packages), InitPath (berth-vm-init), BootCache (boot files),
	// Qemu ("" finds it) and Accel ("kvm", "tcg", "" to choose) say how machines boot.
	Kernel, InitPath, BootCache, Qemu, Accel string
	// FirewallTable is the nftables table of the security groups.
	FirewallTable string
	// DefaultNetwork is what instances join without --network ("bridge").
	DefaultNetwork string
	// HostCPUs and HostMemoryMiB are the host's, for the overcommit warnings.
	HostCPUs, HostMemoryMiB int
	// BootTimeout bounds a boot (default 5 minutes: software emulation on a loaded host is slow).
	BootTimeout time.Duration
	// Debug makes guests log their boot on their console.
	Debug bool
}

// Service manages instances, key pairs and security groups. Safe for concurrent use.
type Service struct {
	cfg      Config
	images   Images
	networks Networks
	log      *slog.Logger

	mu        sync.Mutex
	instances map[string]*Instance
	keys      map[string]*KeyPair                     // by ID
	groups    map[string]*SecurityGroup               // by ID
	imageTags map[string]map[string]map[string]string // owner -> AMI ID -> tags
	machines  map[string]*machine                     // running qemu processes, by instance ID
	locks     map[string]*sync.Mutex                  // one operation at a time per instance
	changed   chan struct{}                           // closed and replaced at every state change (Wait)

	bootMu    sync.Mutex
	bootFiles *bootFiles

	fwMu sync.Mutex // one firewall update at a time: a later plan never loses to an earlier one

	ctx    context.Context // the service's lifetime: monitors end with it
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New loads the service's state under cfg.Root, finds the instances whose machines still run, and installs the
// security groups' rules.
func New(ctx context.Context, cfg Config, images Images, networks Networks) (*Service, error) {
	if cfg.DefaultNetwork == "" {
		cfg.DefaultNetwork = "bridge"
	}
	if cfg.BootTimeout == 0 {
		cfg.BootTimeout = 5 * time.Minute
	}
	for _, d := range []string{cfg.Root, filepath.Join(cfg.Root, "instances"), cfg.RunRoot} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	s := &Service{cfg: cfg, images: images, networks: networks, log: slog.Default().With("component", "vm"),
		instances: map[string]*Instance{}, keys: map[string]*KeyPair{}, groups: map[string]*SecurityGroup{},
		imageTags: map[string]map[string]map[string]string{}, machines: map[string]*machine{}, locks: map[string]*sync.Mutex{}, changed: make(chan struct{})}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if err := s.load(); err != nil {
		return nil, err
	}
	s.ensureDefaultGroup()
	s.restore(ctx)
	if err := s.applyFirewall(ctx); err != nil {
		s.log.Warn("security groups: installing the rules", "error", err)
	}
	return s, nil
}

// Close stops watching the machines; they keep running.
func (s *Service) Close() error {
	s.cancel()
	s.mu.Lock()
	for _, m := range s.machines {
		m.close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

func (s *Service) keysFile() string   { return filepath.Join(s.cfg.Root, "keypairs.json") }
func (s *Service) groupsFile() string { return filepath.Join(s.cfg.Root, "securitygroups.json") }
func (s *Service) instanceDir(id string) string {
	return filepath.Join(s.cfg.Root, "instances", id)
}
func (s *Service) runDir(id string) string { return filepath.Join(s.cfg.RunRoot, id) }

// load reads the records; a corrupt one is skipped with a warning.
func (s *Service) load() error {
	var keys []*KeyPair
	if err := readJSON(s.keysFile(), &keys); err != nil {
		return err
	}
	for _, k := range keys {
		s.keys[k.ID] = k
	}
	var groups []*SecurityGroup
	if err := readJSON(s.groupsFile(), &groups); err != nil {
		return err
	}
	for _, g := range groups {
		s.groups[g.ID] = g
	}
	if err := s.loadImageTags(); err != nil {
		return err
	}
	entries, err := os.ReadDir(filepath.Join(s.cfg.Root, "instances"))
	if err != nil {
		return err
	}
	for _, e := range entries {
		var inst Instance
		f := filepath.Join(s.instanceDir(e.Name()), "instance.json")
		if err := readJSON(f, &inst); err != nil || inst.ID == "" {
			s.log.Warn("skipping an unreadable instance record", "file", f, "error", err)
			continue
		}
		s.instances[inst.ID] = &inst
	}
	return nil
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// The records are written atomically and synced: a user was told "done". They hold user data and tags: 0600.
func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(path, b, 0o600)
}

// saveInstance writes inst's record; the caller holds s.mu.
func (s *Service) saveInstance(inst *Instance) error {
	if err := os.MkdirAll(s.instanceDir(inst.ID), 0o700); err != nil {
		return err
	}
	return writeJSON(filepath.Join(s.instanceDir(inst.ID), "instance.json"), inst)
}

func (s *Service) saveKeys() error {
	list := make([]*KeyPair, 0, len(s.keys))
	for _, k := range s.keys {
		list = append(list, k)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].ID < list[j].ID })
	return writeJSON(s.keysFile(), list)
}

func (s *Service) saveGroups() error {
	list := make([]*SecurityGroup, 0, len(s.groups))
	for _, g := range s.groups {
		list = append(list, g)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].ID < list[j].ID })
	return writeJSON(s.groupsFile(), list)
}

// notify wakes the waiters on state changes; the caller holds s.mu.
func (s *Service) notify() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// setState changes an instance's state and records it; the caller holds s.mu.
func (s *Service) setState(inst *Instance, st State, reason string) {
	inst.State, inst.StateReason = st, reason
	if err := s.saveInstance(inst); err != nil {
		s.log.Warn("saving instance", "instance", inst.ID, "error", err)
	}
	s.notify()
}

// lock serialises operations on one instance.
func (s *Service) lock(id string) func() {
	s.mu.Lock()
	l, ok := s.locks[id]
	if !ok {
		l = &sync.Mutex{}
		s.locks[id] = l
	}
	s.mu.Unlock()
	l.Lock()
	return l.Unlock
}

// ensureDefaultGroup makes the default security group of Berth's own API (of no account).
func (s *Service) ensureDefaultGroup() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.defaultGroupLocked(""); err != nil {
		s.log.Warn("saving security groups", "error", err)
	}
}

// restore finds the machines of instances that were running when the service last stopped.
func (s *Service) restore(ctx context.Context) {
	s.mu.Lock()
	var ids []string
	for id, inst := range s.instances {
		if inst.State == Terminated && time.Since(inst.TerminatedAt) > terminatedKept {
			os.RemoveAll(s.instanceDir(id))
			delete(s.instances, id)
			continue
		}
		ids = append(ids, id)
	}
	s.mu.Unlock()
	for _, id := range ids {
		s.mu.Lock()
		inst := s.instances[id]
		st := inst.State
		s.mu.Unlock()
		switch st {
		case Pending, Running, Stopping:
			if m, ok := s.findMachine(inst); ok {
				s.mu.Lock()
				s.machines[id] = m
				s.mu.Unlock()
				s.watch(id, m)
				s.log.Info("found running instance", "instance", id, "pid", m.pid)
				continue
			}
			s.mu.Lock()
			inst.Pid = 0
			s.setState(inst, Stopped, "Server.InternalError: the machine ended while the daemon was down")
			s.mu.Unlock()
		case ShuttingDown:
			if err := s.terminate(ctx, id); err != nil {
				s.log.Warn("finishing a termination", "instance", id, "error", err)
			}
		}
	}
}

// terminatedKept is how long a terminated instance stays listed.
const terminatedKept = time.Hour

// ref finds an instance the scope sees by ID or name (terminated ones only by ID); the caller holds s.mu.
func (s *Service) ref(sc scope, ref string) (*Instance, error) {
	if inst, ok := s.instances[ref]; ok && sc.sees(inst.Owner) {
		return inst, nil
	}
	if !strings.HasPrefix(ref, "i-") {
		for _, inst := range s.instances {
			if inst.Name == ref && inst.State != Terminated && sc.sees(inst.Owner) {
				return inst, nil
			}
		}
	}
	if strings.HasPrefix(ref, "i-") && !IsID("i", ref) {
		return nil, newError(CodeInvalidInstanceIDMalf, fmt.Sprintf("Invalid id: \"%s\"", ref), errInvalid)
	}
	return nil, newError(CodeInvalidInstanceIDNotFound, fmt.Sprintf("The instance ID '%s' does not exist", ref), errNotFound)
}

// Get returns a copy of the instance ref (an ID, or a name).
func (s *Service) Get(ctx context.Context, ref string) (Instance, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	inst, err := s.ref(scopeOf(ctx), ref)
	if err != nil {
		return Instance{}, err
	}
	return *inst, nil
}

// List returns the instances the caller sees, terminated ones too when all is set, oldest first.
func (s *Service) List(ctx context.Context, all bool) []Instance {
	sc := scopeOf(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Instance
	for _, inst := range s.instances {
		if !sc.sees(inst.Owner) || inst.State == Terminated && (!all || time.Since(inst.TerminatedAt) > terminatedKept) {
			continue
		}
		out = append(out, *inst)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.Before(out[j].Created)
		}
		if out[i].ReservationID == out[j].ReservationID && out[i].LaunchIndex != out[j].LaunchIndex {
			return out[i].LaunchIndex < out[j].LaunchIndex
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// Wait blocks until instance ref is in state want, or in a state it cannot leave for want on its own (stopped
// or terminated when running is wanted), or ctx ends.
func (s *Service) Wait(ctx context.Context, ref string, want State) (Instance, error) {
	sc := scopeOf(ctx)
	for {
		s.mu.Lock()
		inst, err := s.ref(sc, ref)
		if err != nil {
			s.mu.Unlock()
			return Instance{}, err
		}
		cur := *inst
		ch := s.changed
		s.mu.Unlock()
		if cur.State == want {
			return cur, nil
		}
		if cur.State == Terminated || (want == Running && cur.State == Stopped) {
			reason := cur.StateReason
			if reason == "" {
				reason = "it is " + string(cur.State)
			}
			return cur, newError(CodeIncorrectInstanceState, fmt.Sprintf("The instance '%s' did not reach %s: %s", cur.ID, want, reason), errConflict)
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return cur, ctx.Err()
		}
	}
}
