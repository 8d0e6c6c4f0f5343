package instance

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/berth/berth/internal/atomicfile"
	"github.com/berth/berth/internal/vm/agent"
	"github.com/berth/berth/internal/vm/boot"
	"github.com/berth/berth/internal/vm/qemu"
	"github.com/berth/berth/internal/vm/vnet"
)

// Files of an instance's run directory (<run-root>/<id>).
const (
	pidFile     = "qemu.pid"
	agentSock   = "agent.sock"
	qmpSock     = "qmp.sock"
	consoleSock = "console.sock"
	guestFile   = "guest.json"
)

// Files of an instance's data directory (<root>/instances/<id>).
const (
	diskFile    = "disk.qcow2"
	consoleFile = "console.log"
)

// bootFiles are what every instance boots from, resolved once.
type bootFiles struct {
	qemu        string
	art         boot.Artifacts
	accel       qemu.Accel
	accelReason string
	tscKHz      int
}

// bootFilesFor resolves the kernel, initramfs, qemu and accelerator, once (again after a failure).
func (s *Service) bootFilesFor() (*bootFiles, error) {
	s.bootMu.Lock()
	defer s.bootMu.Unlock()
	if s.bootFiles != nil {
		return s.bootFiles, nil
	}
	fail := func(err error) error {
		return newError(CodeInsufficientCapacity, "virtual machines cannot run on this host: "+err.Error(), errFailedPrecondition)
	}
	q := s.cfg.Qemu
	if q == "" {
		q = qemu.Binary
	}
	qp, err := exec.LookPath(q)
	if err != nil {
		return nil, fail(fmt.Errorf("%s not found (Debian's qemu-system-x86 package)", q))
	}
	if _, err := os.Stat(s.cfg.InitPath); err != nil || s.cfg.InitPath == "" {
		return nil, fail(fmt.Errorf("the guest init berth-vm-init is not installed next to berthd"))
	}
	k, err := boot.FindKernel(s.cfg.Kernel)
	if err != nil {
		return nil, fail(err)
	}
	a, err := boot.Prepare(s.cfg.BootCache, k, s.cfg.InitPath, boot.InstanceProfile)
	if err != nil {
		return nil, fail(err)
	}
	ch := qemu.ChooseAccel(s.cfg.Accel, filepath.Join(filepath.Dir(k.Image), "config-"+k.Release))
	s.bootFiles = &bootFiles{qemu: qp, art: a, accel: ch.Accel, accelReason: ch.Reason, tscKHz: qemu.HostTSCKHz()}
	return s.bootFiles, nil
}

// machine is a running instance's qemu, as the service watches it.
type machine struct {
	pid    int
	runDir string
	done   chan struct{} // closed when qemu has exited

	mu   sync.Mutex
	conn net.Conn
	w    *agent.Writer
	stop context.CancelFunc
}

// send writes a control message to the guest; false when the channel is not connected.
func (m *machine) send(msg agent.Message) bool {
	m.mu.Lock()
	w := m.w
	m.mu.Unlock()
	return w != nil && w.Send(msg) == nil
}

func (m *machine) close() {
	m.mu.Lock()
	if m.stop != nil {
		m.stop()
	}
	if m.conn != nil {
		m.conn.Close()
	}
	m.mu.Unlock()
}

func (m *machine) pidFile() string { return filepath.Join(m.runDir, pidFile) }

// findMachine finds the qemu of an instance that was running: its pid file and a live qemu started with it.
func (s *Service) findMachine(inst *Instance) (*machine, bool) {
	dir := s.runDir(inst.ID)
	pid, err := qemu.ReadPID(filepath.Join(dir, pidFile))
	if err != nil || !qemu.Alive(pid, filepath.Join(dir, pidFile)) {
		return nil, false
	}
	return &machine{pid: pid, runDir: dir, done: make(chan struct{})}, true
}

// guestConfig is what the instance's init is told at boot.
func (s *Service) guestConfig(inst *Instance, nics []vnet.NIC) agent.Config {
	host := inst.Name
	if host == "" || !namePattern.MatchString(host) {
		host = "ip-" + strings.ReplaceAll(inst.PrivateIP.String(), ".", "-")
	}
	hosts := "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
	if inst.PrivateIP.IsValid() {
		hosts += inst.PrivateIP.String() + "\t" + host + "\n"
	}
	cfg := agent.Config{Mode: agent.ModeInstance, Hostname: host,
		Root: agent.Mount{Type: "ext4", Source: "/dev/vda", Target: "/", Options: []string{"noinit_itable"}},
		Files: []agent.File{
			{Path: "/etc/hostname", Data: []byte(host + "\n")},
			{Path: "/etc/hosts", Data: []byte(hosts)},
			{Path: "/etc/resolv.conf", Data: resolvConf()},
		},
		SSH:        &agent.SSH{User: inst.User, AuthorizedKeys: inst.AuthorizedKeys, Start: true},
		InstanceID: inst.ID, UserData: inst.UserData, Debug: s.cfg.Debug}
	for _, n := range nics {
		cfg.Interfaces = append(cfg.Interfaces, n.Guest)
	}
	return cfg
}

// resolvConf is the host's resolvers, without loopback ones (unreachable from a guest); Google's public
// resolvers when none is left, as docker does.
func resolvConf() []byte {
	b, _ := os.ReadFile("/etc/resolv.conf")
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) >= 2 && f[0] == "nameserver" && (strings.HasPrefix(f[1], "127.") || f[1] == "::1") {
			continue
		}
		if len(f) > 0 && (f[0] == "nameserver" || f[0] == "search" || f[0] == "options") {
			out = append(out, l)
		}
	}
	has := false
	for _, l := range out {
		if strings.HasPrefix(l, "nameserver") {
			has = true
		}
	}
	if !has {
		out = append(out, "nameserver 8.8.8.8", "nameserver 8.8.4.4")
	}
	return []byte(strings.Join(out, "\n") + "\n")
}

// launch boots inst's machine: its network (the namespace's veth mirrored to a tap), its configuration, and a
// daemonized qemu. The caller holds the instance's lock, not s.mu.
func (s *Service) launch(ctx context.Context, inst Instance) (*machine, error) {
	bf, err := s.bootFilesFor()
	if err != nil {
		return nil, err
	}
	dir := s.runDir(inst.ID)
	os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	nics, err := vnet.Attach(ctx, s.networks.SandboxPath(inst.ID))
	if err != nil {
		return nil, fmt.Errorf("instance %s: network: %w", inst.ID, err)
	}
	defer vnet.Close(nics)
	gb, err := json.Marshal(s.guestConfig(&inst, nics))
	if err != nil {
		return nil, err
	}
	// The configuration holds the user data: 0600, in the run directory only.
	if err := atomicfile.WriteFile(filepath.Join(dir, guestFile), gb, 0o600, atomicfile.NoSync()); err != nil {
		return nil, err
	}
	cfg := qemu.Config{Name: inst.ID, Type: qemu.MicroVM, Accel: bf.accel, TSCKHz: bf.tscKHz, CPUs: inst.VCPUs,
		MemoryMiB: inst.MemoryMiB, Kernel: bf.art.Kernel, Initrd: bf.art.Initrd,
		Disks:       []qemu.Disk{{Path: filepath.Join(s.instanceDir(inst.ID), diskFile), Format: "qcow2"}},
		AgentSocket: filepath.Join(dir, agentSock), QMPSocket: filepath.Join(dir, qmpSock),
		ConsoleSocket: filepath.Join(dir, consoleSock), ConsoleLog: filepath.Join(s.instanceDir(inst.ID), consoleFile),
		FwCfg:   []qemu.FwCfg{{Name: agent.ConfigName, File: filepath.Join(dir, guestFile)}},
		PIDFile: filepath.Join(dir, pidFile), Daemonize: true}
	var files []*os.File
	for i, n := range nics {
		cfg.NICs = append(cfg.NICs, qemu.NIC{FD: 3 + i, MAC: n.Guest.MAC})
		files = append(files, n.Tap)
	}
	pid, err := qemu.Start(ctx, bf.qemu, cfg, files)
	if err != nil {
		return nil, fmt.Errorf("instance %s: %w", inst.ID, err)
	}
	return &machine{pid: pid, runDir: dir, done: make(chan struct{})}, nil
}

// watch follows a machine: it connects to the guest agent, marks the instance running when the guest reports
// ready, and records the machine's end.
func (s *Service) watch(id string, m *machine) {
	ctx, cancel := context.WithCancel(s.ctx)
	m.mu.Lock()
	m.stop = cancel
	m.mu.Unlock()
	s.wg.Add(2)
	// qemu is not our child (daemonized, or found after a restart): poll for its end.
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for qemu.Alive(m.pid, m.pidFile()) {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
		close(m.done)
		m.close()
		s.machineEnded(id, m)
	}()
	go func() {
		defer s.wg.Done()
		s.follow(ctx, id, m)
	}()
}

// follow keeps a connection to the guest agent while the machine runs.
func (s *Service) follow(ctx context.Context, id string, m *machine) {
	path := filepath.Join(m.runDir, agentSock)
	for ctx.Err() == nil {
		select {
		case <-m.done:
			return
		default:
		}
		c, err := net.Dial("unix", path)
		if err != nil {
			select {
			case <-ctx.Done():
				return
			case <-m.done:
				return
			case <-time.After(50 * time.Millisecond):
			}
			continue
		}
		m.mu.Lock()
		m.conn, m.w = c, agent.NewWriter(c)
		m.mu.Unlock()
		// A guest that booted while nobody listened said ready to no one: ask.
		m.send(agent.Message{Op: agent.OpPing})
		for {
			f, err := agent.ReadFrame(c)
			if err != nil {
				break
			}
			if f.Type != agent.TypeControl {
				continue
			}
			msg, err := f.Decode()
			if err != nil {
				continue
			}
			switch msg.Op {
			case agent.OpReady, agent.OpPong:
				s.guestReady(id, msg.Release)
			}
		}
		m.mu.Lock()
		m.conn, m.w = nil, nil
		m.mu.Unlock()
		c.Close()
	}
}

// guestReady marks a pending instance running.
func (s *Service) guestReady(id, release string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	inst, ok := s.instances[id]
	if !ok {
		return
	}
	inst.KernelRelease = release
	if inst.State == Pending {
		s.setState(inst, Running, "")
		s.log.Info("instance running", "instance", id, "boot", time.Since(inst.LaunchTime).Round(time.Millisecond))
	}
}

// machineEnded records that an instance's qemu exited: a stop or termination in progress finishes; otherwise
// the guest powered itself off (EC2's instance-initiated shutdown), or crashed.
func (s *Service) machineEnded(id string, m *machine) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.machines[id] != m {
		return
	}
	delete(s.machines, id)
	inst, ok := s.instances[id]
	if !ok {
		return
	}
	inst.Pid = 0
	switch inst.State {
	case Pending:
		s.setState(inst, Stopped, "Server.InternalError: the machine stopped while booting (see its console output)")
	case Running:
		s.setState(inst, Stopped, "Client.InstanceInitiatedShutdown: Instance initiated shutdown")
	case Stopping:
		s.setState(inst, Stopped, "Client.UserInitiatedShutdown: User initiated shutdown")
	}
}

// shutdownMachine asks the guest to power off (through its agent, or the ACPI power button when the agent does
// not answer) and waits up to grace, then kills qemu. It returns once qemu is gone.
func (s *Service) shutdownMachine(ctx context.Context, m *machine, grace time.Duration) {
	if grace > 0 {
		if !m.send(agent.Message{Op: agent.OpShutdown}) {
			qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			if q, err := qemu.DialQMP(qctx, filepath.Join(m.runDir, qmpSock)); err == nil {
				q.Execute(qctx, "system_powerdown", nil)
				q.Close()
			}
			cancel()
		}
		select {
		case <-m.done:
			return
		case <-time.After(grace):
		case <-ctx.Done():
		}
	}
	kctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	qemu.Kill(kctx, m.pid, m.pidFile())
	select {
	case <-m.done:
	case <-kctx.Done():
	}
}

var netipZero netip.Addr
