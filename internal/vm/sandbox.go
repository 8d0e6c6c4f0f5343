package vm

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth/berth/internal/atomicfile"
	"github.com/berth/berth/internal/network/link"
	"github.com/berth/berth/internal/vm/agent"
	"github.com/berth/berth/internal/vm/qemu"
	"github.com/berth/berth/internal/vm/vnet"
)

// initStream is the agent stream of the container's own process.
const initStream = 1

// killGrace is how long a SIGKILLed process gets to be reported dead by the guest before the machine itself is
// killed: a guest that does not answer must not keep a container alive.
const killGrace = 3 * time.Second

// shutdownWait is how long a guest gets to power off once its container's process has exited.
const shutdownWait = 3 * time.Second

// sandbox is the process that keeps one VM-isolated container: the berth-shim's "container init". It starts qemu
// as its child (qemu dies with it), relays the container's stdio between its own (the shim's pipes or pty) and
// the guest agent, serves the control socket, and exits with the container's exit code once the machine is off.
type sandbox struct {
	id, bundle, dir string
	spec            *specs.Spec
	m               Machine
	plan            *containerPlan
	log             *slog.Logger

	qemu     *exec.Cmd
	qemuDone chan struct{}
	w        *agent.Writer
	conn     net.Conn

	qmpMu sync.Mutex
	qmp   *qemu.QMP

	mu       sync.Mutex
	next     uint32
	execs    map[uint32]*agent.Writer // exec streams: the control connection their frames go to
	started  chan error               // the container's process started (nil) or could not
	exited   chan struct{}            // closed when the container's process exited
	code     int
	killedAt time.Time
}

// runSandbox runs the sandbox of container id; ready gets "ok\n" once the container's process runs, or
// "error <message>\n". It returns the process's exit status.
func runSandbox(id, bundle, dir string, ready *os.File) int {
	s := &sandbox{id: id, bundle: bundle, dir: dir, next: initStream + 1, execs: map[uint32]*agent.Writer{},
		started: make(chan error, 1), exited: make(chan struct{}), qemuDone: make(chan struct{})}
	s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	if f, err := os.OpenFile(filepath.Join(bundle, "sandbox.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600); err == nil {
		s.log = slog.New(slog.NewTextHandler(f, nil)).With("container", id)
	}
	fail := func(err error) int {
		s.log.Error("start failed", "error", err)
		msg := err.Error()
		if tail := s.consoleTail(); tail != "" {
			msg += " (console: " + tail + ")"
		}
		ready.WriteString("error " + oneLine(msg) + "\n")
		ready.Close()
		s.stopMachine()
		return 1
	}
	if err := s.prepare(); err != nil {
		return fail(err)
	}
	if err := s.boot(); err != nil {
		return fail(err)
	}
	ready.WriteString("ok\n")
	ready.Close()
	s.setStatus("running")
	s.relayStdin()
	go s.watchSignals()
	select {
	case <-s.exited:
	case <-s.qemuDone:
		// The machine ended without reporting the process's exit: it crashed or was killed.
		s.mu.Lock()
		killed := !s.killedAt.IsZero()
		s.mu.Unlock()
		if killed {
			s.code = 137
		} else {
			fmt.Fprintf(os.Stderr, "berth-vm: the virtual machine stopped unexpectedly: %s\n", s.consoleTail())
			s.code = 255
		}
	}
	s.stopMachine()
	s.setStatus("stopped")
	if ps := s.qemu.ProcessState; ps != nil {
		s.log.Info("machine stopped", "code", s.code, "qemu-cpu", (ps.UserTime() + ps.SystemTime()).Round(time.Millisecond))
	}
	return s.code
}

// prepare plans the machine and attaches its network.
func (s *sandbox) prepare() error {
	b, err := os.ReadFile(filepath.Join(s.bundle, "config.json"))
	if err != nil {
		return err
	}
	s.spec = &specs.Spec{}
	if err := json.Unmarshal(b, s.spec); err != nil {
		return fmt.Errorf("config.json: %w", err)
	}
	if s.m, err = readMachine(s.bundle); err != nil {
		return fmt.Errorf("%s: %w", machineFile, err)
	}
	rootfs := ""
	if s.spec.Root != nil {
		rootfs = s.spec.Root.Path
	}
	if s.plan, err = planContainer(s.spec, rootfs, s.bundle); err != nil {
		return err
	}
	s.plan.Process.Stdin = s.plan.Process.Terminal || !isDevNull(0)
	return nil
}

// boot starts qemu and waits for the container's process to run in it.
func (s *sandbox) boot() error {
	ctx, cancel := context.WithTimeout(context.Background(), s.m.BootTimeout)
	defer cancel()
	var nics []vnet.NIC
	if s.plan.NetNS != "" {
		var err error
		if nics, err = vnet.Attach(ctx, s.plan.NetNS); err != nil {
			return fmt.Errorf("network: %w", err)
		}
		defer vnet.Close(nics)
	}
	guest := s.plan.Guest
	guest.Debug = s.m.Debug
	if s.plan.NetNS != "" && usesEmbeddedDNS(guest.Files) {
		guest.DNSRelay = embeddedDNS
	}
	cfg := qemu.Config{Name: filepath.Base(s.dir), Type: s.m.Type, Accel: s.m.Accel, TSCKHz: s.m.TSCKHz,
		CPUs: s.plan.CPUs, MemoryMiB: s.plan.MemoryMiB, Kernel: s.m.Kernel, Initrd: s.m.Initrd,
		Shares: s.plan.Shares, AgentSocket: agentSock, QMPSocket: qmpSock,
		ConsoleLog: filepath.Join(s.bundle, consoleFile), NoReboot: true,
		FwCfg: []qemu.FwCfg{{Name: agent.ConfigName, File: filepath.Join(s.dir, guestFile)}}}
	if cfg.MemoryMiB == 0 {
		cfg.MemoryMiB = s.m.MemoryMiB
	}
	files := []*os.File{}
	for i, n := range nics {
		guest.Interfaces = append(guest.Interfaces, n.Guest)
		cfg.NICs = append(cfg.NICs, qemu.NIC{FD: 3 + i, MAC: n.Guest.MAC})
		files = append(files, n.Tap)
	}
	gb, err := json.Marshal(guest)
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(filepath.Join(s.dir, guestFile), gb, 0o600, atomicfile.NoSync()); err != nil {
		return err
	}
	cmd, err := qemu.Command(s.m.Qemu, cfg)
	if err != nil {
		return err
	}
	cmd.Dir = s.dir // the sockets are bound relative to it: state paths can be longer than a socket's
	logf, err := os.OpenFile(filepath.Join(s.dir, qemuLog), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.ExtraFiles = files
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("qemu: %w", err)
	}
	logf.Close()
	s.qemu = cmd
	go func() {
		cmd.Wait()
		close(s.qemuDone)
	}()
	s.writeState("created")
	vnet.Close(nics)
	nics = nil
	if err := s.dialAgent(ctx); err != nil {
		return err
	}
	if err := s.serveCtl(); err != nil {
		return err
	}
	go s.readGuest()
	select {
	case err := <-s.started:
		if err != nil {
			return err
		}
		s.log.Info("container started", "boot", time.Since(t0))
		return nil
	case <-s.qemuDone:
		return fmt.Errorf("the virtual machine stopped while booting: %s", s.qemuError())
	case <-ctx.Done():
		return fmt.Errorf("the virtual machine did not start the container within %s", s.m.BootTimeout)
	}
}

func (s *sandbox) dialAgent(ctx context.Context) error {
	path := filepath.Join(s.dir, agentSock)
	for {
		c, err := net.Dial("unix", path)
		if err == nil {
			s.conn = c
			s.w = agent.NewWriter(c)
			return nil
		}
		select {
		case <-s.qemuDone:
			return fmt.Errorf("qemu: %s", s.qemuError())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// readGuest handles what the guest sends until the channel closes.
func (s *sandbox) readGuest() {
	for {
		f, err := agent.ReadFrame(s.conn)
		if err != nil {
			return
		}
		if f.Type == agent.TypeDNS {
			go s.resolve(f)
			continue
		}
		if f.Stream != initStream && f.Stream != 0 {
			s.toExec(f)
			continue
		}
		switch f.Type {
		case agent.TypeStdout:
			os.Stdout.Write(f.Data)
		case agent.TypeStderr:
			os.Stderr.Write(f.Data)
		case agent.TypeControl:
			m, err := f.Decode()
			if err != nil {
				continue
			}
			switch m.Op {
			case agent.OpReady:
				s.log.Info("guest ready", "kernel", m.Release)
				p := s.plan.Process
				s.w.Send(agent.Message{Op: agent.OpExec, Stream: initStream, Process: &p})
			case agent.OpStarted:
				s.started <- nil
			case agent.OpExit:
				s.mu.Lock()
				s.code = m.Code
				s.mu.Unlock()
				if m.Error != "" {
					select {
					case s.started <- errors.New(m.Error):
					default:
					}
				}
				close(s.exited)
			}
		}
	}
}

// toExec routes a frame of an exec'd process to its control connection.
func (s *sandbox) toExec(f agent.Frame) {
	s.mu.Lock()
	w := s.execs[f.Stream]
	s.mu.Unlock()
	if w == nil {
		return
	}
	w.Write(f)
	if f.Type == agent.TypeControl {
		if m, err := f.Decode(); err == nil && m.Op == agent.OpExit {
			s.mu.Lock()
			delete(s.execs, f.Stream)
			s.mu.Unlock()
		}
	}
}

// relayStdin copies the sandbox's stdin to the container's process; its end closes the process's stdin.
func (s *sandbox) relayStdin() {
	if s.plan.Process.Terminal {
		// The guest's pty does the line discipline (echo, CR-LF): the host's passes bytes through.
		makeRaw(0)
	}
	if !s.plan.Process.Stdin {
		return
	}
	go func() {
		io.Copy(s.w.StreamWriter(agent.TypeStdin, initStream), os.Stdin)
		s.w.Write(agent.Frame{Type: agent.TypeStdin, Stream: initStream})
	}()
}

// watchSignals passes terminal resizes on, and ends the machine on SIGTERM or SIGINT.
func (s *sandbox) watchSignals() {
	ch := make(chan os.Signal, 4)
	signal.Notify(ch, syscall.SIGWINCH, syscall.SIGTERM, syscall.SIGINT)
	for sig := range ch {
		if sig == syscall.SIGWINCH {
			if ws, err := unix.IoctlGetWinsize(0, unix.TIOCGWINSZ); err == nil {
				s.w.Send(agent.Message{Op: agent.OpResize, Stream: initStream, Width: ws.Col, Height: ws.Row})
			}
			continue
		}
		s.mu.Lock()
		s.killedAt = time.Now()
		s.mu.Unlock()
		s.qemu.Process.Kill()
	}
}

// stopMachine asks the guest to power off, and kills qemu if it does not within shutdownWait.
func (s *sandbox) stopMachine() {
	if s.qemu == nil {
		return
	}
	s.mu.Lock()
	for stream, w := range s.execs {
		w.Send(agent.Message{Op: agent.OpExit, Stream: stream, Code: 137})
	}
	s.execs = map[uint32]*agent.Writer{}
	s.mu.Unlock()
	if s.w != nil {
		s.w.Send(agent.Message{Op: agent.OpShutdown})
	}
	select {
	case <-s.qemuDone:
	case <-time.After(shutdownWait):
		s.qemu.Process.Kill()
		<-s.qemuDone
	}
	os.Remove(filepath.Join(s.dir, ctlSocket))
}

func (s *sandbox) writeState(status string) {
	st := sandboxState{ID: s.id, Bundle: s.bundle, Pid: os.Getpid(), Status: status}
	if s.qemu != nil && s.qemu.Process != nil {
		st.QemuPid = s.qemu.Process.Pid
	}
	writeState(s.dir, st)
}

func (s *sandbox) setStatus(status string) { s.writeState(status) }

// qemuError is qemu's last message, for a machine that would not start.
func (s *sandbox) qemuError() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, qemuLog))
	msg := strings.TrimSpace(string(b))
	if i := strings.LastIndexByte(msg, '\n'); i >= 0 {
		msg = msg[i+1:]
	}
	if msg == "" {
		return "exited"
	}
	return msg
}

// consoleTail is the last lines the guest printed, to explain a failure.
func (s *sandbox) consoleTail() string {
	b, _ := os.ReadFile(filepath.Join(s.bundle, consoleFile))
	lines := strings.Split(strings.TrimSpace(strings.ReplaceAll(string(b), "\r", "")), "\n")
	if len(lines) > 3 {
		lines = lines[len(lines)-3:]
	}
	return strings.TrimSpace(strings.Join(lines, " | "))
}

// serveCtl listens on the control socket.
func (s *sandbox) serveCtl() error {
	path := filepath.Join(s.dir, ctlSocket)
	os.Remove(path)
	l, err := net.Listen("unix", path)
	if err != nil {
		return err
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go s.handleCtl(c)
		}
	}()
	return nil
}

func (s *sandbox) handleCtl(c net.Conn) {
	r := bufio.NewReader(c)
	line, err := r.ReadBytes('\n')
	if err != nil {
		c.Close()
		return
	}
	var req ctlRequest
	answer := func(resp ctlResponse) {
		b, _ := json.Marshal(resp)
		c.Write(append(b, '\n'))
	}
	if err := json.Unmarshal(line, &req); err != nil {
		answer(ctlResponse{Error: err.Error()})
		c.Close()
		return
	}
	select {
	case <-s.exited:
		answer(ctlResponse{Error: errNotRunning})
		c.Close()
		return
	default:
	}
	switch req.Op {
	case "kill":
		err = s.kill(syscall.Signal(req.Signal), req.All)
	case "pause":
		err = s.qmpDo("stop")
		if err == nil {
			s.setStatus("paused")
		}
	case "resume":
		err = s.qmpDo("cont")
		if err == nil {
			s.setStatus("running")
		}
	case "pids":
		answer(ctlResponse{Pids: []int{os.Getpid(), s.qemu.Process.Pid}})
		c.Close()
		return
	case "exec":
		s.exec(c, r, req.Process)
		return
	default:
		err = fmt.Errorf("unknown request %q", req.Op)
	}
	if err != nil {
		answer(ctlResponse{Error: err.Error()})
	} else {
		answer(ctlResponse{})
	}
	c.Close()
}

func (s *sandbox) kill(sig syscall.Signal, all bool) error {
	if err := s.w.Send(agent.Message{Op: agent.OpSignal, Stream: initStream, Signal: int(sig), All: all}); err != nil {
		return err
	}
	if sig == syscall.SIGKILL {
		s.mu.Lock()
		s.killedAt = time.Now()
		s.mu.Unlock()
		go func() {
			select {
			case <-s.exited:
			case <-time.After(killGrace):
				s.qemu.Process.Kill()
			}
		}()
	}
	return nil
}

func (s *sandbox) qmpDo(cmd string) error {
	s.qmpMu.Lock()
	defer s.qmpMu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if s.qmp == nil {
		q, err := qemu.DialQMP(ctx, filepath.Join(s.dir, qmpSock))
		if err != nil {
			return err
		}
		s.qmp = q
	}
	_, err := s.qmp.Execute(ctx, cmd, nil)
	return err
}

// exec runs p in the guest as a new stream, its frames relayed over c until it exits.
func (s *sandbox) exec(c net.Conn, r *bufio.Reader, p *agent.Process) {
	if p == nil {
		b, _ := json.Marshal(ctlResponse{Error: "no process"})
		c.Write(append(b, '\n'))
		c.Close()
		return
	}
	s.mu.Lock()
	stream := s.next
	s.next++
	cw := agent.NewWriter(c)
	s.execs[stream] = cw
	s.mu.Unlock()
	c.Write([]byte("{}\n"))
	if err := s.w.Send(agent.Message{Op: agent.OpExec, Stream: stream, Process: p}); err != nil {
		cw.Send(agent.Message{Op: agent.OpExit, Stream: stream, Code: 126, Error: err.Error()})
		c.Close()
		return
	}
	// From the caller: stdin, signals and resizes for this stream.
	go func() {
		defer c.Close()
		for {
			f, err := agent.ReadFrame(r)
			if err != nil {
				return
			}
			f.Stream = stream
			switch f.Type {
			case agent.TypeStdin:
				s.w.Write(f)
			case agent.TypeControl:
				m, err := f.Decode()
				if err != nil || (m.Op != agent.OpSignal && m.Op != agent.OpResize) {
					continue
				}
				m.Stream, m.All = stream, false
				s.w.Send(m)
			}
		}
	}()
}

// embeddedDNS is the engine's DNS server in a container's namespace (internal/network/dns).
const embeddedDNS = "127.0.0.11"

// usesEmbeddedDNS reports whether the container's resolv.conf names the embedded server.
func usesEmbeddedDNS(files []agent.File) bool {
	for _, f := range files {
		if f.Path == "/etc/resolv.conf" {
			for _, l := range strings.Split(string(f.Data), "\n") {
				if fs := strings.Fields(l); len(fs) >= 2 && fs[0] == "nameserver" && fs[1] == embeddedDNS {
					return true
				}
			}
		}
	}
	return false
}

// resolve asks the embedded DNS server in the container's namespace the guest's query, and returns the answer.
func (s *sandbox) resolve(f agent.Frame) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var conn net.Conn
	err := link.InNetNS(ctx, s.plan.NetNS, func() error {
		var err error
		conn, err = net.Dial("udp4", net.JoinHostPort(embeddedDNS, "53"))
		return err
	})
	if err != nil {
		s.log.Warn("dns relay", "error", err)
		return
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Write(f.Data); err != nil {
		return
	}
	buf := make([]byte, 65535)
	n, err := conn.Read(buf)
	if err != nil {
		return
	}
	s.w.Write(agent.Frame{Type: agent.TypeDNS, Stream: f.Stream, Data: buf[:n]})
}

func isDevNull(fd int) bool {
	var st, null unix.Stat_t
	if unix.Fstat(fd, &st) != nil || unix.Stat(os.DevNull, &null) != nil {
		return false
	}
	return st.Rdev == null.Rdev && st.Mode&unix.S_IFMT == unix.S_IFCHR
}

// makeRaw puts the terminal at fd in raw mode: the guest's own pty does the line discipline.
func makeRaw(fd int) {
	t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return
	}
	t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	t.Oflag &^= unix.OPOST
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Cflag &^= unix.CSIZE | unix.PARENB
	t.Cflag |= unix.CS8
	t.Cc[unix.VMIN], t.Cc[unix.VTIME] = 1, 0
	unix.IoctlSetTermios(fd, unix.TCSETS, t)
}

func oneLine(s string) string {
	return strings.ReplaceAll(strings.TrimSpace(s), "\n", " ")
}
