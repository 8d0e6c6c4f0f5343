// Package shim owns one container's life outside the daemon: the berth-shim process creates the container with
// the OCI runtime, holds its stdio (json-file log, attach clients, tty), reaps its init as a child subreaper and
// records the exit status, so containers survive a daemon restart. The package also holds the daemon's side:
// Spawn starts a shim, Dial/Client talk to it, ReadExit reads what a finished shim left behind.
//
// Protocol (docs/design.md, "Shim protocol"): the daemon writes <state-dir>/shim.json and starts
// `berth-shim <state-dir>` with fd 3 the write end of a ready pipe. The shim creates the container, listens on
// <state-dir>/shim.sock, writes "ok <init-pid>\n" or "error <message>\n" to fd 3, and serves one request per
// connection: start, attach, resize, wait, closestdin. When init exits it drains the output, deletes the container,
// writes <state-dir>/exit atomically, answers the waiters and exits.
//
//	pid, err := shim.Spawn(ctx, "/usr/bin/berth-shim", stateDir, cfg) // container created
//	c, err := shim.Dial(ctx, stateDir)
//	conn, err := c.Attach(ctx, false, true, true)                      // stdcopy frames from now on
//	err = c.Start(ctx)
//	code, err := c.Wait(ctx)
package shim

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/berth/berth/internal/atomicfile"
	"github.com/berth/berth/internal/logger/jsonfile"
	"github.com/berth/berth/internal/logger/local"
	"github.com/berth/berth/internal/logger/logfile"
	"golang.org/x/sys/unix"
)

// Timeouts of the exit path: output still open this long after init exited (an orphan outside a pid namespace
// holding the pipe) is cut off; attached clients and waiters get this long to receive the rest.
const (
	drainTimeout  = 2 * time.Second
	finishTimeout = 5 * time.Second
)

// gomaxprocsMarker in the environment says that Spawn set GOMAXPROCS for the shim alone.
const gomaxprocsMarker = "_BERTH_SHIM_GOMAXPROCS"

// Container states, as seen by requests.
const (
	stateCreated = iota
	stateStarted
	stateExited
)

type shim struct {
	dir        string
	cfg        Config
	runtimeExe string // what runs the runtime: cfg.Runtime, or a link to its sealed copy
	reaper     *reaper
	log        *logfile.Writer // nil without a log

	null    int        // /dev/null, the stdio of runtime commands other than create
	console *os.File   // tty: the pty master
	outputs []*os.File // what copyOutput reads: the stdout and stderr pipes, or the console
	copiers sync.WaitGroup
	stdin   atomic.Pointer[os.File] // pipe write end, or the console; nil once closed
	stdinMu sync.Mutex

	startMu sync.Mutex // serialises start requests

	mu       sync.Mutex
	state    int
	clients  []*client
	drained  bool           // output is drained and clients finished: a new attach gets nothing
	writers  sync.WaitGroup // clients' write loops
	requests sync.WaitGroup // request handlers

	exited   chan struct{} // closed once the exit file is written
	exitCode int

	// RunDetached: the container runs before the start request; early holds its output until then (bounded),
	// for clients that attach before start. startReq is closed by the first start request.
	replayOn  bool // RunDetached and no start request yet
	early     []earlyFrame
	earlySize int
	startReq  chan struct{}
	startOnce sync.Once
}

type earlyFrame struct {
	stream byte
	frame  []byte
}

// maxEarly bounds the output kept for replay before the start request.
const maxEarly = 1 << 20

// Run is the shim's main: it serves the container whose state directory is stateDir and returns the process
// exit code.
func Run(stateDir string) int {
	ready := readyPipe()
	fail := func(msg string) int {
		if ready != nil {
			ready.WriteString("error " + oneLine(msg) + "\n")
			ready.Close()
		}
		return 1
	}

	if os.Getenv(gomaxprocsMarker) != "" {
		os.Unsetenv("GOMAXPROCS") // set by Spawn for this process only
		os.Unsetenv(gomaxprocsMarker)
	}
	dir, err := filepath.Abs(stateDir)
	if err != nil {
		return fail(err.Error())
	}
	// Working in dir keeps the daemon's cwd unpinned and lets long socket paths be bound relative to it.
	if err := os.Chdir(dir); err != nil {
		return fail(err.Error())
	}
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return fail("set child subreaper: " + err.Error())
	}
	cfg, err := readConfig(dir)
	if err != nil {
		return fail(err.Error())
	}
	runtimeExe := cfg.Runtime
	if cfg.RuntimeFD > 0 && cfg.RuntimeExe != "" {
		// Executing an ELF binary through /proc/self/fd works with close-on-exec set: the runtime does not
		// inherit the descriptor.
		if _, err := unix.FcntlInt(uintptr(cfg.RuntimeFD), unix.F_GETFD, 0); err == nil {
			syscall.CloseOnExec(cfg.RuntimeFD)
			runtimeExe = cfg.RuntimeExe
		}
	}
	for _, m := range cfg.HideMounts {
		// Spawn started this process in a private mount namespace: the detach is invisible outside it.
		if err := unix.Unmount(m, unix.MNT_DETACH); err != nil && err != unix.EINVAL && err != unix.ENOENT {
			return fail("hide mount " + m + ": " + err.Error())
		}
	}
	null, err := syscall.Open("/dev/null", syscall.O_RDWR|syscall.O_CLOEXEC, 0)
	if err != nil {
		return fail(err.Error())
	}
	s := &shim{dir: dir, cfg: cfg, runtimeExe: runtimeExe, reaper: newReaper(), null: null, exited: make(chan struct{}), startReq: make(chan struct{}), replayOn: cfg.RunDetached}
	// The shim's pid is informational (the daemon knows it from Spawn): no fsync.
	if err := atomicfile.WriteFile(filepath.Join(dir, PidFile), []byte(strconv.Itoa(os.Getpid())), 0o644, atomicfile.NoSync()); err != nil {
		return fail(err.Error())
	}
	if cfg.LogPath != "" {
		if s.log, err = s.openLog(cfg); err != nil {
			return fail("open log: " + err.Error())
		}
	}

	initExit, initPid, err := s.create()
	if err != nil {
		if s.log != nil {
			s.log.Close()
		}
		return fail(err.Error())
	}

	_, bind := sockPaths(dir, SocketFile)
	l, err := listenUnix(bind)
	if err != nil {
		s.runtimeCmd(s.nullFiles(), "delete", "--force", cfg.ID)
		return fail("listen: " + err.Error())
	}
	serveDone := make(chan struct{})
	go func() {
		s.serve(l)
		close(serveDone)
	}()
	if ready != nil {
		ready.WriteString("ok " + strconv.Itoa(initPid) + "\n")
		ready.Close()
	}

	ws := <-initExit
	exitedAt := time.Now()
	s.exit(exitCode(ws), exitedAt)
	if s.cfg.RunDetached {
		// A container that ran and exited before the daemon's start request: stay reachable until the daemon
		// has attached and asked to start, so the replay reaches it.
		select {
		case <-s.startReq:
		case <-time.After(10 * time.Second):
		}
	}
	// From now on a restarted daemon reads the exit file.
	l.Close()
	os.Remove(bind)
	<-serveDone
	waitTimeout(&s.requests, time.Second) // no more Adds: serve has returned
	return 0
}

// openLog opens the container's log in its driver's format, rotated as the config says.
func (s *shim) openLog(cfg Config) (*logfile.Writer, error) {
	var enc logfile.Encoder
	switch cfg.LogFormat {
	case "", jsonfile.Name:
		enc = jsonfile.NewEncoder(cfg.LogAttrs)
	case local.Name:
		enc = local.NewEncoder(cfg.LogAttrs)
	default:
		return nil, errors.New("unknown log format " + strconv.Quote(cfg.LogFormat))
	}
	return logfile.NewWriter(cfg.LogPath, enc, logfile.Options{MaxSize: cfg.LogMaxSize, MaxFiles: cfg.LogMaxFiles,
		Compress: cfg.LogCompress, Gzip: s.gzip})
}

// gzip compresses a rotated log file with the host's gzip, a child of the shim like the runtime (so through the
// reaper): compress/flate in the shim would cost every container's shim its pages for a rare rotation. Without
// a gzip binary the rotated files stay uncompressed (logs reads them the same).
func (s *shim) gzip(dst, src *os.File) error {
	path, err := exec.LookPath("gzip")
	if err != nil {
		return err
	}
	done, err := s.reaper.start(path, []string{"gzip", "-c", "-1", "-n"}, [3]int{int(src.Fd()), int(dst.Fd()), s.null})
	if err != nil {
		return err
	}
	if ws := <-done; !ws.Exited() || ws.ExitStatus() != 0 {
		return errors.New("gzip: " + describeStatus(ws))
	}
	return nil
}

// readyPipe returns fd 3 if the daemon passed the ready pipe there.
func readyPipe() *os.File {
	var st syscall.Stat_t
	if syscall.Fstat(3, &st) != nil || st.Mode&syscall.S_IFMT != syscall.S_IFIFO {
		return nil
	}
	syscall.CloseOnExec(3) // the runtime and the container must not hold it
	return os.NewFile(3, "ready")
}

// create sets up stdio and runs `runtime create`; it returns the channel of the init's exit status and its pid.
func (s *shim) create() (<-chan syscall.WaitStatus, int, error) {
	sio, err := s.setupStdio()
	if err != nil {
		return nil, 0, err
	}
	verb := "create"
	if s.cfg.RunDetached {
		verb = "run"
	}
	args := []string{verb, "--bundle", s.cfg.Bundle, "--pid-file", filepath.Join(s.dir, InitPidFile)}
	if s.cfg.RunDetached {
		args = append(args, "--detach")
	}
	var console chan *os.File
	if s.cfg.Tty {
		args = append(args, "--console-socket", sio.consolePath)
		console = make(chan *os.File, 1)
		go func() {
			f, err := receiveConsole(sio.consoleListener)
			if err != nil {
				f = nil
			}
			console <- f
		}()
	}
	args = append(args, s.cfg.ID)
	os.Remove(filepath.Join(s.dir, InitPidFile))

	err = s.runtimeCmd(sio.child, args...)
	sio.closeChildEnds()
	if err != nil {
		sio.close()
		s.runtimeCmd(s.nullFiles(), "delete", "--force", s.cfg.ID)
		return nil, 0, err
	}
	if s.cfg.Tty {
		// The runtime sends the master before create returns; the timeout only guards a broken runtime.
		select {
		case s.console = <-console:
		case <-time.After(10 * time.Second):
		}
		sio.closeConsoleListener()
		if s.console == nil {
			sio.close()
			s.runtimeCmd(s.nullFiles(), "delete", "--force", s.cfg.ID)
			return nil, 0, errors.New("no console received from the runtime")
		}
		if s.cfg.ConsoleWidth > 0 && s.cfg.ConsoleHeight > 0 {
			setWinsize(s.console, s.cfg.ConsoleWidth, s.cfg.ConsoleHeight)
		}
	}

	data, err := os.ReadFile(filepath.Join(s.dir, InitPidFile))
	pid, perr := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || perr != nil || pid <= 0 {
		sio.close()
		if s.console != nil {
			s.console.Close()
		}
		s.runtimeCmd(s.nullFiles(), "delete", "--force", s.cfg.ID)
		return nil, 0, errors.New("read init pid file: invalid or missing")
	}
	// init is our child now (the runtime exited and we are its subreaper); if it already died, the reaper kept
	// its status for this claim.
	initExit := s.reaper.claim(pid)

	if s.cfg.Tty {
		if s.cfg.Stdin {
			s.stdin.Store(s.console)
		}
		s.outputs = []*os.File{s.console}
		s.copiers.Add(1)
		go s.copyOutput(s.console, streamStdout, "stdout")
	} else {
		if sio.stdin != nil {
			s.stdin.Store(sio.stdin)
		}
		s.outputs = []*os.File{sio.stdout, sio.stderr}
		s.copiers.Add(2)
		go s.copyOutput(sio.stdout, streamStdout, "stdout")
		go s.copyOutput(sio.stderr, streamStderr, "stderr")
	}
	return initExit, pid, nil
}

func (s *shim) nullFiles() [3]int {
	return [3]int{s.null, s.null, s.null}
}

// exit runs the end of the protocol once init has exited with code.
func (s *shim) exit(code int, exitedAt time.Time) {
	s.mu.Lock()
	s.state = stateExited
	s.mu.Unlock()

	if !waitTimeout(&s.copiers, drainTimeout) {
		// Someone outside the container's pid namespace still holds the output open: stop reading.
		for _, f := range s.outputs {
			f.Close()
		}
		s.copiers.Wait()
	}
	s.closeStdin()
	for _, f := range s.outputs {
		f.Close()
	}
	if s.log != nil {
		s.log.Close()
	}
	s.mu.Lock()
	for _, c := range s.clients {
		c.finish(finishTimeout)
	}
	s.clients = nil
	s.drained = true
	s.mu.Unlock()

	// Report the exit first, then delete: the runtime's delete (a process start, ~15 ms) is off the path of
	// `run --rm`. The daemon waits for this process to end before it reuses the container's ID or state
	// directory, so the late delete cannot race a restart.
	writeExit(s.dir, code, exitedAt, oomKills(s.cfg.OOMFile) > 0)
	s.exitCode = code
	close(s.exited)
	// The delete runs while the daemon handles the exit (and `run --rm` waits for it): at a lower priority
	// it takes the CPU the rest leaves (runc's delete is a Go process start, ~10 ms of CPU). Nice 10, not
	// SCHED_IDLE, so that a loaded host cannot starve it: a restart of this container waits for it.
	// Linux's nice is per thread and the child inherits the forking thread's: lock this goroutine to the thread
	// it lowers (the shim exits soon after).
	runtime.LockOSThread()
	syscall.Setpriority(syscall.PRIO_PROCESS, 0, 10)
	s.runtimeCmd(s.nullFiles(), "delete", "--force", s.cfg.ID)

	// attach adds writers only before drained is set, so this Wait does not race with an Add.
	waitTimeout(&s.writers, finishTimeout)
}

func waitTimeout(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}

func oneLine(s string) string {
	return strings.ReplaceAll(strings.TrimSpace(s), "\n", " ")
}
