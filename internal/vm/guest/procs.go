package guest

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"

	"github.com/berth/berth/internal/vm/agent"
)

// drainTimeout bounds how long a process's output is read after it exited: a background process that inherited
// the pipe would otherwise hold the exit message back forever (the shim bounds it the same way).
const drainTimeout = 2 * time.Second

// proc is one process the host asked for.
type proc struct {
	stream uint32
	pid    int
	ptmx   *os.File

	inMu  sync.Mutex
	in    [][]byte      // stdin data not yet written
	inSig chan struct{} // something was queued
	stdin io.WriteCloser
}

// procs runs the host's processes and reports their output and exit on the channel.
type procs struct {
	r  *reaper
	w  *agent.Writer
	mu sync.Mutex
	m  map[uint32]*proc
}

func newProcs(r *reaper, w *agent.Writer) *procs {
	return &procs{r: r, w: w, m: map[uint32]*proc{}}
}

// exec starts p as stream; failures are reported as an exit with code 126 or 127, as a shell would.
func (ps *procs) exec(stream uint32, p *agent.Process) {
	pr, outs, done, err := ps.start(stream, p)
	if err != nil {
		code := 126
		if errors.Is(err, syscall.ENOENT) || errors.Is(err, errNotFound) {
			code = 127
		}
		ps.w.Send(agent.Message{Op: agent.OpExit, Stream: stream, Code: code, Error: err.Error()})
		return
	}
	ps.w.Send(agent.Message{Op: agent.OpStarted, Stream: stream, Pid: pr.pid})
	go func() {
		ws := <-done
		finished := make(chan struct{})
		go func() { outs.Wait(); close(finished) }()
		select {
		case <-finished:
		case <-time.After(drainTimeout):
		}
		ps.mu.Lock()
		delete(ps.m, stream)
		ps.mu.Unlock()
		pr.closeStdin()
		if pr.ptmx != nil {
			pr.ptmx.Close()
		}
		ps.w.Send(agent.Message{Op: agent.OpExit, Stream: stream, Code: exitCode(ws)})
	}()
}

var errNotFound = errors.New("executable file not found in $PATH")

func (ps *procs) start(stream uint32, p *agent.Process) (*proc, *sync.WaitGroup, <-chan syscall.WaitStatus, error) {
	if len(p.Args) == 0 {
		return nil, nil, nil, errors.New("no command")
	}
	ps.mu.Lock()
	_, dup := ps.m[stream]
	ps.mu.Unlock()
	if dup {
		return nil, nil, nil, errors.New("stream in use")
	}
	bin, err := lookPath(p.Args[0], p.Env)
	if err != nil {
		return nil, nil, nil, err
	}
	cwd := p.Cwd
	if cwd == "" {
		cwd = "/"
	}
	// runc creates a missing working directory, owned by root.
	os.MkdirAll(cwd, 0o755)
	pr := &proc{stream: stream, inSig: make(chan struct{}, 1)}
	var outs sync.WaitGroup
	var child []*os.File // the child's ends, closed here once it started
	var files []uintptr
	sys := &syscall.SysProcAttr{Setsid: true}
	cred := &syscall.Credential{Uid: p.UID, Gid: p.GID, Groups: p.AdditionalGIDs}
	if cred.Groups == nil {
		cred.Groups = []uint32{}
	}
	sys.Credential = cred
	if p.Terminal {
		master, slave, err := pty.Open()
		if err != nil {
			return nil, nil, nil, err
		}
		if p.Width > 0 && p.Height > 0 {
			pty.Setsize(master, &pty.Winsize{Cols: p.Width, Rows: p.Height})
		}
		pr.ptmx = master
		child = append(child, slave)
		files = []uintptr{slave.Fd(), slave.Fd(), slave.Fd()}
		sys.Setctty, sys.Ctty = true, 0
		if p.Stdin {
			pr.stdin = master
		}
	} else {
		var in *os.File
		if p.Stdin {
			r, w, err := os.Pipe()
			if err != nil {
				return nil, nil, nil, err
			}
			in, pr.stdin = r, w
		} else if in, err = os.Open(os.DevNull); err != nil {
			return nil, nil, nil, err
		}
		or, ow, err := os.Pipe()
		if err != nil {
			return nil, nil, nil, err
		}
		er, ew, err := os.Pipe()
		if err != nil {
			return nil, nil, nil, err
		}
		child = append(child, in, ow, ew)
		files = []uintptr{in.Fd(), ow.Fd(), ew.Fd()}
		outs.Add(2)
		go copyOut(&outs, ps.w.StreamWriter(agent.TypeStdout, stream), or)
		go copyOut(&outs, ps.w.StreamWriter(agent.TypeStderr, stream), er)
	}
	if p.NoFile > 0 {
		// Children inherit the limit of the thread that forks them; PID 1's own is raised for all of them.
		lim := &unix.Rlimit{Cur: p.NoFile, Max: p.NoFile}
		unix.Setrlimit(unix.RLIMIT_NOFILE, lim)
	}
	env := p.Env
	pid, done, err := ps.r.start(func() (int, error) {
		return syscall.ForkExec(bin, p.Args, &syscall.ProcAttr{Dir: cwd, Env: env, Files: files, Sys: sys})
	})
	for _, f := range child {
		f.Close()
	}
	if err != nil {
		if pr.stdin != nil && pr.ptmx == nil {
			pr.stdin.Close()
		}
		if pr.ptmx != nil {
			pr.ptmx.Close()
		}
		return nil, nil, nil, err
	}
	pr.pid = pid
	if pr.ptmx != nil {
		outs.Add(1)
		go copyOut(&outs, ps.w.StreamWriter(agent.TypeStdout, stream), pr.ptmx)
	}
	if pr.stdin != nil {
		go pr.feed()
	}
	ps.mu.Lock()
	ps.m[stream] = pr
	ps.mu.Unlock()
	return pr, &outs, done, nil
}

// copyOut sends what r yields until it ends (a pty master ends with EIO once every slave is closed).
func copyOut(wg *sync.WaitGroup, w io.Writer, r *os.File) {
	defer wg.Done()
	defer r.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// input queues stdin bytes for the process (empty: close stdin); the channel's reader never blocks on a
// process that does not read.
func (ps *procs) input(stream uint32, data []byte) {
	ps.mu.Lock()
	pr := ps.m[stream]
	ps.mu.Unlock()
	if pr == nil || pr.stdin == nil {
		return
	}
	pr.inMu.Lock()
	pr.in = append(pr.in, data)
	pr.inMu.Unlock()
	select {
	case pr.inSig <- struct{}{}:
	default:
	}
}

func (pr *proc) feed() {
	for range pr.inSig {
		for {
			pr.inMu.Lock()
			if len(pr.in) == 0 {
				pr.inMu.Unlock()
				break
			}
			b := pr.in[0]
			pr.in = pr.in[1:]
			pr.inMu.Unlock()
			if len(b) == 0 {
				pr.closeStdin()
				return
			}
			if _, err := pr.stdin.Write(b); err != nil {
				return
			}
		}
	}
}

func (pr *proc) closeStdin() {
	pr.inMu.Lock()
	defer pr.inMu.Unlock()
	if pr.stdin == nil {
		return
	}
	if pr.ptmx != nil {
		// A terminal's stdin ends with EOT, as a user's ^D would end it; the master stays open for output.
		pr.ptmx.Write([]byte{4})
	} else {
		pr.stdin.Close()
	}
	pr.stdin = nil
}

func (ps *procs) signal(stream uint32, sig syscall.Signal, all bool) {
	if all {
		killAll(sig)
		return
	}
	ps.mu.Lock()
	pr := ps.m[stream]
	ps.mu.Unlock()
	if pr != nil {
		unix.Kill(pr.pid, sig)
	}
}

func (ps *procs) resize(stream uint32, w, h uint16) {
	ps.mu.Lock()
	pr := ps.m[stream]
	ps.mu.Unlock()
	if pr != nil && pr.ptmx != nil {
		pty.Setsize(pr.ptmx, &pty.Winsize{Cols: w, Rows: h})
	}
}

// lookPath finds name in the PATH of env, as runc does for a process's first argument.
func lookPath(name string, env []string) (string, error) {
	if strings.Contains(name, "/") {
		if _, err := os.Stat(name); err != nil {
			return "", &os.PathError{Op: "exec", Path: name, Err: syscall.ENOENT}
		}
		return name, nil
	}
	path := "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
		}
	}
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", &execError{name: name}
}

type execError struct{ name string }

func (e *execError) Error() string {
	return `exec: "` + e.name + `": executable file not found in $PATH`
}

func (e *execError) Unwrap() error { return errNotFound }
