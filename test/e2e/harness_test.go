// Package e2e drives a real Berth daemon through the berth CLI and the real docker CLI. The tests need root
// (namespaces, overlayfs, cgroups) and run in CI through the README's test command.
package e2e

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/berth/berth/internal/network/firewall"
	"github.com/berth/berth/internal/network/link"
	"github.com/berth/berth/internal/vm/secgroup"
)

var (
	binDir    string // built berth, berthd, berth-compose and berth-shim
	dockerCLI = "/usr/local/bin/docker"
)

func TestMain(m *testing.M) {
	if os.Geteuid() != 0 {
		fmt.Println("e2e: skipping, these tests need root")
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "berth-e2e-bin-")
	if err != nil {
		panic(err)
	}
	binDir = dir
	root := repoRoot()
	// The binaries as scripts/build.sh builds them, side by side: berth runs berthd (`berth daemon`, `berth
	// registry`) and berth-compose (`berth compose`) from its own directory.
	for _, b := range []string{"berth", "berthd", "berth-compose", "berth-shim", "berth-vm", "berth-vm-init"} {
		args := []string{"build", "-ldflags=-s -w", "-o", filepath.Join(dir, b)}
		if os.Getenv("BERTH_E2E_RACE") != "" && b == "berthd" {
			// A race-detecting daemon: its reports land in the daemon log, which a failing test prints.
			args = append(args, "-race")
		}
		cmd := exec.Command("go", append(args, "./cmd/"+b)...)
		cmd.Dir = root
		// The shim is built static, as the setup builds it: that is what keeps its memory small. The VM runtime
		// too, and the guest's init runs where there is no libc.
		if b == "berth-shim" || b == "berth-vm" || b == "berth-vm-init" {
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		}
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Println("e2e: build failed:", err)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func repoRoot() string {
	wd, _ := os.Getwd()
	for d := wd; d != "/"; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
	}
	return wd
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("requires root")
	}
}

// Daemon is one berth daemon with private roots and socket, stopped and cleaned at the end of the test.
type Daemon struct {
	t        *testing.T
	Root     string
	DataRoot string
	ExecRoot string
	Sock     string
	Host     string
	cmd      *exec.Cmd
	exited   chan struct{}
	logFile  *os.File
	// daemonJSON and extraArgs configure the daemon (see startDaemonWith).
	daemonJSON string
	extraArgs  []string
	// netns, when set, is the network namespace (/run/netns/NAME) the daemon runs in, with hostname in a UTS
	// namespace of its own (swarm_harness_test.go).
	netns, hostname string
}

func startDaemon(t *testing.T) *Daemon {
	t.Helper()
	return startDaemonWith(t, "")
}

// startDaemonWith starts a daemon whose daemon.json is daemonJSON ("{}" when empty) and with extra flags.
func startDaemonWith(t *testing.T, daemonJSON string, args ...string) *Daemon {
	t.Helper()
	requireRoot(t)
	root, err := os.MkdirTemp("", "berth-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	d := &Daemon{t: t, Root: root, DataRoot: filepath.Join(root, "data"), ExecRoot: filepath.Join(root, "exec"), Sock: filepath.Join(root, "berth.sock")}
	d.Host = "unix://" + d.Sock
	d.daemonJSON, d.extraArgs = daemonJSON, args
	t.Cleanup(d.cleanup) // before start: a daemon that fails to come up still has its root removed
	d.start()
	return d
}

func (d *Daemon) start() {
	d.t.Helper()
	lf, err := os.OpenFile(filepath.Join(d.Root, "daemon.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		d.t.Fatal(err)
	}
	d.logFile = lf
	daemonJSON := d.daemonJSON
	if daemonJSON == "" {
		daemonJSON = "{}\n"
	}
	if err := os.WriteFile(filepath.Join(d.Root, "daemon.json"), []byte(daemonJSON), 0o644); err != nil {
		d.t.Fatal(err)
	}
	d.cmd = exec.Command(filepath.Join(binDir, "berth"), append([]string{"daemon", "--data-root", d.DataRoot, "--exec-root", d.ExecRoot,
		"-H", d.Host, "--pidfile", filepath.Join(d.Root, "berth.pid"), "--config-file", filepath.Join(d.Root, "daemon.json"), "--log-level", "debug"},
		d.extraArgs...)...)
	if d.netns != "" {
		// nsenter rather than `ip netns exec`, which remounts /sys and hides the cgroup mounts. unshare, sh and
		// nsenter each exec the next, so the process (and its pid) is the daemon's.
		d.cmd.Args = append([]string{"unshare", "--uts", "--", "sh", "-c", `hostname "$0" && exec nsenter --net=/run/netns/` + d.netns + ` -- "$@"`, d.hostname}, d.cmd.Args...)
		d.cmd.Path = "/usr/bin/unshare"
	}
	d.cmd.Stdout, d.cmd.Stderr = lf, lf
	if err := d.cmd.Start(); err != nil {
		d.t.Fatal(err)
	}
	d.exited = make(chan struct{})
	go func() { d.cmd.Wait(); close(d.exited) }()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := exec.Command(filepath.Join(binDir, "berth"), "-H", d.Host, "version").CombinedOutput(); err == nil {
			return
		}
		select {
		case <-d.exited:
			d.t.Fatalf("daemon exited:\n%s", d.log())
		case <-time.After(50 * time.Millisecond):
		}
	}
	d.t.Fatalf("daemon did not come up; log:\n%s", d.log())
}

func (d *Daemon) log() string {
	b, _ := os.ReadFile(filepath.Join(d.Root, "daemon.log"))
	return string(b)
}

// kill9 kills the daemon process only (its shims live on).
func (d *Daemon) kill9() {
	d.cmd.Process.Signal(syscall.SIGKILL)
	<-d.exited
	d.logFile.Close()
}

func (d *Daemon) stopDaemon() {
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(15 * time.Second):
		d.cmd.Process.Kill()
		<-d.exited
	}
	d.logFile.Close()
}

// bridge is the Linux bridge of the daemon's default network (named after its data root).
func (d *Daemon) bridge() string {
	sum := sha256.Sum256([]byte(d.DataRoot))
	return "berth" + hex.EncodeToString(sum[:])[:6]
}

// removeNetworking deletes what the daemon installed on the host for its networks (a stopped daemon keeps its
// default bridge, like docker0): the bridges, the firewall table and its iptables accepts.
func (d *Daemon) removeNetworking() {
	ctx := context.Background()
	table := "berth-" + strings.TrimPrefix(d.bridge(), "berth")
	if fw, err := firewall.New(ctx, firewall.WithTableName(table)); err == nil {
		fw.Reset(ctx)
	}
	// The security groups' table of the daemon's virtual machines, if a test left an instance behind.
	secgroup.Apply(ctx, table+"-vm", nil)
	entries, _ := os.ReadDir(filepath.Join(d.DataRoot, "network"))
	for _, e := range entries {
		b, _ := os.ReadFile(filepath.Join(d.DataRoot, "network", e.Name()))
		// A bridge network's bridge is named by its option, else "br-" and its ID's first 12 digits (records
		// written before network drivers name it in Bridge).
		var n struct {
			ID, Driver, Bridge string
			Options            map[string]string
		}
		if json.Unmarshal(b, &n) != nil || n.Driver != "bridge" {
			continue
		}
		name := n.Bridge
		if name == "" {
			name = n.Options["com.docker.network.bridge.name"]
		}
		if name == "" && len(n.ID) >= 12 {
			name = "br-" + n.ID[:12]
		}
		if name != "" {
			link.DeleteBridge(ctx, name)
		}
	}
}

func (d *Daemon) cleanup() {
	// Remove every container (this also ends their shims), then stop the daemon and unmount what is left.
	running := d.exited != nil
	if running {
		select {
		case <-d.exited:
			running = false
		default:
		}
	}
	if running {
		if out, err := d.berthErr("ps", "-aq"); err == nil {
			for _, id := range strings.Fields(out) {
				d.berthErr("rm", "-f", "-v", id)
			}
		}
		d.stopDaemon()
	}
	if log := d.log(); strings.Contains(log, "WARNING: DATA RACE") {
		i := strings.Index(log, "WARNING: DATA RACE")
		d.t.Errorf("the daemon reported a data race:\n%s", log[i:min(len(log), i+6000)])
	} else if d.t.Failed() {
		d.t.Logf("daemon log:\n%s", tail(log, 6000))
	}
	killOrphans(d.Root)
	d.removeNetworking()
	unmountUnder(d.Root)
	os.RemoveAll(d.Root)
}

// killOrphans ends the containers of a stopped daemon whose state is under root: containers outlive their daemon
// by design, and a test that killed a daemon, or a swarm agent that replaced a task while the containers were
// being removed, leaves some running. Each is found by its shim (berth-shim <root>/…/containers/ID), and its
// processes by the container's pids cgroup; the shim, the processes and the cgroups go.
func killOrphans(root string) {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		argv := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if len(argv) < 2 || filepath.Base(argv[0]) != "berth-shim" || !strings.HasPrefix(argv[1], root+"/") {
			continue
		}
		var shim int
		fmt.Sscanf(filepath.Base(filepath.Dir(p)), "%d", &shim)
		id := filepath.Base(argv[1])
		if b, err := os.ReadFile(filepath.Join("/sys/fs/cgroup/pids/berth", id, "cgroup.procs")); err == nil {
			for _, f := range strings.Fields(string(b)) {
				var pid int
				if _, err := fmt.Sscanf(f, "%d", &pid); err == nil && pid > 1 {
					syscall.Kill(pid, syscall.SIGKILL)
				}
			}
		}
		if shim > 1 {
			syscall.Kill(shim, syscall.SIGKILL)
		}
		dirs, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup/*/berth", id))
		for _, dir := range dirs {
			for range 50 {
				if err := os.Remove(dir); err == nil || os.IsNotExist(err) {
					break
				}
				time.Sleep(20 * time.Millisecond) // the killed processes are still leaving
			}
		}
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func unmountUnder(root string) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return
	}
	var mps []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && strings.HasPrefix(f[4], root+"/") {
			mps = append(mps, f[4])
		}
	}
	for i := len(mps) - 1; i >= 0; i-- {
		syscall.Unmount(mps[i], syscall.MNT_DETACH)
	}
}

// result of one CLI invocation.
type result struct {
	Stdout, Stderr string
	Code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout: %s\nstderr: %s", r.Code, r.Stdout, r.Stderr)
}

func run(ctx context.Context, stdin io.Reader, env []string, name string, args ...string) result {
	return runIn(ctx, "", stdin, env, name, args...)
}

// runIn is run in the working directory dir ("" for the test's).
func runIn(ctx context.Context, dir string, stdin io.Reader, env []string, name string, args ...string) result {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr, cmd.Stdin = &out, &errb, stdin
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		code = -1
		errb.WriteString(err.Error())
	}
	return result{Stdout: out.String(), Stderr: errb.String(), Code: code}
}

// berth runs the berth CLI against this daemon and fails the test on a non-zero exit.
func (d *Daemon) berth(t testing.TB, args ...string) string {
	t.Helper()
	r := d.berthR(nil, args...)
	if r.Code != 0 {
		t.Fatalf("berth %s: %s", strings.Join(args, " "), r)
	}
	return r.Stdout
}

func (d *Daemon) berthErr(args ...string) (string, error) {
	r := d.berthR(nil, args...)
	if r.Code != 0 {
		return r.Stdout, fmt.Errorf("%s", r)
	}
	return r.Stdout, nil
}

func (d *Daemon) berthR(stdin io.Reader, args ...string) result {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return run(ctx, stdin, nil, filepath.Join(binDir, "berth"), append([]string{"-H", d.Host}, args...)...)
}

// docker runs the real docker CLI against this daemon.
// dockerCmd is the docker CLI against this daemon, for a test that drives the process itself.
func (d *Daemon) dockerCmd(args ...string) *exec.Cmd {
	cmd := exec.Command(dockerCLI, args...)
	cmd.Env = append(os.Environ(), "DOCKER_HOST="+d.Host, "DOCKER_CONFIG="+filepath.Join(d.Root, "docker-config"))
	return cmd
}

func (d *Daemon) dockerR(stdin io.Reader, args ...string) result {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return run(ctx, stdin, []string{"DOCKER_HOST=" + d.Host, "DOCKER_CONFIG=" + filepath.Join(d.Root, "docker-config")}, dockerCLI, args...)
}

func (d *Daemon) docker(t testing.TB, args ...string) string {
	t.Helper()
	r := d.dockerR(nil, args...)
	if r.Code != 0 {
		t.Fatalf("docker %s: %s", strings.Join(args, " "), r)
	}
	return r.Stdout
}

// busyboxTar returns a rootfs tarball made from Debian's busybox-static: /bin/busybox plus a symlink per applet,
// /etc/passwd and /etc/group, /tmp.
func busyboxTar(t *testing.T) []byte {
	t.Helper()
	bb, err := exec.LookPath("busybox")
	if err != nil {
		t.Fatalf("busybox-static is not installed: %v", err)
	}
	bin, err := os.ReadFile(bb)
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bb, "--list").Output()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	now := time.Now()
	dir := func(name string, mode int64) {
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: mode, ModTime: now})
	}
	file := func(name string, mode int64, data []byte) {
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data)), ModTime: now})
		tw.Write(data)
	}
	for _, d := range []string{"bin/", "etc/", "root/", "var/", "usr/", "home/", "dev/", "proc/", "sys/"} {
		dir(d, 0o755)
	}
	dir("tmp/", 0o1777)
	file("bin/busybox", 0o755, bin)
	for _, a := range strings.Fields(string(out)) {
		if a == "busybox" {
			continue
		}
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: "bin/" + a, Linkname: "busybox", Mode: 0o777, ModTime: now})
	}
	file("etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n"))
	file("etc/group", 0o644, []byte("root:x:0:\nnogroup:x:65534:\n"))
	tw.Close()
	return buf.Bytes()
}

// importBusybox makes the image "busybox:latest" (CMD sh) in the daemon.
func (d *Daemon) importBusybox(t *testing.T) {
	t.Helper()
	r := d.berthR(bytes.NewReader(busyboxTar(t)), "import", "--change", `CMD ["sh"]`, "-", "busybox:latest")
	if r.Code != 0 {
		t.Fatalf("import: %s", r)
	}
}

// freePort returns a TCP port on 127.0.0.1 nothing listens on right now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// startProcess runs a background server for the test, logging to dir/name.log, and returns a function that
// stops it (SIGTERM, then SIGKILL after stopWait), called at the end of the test too. A failed test shows the
// end of its log.
func startProcess(t *testing.T, dir, name string, stopWait time.Duration, argv ...string) (stop func()) {
	t.Helper()
	logf, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(stopWait):
				cmd.Process.Kill()
				<-exited
			}
			logf.Close()
		})
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("%s log:\n%s", name, tail(string(b), 4000))
		}
	})
	return stop
}

// writeHtpasswd writes dir/htpasswd with one bcrypt entry and returns its path.
func writeHtpasswd(t *testing.T, dir, user, password string) string {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "htpasswd")
	if err := os.WriteFile(p, []byte(user+":"+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// startDockerd runs a real dockerd (Debian's docker.io) with private roots beside the test's berth daemon, stops
// it at the end of the test, and returns a function running the docker CLI against it.
func startDockerd(t *testing.T, d *Daemon, dockerd string, extra ...string) func(stdin io.Reader, args ...string) result {
	t.Helper()
	root := filepath.Join(d.Root, "dockerd")
	sock := filepath.Join(d.Root, "docker.sock")
	os.WriteFile(filepath.Join(d.Root, "dockerd.json"), []byte("{}"), 0o644)
	args := append([]string{"--data-root", root + "/data", "--exec-root", root + "/exec", "-H", "unix://" + sock,
		"--pidfile", root + "/docker.pid", "--config-file", filepath.Join(d.Root, "dockerd.json")}, extra...)
	startProcess(t, d.Root, "dockerd", 20*time.Second, append([]string{dockerd}, args...)...)
	real := func(stdin io.Reader, args ...string) result {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		return run(ctx, stdin, []string{"DOCKER_HOST=unix://" + sock, "DOCKER_CONFIG=" + filepath.Join(d.Root, "docker-config")}, dockerCLI, args...)
	}
	waitFor(t, 60*time.Second, "dockerd to answer", func() bool { return real(nil, "version").Code == 0 })
	return real
}
