package e2e

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
)

// TestEngine runs docker's everyday scenario against one daemon, through berth and through the real docker CLI.
func TestEngine(t *testing.T) {
	d := startDaemon(t)
	d.importBusybox(t)

	t.Run("run --rm echo", func(t *testing.T) {
		if out := d.berth(t, "run", "--rm", "busybox", "echo", "hello from berth"); out != "hello from berth\n" {
			t.Fatalf("berth run: got %q", out)
		}
		if out := d.docker(t, "run", "--rm", "busybox", "echo", "hello from docker"); out != "hello from docker\n" {
			t.Fatalf("docker run: got %q", out)
		}
		if out := d.berth(t, "ps", "-aq"); strings.TrimSpace(out) != "" {
			t.Fatalf("--rm left containers: %q", out)
		}
	})

	t.Run("exit codes and stderr", func(t *testing.T) {
		r := d.berthR(nil, "run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3")
		if r.Code != 3 || r.Stdout != "out\n" || r.Stderr != "err\n" {
			t.Fatalf("berth: %s", r)
		}
		r = d.dockerR(nil, "run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3")
		if r.Code != 3 || r.Stdout != "out\n" || r.Stderr != "err\n" {
			t.Fatalf("docker: %s", r)
		}
		r = d.dockerR(nil, "run", "--rm", "busybox", "nosuchcommand")
		if r.Code != 127 || !strings.Contains(r.Stderr, "executable file not found") {
			t.Fatalf("docker missing command: %s", r)
		}
	})

	t.Run("signals are proxied", func(t *testing.T) {
		// run (sig-proxy by default) forwards a signal the CLI gets to the container: its trap exits with 7.
		script := `trap "echo got-usr1; exit 7" USR1; echo ready; while true; do sleep 0.1; done`
		for _, cli := range []struct {
			name string
			cmd  *exec.Cmd
		}{
			{"berth", exec.Command(filepath.Join(binDir, "berth"), "-H", d.Host, "run", "--rm", "busybox", "sh", "-c", script)},
			{"docker", d.dockerCmd("run", "--rm", "busybox", "sh", "-c", script)},
		} {
			stdout, err := cli.cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cli.cmd.Start(); err != nil {
				t.Fatal(err)
			}
			lines := bufio.NewScanner(stdout)
			if !lines.Scan() || lines.Text() != "ready" {
				cli.cmd.Process.Kill()
				cli.cmd.Wait()
				t.Fatalf("%s: no ready line: %q", cli.name, lines.Text())
			}
			cli.cmd.Process.Signal(syscall.SIGUSR1)
			var rest []string
			for lines.Scan() {
				rest = append(rest, lines.Text())
			}
			err = cli.cmd.Wait()
			code := -1
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			}
			if code != 7 || strings.Join(rest, "\n") != "got-usr1" {
				t.Fatalf("%s after SIGUSR1: exit %d (%v), output %q; want 7 and got-usr1", cli.name, code, err, rest)
			}
		}
	})

	t.Run("stdin", func(t *testing.T) {
		r := d.berthR(strings.NewReader("piped input\n"), "run", "--rm", "-i", "busybox", "cat")
		if r.Code != 0 || r.Stdout != "piped input\n" {
			t.Fatalf("berth -i: %s", r)
		}
		r = d.dockerR(strings.NewReader("piped input\n"), "run", "--rm", "-i", "busybox", "cat")
		if r.Code != 0 || r.Stdout != "piped input\n" {
			t.Fatalf("docker -i: %s", r)
		}
	})

	t.Run("detached lifecycle", func(t *testing.T) {
		script := `trap 'echo got TERM; exit 0' TERM; echo started; i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.2; done`
		id := strings.TrimSpace(d.docker(t, "run", "-d", "--name", "web", "busybox", "sh", "-c", script))
		if len(id) != 64 {
			t.Fatalf("run -d printed %q, want a full ID", id)
		}
		waitFor(t, 10*time.Second, "log output", func() bool { return strings.Contains(d.berth(t, "logs", "web"), "tick 2") })
		if out := d.docker(t, "logs", "--tail", "1", "web"); !strings.HasPrefix(out, "tick ") || strings.Count(out, "\n") != 1 {
			t.Fatalf("logs --tail 1: %q", out)
		}
		// logs -f follows until the container stops.
		follow := exec.Command(filepath.Join(binDir, "berth"), "-H", d.Host, "logs", "-f", "web")
		var fout bytes.Buffer
		follow.Stdout = &fout
		if err := follow.Start(); err != nil {
			t.Fatal(err)
		}
		if out := d.docker(t, "exec", "web", "cat", "/etc/hostname"); strings.TrimSpace(out) != id[:12] {
			t.Fatalf("exec hostname: %q", out)
		}
		r := d.dockerR(nil, "exec", "-e", "FOO=bar", "-w", "/tmp", "web", "sh", "-c", "echo $FOO $(pwd); exit 7")
		if r.Code != 7 || r.Stdout != "bar /tmp\n" {
			t.Fatalf("exec env/workdir/exit: %s", r)
		}
		top := d.docker(t, "top", "web")
		if !strings.Contains(top, "PID") || !strings.Contains(top, "sh -c") {
			t.Fatalf("top: %q", top)
		}
		ps := d.docker(t, "ps")
		if !strings.Contains(ps, "CONTAINER ID") || !strings.Contains(ps, "web") || !strings.Contains(ps, "Up ") {
			t.Fatalf("ps: %q", ps)
		}
		start := time.Now()
		d.docker(t, "stop", "web")
		if el := time.Since(start); el > 8*time.Second {
			t.Fatalf("stop took %v: SIGTERM was not honoured", el)
		}
		done := make(chan error, 1)
		go func() { done <- follow.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			follow.Process.Kill()
			t.Fatal("logs -f did not end when the container stopped")
		}
		if !strings.Contains(fout.String(), "got TERM") {
			t.Fatalf("logs -f missed the end: %q", tail(fout.String(), 200))
		}
		var st []struct {
			State struct {
				Status   string
				ExitCode int
			}
		}
		json.Unmarshal([]byte(d.docker(t, "inspect", "web")), &st)
		if len(st) != 1 || st[0].State.Status != "exited" || st[0].State.ExitCode != 0 {
			t.Fatalf("inspect after stop: %+v", st)
		}
		if out := d.docker(t, "ps", "-a", "--filter", "status=exited", "--format", "{{.Names}} {{.Status}}"); !strings.HasPrefix(out, "web Exited (0)") {
			t.Fatalf("ps --format: %q", out)
		}
		d.docker(t, "rm", "web")
		if r := d.dockerR(nil, "inspect", "web"); r.Code == 0 {
			t.Fatalf("container still there after rm")
		}
	})

	t.Run("tty", func(t *testing.T) {
		cmd := exec.Command(dockerCLI, "run", "-it", "--rm", "busybox", "sh")
		cmd.Env = append(os.Environ(), "DOCKER_HOST="+d.Host, "DOCKER_CONFIG="+filepath.Join(d.Root, "docker-config"))
		ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 30, Cols: 90})
		if err != nil {
			t.Fatal(err)
		}
		defer ptmx.Close()
		var out bytes.Buffer
		got := make(chan struct{})
		go func() {
			buf := make([]byte, 4096)
			for {
				n, err := ptmx.Read(buf)
				out.Write(buf[:n])
				if bytes.Contains(out.Bytes(), []byte("answer=42")) && bytes.Contains(out.Bytes(), []byte("30 90")) {
					select {
					case <-got:
					default:
						close(got)
					}
				}
				if err != nil {
					return
				}
			}
		}()
		time.Sleep(500 * time.Millisecond)
		ptmx.Write([]byte("echo answer=$((6*7)); stty size; tty\n"))
		select {
		case <-got:
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			t.Fatalf("no answer through the tty; got %q", out.String())
		}
		ptmx.Write([]byte("exit 5\n"))
		err = cmd.Wait()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 5 {
			t.Fatalf("docker run -it exit: %v; output %q", err, out.String())
		}
		if !strings.Contains(out.String(), "/dev/pts/") {
			t.Fatalf("tty did not report a pts: %q", out.String())
		}
	})

	t.Run("diff and commit", func(t *testing.T) {
		d.berth(t, "run", "--name", "changer", "busybox", "sh", "-c", "echo new > /tmp/added; rm /bin/vi; echo x >> /etc/passwd")
		diff := d.docker(t, "diff", "changer")
		for _, want := range []string{"C /tmp", "A /tmp/added", "D /bin/vi", "C /etc/passwd"} {
			if !strings.Contains(diff, want+"\n") {
				t.Fatalf("diff lacks %q:\n%s", want, diff)
			}
		}
		d.docker(t, "commit", "-m", "my change", "-a", "tester", "-c", "ENV COMMITTED=yes", "changer", "changed:v1")
		out := d.berth(t, "run", "--rm", "changed:v1", "sh", "-c", "cat /tmp/added; echo $COMMITTED; test -e /bin/vi || echo vi-gone")
		if out != "new\nyes\nvi-gone\n" {
			t.Fatalf("run of commit: %q", out)
		}
		hist := d.docker(t, "history", "changed:v1")
		if !strings.Contains(hist, "my change") {
			t.Fatalf("history: %s", hist)
		}
		if out := d.docker(t, "images", "--format", "{{.Repository}}:{{.Tag}}"); !strings.Contains(out, "changed:v1") || !strings.Contains(out, "busybox:latest") {
			t.Fatalf("images: %q", out)
		}
		d.berth(t, "rm", "changer")
	})

	t.Run("volumes persist", func(t *testing.T) {
		d.docker(t, "volume", "create", "data")
		d.docker(t, "run", "--rm", "-v", "data:/data", "busybox", "sh", "-c", "echo kept > /data/f")
		if out := d.berth(t, "run", "--rm", "--mount", "type=volume,source=data,target=/d,readonly", "busybox", "cat", "/d/f"); out != "kept\n" {
			t.Fatalf("volume content: %q", out)
		}
		r := d.berthR(nil, "run", "--rm", "-v", "data:/d:ro", "busybox", "sh", "-c", "echo x > /d/g")
		if r.Code == 0 {
			t.Fatalf("write to a read-only volume succeeded")
		}
		if out := d.docker(t, "volume", "ls", "--format", "{{.Name}}"); !strings.Contains(out, "data") {
			t.Fatalf("volume ls: %q", out)
		}
		r = d.dockerR(nil, "run", "--rm", "--mount", "type=bind,source=/nonexistent-berth-src,target=/x", "busybox", "true")
		if r.Code != 125 || !strings.Contains(r.Stderr, "bind source path does not exist") {
			t.Fatalf("bind of a missing source: %s", r)
		}
		dir := t.TempDir()
		d.berth(t, "run", "--rm", "-v", dir+":/host", "busybox", "sh", "-c", "echo from-container > /host/out")
		if b, _ := os.ReadFile(filepath.Join(dir, "out")); string(b) != "from-container\n" {
			t.Fatalf("bind mount write: %q", b)
		}
		d.docker(t, "volume", "rm", "data")
	})

	t.Run("bad input", func(t *testing.T) {
		r := d.dockerR(nil, "run", "--rm", "nosuchimage")
		if r.Code != 125 || !strings.Contains(r.Stderr, "Unable to find image 'nosuchimage:latest' locally") {
			t.Fatalf("docker unknown image: %s", r)
		}
		r = d.berthR(nil, "run", "--rm", "nosuchimage")
		if r.Code != 125 || !strings.Contains(r.Stderr, "nosuchimage") {
			t.Fatalf("berth unknown image: %s", r)
		}
		d.berth(t, "create", "--name", "dup", "busybox", "true")
		r = d.berthR(nil, "create", "--name", "dup", "busybox", "true")
		if r.Code != 1 || !strings.Contains(r.Stderr, `Conflict. The container name "/dup" is already in use`) {
			t.Fatalf("berth duplicate name: %s", r)
		}
		r = d.dockerR(nil, "create", "--name", "dup", "busybox", "true")
		if r.Code != 1 || !strings.Contains(r.Stderr, `Conflict. The container name "/dup" is already in use`) {
			t.Fatalf("duplicate name: %s", r)
		}
		d.berth(t, "rm", "dup")
		d.berth(t, "run", "-d", "--name", "busy", "busybox", "sleep", "100")
		r = d.dockerR(nil, "rm", "busy")
		if r.Code != 1 || !strings.Contains(r.Stderr, "container is running: stop the container before removing or force remove") {
			t.Fatalf("rm running: %s", r)
		}
		r = d.berthR(nil, "rm", "busy")
		if r.Code != 1 || !strings.Contains(r.Stderr, "container is running") {
			t.Fatalf("berth rm running: %s", r)
		}
		d.berth(t, "rm", "-f", "busy")
		r = d.berthR(nil, "run", "--no-such-flag", "busybox")
		if r.Code != 125 || !strings.Contains(r.Stderr, "unknown flag: --no-such-flag") {
			t.Fatalf("bad flag: %s", r)
		}
		r = d.dockerR(nil, "inspect", "nothing-here")
		if r.Code != 1 || !strings.Contains(r.Stderr, "No such object: nothing-here") {
			t.Fatalf("docker inspect missing: %s", r)
		}
		r = d.berthR(nil, "stop", "nothing-here")
		if r.Code != 1 || !strings.Contains(r.Stderr, "No such container: nothing-here") {
			t.Fatalf("berth stop missing: %s", r)
		}
	})
}

// TestDaemonKill9 checks that containers survive a kill -9 of the daemon and are found again, with their logs,
// and that restart policies resume.
func TestDaemonKill9(t *testing.T) {
	d := startDaemon(t)
	d.importBusybox(t)
	d.berth(t, "run", "-d", "--name", "survivor", "busybox", "sh", "-c", "echo before; sleep 1000")
	d.berth(t, "run", "-d", "--name", "phoenix", "--restart", "always", "busybox", "sh", "-c", "echo up; sleep 2; exit 1")
	waitFor(t, 10*time.Second, "first log line", func() bool { return d.berth(t, "logs", "survivor") == "before\n" })
	pid := strings.TrimSpace(d.berth(t, "inspect", "-f", "{{.State.Pid}}", "survivor"))
	d.kill9()
	// While the daemon is down the container keeps running, and phoenix exits.
	if _, err := os.Stat("/proc/" + pid); err != nil {
		t.Fatalf("container process %s died with the daemon", pid)
	}
	time.Sleep(3 * time.Second)
	d.start()
	if st := strings.TrimSpace(d.berth(t, "inspect", "-f", "{{.State.Status}} {{.State.Pid}}", "survivor")); st != "running "+pid {
		t.Fatalf("after restart: %q, want running %s", st, pid)
	}
	if out := d.berth(t, "logs", "survivor"); out != "before\n" {
		t.Fatalf("logs after restart: %q", out)
	}
	d.berth(t, "exec", "survivor", "true")
	waitFor(t, 15*time.Second, "restart policy to resume", func() bool {
		n, _ := strconv.Atoi(strings.TrimSpace(d.berth(t, "inspect", "-f", "{{.RestartCount}}", "phoenix")))
		return n >= 1
	})
	d.berth(t, "stop", "-t", "1", "survivor")
	if code := strings.TrimSpace(d.berth(t, "inspect", "-f", "{{.State.ExitCode}}", "survivor")); code != "137" {
		t.Fatalf("exit code after stop of a TERM-ignoring sh: %s", code)
	}
}

// TestContainerOptions covers the isolation and run options: limits, capabilities, users, read-only roots, init,
// restart policies, pause, rename, cp, export, stats and events.
func TestContainerOptions(t *testing.T) {
	d := startDaemon(t)
	d.importBusybox(t)

	t.Run("cgroup limits", func(t *testing.T) {
		out := d.berth(t, "run", "--rm", "--memory", "64m", "--cpus", "0.5", "--pids-limit", "50", "busybox", "sh", "-c",
			"cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/cpu.max /sys/fs/cgroup/pids.max")
		f := strings.Fields(out)
		if len(f) < 3 || f[0] != "67108864" || f[1] != "50000" || f[len(f)-1] != "50" {
			t.Fatalf("limits inside the container: %q", out)
		}
		var hc []struct {
			HostConfig struct{ Memory, NanoCpus int64 }
		}
		id := strings.TrimSpace(d.docker(t, "create", "--memory", "32m", "--cpus", "1.5", "busybox", "true"))
		json.Unmarshal([]byte(d.docker(t, "inspect", id)), &hc)
		if len(hc) != 1 || hc[0].HostConfig.Memory != 32<<20 || hc[0].HostConfig.NanoCpus != 1500000000 {
			t.Fatalf("inspect HostConfig: %+v", hc)
		}
		d.berth(t, "rm", id)
	})

	t.Run("capabilities and privileges", func(t *testing.T) {
		capEff := func(args ...string) string {
			out := d.berth(t, append(append([]string{"run", "--rm"}, args...), "busybox", "sh", "-c", "grep CapEff /proc/self/status")...)
			return strings.TrimSpace(strings.TrimPrefix(out, "CapEff:"))
		}
		if got := capEff(); got != "00000000a80425fb" {
			t.Fatalf("default caps %s, want docker's default set 00000000a80425fb", got)
		}
		if got := capEff("--cap-drop", "ALL", "--cap-add", "NET_ADMIN"); got != "0000000000001000" {
			t.Fatalf("cap-drop ALL + NET_ADMIN: %s", got)
		}
		own, _ := os.ReadFile("/proc/self/status")
		var bnd string
		for _, l := range strings.Split(string(own), "\n") {
			if strings.HasPrefix(l, "CapBnd:") {
				bnd = strings.TrimSpace(strings.TrimPrefix(l, "CapBnd:"))
			}
		}
		if got := capEff("--privileged"); got != bnd {
			t.Fatalf("--privileged caps %s, want the daemon's bounding set %s", got, bnd)
		}
		if out := d.berth(t, "run", "--rm", "--privileged", "busybox", "sh", "-c", "mount -t tmpfs none /tmp && echo mounted"); out != "mounted\n" {
			t.Fatalf("privileged mount: %q", out)
		}
		r := d.berthR(nil, "run", "--rm", "busybox", "sh", "-c", "cat /proc/kcore >/dev/null 2>&1 || echo masked; echo 1 > /proc/sys/kernel/domainname 2>/dev/null || echo ro")
		if r.Stdout != "masked\nro\n" {
			t.Fatalf("masked/readonly /proc paths: %s", r)
		}
		if out := d.berth(t, "run", "--rm", "--user", "nobody", "busybox", "id"); !strings.HasPrefix(out, "uid=65534(nobody) gid=65534(nogroup)") {
			t.Fatalf("--user nobody: %q", out)
		}
		if out := d.berth(t, "run", "--rm", "-u", "1234:5678", "-w", "/tmp", "busybox", "sh", "-c", "id -u; id -g; pwd"); out != "1234\n5678\n/tmp\n" {
			t.Fatalf("--user uid:gid -w: %q", out)
		}
		r = d.berthR(nil, "run", "--rm", "--user", "nosuchuser", "busybox", "true")
		if r.Code == 0 || !strings.Contains(r.Stderr, "unable to find user nosuchuser") {
			t.Fatalf("unknown user: %s", r)
		}
		r = d.berthR(nil, "run", "--rm", "--read-only", "busybox", "sh", "-c", "touch /x")
		if r.Code == 0 || !strings.Contains(r.Stderr, "Read-only file system") {
			t.Fatalf("--read-only: %s", r)
		}
		if out := d.berth(t, "run", "--rm", "-h", "myhost", "-e", "A=1", "--env-file", writeFile(t, "A2=2\n# comment\n"), "busybox", "sh", "-c", "hostname; echo $A $A2"); out != "myhost\n1 2\n" {
			t.Fatalf("hostname/env: %q", out)
		}
		if out := d.berth(t, "run", "--rm", "--entrypoint", "echo", "busybox", "from", "entrypoint"); out != "from entrypoint\n" {
			t.Fatalf("--entrypoint: %q", out)
		}
	})

	t.Run("init", func(t *testing.T) {
		if _, err := os.Stat("/usr/bin/tini-static"); err != nil {
			if _, err := os.Stat("/usr/bin/tini"); err != nil {
				t.Fatal("tini is not installed (the setup installs it for --init)")
			}
		}
		out := d.berth(t, "run", "--rm", "--init", "busybox", "sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '")
		if !strings.HasPrefix(out, "/sbin/docker-init -- sh") {
			t.Fatalf("--init pid 1: %q", out)
		}
	})

	t.Run("restart policies", func(t *testing.T) {
		d.berth(t, "run", "-d", "--name", "flaky", "--restart", "on-failure:2", "busybox", "sh", "-c", "exit 4")
		waitFor(t, 20*time.Second, "on-failure retries to end", func() bool {
			return strings.TrimSpace(d.berth(t, "inspect", "-f", "{{.State.Status}} {{.RestartCount}}", "flaky")) == "exited 2"
		})
		if code := strings.TrimSpace(d.berth(t, "inspect", "-f", "{{.State.ExitCode}}", "flaky")); code != "4" {
			t.Fatalf("exit code %s", code)
		}
		d.berth(t, "run", "-d", "--name", "always", "--restart", "always", "busybox", "sh", "-c", "sleep 0.2; exit 0")
		waitFor(t, 20*time.Second, "always to restart", func() bool {
			n, _ := strconv.Atoi(strings.TrimSpace(d.berth(t, "inspect", "-f", "{{.RestartCount}}", "always")))
			return n >= 2
		})
		d.berth(t, "stop", "always")
		time.Sleep(time.Second)
		if st := strings.TrimSpace(d.berth(t, "inspect", "-f", "{{.State.Status}}", "always")); st != "exited" {
			t.Fatalf("a stopped restart=always container came back: %s", st)
		}
		d.berth(t, "rm", "flaky", "always")
	})

	t.Run("pause rename kill wait", func(t *testing.T) {
		d.berth(t, "run", "-d", "--init", "--name", "p1", "busybox", "sleep", "1000")
		d.docker(t, "pause", "p1")
		if st := d.docker(t, "ps", "--format", "{{.Status}}", "--filter", "name=p1"); !strings.Contains(st, "(Paused)") {
			t.Fatalf("paused status: %q", st)
		}
		r := d.dockerR(nil, "exec", "p1", "true")
		if r.Code == 0 || !strings.Contains(r.Stderr, "is paused") {
			t.Fatalf("exec in a paused container: %s", r)
		}
		d.docker(t, "unpause", "p1")
		d.docker(t, "rename", "p1", "p2")
		if out := strings.TrimSpace(d.berth(t, "inspect", "-f", "{{.Name}}", "p2")); out != "/p2" {
			t.Fatalf("rename: %q", out)
		}
		d.docker(t, "kill", "-s", "USR1", "p2") // the init forwards it; sleep dies of SIGUSR1 (no handler)
		if out := strings.TrimSpace(d.docker(t, "wait", "p2")); out != "138" {
			t.Fatalf("wait after SIGUSR1: %q, want 138", out)
		}
		r = d.dockerR(nil, "kill", "p2")
		if r.Code == 0 || !strings.Contains(r.Stderr, "is not running") {
			t.Fatalf("kill of a stopped container: %s", r)
		}
		d.berth(t, "rm", "p2")
	})

	t.Run("cp export stats events", func(t *testing.T) {
		since := strconv.FormatInt(time.Now().Unix(), 10)
		d.berth(t, "run", "-d", "--name", "files", "busybox", "sleep", "1000")
		src := writeFile(t, "copied in\n")
		d.docker(t, "cp", src, "files:/tmp/in.txt")
		if out := d.docker(t, "exec", "files", "cat", "/tmp/in.txt"); out != "copied in\n" {
			t.Fatalf("cp in: %q", out)
		}
		dst := t.TempDir()
		d.docker(t, "cp", "files:/etc/passwd", dst)
		if b, _ := os.ReadFile(filepath.Join(dst, "passwd")); !strings.HasPrefix(string(b), "root:x:0:0") {
			t.Fatalf("cp out: %q", b)
		}
		d.berth(t, "cp", "files:/tmp/in.txt", filepath.Join(dst, "back.txt"))
		if b, _ := os.ReadFile(filepath.Join(dst, "back.txt")); string(b) != "copied in\n" {
			t.Fatalf("berth cp out: %q", b)
		}
		stats := d.docker(t, "stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}} {{.MemUsage}}", "files")
		if !strings.HasPrefix(stats, "files 1 ") || !strings.Contains(stats, "B / ") {
			t.Fatalf("stats: %q", stats)
		}
		d.berth(t, "stop", "-t", "0", "files")
		exp := d.berthR(nil, "export", "files")
		if exp.Code != 0 || !strings.Contains(exp.Stdout, "tmp/in.txt") || !strings.Contains(exp.Stdout, "bin/busybox") {
			t.Fatalf("export: exit %d, %d bytes", exp.Code, len(exp.Stdout))
		}
		ev := d.docker(t, "events", "--since", since, "--until", strconv.FormatInt(time.Now().Unix()+1, 10), "--filter", "container=files", "--format", "{{.Action}}")
		for _, want := range []string{"create", "start", "kill", "die", "stop"} {
			if !strings.Contains(ev, want+"\n") {
				t.Fatalf("events lack %q:\n%s", want, ev)
			}
		}
		d.berth(t, "rm", "files")
	})

	t.Run("save and load", func(t *testing.T) {
		tarPath := filepath.Join(t.TempDir(), "bb.tar")
		d.docker(t, "save", "-o", tarPath, "busybox")
		d.docker(t, "tag", "busybox", "busybox:copy")
		d.docker(t, "rmi", "busybox:copy")
		out := d.docker(t, "load", "-i", tarPath)
		if !strings.Contains(out, "busybox:latest") {
			t.Fatalf("load: %q", out)
		}
		df := d.docker(t, "system", "df")
		if !strings.Contains(df, "Images") || !strings.Contains(df, "Local Volumes") {
			t.Fatalf("system df: %q", df)
		}
	})
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// ptySession runs a CLI command on a pty and collects what it prints.
type ptySession struct {
	t    *testing.T
	cmd  *exec.Cmd
	ptmx *os.File
	mu   chan struct{}
	out  bytes.Buffer
}

func startPTY(t *testing.T, env []string, name string, args ...string) *ptySession {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 24, Cols: 80})
	if err != nil {
		t.Fatal(err)
	}
	s := &ptySession{t: t, cmd: cmd, ptmx: ptmx, mu: make(chan struct{}, 1)}
	s.mu <- struct{}{}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := ptmx.Read(buf)
			<-s.mu
			s.out.Write(buf[:n])
			s.mu <- struct{}{}
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() { ptmx.Close(); cmd.Process.Kill() })
	return s
}

func (s *ptySession) output() string {
	<-s.mu
	defer func() { s.mu <- struct{}{} }()
	return s.out.String()
}

func (s *ptySession) expect(what string) {
	s.t.Helper()
	waitFor(s.t, 15*time.Second, fmt.Sprintf("%q on the terminal (got %q)", what, tail(s.output(), 300)), func() bool {
		return strings.Contains(s.output(), what)
	})
}

func (s *ptySession) wait() int {
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	select {
	case err := <-done:
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		if err != nil {
			return -1
		}
		return 0
	case <-time.After(15 * time.Second):
		s.t.Fatalf("command did not end; terminal: %q", tail(s.output(), 300))
		return -1
	}
}

// TestInteractive covers exec -it, attach and its detach keys through real terminals.
func TestInteractive(t *testing.T) {
	d := startDaemon(t)
	d.importBusybox(t)
	env := []string{"DOCKER_HOST=" + d.Host, "DOCKER_CONFIG=" + filepath.Join(d.Root, "docker-config")}

	d.berth(t, "run", "-dit", "--name", "shell", "busybox", "sh")

	t.Run("exec -it", func(t *testing.T) {
		s := startPTY(t, env, dockerCLI, "exec", "-it", "shell", "sh")
		time.Sleep(300 * time.Millisecond)
		s.ptmx.Write([]byte("echo in-exec-$((1+1)); stty size\n"))
		s.expect("in-exec-2")
		s.expect("24 80")
		s.ptmx.Write([]byte("exit 3\n"))
		if code := s.wait(); code != 3 {
			t.Fatalf("exec -it exit code %d", code)
		}
	})

	t.Run("attach and detach", func(t *testing.T) {
		s := startPTY(t, nil, filepath.Join(binDir, "berth"), "-H", d.Host, "attach", "shell")
		time.Sleep(300 * time.Millisecond)
		s.ptmx.Write([]byte("echo attached-$((2+3))\n"))
		s.expect("attached-5")
		s.ptmx.Write([]byte{16, 17}) // ctrl-p ctrl-q
		if code := s.wait(); code != 0 {
			t.Fatalf("attach after detach keys exited %d", code)
		}
		if st := strings.TrimSpace(d.berth(t, "inspect", "-f", "{{.State.Status}}", "shell")); st != "running" {
			t.Fatalf("detaching stopped the container: %s", st)
		}
		s = startPTY(t, env, dockerCLI, "attach", "shell")
		time.Sleep(300 * time.Millisecond)
		s.ptmx.Write([]byte("exit 4\n"))
		if code := s.wait(); code != 4 {
			t.Fatalf("docker attach exit code %d, want the container's 4", code)
		}
	})

	t.Run("anonymous volumes and prune", func(t *testing.T) {
		d.berth(t, "run", "--name", "mkvol", "busybox", "sh", "-c", "mkdir -p /data && echo seeded > /data/seed")
		d.berth(t, "commit", "-c", "VOLUME /data", "mkvol", "withvol")
		out := d.berth(t, "run", "--name", "user", "withvol", "sh", "-c", "cat /data/seed; echo more > /data/more")
		if out != "seeded\n" {
			t.Fatalf("anonymous volume not filled from the image: %q", out)
		}
		vols := strings.Fields(d.berth(t, "inspect", "-f", "{{range .Mounts}}{{.Name}} {{end}}", "user"))
		if len(vols) != 1 || len(vols[0]) != 64 {
			t.Fatalf("anonymous volume: %v", vols)
		}
		d.berth(t, "rm", "-v", "user")
		if r := d.berthR(nil, "volume", "inspect", vols[0]); r.Code == 0 {
			t.Fatalf("rm -v left the anonymous volume")
		}
		d.berth(t, "rm", "mkvol")
		out = d.docker(t, "system", "prune", "-f")
		if !strings.Contains(out, "Total reclaimed space") {
			t.Fatalf("system prune: %q", out)
		}
	})

	t.Run("logs options", func(t *testing.T) {
		d.berth(t, "run", "--name", "talker", "busybox", "sh", "-c", "echo first; echo second >&2")
		out := d.docker(t, "logs", "-t", "talker")
		if !regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z first\n`).MatchString(out) {
			t.Fatalf("logs -t: %q", out)
		}
		r := d.dockerR(nil, "logs", "talker")
		if r.Stdout != "first\n" || r.Stderr != "second\n" {
			t.Fatalf("logs streams: %s", r)
		}
		if out := d.docker(t, "logs", "--since", strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10), "talker"); out != "" {
			t.Fatalf("logs --since future: %q", out)
		}
		d.berth(t, "rm", "talker")
	})
}

// TestSideBySide runs two daemons at once, with their own roots and sockets: neither sees the other's state.
func TestSideBySide(t *testing.T) {
	a, b := startDaemon(t), startDaemon(t)
	a.importBusybox(t)
	b.importBusybox(t)
	a.berth(t, "run", "-d", "--name", "same", "busybox", "sleep", "1000")
	b.berth(t, "run", "-d", "--name", "same", "busybox", "sleep", "1000")
	idA := strings.TrimSpace(a.berth(t, "ps", "-q", "--no-trunc"))
	idB := strings.TrimSpace(b.berth(t, "ps", "-q", "--no-trunc"))
	if idA == "" || idB == "" || idA == idB || strings.Contains(idA, "\n") || strings.Contains(idB, "\n") {
		t.Fatalf("each daemon should list its own single container: %q %q", idA, idB)
	}
	a.berth(t, "rm", "-f", "same")
	if st := strings.TrimSpace(b.berth(t, "inspect", "-f", "{{.State.Status}}", "same")); st != "running" {
		t.Fatalf("removing a's container touched b's: %s", st)
	}
}

// TestNetworkAndStopOptions covers --network host, --stop-signal, --stop-timeout and unless-stopped.
func TestNetworkAndStopOptions(t *testing.T) {
	d := startDaemon(t)
	d.importBusybox(t)
	host, _ := os.Hostname()
	if out := strings.TrimSpace(d.berth(t, "run", "--rm", "--network", "host", "busybox", "hostname")); out != host {
		t.Fatalf("--network host hostname %q, want %q", out, host)
	}
	links := d.berth(t, "run", "--rm", "--network", "none", "busybox", "ip", "-o", "link")
	if strings.Count(strings.TrimSpace(links), "\n") != 0 || !strings.Contains(links, "lo:") {
		t.Fatalf("--network none should have loopback only: %q", links)
	}
	r := d.berthR(nil, "run", "--rm", "--network", "nosuchnet", "busybox", "true")
	if r.Code != 125 || !strings.Contains(r.Stderr, "network nosuchnet not found") {
		t.Fatalf("unknown network: %s", r)
	}

	d.berth(t, "run", "-d", "--name", "usr1", "--stop-signal", "USR1", "busybox", "sh", "-c", "trap 'echo got USR1; exit 0' USR1; echo ready; while true; do sleep 0.1; done")
	// The signal must not overtake the trap (a loaded machine runs the shell late).
	waitFor(t, 10*time.Second, "usr1's trap", func() bool { return strings.Contains(d.berth(t, "logs", "usr1"), "ready") })
	d.berth(t, "stop", "usr1")
	if out := d.berth(t, "logs", "usr1"); out != "ready\ngot USR1\n" {
		t.Fatalf("--stop-signal: logs %q", out)
	}
	d.berth(t, "run", "-d", "--name", "stubborn", "--stop-timeout", "1", "busybox", "sh", "-c", "trap '' TERM; echo ready; while true; do sleep 0.1; done")
	waitFor(t, 10*time.Second, "stubborn's trap", func() bool { return strings.Contains(d.berth(t, "logs", "stubborn"), "ready") })
	start := time.Now()
	d.berth(t, "stop", "stubborn")
	if el := time.Since(start); el > 6*time.Second {
		t.Fatalf("--stop-timeout 1 stop took %v", el)
	}
	if code := strings.TrimSpace(d.berth(t, "inspect", "-f", "{{.State.ExitCode}}", "stubborn")); code != "137" {
		t.Fatalf("killed after the timeout: exit %s", code)
	}

	d.berth(t, "run", "-d", "--name", "us", "--restart", "unless-stopped", "busybox", "sleep", "1000")
	d.berth(t, "stop", "-t", "0", "us")
	d.kill9()
	d.start()
	time.Sleep(time.Second)
	if st := strings.TrimSpace(d.berth(t, "inspect", "-f", "{{.State.Status}}", "us")); st != "exited" {
		t.Fatalf("an unless-stopped container stopped by hand came back after a daemon restart: %s", st)
	}
}

// TestDockerInterop moves images between a real dockerd (Debian's docker.io) and Berth with save and load.
func TestDockerInterop(t *testing.T) {
	requireRoot(t)
	dockerd, err := exec.LookPath("dockerd")
	if err != nil {
		t.Fatal("dockerd is not installed (scripts/test.sh installs docker.io)")
	}
	d := startDaemon(t)
	d.importBusybox(t)

	real := startDockerd(t, d, dockerd, "--bridge", "none", "--iptables=false", "--ip6tables=false", "--ip-forward=false", "--ip-masq=false")

	if r := real(bytes.NewReader(busyboxTar(t)), "import", "-c", `CMD ["sh"]`, "-", "from-docker:1"); r.Code != 0 {
		t.Fatalf("docker import: %s", r)
	}
	fromDocker := filepath.Join(d.Root, "from-docker.tar")
	if r := real(nil, "save", "-o", fromDocker, "from-docker:1"); r.Code != 0 {
		t.Fatalf("docker save: %s", r)
	}
	if out := d.berth(t, "load", "-i", fromDocker); !strings.Contains(out, "Loaded image: from-docker:1") {
		t.Fatalf("berth load of docker's save: %q", out)
	}
	if out := d.berth(t, "run", "--rm", "from-docker:1", "echo", "made by docker"); out != "made by docker\n" {
		t.Fatalf("run of docker's image: %q", out)
	}

	fromBerth := filepath.Join(d.Root, "from-berth.tar")
	d.berth(t, "save", "-o", fromBerth, "busybox:latest")
	if r := real(nil, "load", "-i", fromBerth); r.Code != 0 || !strings.Contains(r.Stdout, "busybox:latest") {
		t.Fatalf("docker load of berth's save: %s", r)
	}
	berthID := strings.TrimSpace(d.berth(t, "image", "inspect", "-f", "{{.Id}}", "busybox"))
	if r := real(nil, "image", "inspect", "-f", "{{.Id}}", "busybox"); strings.TrimSpace(r.Stdout) != berthID {
		t.Fatalf("image ID changed on the way: docker %q, berth %q", r.Stdout, berthID)
	}
	if r := real(nil, "run", "--rm", "--network", "none", "busybox", "echo", "made by berth"); r.Stdout != "made by berth\n" {
		t.Fatalf("docker run of berth's image: %s", r)
	}
}

// TestNothingLeftBehind: after run --rm, rm -f and image removal, no mount, snapshot, container directory,
// shim or cgroup of the daemon remains.
func TestNothingLeftBehind(t *testing.T) {
	d := startDaemon(t)
	d.importBusybox(t)
	d.berth(t, "run", "--rm", "busybox", "true")
	id := strings.TrimSpace(d.berth(t, "run", "-d", "busybox", "sleep", "1000"))
	d.berth(t, "rm", "-f", id)
	d.berth(t, "rmi", "busybox")
	waitFor(t, 15*time.Second, "background cleanup", func() bool {
		for _, dir := range []string{"data/overlay/containers", "data/containers", "exec/containers", "data/overlay/layers"} {
			entries, _ := os.ReadDir(filepath.Join(d.Root, dir))
			if len(entries) > 0 {
				return false
			}
		}
		return true
	})
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	for _, line := range strings.Split(string(mi), "\n") {
		f := strings.Fields(line)
		// The namespace directory itself stays a mount point, as /run/netns does for iproute2.
		if len(f) > 4 && strings.HasPrefix(f[4], d.Root) && f[4] != filepath.Join(d.ExecRoot, "netns") {
			t.Fatalf("mount left under %s: %s", d.Root, line)
		}
	}
	if out, _ := exec.Command("ip", "-o", "link", "show", "type", "veth").Output(); strings.Contains(string(out), "master "+d.bridge()) {
		t.Fatalf("veths left on %s: %s", d.bridge(), out)
	}
	if _, err := os.Stat("/sys/fs/cgroup/memory/berth/" + id); err == nil {
		t.Fatalf("cgroup of %s left behind", id)
	}
	if out, _ := exec.Command("pgrep", "-f", "berth-shim "+d.ExecRoot).Output(); len(out) > 0 {
		t.Fatalf("shims left running: %s", out)
	}
}

// TestRegistryServe: `berth registry serve` answers the distribution API: a blob pushed in one POST comes back.
func TestRegistryServe(t *testing.T) {
	requireRoot(t)
	addr, _ := startRegistry(t)
	waitFor(t, 10*time.Second, "the registry", func() bool {
		resp, err := http.Get("http://" + addr + "/v2/")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200 && resp.Header.Get("Docker-Distribution-API-Version") == "registry/2.0"
	})
	blob := []byte("hello registry")
	dgst := fmt.Sprintf("sha256:%x", sha256.Sum256(blob))
	resp, err := http.Post("http://"+addr+"/v2/demo/app/blobs/uploads/?digest="+dgst, "application/octet-stream", bytes.NewReader(blob))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Fatalf("monolithic upload: %s", resp.Status)
	}
	resp, err = http.Get("http://" + addr + "/v2/demo/app/blobs/" + dgst)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(got) != string(blob) || resp.Header.Get("Docker-Content-Digest") != dgst {
		t.Fatalf("blob read back: %q %s", got, resp.Header.Get("Docker-Content-Digest"))
	}
}

// TestRegistryServeAuth: with --htpasswd the registry asks for credentials as docker expects and accepts them.
func TestRegistryServeAuth(t *testing.T) {
	requireRoot(t)
	addr, _ := startRegistry(t, "--htpasswd", writeHtpasswd(t, t.TempDir(), "alice", "s3cret"))
	var resp *http.Response
	var err error
	waitFor(t, 10*time.Second, "the registry", func() bool {
		resp, err = http.Get("http://" + addr + "/v2/")
		return err == nil
	})
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != `Basic realm="berth-registry"` || !strings.Contains(string(body), `"UNAUTHORIZED"`) {
		t.Fatalf("unauthenticated: %s %q %s", resp.Status, resp.Header.Get("WWW-Authenticate"), body)
	}
	req, _ := http.NewRequest("GET", "http://"+addr+"/v2/", nil)
	req.SetBasicAuth("alice", "wrong")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 401 {
		t.Fatalf("wrong password: %v %v", resp, err)
	}
	req.SetBasicAuth("alice", "s3cret")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("right password: %v %v", resp, err)
	}
}
