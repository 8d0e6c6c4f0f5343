package shim_test

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/errdefs"

	"github.com/berth/berth/internal/logger/jsonfile"
	"github.com/berth/berth/internal/logger/local"
	"github.com/berth/berth/internal/logger/logfile"
	"github.com/berth/berth/internal/logger/logread"
	"github.com/berth/berth/internal/runtime"
	"github.com/berth/berth/internal/shim"
)

func TestOutputIsLogged(t *testing.T) {
	c := newContainer(t, []string{"sh", "-c", "echo out; echo err >&2; printf partial"})
	ctx := testContext(t, 30*time.Second)
	pid, cl := c.spawn(ctx)
	if pid <= 0 {
		t.Fatalf("init pid %d", pid)
	}
	if err := cl.Start(ctx); err != nil {
		t.Fatal(err)
	}
	code, err := cl.Wait(ctx)
	if err != nil || code != 0 {
		t.Fatalf("Wait = %d, %v; want 0", code, err)
	}

	var got []string
	err = logread.Read(ctx, c.cfg.LogPath, jsonfile.Decoder{}, logread.ReadConfig{Tail: -1}, func(m *logfile.Message) error {
		got = append(got, m.Stream+" "+string(m.Line))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// stdout and stderr are separate pipes, so only the order within a stream is fixed.
	want := map[string]bool{"stdout out\n": true, "stderr err\n": true, "stdout partial": true}
	if len(got) != len(want) {
		t.Fatalf("log records %q, want %d", got, len(want))
	}
	for _, g := range got {
		if !want[g] {
			t.Errorf("unexpected log record %q", g)
		}
	}
	if got[len(got)-1] != "stdout partial" && got[len(got)-2] != "stdout partial" {
		t.Errorf("partial line not after the full stdout line: %q", got)
	}

	code, at, ok, err := shim.ReadExit(c.stateDir)
	if err != nil || !ok || code != 0 || time.Since(at) > time.Minute {
		t.Errorf("ReadExit = %d, %v, %v, %v", code, at, ok, err)
	}
	if !waitGone(c.shimPid(), 5*time.Second) {
		t.Error("shim still running after the container exited")
	}
	if _, err := os.Stat(filepath.Join(c.stateDir, shim.SocketFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("shim.sock left behind: %v", err)
	}
	if err := c.runc("state", c.id); err == nil {
		t.Error("container still known to runc after exit")
	}
}

func TestExitCodes(t *testing.T) {
	tests := []struct {
		name string
		args []string
		kill bool // runc kill KILL after start
		want int
	}{
		{name: "exit 3", args: []string{"sh", "-c", "exit 3"}, want: 3},
		{name: "sigkill", args: []string{"sleep", "100"}, kill: true, want: 137},
		{name: "exit 255", args: []string{"sh", "-c", "exit 255"}, want: 255},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newContainer(t, tt.args, withoutLog())
			ctx := testContext(t, 30*time.Second)
			_, cl := c.spawn(ctx)
			if err := cl.Start(ctx); err != nil {
				t.Fatal(err)
			}
			if tt.kill {
				if err := c.runc("kill", c.id, "KILL"); err != nil {
					t.Fatal(err)
				}
			}
			code, err := cl.Wait(ctx)
			if err != nil || code != tt.want {
				t.Fatalf("Wait = %d, %v; want %d", code, err, tt.want)
			}
		})
	}
}

// A container killed before start still gets its exit recorded: init is reaped without ever running.
func TestKilledBeforeStart(t *testing.T) {
	c := newContainer(t, []string{"true"})
	ctx := testContext(t, 30*time.Second)
	_, cl := c.spawn(ctx)
	if err := c.runc("kill", c.id, "KILL"); err != nil {
		t.Fatal(err)
	}
	code, err := cl.Wait(ctx)
	if err != nil || code != 137 {
		t.Fatalf("Wait = %d, %v; want 137", code, err)
	}
	if err := cl.Start(ctx); err == nil {
		t.Error("Start after exit succeeded")
	}
}

func TestAttachBeforeStart(t *testing.T) {
	c := newContainer(t, []string{"sh", "-c", "echo one; echo two >&2; echo three"})
	ctx := testContext(t, 30*time.Second)
	_, cl := c.spawn(ctx)
	conn, err := cl.Attach(ctx, false, true, true)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	onlyErr, err := cl.Attach(ctx, false, false, true)
	if err != nil {
		t.Fatal(err)
	}
	defer onlyErr.Close()
	if err := cl.Start(ctx); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, err := readFrames(conn)
	if err != nil {
		t.Fatal(err)
	}
	if string(stdout) != "one\nthree\n" || string(stderr) != "two\n" {
		t.Errorf("attach got stdout %q stderr %q", stdout, stderr)
	}
	stdout, stderr, err = readFrames(onlyErr)
	if err != nil || len(stdout) != 0 || string(stderr) != "two\n" {
		t.Errorf("stderr-only attach got stdout %q stderr %q, %v", stdout, stderr, err)
	}
	if code, err := cl.Wait(ctx); err != nil || code != 0 {
		t.Fatalf("Wait = %d, %v", code, err)
	}
	// Attaching after the end gets an empty stream, not a hang.
	late, err := cl.Attach(ctx, false, true, true)
	if err == nil {
		stdout, stderr, _ := readFrames(late)
		late.Close()
		if len(stdout)+len(stderr) != 0 {
			t.Errorf("late attach got output")
		}
	}
}

func TestAttachStdin(t *testing.T) {
	c := newContainer(t, []string{"cat"}, withStdin(true))
	ctx := testContext(t, 30*time.Second)
	_, cl := c.spawn(ctx)
	conn, err := cl.Attach(ctx, true, true, true)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := cl.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write([]byte("hello\n")); err != nil {
		t.Fatal(err)
	}
	stream, p, err := readFrame(conn)
	if err != nil || stream != 1 || string(p) != "hello\n" {
		t.Fatalf("echo = %d %q %v", stream, p, err)
	}
	// Half-close: with StdinOnce, cat sees EOF and exits.
	if err := conn.(*net.UnixConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if rest, _, err := readFrames(conn); err != nil || len(rest) != 0 {
		t.Errorf("after EOF: %q %v", rest, err)
	}
	if code, err := cl.Wait(ctx); err != nil || code != 0 {
		t.Fatalf("Wait = %d, %v", code, err)
	}
}

func TestCloseStdin(t *testing.T) {
	c := newContainer(t, []string{"sh", "-c", "cat; echo eof"}, withStdin(false))
	ctx := testContext(t, 30*time.Second)
	_, cl := c.spawn(ctx)
	a, err := cl.Attach(ctx, true, true, false)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := cl.Attach(ctx, true, false, false)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := cl.Start(ctx); err != nil {
		t.Fatal(err)
	}
	// Two clients write into the same stdin; without StdinOnce a half-close does not end it.
	a.Write([]byte("from a\n"))
	if _, p, err := readFrame(a); err != nil || string(p) != "from a\n" {
		t.Fatalf("got %q %v", p, err)
	}
	b.Write([]byte("from b\n"))
	b.(*net.UnixConn).CloseWrite()
	if _, p, err := readFrame(a); err != nil || string(p) != "from b\n" {
		t.Fatalf("got %q %v", p, err)
	}
	if err := cl.CloseStdin(ctx); err != nil {
		t.Fatal(err)
	}
	stdout, _, err := readFrames(a)
	if err != nil || string(stdout) != "eof\n" {
		t.Errorf("after closestdin: %q %v", stdout, err)
	}
	if code, err := cl.Wait(ctx); err != nil || code != 0 {
		t.Fatalf("Wait = %d, %v", code, err)
	}
}

func TestTtyResize(t *testing.T) {
	c := newContainer(t, []string{"sh", "-c", "stty size; sleep 0.5; stty size"}, withTty(80, 24))
	ctx := testContext(t, 30*time.Second)
	_, cl := c.spawn(ctx)
	conn, err := cl.Attach(ctx, false, true, true)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := cl.Start(ctx); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(&frameReader{r: conn, t: t})
	first, err := br.ReadString('\n')
	if err != nil || first != "24 80\r\n" {
		t.Fatalf("initial size %q %v; want 24 80 (tty output ends lines with \\r\\n)", first, err)
	}
	if err := cl.Resize(ctx, 100, 40); err != nil {
		t.Fatal(err)
	}
	second, err := br.ReadString('\n')
	if err != nil || second != "40 100\r\n" {
		t.Fatalf("size after resize %q %v", second, err)
	}
	if code, err := cl.Wait(ctx); err != nil || code != 0 {
		t.Fatalf("Wait = %d, %v", code, err)
	}
	var log []string
	logread.Read(ctx, c.cfg.LogPath, jsonfile.Decoder{}, logread.ReadConfig{Tail: -1}, func(m *logfile.Message) error {
		log = append(log, m.Stream+" "+string(m.Line))
		return nil
	})
	if strings.Join(log, "|") != "stdout 24 80\r\n|stdout 40 100\r\n" {
		t.Errorf("tty log %q", log)
	}
}

// frameReader turns the stdout frames of a tty attach into a byte stream.
type frameReader struct {
	r   io.Reader
	t   *testing.T
	buf []byte
}

func (f *frameReader) Read(p []byte) (int, error) {
	for len(f.buf) == 0 {
		stream, b, err := readFrame(f.r)
		if err != nil {
			return 0, err
		}
		if stream != 1 {
			f.t.Errorf("tty frame on stream %d", stream)
		}
		f.buf = b
	}
	n := copy(p, f.buf)
	f.buf = f.buf[n:]
	return n, nil
}

// The daemon is killed with SIGKILL while the container runs: the shim keeps going and a new daemon's client
// gets the exit code.
func TestSurvivesDaemonKill(t *testing.T) {
	c := newContainer(t, []string{"sh", "-c", "while [ ! -e /tmp/go ]; do sleep 0.05; done; echo bye; exit 7"})
	cfg, _ := json.Marshal(c.cfg)
	daemon := exec.Command(os.Args[0], "-test.run=^$")
	daemon.Env = append(os.Environ(), fakeDaemonEnv+"="+string(cfg), fakeDaemonEnv+"_DIR="+c.stateDir,
		fakeDaemonEnv+"_BIN="+shimBinary)
	out, err := daemon.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	if line != "started\n" {
		daemon.Process.Kill()
		daemon.Wait()
		t.Fatalf("fake daemon: %q", line)
	}
	daemon.Process.Signal(syscall.SIGKILL)
	daemon.Wait()

	time.Sleep(200 * time.Millisecond)
	pid := c.shimPid()
	if !alive(pid) {
		t.Fatal("shim died with its daemon")
	}
	ctx := testContext(t, 30*time.Second)
	cl, err := shim.Dial(ctx, c.stateDir)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := cl.Attach(ctx, false, true, false)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := os.WriteFile(filepath.Join(c.bundle, "rootfs", "tmp", "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if code, err := cl.Wait(ctx); err != nil || code != 7 {
		t.Fatalf("Wait after restart = %d, %v; want 7", code, err)
	}
	if stdout, _, err := readFrames(conn); err != nil || string(stdout) != "bye\n" {
		t.Errorf("attach after restart: %q %v", stdout, err)
	}
	// Once the shim is gone, a new client still learns the exit code from the exit file.
	if !waitGone(pid, 5*time.Second) {
		t.Fatal("shim did not exit")
	}
	cl, err = shim.Dial(ctx, c.stateDir)
	if err != nil {
		t.Fatal(err)
	}
	if code, err := cl.Wait(ctx); err != nil || code != 7 {
		t.Fatalf("Wait from exit file = %d, %v; want 7", code, err)
	}
	if err := cl.Start(ctx); !errors.Is(err, errdefs.ErrConflict) {
		t.Errorf("Start on an exited container: %v", err)
	}
}

func TestShimGone(t *testing.T) {
	ctx := testContext(t, 30*time.Second)
	if _, err := shim.Dial(ctx, t.TempDir()); !errors.Is(err, errdefs.ErrUnavailable) {
		t.Errorf("Dial without a shim: %v", err)
	}

	c := newContainer(t, []string{"sleep", "100"}, withoutLog())
	_, cl := c.spawn(ctx)
	if err := cl.Start(ctx); err != nil {
		t.Fatal(err)
	}
	syscall.Kill(c.shimPid(), syscall.SIGKILL)
	if !waitGone(c.shimPid(), 5*time.Second) {
		t.Fatal("shim survived SIGKILL")
	}
	if _, err := cl.Wait(ctx); !errors.Is(err, errdefs.ErrUnavailable) {
		t.Errorf("Wait with the shim gone and no exit file: %v", err)
	}
}

func TestCreateFailure(t *testing.T) {
	c := newContainer(t, []string{"foo"})
	ctx := testContext(t, 30*time.Second)
	_, err := shim.Spawn(ctx, shimBinary, c.stateDir, c.cfg)
	if err == nil {
		t.Fatal("Spawn succeeded for a missing command")
	}
	if want := `exec: "foo": executable file not found in $PATH`; !strings.Contains(err.Error(), want) {
		t.Errorf("Spawn error %q does not contain %q", err, want)
	}
	if strings.TrimSpace(err.Error()) != err.Error() || strings.Contains(err.Error(), "\n") {
		t.Errorf("error not trimmed: %q", err)
	}
	t.Logf("create failure: %v", err)
	if !waitGone(c.shimPid(), 5*time.Second) {
		t.Error("shim still running after a failed create")
	}
	if err := c.runc("state", c.id); err == nil {
		t.Error("failed container left in runc")
	}
}

// Heavy output with no client, and with a client that never reads, neither stalls the container nor loses log
// lines.
func TestOutputNeverBlocks(t *testing.T) {
	const lines = 200000 // 2.2 MB, more than a client's queue and many pipe buffers
	for _, attach := range []bool{false, true} {
		name := "unattached"
		if attach {
			name = "stuck client"
		}
		t.Run(name, func(t *testing.T) {
			c := newContainer(t, []string{"sh", "-c", "yes 0123456789 | head -n 200000; echo done >&2"})
			ctx := testContext(t, 60*time.Second)
			_, cl := c.spawn(ctx)
			if attach {
				conn, err := cl.Attach(ctx, false, true, true)
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close() // never read
			}
			if err := cl.Start(ctx); err != nil {
				t.Fatal(err)
			}
			if code, err := cl.Wait(ctx); err != nil || code != 0 {
				t.Fatalf("Wait = %d, %v", code, err)
			}
			var n int
			var last string
			logread.Read(ctx, c.cfg.LogPath, jsonfile.Decoder{}, logread.ReadConfig{Tail: -1}, func(m *logfile.Message) error {
				if m.Stream == "stdout" {
					if string(m.Line) != "0123456789\n" {
						t.Fatalf("bad line %q", m.Line)
					}
					n++
				} else {
					last = string(m.Line)
				}
				return nil
			})
			if n != lines || last != "done\n" {
				t.Errorf("log has %d lines (want %d), stderr %q", n, lines, last)
			}
		})
	}
}

// A following log reader ends when the shim is done with the container.
func TestFollowLogUntilExit(t *testing.T) {
	c := newContainer(t, []string{"sh", "-c", "echo a; sleep 0.3; echo b"})
	ctx := testContext(t, 30*time.Second)
	_, cl := c.spawn(ctx)
	done := make(chan struct{})
	var got bytes.Buffer
	readErr := make(chan error, 1)
	go func() {
		readErr <- logread.Read(ctx, c.cfg.LogPath, jsonfile.Decoder{}, logread.ReadConfig{Tail: -1, Follow: true, Done: done},
			func(m *logfile.Message) error {
				got.Write(m.Line)
				return nil
			})
	}()
	if err := cl.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	close(done)
	if err := <-readErr; err != nil {
		t.Fatal(err)
	}
	if got.String() != "a\nb\n" {
		t.Errorf("followed %q", got.String())
	}
}

// A state directory too long for sockaddr_un still works (sockets are reached through /proc).
func TestLongStateDir(t *testing.T) {
	c := newContainer(t, []string{"sh", "-c", "echo hi"}, withTty(0, 0))
	c.stateDir = filepath.Join(c.stateDir, strings.Repeat("d", 100))
	ctx := testContext(t, 30*time.Second)
	_, cl := c.spawn(ctx)
	conn, err := cl.Attach(ctx, false, true, true)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := cl.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if out, _, err := readFrames(conn); err != nil || string(out) != "hi\r\n" {
		t.Errorf("got %q %v", out, err)
	}
	if code, err := cl.Wait(ctx); err != nil || code != 0 {
		t.Fatalf("Wait = %d, %v", code, err)
	}
}

func TestContextCancel(t *testing.T) {
	c := newContainer(t, []string{"sleep", "100"}, withoutLog())
	ctx := testContext(t, 30*time.Second)
	_, cl := c.spawn(ctx)
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if _, err := cl.Wait(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wait with a short context: %v", err)
	}
	if err := c.runc("kill", c.id, "KILL"); err != nil {
		t.Fatal(err)
	}
	if code, err := cl.Wait(ctx); err != nil || code != 137 {
		t.Fatalf("Wait = %d, %v", code, err)
	}
}

// TestRunDetachedReplaysEarlyOutput: with RunDetached the container runs (and here, finishes) before the start
// request; clients that attach before start still get every byte, and the shim stays reachable until start.
func TestRunDetachedReplaysEarlyOutput(t *testing.T) {
	c := newContainer(t, []string{"sh", "-c", "echo one; echo two >&2; echo three"}, func(s *specs.Spec, cfg *shim.Config) {
		cfg.RunDetached = true
	})
	ctx := testContext(t, 30*time.Second)
	_, cl := c.spawn(ctx)
	time.Sleep(300 * time.Millisecond) // long enough for the container to have exited
	conn, err := cl.Attach(ctx, false, true, true)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := cl.Start(ctx); err != nil {
		t.Fatalf("Start after the container exited: %v", err)
	}
	stdout, stderr, err := readFrames(conn)
	if err != nil {
		t.Fatal(err)
	}
	if string(stdout) != "one\nthree\n" || string(stderr) != "two\n" {
		t.Errorf("replayed stdout %q stderr %q", stdout, stderr)
	}
	if code, err := cl.Wait(ctx); err != nil || code != 0 {
		t.Fatalf("Wait = %d, %v", code, err)
	}
}

// A shim given a sealed copy of its runtime runs every runtime command from it (so the runtime skips copying
// itself), under the runtime's own name; the delete after the exit runs at nice 10.
func TestSealedRuntime(t *testing.T) {
	c := newContainer(t, []string{"sh", "-c", "echo sealed"})
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	fake := filepath.Join(dir, "runc") // this test binary, recording how it runs, then runc
	if err := os.WriteFile(fake, data, 0o755); err != nil {
		t.Fatal(err)
	}
	sealed, err := runtime.Seal(fake, filepath.Join(dir, "links"))
	if err != nil {
		t.Fatal(err)
	}
	if c.cfg.RuntimeBinary, err = sealed.File(); err != nil {
		t.Fatal(err)
	}
	if c.cfg.RuntimeExe, err = sealed.ChildExe(shim.RuntimeBinaryFD); err != nil {
		t.Fatal(err)
	}
	c.cfg.Runtime = fake
	c.cfg.RunDetached = true // as the daemon starts containers
	rec := filepath.Join(dir, "record")
	t.Setenv(recordingRuntimeEnv, rec)

	ctx := testContext(t, 30*time.Second)
	_, cl := c.spawn(ctx)
	if err := cl.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if code, err := cl.Wait(ctx); err != nil || code != 0 {
		t.Fatalf("Wait = %d, %v", code, err)
	}
	if !waitGone(c.shimPid(), 5*time.Second) {
		t.Fatal("shim still running")
	}
	data, err = os.ReadFile(rec)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	var verbs []string
	for _, l := range lines {
		if !strings.HasPrefix(l, "seals=15 comm=runc ") {
			t.Errorf("runtime ran as %q, want from the sealed copy (seals=15) named runc", l)
		}
		f := strings.Fields(l)
		for _, a := range f {
			if a == "run" || a == "delete" {
				// The delete after the exit runs at a lower priority, off the CPU the exit's handling needs.
				verbs = append(verbs, a+" "+f[2])
				break
			}
		}
	}
	if got := strings.Join(verbs, ", "); got != "run nice=0, delete nice=10" {
		t.Errorf("runtime commands %q, want run at nice 0 then delete at nice 10:\n%s", got, data)
	}
	var out []string
	logread.Read(ctx, c.cfg.LogPath, jsonfile.Decoder{}, logread.ReadConfig{Tail: -1}, func(m *logfile.Message) error {
		out = append(out, string(m.Line))
		return nil
	})
	if strings.Join(out, "") != "sealed\n" {
		t.Errorf("container output %q", out)
	}
}

// TestLogRotation: the shim writes its container's log in the configured format, rotated at the configured size,
// compressed when asked, every record with the attributes; a reader following the log from the start gets
// every line once, in order (no file is removed before it gets there: 40 are kept). The shim's memory after it
// rotated and compressed is reported.
func TestLogRotation(t *testing.T) {
	tests := []struct {
		name     string
		format   string
		compress bool
	}{
		{name: "json-file", format: "json-file"},
		{name: "json-file compressed", format: "json-file", compress: true},
		{name: "local", format: "local", compress: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			const lines = 3000
			// 1000 lines, a pause (the memory is measured), 2000 more; a file holds about 100 records.
			c := newContainer(t, []string{"sh", "-c", fmt.Sprintf("seq 1 1000; sleep 1; seq 1001 %d", lines)})
			c.cfg.LogPath = filepath.Join(filepath.Dir(c.cfg.LogPath), "ctr.log")
			c.cfg.LogFormat, c.cfg.LogMaxSize, c.cfg.LogMaxFiles, c.cfg.LogCompress = tc.format, 8<<10, 40, tc.compress
			c.cfg.LogAttrs = map[string]string{"team": "web"}
			var dec logfile.Decoder = jsonfile.Decoder{}
			if tc.format == "local" {
				dec = local.Decoder{}
			}
			ctx := testContext(t, 60*time.Second)
			_, cl := c.spawn(ctx)
			exited := make(chan struct{})
			var followed []string
			readErr := make(chan error, 1)
			go func() {
				readErr <- logread.Read(ctx, c.cfg.LogPath, dec, logread.ReadConfig{Tail: -1, Follow: true, Done: exited, MaxFiles: 40},
					func(m *logfile.Message) error {
						if len(m.Attrs) != 1 || m.Attrs[0].Key != "team" || m.Attrs[0].Value != "web" {
							return fmt.Errorf("record without its attributes: %+v", m)
						}
						followed = append(followed, strings.TrimSuffix(string(m.Line), "\n"))
						return nil
					})
			}()
			if err := cl.Start(ctx); err != nil {
				t.Fatal(err)
			}
			time.Sleep(500 * time.Millisecond) // within the pause: the first files are rotated and compressed
			rss, pss := smapsRollup(t, c.shimPid())
			t.Logf("shim after rotating 1000 lines: RSS %d KiB, PSS %d KiB", rss, pss)
			if code, err := cl.Wait(ctx); err != nil || code != 0 {
				t.Fatalf("Wait = %d, %v", code, err)
			}
			waitGone(c.shimPid(), 5*time.Second) // the shim closed the log: its last compression is done
			close(exited)
			if err := <-readErr; err != nil {
				t.Fatal(err)
			}
			if want := seqStrings(1, lines); strings.Join(followed, ",") != strings.Join(want, ",") {
				t.Fatalf("followed %d lines, want %d", len(followed), len(want))
			}
			entries, _ := os.ReadDir(filepath.Dir(c.cfg.LogPath))
			n := 0
			for _, e := range entries {
				if strings.HasPrefix(e.Name(), "ctr.log.") {
					n++
				}
			}
			ext := ""
			if tc.compress {
				ext = ".gz"
			}
			for i := 1; i <= n; i++ {
				if _, err := os.Stat(c.cfg.LogPath + "." + strconv.Itoa(i) + ext); err != nil {
					t.Errorf("rotated file %d: %v", i, err)
				}
			}
			if n < 15 {
				t.Errorf("%d rotated files for %d lines of 8 KiB files", n, lines)
			}
		})
	}
}

func seqStrings(from, to int) []string {
	var out []string
	for i := from; i <= to; i++ {
		out = append(out, strconv.Itoa(i))
	}
	return out
}
