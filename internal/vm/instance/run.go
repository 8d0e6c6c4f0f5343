package instance

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/berth/berth/internal/vm/agent"
	"github.com/berth/berth/internal/vm/disk"
)

// RunOptions describe an instance to launch.
type RunOptions struct {
	// Image is an image reference or ID (or an "ami-" ID).
	Image string
	Name  string
	// Type is an instance type name (default t2.micro).
	Type string
	// KeyName names a key pair; PublicKeys are more keys (authorized_keys lines) to install.
	KeyName    string
	PublicKeys []string
	// User gets the keys (default: the image's berth.vm.user label, else root).
	User string
	// SecurityGroups are group IDs or names (default: the default group).
	SecurityGroups []string
	// UserData runs once at first boot when it is a script ("#!").
	UserData []byte
	Tags     map[string]string
	// Network is the network to attach to (default: the service's default, "bridge").
	Network string
	// DiskGiB overrides the type's root disk size.
	DiskGiB int
	// ReservationID, LaunchIndex and ClientToken are kept with the instance: which launch request made it (see
	// Instance).
	ReservationID string
	LaunchIndex   int
	ClientToken   string
}

// maxUserData is EC2's limit.
const maxUserData = 16 << 10

// Run launches an instance: its disk, its network and its machine. It returns once qemu runs (the instance
// pending), with warnings (an overcommitted host); Wait for running. On error nothing of the instance is left.
func (s *Service) Run(ctx context.Context, o RunOptions) (Instance, []string, error) {
	inst, warnings, err := s.admit(ctx, o)
	if err != nil {
		return Instance{}, nil, err
	}
	unlock := s.lock(inst.ID)
	defer unlock()
	if err := s.create(ctx, inst.ID, inst.ImageID); err != nil {
		s.discard(context.WithoutCancel(ctx), inst.ID)
		return Instance{}, nil, err
	}
	if err := s.boot(ctx, inst.ID); err != nil {
		s.discard(context.WithoutCancel(ctx), inst.ID)
		return Instance{}, nil, err
	}
	out, err := s.Get(ctx, inst.ID)
	return out, warnings, err
}

// admit checks a launch and records its instance (pending, with nothing made yet): its image, type, user,
// keys and groups resolved in the caller's account, which owns it.
func (s *Service) admit(ctx context.Context, o RunOptions) (Instance, []string, error) {
	t, err := LookupType(o.Type)
	if err != nil {
		return Instance{}, nil, err
	}
	if o.Image == "" {
		return Instance{}, nil, newError(CodeMissingParameter, "The request must contain the parameter ImageId", errInvalid)
	}
	if len(o.UserData) > maxUserData {
		return Instance{}, nil, newError(CodeInvalidParameterValue, "User data is limited to 16384 bytes", errInvalid)
	}
	if o.Name != "" && !namePattern.MatchString(o.Name) {
		return Instance{}, nil, newError(CodeInvalidParameterValue, fmt.Sprintf("Invalid instance name %q: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", o.Name), errInvalid)
	}
	if o.DiskGiB != 0 {
		if o.DiskGiB < 1 || o.DiskGiB > 16384 {
			return Instance{}, nil, newError(CodeInvalidParameterValue, fmt.Sprintf("Volume of %d GiB is out of range (1-16384)", o.DiskGiB), errInvalid)
		}
		t.DiskGiB = o.DiskGiB
	}
	img, err := s.resolveImage(ctx, o.Image)
	if err != nil {
		return Instance{}, nil, err
	}
	user := o.User
	if user == "" {
		user = img.Labels[UserLabel]
	}
	if user == "" {
		user = "root"
	}
	if !namePattern.MatchString(user) || !utf8.ValidString(user) {
		return Instance{}, nil, newError(CodeInvalidParameterValue, fmt.Sprintf("Invalid user name %q", user), errInvalid)
	}
	var keys []string
	for _, k := range o.PublicKeys {
		if _, pub, _, err := parsePublicKey(k); err != nil {
			return Instance{}, nil, err
		} else {
			keys = append(keys, pub)
		}
	}
	network := o.Network
	if network == "" {
		network = s.cfg.DefaultNetwork
	}

	sc := scopeOf(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	keyName := ""
	if o.KeyName != "" {
		k, err := s.keyRef(sc, o.KeyName)
		if err != nil {
			return Instance{}, nil, err
		}
		keys = append([]string{k.PublicKey}, keys...)
		keyName = k.Name
	}
	var gids []string
	if len(o.SecurityGroups) == 0 {
		sg, err := s.defaultGroupLocked(sc.owner)
		if err != nil {
			return Instance{}, nil, err
		}
		gids = []string{sg.ID}
	}
	for _, g := range o.SecurityGroups {
		sg, err := s.groupRef(sc, g)
		if err != nil {
			return Instance{}, nil, err
		}
		gids = appendUnique(gids, sg.ID)
	}
	if o.Name != "" {
		for _, other := range s.instances {
			if other.Name == o.Name && other.State != Terminated {
				return Instance{}, nil, newError(CodeInvalidParameterValue, fmt.Sprintf("The instance name %q is already in use by instance %s. You have to terminate it to reuse that name.", o.Name, other.ID), errExists)
			}
		}
	}
	now := time.Now().UTC()
	inst := &Instance{ID: newID("i"), Owner: sc.owner, Name: o.Name, ImageID: img.ID, ImageRef: o.Image, Type: t.Name, VCPUs: t.VCPUs,
		MemoryMiB: t.MemoryMiB, DiskGiB: t.DiskGiB, KeyName: keyName, AuthorizedKeys: keys, User: user,
		SecurityGroups: gids, UserData: o.UserData, Tags: copyTags(o.Tags), State: Pending, Network: network,
		LaunchTime: now, Created: now, ReservationID: o.ReservationID, LaunchIndex: o.LaunchIndex, ClientToken: o.ClientToken}
	warnings := s.overcommitLocked(t, "")
	s.instances[inst.ID] = inst
	if err := s.saveInstance(inst); err != nil {
		delete(s.instances, inst.ID)
		return Instance{}, nil, err
	}
	return *inst, warnings, nil
}

func appendUnique(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

// resolveImage finds an image by reference, ID or AMI ID.
func (s *Service) resolveImage(ctx context.Context, ref string) (Image, error) {
	lookup := ref
	if strings.HasPrefix(ref, "ami-") {
		if len(ref) < 12 || strings.Trim(ref[4:], "0123456789abcdef") != "" {
			return Image{}, newError(CodeInvalidAMIIDMalformed, fmt.Sprintf("Invalid id: \"%s\" (expecting \"ami-...\")", ref), errInvalid)
		}
		lookup = "sha256:" + ref[4:] // a prefix of the ID: the engine resolves short IDs
	}
	notFound := newError(CodeInvalidAMIIDNotFound, fmt.Sprintf("The image id '[%s]' does not exist", ref), errNotFound)
	if s.images == nil {
		return Image{}, notFound
	}
	img, err := s.images.Resolve(ctx, lookup)
	if err != nil {
		return Image{}, notFound
	}
	return img, nil
}

// overcommitLocked is Run's and Start's warnings; the caller holds s.mu.
func (s *Service) overcommitLocked(t Type, except string) []string {
	var running []Type
	for _, i := range s.instances {
		if i.ID != except && (i.State == Pending || i.State == Running) {
			running = append(running, Type{VCPUs: i.VCPUs, MemoryMiB: i.MemoryMiB})
		}
	}
	return overcommit(running, t, s.cfg.HostCPUs, s.cfg.HostMemoryMiB)
}

// create makes a new instance's disk and network. The caller holds the instance's lock.
func (s *Service) create(ctx context.Context, id, imageID string) error {
	s.mu.Lock()
	inst := *s.instances[id]
	s.mu.Unlock()
	base, err := disk.EnsureBase(ctx, filepath.Join(s.cfg.Root, "bases"), imageID, int64(inst.DiskGiB)*disk.GiB,
		func(ctx context.Context) (string, func(), error) { return s.images.RootFS(ctx, imageID) })
	if err != nil {
		return fmt.Errorf("instance %s: root disk: %w", id, err)
	}
	if err := disk.CreateOverlay(ctx, base, filepath.Join(s.instanceDir(id), diskFile)); err != nil {
		return fmt.Errorf("instance %s: root disk: %w", id, err)
	}
	return s.attach(ctx, id)
}

// attach gives the instance a network namespace and an endpoint on its network, and installs its rules.
func (s *Service) attach(ctx context.Context, id string) error {
	s.mu.Lock()
	inst := *s.instances[id]
	s.mu.Unlock()
	ns, err := s.networks.NewSandbox(ctx, id)
	if err != nil {
		return fmt.Errorf("instance %s: network: %w", id, err)
	}
	name := inst.Name
	if name == "" {
		name = id
	}
	ep, err := s.networks.Attach(ctx, id, name, inst.Network, ns)
	if err != nil {
		s.networks.DeleteSandbox(ctx, id)
		return fmt.Errorf("instance %s: network %s: %w", id, inst.Network, err)
	}
	s.mu.Lock()
	if i := s.instances[id]; i != nil {
		i.PrivateIP, i.MAC = ep.Addr.Addr(), ep.MAC
		s.saveInstance(i)
	}
	s.mu.Unlock()
	// The rules are in place before the machine boots: no moment with its ports open.
	return s.applyFirewall(ctx)
}

// boot launches the instance's machine and watches it. The caller holds the instance's lock.
func (s *Service) boot(ctx context.Context, id string) error {
	s.mu.Lock()
	inst := *s.instances[id]
	s.mu.Unlock()
	m, err := s.launch(ctx, inst)
	if err != nil {
		return err
	}
	bf, _ := s.bootFilesFor()
	s.mu.Lock()
	i := s.instances[id]
	i.Pid = m.pid
	i.Accel, i.AccelReason = string(bf.accel), bf.accelReason
	s.machines[id] = m
	s.setState(i, Pending, "")
	s.mu.Unlock()
	s.watch(id, m)
	return nil
}

// discard removes everything of an instance that failed to launch, its record included.
func (s *Service) discard(ctx context.Context, id string) {
	s.mu.Lock()
	m := s.machines[id]
	delete(s.machines, id)
	s.mu.Unlock()
	if m != nil {
		s.shutdownMachine(ctx, m, 0)
	}
	s.networks.DetachAll(ctx, id)
	s.networks.DeleteSandbox(ctx, id)
	os.RemoveAll(s.runDir(id))
	os.RemoveAll(s.instanceDir(id))
	s.mu.Lock()
	delete(s.instances, id)
	s.notify()
	s.mu.Unlock()
	s.applyFirewall(ctx)
}

// Start boots a stopped instance again: the same disk, the same address.
func (s *Service) Start(ctx context.Context, ref string) ([]string, error) {
	s.mu.Lock()
	inst, err := s.ref(scopeOf(ctx), ref)
	if err != nil {
		s.mu.Unlock()
		return nil, err
	}
	id := inst.ID
	s.mu.Unlock()
	unlock := s.lock(id)
	defer unlock()
	s.mu.Lock()
	inst = s.instances[id]
	switch inst.State {
	case Running, Pending:
		s.mu.Unlock()
		return nil, nil // EC2 answers with the current state
	case Stopped:
	default:
		st := inst.State
		s.mu.Unlock()
		return nil, newError(CodeIncorrectInstanceState, fmt.Sprintf("The instance '%s' is not in a state from which it can be started.", id)+" It is "+string(st)+".", errConflict)
	}
	warnings := s.overcommitLocked(Type{VCPUs: inst.VCPUs, MemoryMiB: inst.MemoryMiB}, id)
	inst.LaunchTime = time.Now().UTC()
	s.setState(inst, Pending, "")
	s.mu.Unlock()
	// The namespace and the endpoint survive a stop; not a host's reboot (the namespace lives on tmpfs).
	if _, ok := s.networks.Endpoint(id); !ok || !exists(s.networks.SandboxPath(id)) {
		s.networks.DetachAll(ctx, id)
		s.networks.DeleteSandbox(ctx, id)
		if err := s.attach(ctx, id); err != nil {
			s.failStart(id, err)
			return nil, err
		}
	}
	if err := s.boot(ctx, id); err != nil {
		s.failStart(id, err)
		return nil, err
	}
	return warnings, nil
}

func (s *Service) failStart(id string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if inst := s.instances[id]; inst != nil {
		s.setState(inst, Stopped, "Server.InternalError: "+err.Error())
	}
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// DefaultStopTimeout is how long a guest gets to power off before its machine is killed.
const DefaultStopTimeout = 60 * time.Second

// Stop shuts an instance down (its guest powers off; after timeout, or at once with force, qemu is killed). Its
// disk and address stay. Stopping a stopped instance is not an error.
func (s *Service) Stop(ctx context.Context, ref string, force bool, timeout time.Duration) error {
	s.mu.Lock()
	inst, err := s.ref(scopeOf(ctx), ref)
	if err != nil {
		s.mu.Unlock()
		return err
	}
	id := inst.ID
	s.mu.Unlock()
	unlock := s.lock(id)
	defer unlock()
	s.mu.Lock()
	inst = s.instances[id]
	switch inst.State {
	case Stopped:
		s.mu.Unlock()
		return nil
	case Running, Pending, Stopping:
	default:
		st := inst.State
		s.mu.Unlock()
		return newError(CodeIncorrectInstanceState, fmt.Sprintf("The instance '%s' is not in a state from which it can be stopped. It is %s.", id, st), errConflict)
	}
	m := s.machines[id]
	s.setState(inst, Stopping, "Client.UserInitiatedShutdown: User initiated shutdown")
	s.mu.Unlock()
	if timeout <= 0 {
		timeout = DefaultStopTimeout
	}
	if force {
		timeout = 0
	}
	if m != nil {
		s.shutdownMachine(ctx, m, timeout)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.machines[id] == m {
		delete(s.machines, id)
	}
	if inst.State == Stopping {
		inst.Pid = 0
		s.setState(inst, Stopped, "Client.UserInitiatedShutdown: User initiated shutdown")
	}
	return nil
}

// Reboot restarts a running instance's guest (a soft reboot: the machine and its network stay).
func (s *Service) Reboot(ctx context.Context, ref string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	inst, err := s.ref(scopeOf(ctx), ref)
	if err != nil {
		return err
	}
	m := s.machines[inst.ID]
	if inst.State != Running || m == nil {
		return newError(CodeIncorrectInstanceState, fmt.Sprintf("The instance '%s' is not in a state from which it can be rebooted. It is %s.", inst.ID, inst.State), errConflict)
	}
	if !m.send(agent.Message{Op: agent.OpReboot}) {
		return newError(CodeIncorrectInstanceState, fmt.Sprintf("The instance '%s' does not answer yet", inst.ID), errConflict)
	}
	return nil
}

// Terminate ends an instance for good: its machine, its disk, its network namespace and address, its rules.
// Terminating a terminated instance is not an error. The record stays listed for an hour, as EC2's do.
func (s *Service) Terminate(ctx context.Context, ref string) error {
	s.mu.Lock()
	inst, err := s.ref(scopeOf(ctx), ref)
	if err != nil {
		s.mu.Unlock()
		return err
	}
	id := inst.ID
	s.mu.Unlock()
	unlock := s.lock(id)
	defer unlock()
	return s.terminate(ctx, id)
}

// terminate does Terminate's work; the caller holds the instance's lock (or is the restore, before anyone).
func (s *Service) terminate(ctx context.Context, id string) error {
	s.mu.Lock()
	inst := s.instances[id]
	if inst.State == Terminated {
		s.mu.Unlock()
		return nil
	}
	m := s.machines[id]
	s.setState(inst, ShuttingDown, "Client.UserInitiatedShutdown: User initiated shutdown")
	s.mu.Unlock()
	if m == nil {
		m, _ = s.findMachine(inst)
		if m != nil {
			close(m.done) // nobody watches it: shutdownMachine must not wait for a watcher
		}
	}
	if m != nil {
		s.shutdownMachine(ctx, m, 5*time.Second)
	}
	s.networks.DetachAll(ctx, id)
	if err := s.networks.DeleteSandbox(ctx, id); err != nil {
		s.log.Warn("terminate: network namespace", "instance", id, "error", err)
	}
	os.RemoveAll(s.runDir(id))
	for _, f := range []string{diskFile, consoleFile} {
		if err := os.Remove(filepath.Join(s.instanceDir(id), f)); err != nil && !os.IsNotExist(err) {
			return err
		}
	}
	s.mu.Lock()
	delete(s.machines, id)
	inst.Pid = 0
	inst.PrivateIP, inst.MAC = netipZero, ""
	inst.TerminatedAt = time.Now().UTC()
	s.setState(inst, Terminated, "Client.UserInitiatedShutdown: User initiated shutdown")
	s.mu.Unlock()
	return s.applyFirewall(ctx)
}

// consoleKept is how much of the console an instance's console output returns (EC2: the last 64 KiB).
const consoleKept = 64 << 10

// ConsoleOutput is the last 64 KiB the instance's serial console printed, across its boots.
func (s *Service) ConsoleOutput(ctx context.Context, ref string) ([]byte, error) {
	inst, err := s.Get(ctx, ref)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(filepath.Join(s.instanceDir(inst.ID), consoleFile))
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	off := st.Size() - consoleKept
	if off < 0 {
		off = 0
	}
	return io.ReadAll(io.NewSectionReader(f, off, st.Size()-off))
}

// ConsoleSocket is the unix socket of a running instance's serial console (interactive).
func (s *Service) ConsoleSocket(ctx context.Context, ref string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	inst, err := s.ref(scopeOf(ctx), ref)
	if err != nil {
		return "", err
	}
	if s.machines[inst.ID] == nil {
		return "", newError(CodeIncorrectInstanceState, fmt.Sprintf("The instance '%s' is not running. It is %s.", inst.ID, inst.State), errConflict)
	}
	return filepath.Join(s.runDir(inst.ID), consoleSock), nil
}

// Types lists the instance types.
func (s *Service) Types() []Type { return append([]Type(nil), Types...) }
