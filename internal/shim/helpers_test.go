package shim_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth/berth/internal/shim"
	"github.com/berth/berth/internal/testutil"
)

const runcPath = "/usr/sbin/runc"

// shimBinary is cmd/berth-shim, built by TestMain the way it ships.
var shimBinary string

func TestMain(m *testing.M) {
	if os.Getenv(fakeDaemonEnv) != "" {
		os.Exit(fakeDaemon())
	}
	if rec := os.Getenv(recordingRuntimeEnv); rec != "" {
		os.Exit(recordingRuntime(rec))
	}
	code := func() int {
		if os.Geteuid() != 0 {
			return m.Run() // the shim tests skip themselves
		}
		dir, err := os.MkdirTemp("", "berth-shim-bin")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		shimBinary = filepath.Join(dir, "berth-shim")
		args := []string{"build", "-ldflags=-s -w", "-trimpath", "-o", shimBinary}
		if os.Getenv("BERTH_SHIM_RACE") == "1" {
			args = append(args, "-race") // a race-checked shim, for debugging (memory numbers are meaningless)
		}
		build := exec.Command("go", append(args, "github.com/berth/berth/cmd/berth-shim")...)
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if v := os.Getenv("BERTH_SHIM_CGO"); v != "" { // CGO_ENABLED for the shim build
			build.Env = append(os.Environ(), "CGO_ENABLED="+v)
		}
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "building berth-shim:", err)
			return 1
		}
		return m.Run()
	}()
	os.Exit(code)
}

// container is one test container: a busybox bundle, a runc root and a shim state directory.
type container struct {
	t        *testing.T
	id       string
	stateDir string
	bundle   string
	cfg      shim.Config
}

type option func(*specs.Spec, *shim.Config)

func withTty(w, h uint16) option {
	return func(s *specs.Spec, c *shim.Config) {
		s.Process.Terminal = true
		c.Tty, c.ConsoleWidth, c.ConsoleHeight = true, w, h
	}
}

func withStdin(once bool) option {
	return func(s *specs.Spec, c *shim.Config) { c.Stdin, c.StdinOnce = true, once }
}

func withoutLog() option {
	return func(s *specs.Spec, c *shim.Config) { c.LogPath = "" }
}

// newContainer prepares (but does not spawn) a container running args.
func newContainer(t *testing.T, args []string, opts ...option) *container {
	t.Helper()
	testutil.RequiresRoot(t)
	if _, err := os.Stat(runcPath); err != nil {
		t.Skip("runc not installed")
	}
	base := t.TempDir()
	c := &container{t: t, id: "berth-shim-test-" + randHex(6), stateDir: filepath.Join(base, "state"),
		bundle: filepath.Join(base, "bundle")}
	rootfs := filepath.Join(c.bundle, "rootfs")
	makeRootfs(t, rootfs)
	c.cfg = shim.Config{
		ID:          c.id,
		Bundle:      c.bundle,
		Runtime:     runcPath,
		RuntimeRoot: filepath.Join(base, "runc"),
		LogPath:     filepath.Join(base, "ctr-json.log"),
	}
	spec := testSpec(args)
	for _, o := range opts {
		o(spec, &c.cfg)
	}
	data, err := json.MarshalIndent(spec, "", "\t")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(c.bundle, "config.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.cleanup)
	return c
}

// spawn starts the shim and returns a client for it.
func (c *container) spawn(ctx context.Context) (int, *shim.Client) {
	c.t.Helper()
	pid, err := shim.Spawn(ctx, shimBinary, c.stateDir, c.cfg)
	if err != nil {
		c.t.Fatalf("Spawn: %v", err)
	}
	cl, err := shim.Dial(ctx, c.stateDir)
	if err != nil {
		c.t.Fatalf("Dial: %v", err)
	}
	return pid, cl
}

func (c *container) shimPid() int {
	data, err := os.ReadFile(filepath.Join(c.stateDir, shim.PidFile))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	return pid
}

func (c *container) runc(args ...string) error {
	out, err := exec.Command(runcPath, append([]string{"--root", c.cfg.RuntimeRoot}, args...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("runc %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

// cleanup removes the container and makes sure its shim is gone.
func (c *container) cleanup() {
	exec.Command(runcPath, "--root", c.cfg.RuntimeRoot, "delete", "-f", c.id).Run()
	pid := c.shimPid()
	if pid == 0 {
		return
	}
	if !waitGone(pid, 5*time.Second) {
		c.t.Errorf("shim %d still running at cleanup; killing it", pid)
		syscall.Kill(pid, syscall.SIGKILL)
		waitGone(pid, 5*time.Second)
	}
}

// waitGone waits until pid no longer runs (a zombie counts as gone).
func waitGone(pid int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if !alive(pid) {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

func alive(pid int) bool {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name.
	i := bytes.LastIndexByte(data, ')')
	return i >= 0 && i+2 < len(data) && data[i+2] != 'Z'
}

func makeRootfs(t *testing.T, rootfs string) {
	t.Helper()
	for _, d := range []string{"bin", "proc", "dev", "sys", "tmp", "etc"} {
		if err := os.MkdirAll(filepath.Join(rootfs, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bb, err := os.ReadFile("/usr/bin/busybox")
	if err != nil {
		t.Skip("busybox not installed")
	}
	if err := os.WriteFile(filepath.Join(rootfs, "bin", "busybox"), bb, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"sh", "echo", "cat", "sleep", "stty", "yes", "head", "true", "ls", "kill"} {
		if err := os.Symlink("busybox", filepath.Join(rootfs, "bin", name)); err != nil {
			t.Fatal(err)
		}
	}
}

// testSpec is `runc spec` trimmed: new namespaces (network included), no cgroupsPath.
func testSpec(args []string) *specs.Spec {
	caps := []string{"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"}
	return &specs.Spec{
		Version: specs.Version,
		Process: &specs.Process{
			Args: args,
			Env:  []string{"PATH=/bin", "TERM=xterm"},
			Cwd:  "/",
			Capabilities: &specs.LinuxCapabilities{
				Bounding: caps, Effective: caps, Permitted: caps,
			},
			Rlimits:         []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 1024, Soft: 1024}},
			NoNewPrivileges: true,
		},
		Root:     &specs.Root{Path: "rootfs"},
		Hostname: "berth-test",
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
			{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
			{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
		},
		Linux: &specs.Linux{
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.PIDNamespace}, {Type: specs.NetworkNamespace}, {Type: specs.IPCNamespace},
				{Type: specs.UTSNamespace}, {Type: specs.MountNamespace},
			},
			MaskedPaths:   []string{"/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware"},
			ReadonlyPaths: []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"},
		},
	}
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// readFrames demultiplexes stdcopy frames from r until EOF.
func readFrames(r io.Reader) (stdout, stderr []byte, err error) {
	var hdr [8]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			if err == io.EOF {
				return stdout, stderr, nil
			}
			return stdout, stderr, err
		}
		if hdr[1] != 0 || hdr[2] != 0 || hdr[3] != 0 {
			return stdout, stderr, fmt.Errorf("bad frame header % x", hdr)
		}
		p := make([]byte, binary.BigEndian.Uint32(hdr[4:]))
		if _, err := io.ReadFull(r, p); err != nil {
			return stdout, stderr, err
		}
		switch hdr[0] {
		case 1:
			stdout = append(stdout, p...)
		case 2:
			stderr = append(stderr, p...)
		default:
			return stdout, stderr, fmt.Errorf("bad stream %d", hdr[0])
		}
	}
}

// readFrame reads one stdcopy frame.
func readFrame(r io.Reader) (stream byte, p []byte, err error) {
	var hdr [8]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	p = make([]byte, binary.BigEndian.Uint32(hdr[4:]))
	_, err = io.ReadFull(r, p)
	return hdr[0], p, err
}

func testContext(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// The fake daemon is this test binary re-executed: it spawns and starts a shim, reports, and waits to be killed.
const fakeDaemonEnv = "BERTH_SHIM_TEST_FAKE_DAEMON"

func fakeDaemon() int {
	var cfg shim.Config
	if err := json.Unmarshal([]byte(os.Getenv(fakeDaemonEnv)), &cfg); err != nil {
		fmt.Println("error", err)
		return 1
	}
	ctx := context.Background()
	stateDir := os.Getenv(fakeDaemonEnv + "_DIR")
	if _, err := shim.Spawn(ctx, os.Getenv(fakeDaemonEnv+"_BIN"), stateDir, cfg); err != nil {
		fmt.Println("error", err)
		return 1
	}
	c, err := shim.Dial(ctx, stateDir)
	if err == nil {
		err = c.Start(ctx)
	}
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	fmt.Println("started")
	time.Sleep(time.Hour)
	return 0
}

// recordingRuntimeEnv names the file where this test binary, run as a container's runtime, records how it was
// run (the seals of its own executable, its process name and nice value) before it executes runc with its
// arguments.
const recordingRuntimeEnv = "BERTH_SHIM_TEST_RECORD_RUNTIME"

func recordingRuntime(rec string) int {
	seals := -1
	if f, err := os.Open("/proc/self/exe"); err == nil {
		seals, _ = unix.FcntlInt(f.Fd(), unix.F_GET_SEALS, 0)
		f.Close()
	}
	comm, _ := os.ReadFile("/proc/self/comm")
	nice := "?"
	if stat, err := os.ReadFile("/proc/self/stat"); err == nil {
		// The fields after the parenthesised command name: state is field 3, nice field 19.
		if i := bytes.LastIndexByte(stat, ')'); i >= 0 {
			if f := strings.Fields(string(stat[i+1:])); len(f) > 16 {
				nice = f[16]
			}
		}
	}
	line := fmt.Sprintf("seals=%d comm=%s nice=%s args=%s\n", seals, strings.TrimSpace(string(comm)), nice,
		strings.Join(os.Args[1:], " "))
	if f, err := os.OpenFile(rec, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600); err == nil {
		f.WriteString(line)
		f.Close()
	}
	err := syscall.Exec(runcPath, append([]string{runcPath}, os.Args[1:]...), os.Environ())
	fmt.Fprintln(os.Stderr, "exec runc:", err)
	return 1
}
