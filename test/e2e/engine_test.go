package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
)

// TestEngine runs docker's everyday scenario against one daemon, through berth and through the real docker CLI.
func TestEngine(t *testing.T) {
	d := startDaemon(t)
	d.importBusybox(t)

	t.Run("run --rm echo", func(t *testing.T) {
		if out := d.berth("run", "--rm", "busybox", "echo", "hello from berth"); out != "hello from berth\n" {
			t.Fatalf("berth run: got %q", out)
		}
		if out := d.docker("run", "--rm", "busybox", "echo", "hello from docker"); out != "hello from docker\n" {
			t.Fatalf("docker run: got %q", out)
		}
		if out := d.berth("ps", "-aq"); strings.TrimSpace(out) != "" {
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
		id := strings.TrimSpace(d.docker("run", "-d", "--name", "web", "busybox", "sh", "-c", script))
		if len(id) != 64 {
			t.Fatalf("run -d printed %q, want a full ID", id)
		}
		waitFor(t, 10*time.Second, "log output", func() bool { return strings.Contains(d.berth("logs", "web"), "tick 2") })
		if out := d.docker("logs", "--tail", "1", "web"); !strings.HasPrefix(out, "tick ") || strings.Count(out, "\n") != 1 {
			t.Fatalf("logs --tail 1: %q", out)
		}
		// logs -f follows until the container stops.
		follow := exec.Command(filepath.Join(binDir, "berth"), "-H", d.Host, "logs", "-f", "web")
		var fout bytes.Buffer
		follow.Stdout = &fout
		if err := follow.Start(); err != nil {
			t.Fatal(err)
		}
		if out := d.docker("exec", "web", "cat", "/etc/hostname"); strings.TrimSpace(out) != id[:12] {
			t.Fatalf("exec hostname: %q", out)
		}
		r := d.dockerR(nil, "exec", "-e", "FOO=bar", "-w", "/tmp", "web", "sh", "-c", "echo $FOO $(pwd); exit 7")
		if r.Code != 7 || r.Stdout != "bar /tmp\n" {
			t.Fatalf("exec env/workdir/exit: %s", r)
		}
		top := d.docker("top", "web")
		if !strings.Contains(top, "PID") || !strings.Contains(top, "sh -c") {
			t.Fatalf("top: %q", top)
		}
		ps := d.docker("ps")
		if !strings.Contains(ps, "CONTAINER ID") || !strings.Contains(ps, "web") || !strings.Contains(ps, "Up ") {
			t.Fatalf("ps: %q", ps)
		}
		start := time.Now()
		d.docker("stop", "web")
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
		var st []struct{ State struct{ Status string; ExitCode int } }
		json.Unmarshal([]byte(d.docker("inspect", "web")), &st)
		if len(st) != 1 || st[0].State.Status != "exited" || st[0].State.ExitCode != 0 {
			t.Fatalf("inspect after stop: %+v", st)
		}
		if out := d.docker("ps", "-a", "--filter", "status=exited", "--format", "{{.Names}} {{.Status}}"); !strings.HasPrefix(out, "web Exited (0)") {
			t.Fatalf("ps --format: %q", out)
		}
		d.docker("rm", "web")
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
		d.berth("run", "--name", "changer", "busybox", "sh", "-c", "echo new > /tmp/added; rm /bin/vi; echo x >> /etc/passwd")
		diff := d.docker("diff", "changer")
		for _, want := range []string{"C /tmp", "A /tmp/added", "D /bin/vi", "C /etc/passwd"} {
			if !strings.Contains(diff, want+"\n") {
				t.Fatalf("diff lacks %q:\n%s", want, diff)
			}
		}
		d.docker("commit", "-m", "my change", "-a", "tester", "-c", "ENV COMMITTED=yes", "changer", "changed:v1")
		out := d.berth("run", "--rm", "changed:v1", "sh", "-c", "cat /tmp/added; echo $COMMITTED; test -e /bin/vi || echo vi-gone")
		if out != "new\nyes\nvi-gone\n" {
			t.Fatalf("run of commit: %q", out)
		}
		hist := d.docker("history", "changed:v1")
		if !strings.Contains(hist, "my change") {
			t.Fatalf("history: %s", hist)
		}
		if out := d.docker("images", "--format", "{{.Repository}}:{{.Tag}}"); !strings.Contains(out, "changed:v1") || !strings.Contains(out, "busybox:latest") {
			t.Fatalf("images: %q", out)
		}
		d.berth("rm", "changer")
	})

	t.Run("volumes persist", func(t *testing.T) {
		d.docker("volume", "create", "data")
		d.docker("run", "--rm", "-v", "data:/data", "busybox", "sh", "-c", "echo kept > /data/f")
		if out := d.berth("run", "--rm", "--mount", "type=volume,source=data,target=/d,readonly", "busybox", "cat", "/d/f"); out != "kept\n" {
			t.Fatalf("volume content: %q", out)
		}
		r := d.berthR(nil, "run", "--rm", "-v", "data:/d:ro", "busybox", "sh", "-c", "echo x > /d/g")
		if r.Code == 0 {
			t.Fatalf("write to a read-only volume succeeded")
		}
		if out := d.docker("volume", "ls", "--format", "{{.Name}}"); !strings.Contains(out, "data") {
			t.Fatalf("volume ls: %q", out)
		}
		r = d.dockerR(nil, "run", "--rm", "--mount", "type=bind,source=/nonexistent-berth-src,target=/x", "busybox", "true")
		if r.Code != 125 || !strings.Contains(r.Stderr, "bind source path does not exist") {
			t.Fatalf("bind of a missing source: %s", r)
		}
		dir := t.TempDir()
		d.berth("run", "--rm", "-v", dir+":/host", "busybox", "sh", "-c", "echo from-container > /host/out")
		if b, _ := os.ReadFile(filepath.Join(dir, "out")); string(b) != "from-container\n" {
			t.Fatalf("bind mount write: %q", b)
		}
		d.docker("volume", "rm", "data")
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
		d.berth("create", "--name", "dup", "busybox", "true")
		r = d.berthR(nil, "create", "--name", "dup", "busybox", "true")
		if r.Code != 1 || !strings.Contains(r.Stderr, `Conflict. The container name "/dup" is already in use`) {
			t.Fatalf("berth duplicate name: %s", r)
		}
		r = d.dockerR(nil, "create", "--name", "dup", "busybox", "true")
		if r.Code != 1 || !strings.Contains(r.Stderr, `Conflict. The container name "/dup" is already in use`) {
			t.Fatalf("duplicate name: %s", r)
		}
		d.berth("rm", "dup")
		d.berth("run", "-d", "--name", "busy", "busybox", "sleep", "100")
		r = d.dockerR(nil, "rm", "busy")
		if r.Code != 1 || !strings.Contains(r.Stderr, "container is running: stop the container before removing or force remove") {
			t.Fatalf("rm running: %s", r)
		}
		r = d.berthR(nil, "rm", "busy")
		if r.Code != 1 || !strings.Contains(r.Stderr, "container is running") {
			t.Fatalf("berth rm running: %s", r)
		}
		d.berth("rm", "-f", "busy")
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
	d.berth("run", "-d", "--name", "survivor", "busybox", "sh", "-c", "echo before; sleep 1000")
	d.berth("run", "-d", "--name", "phoenix", "--restart", "always", "busybox", "sh", "-c", "echo up; sleep 2; exit 1")
	waitFor(t, 10*time.Second, "first log line", func() bool { return d.berth("logs", "survivor") == "before\n" })
	pid := strings.TrimSpace(d.berth("inspect", "-f", "{{.State.Pid}}", "survivor"))
	d.kill9()
	// While the daemon is down the container keeps running, and phoenix exits.
	if _, err := os.Stat("/proc/" + pid); err != nil {
		t.Fatalf("container process %s died with the daemon", pid)
	}
	time.Sleep(3 * time.Second)
	d.start()
	if st := strings.TrimSpace(d.berth("inspect", "-f", "{{.State.Status}} {{.State.Pid}}", "survivor")); st != "running "+pid {
		t.Fatalf("after restart: %q, want running %s", st, pid)
	}
	if out := d.berth("logs", "survivor"); out != "before\n" {
		t.Fatalf("logs after restart: %q", out)
	}
	d.berth("exec", "survivor", "true")
	waitFor(t, 15*time.Second, "restart policy to resume", func() bool {
		n, _ := strconv.Atoi(strings.TrimSpace(d.berth("inspect", "-f", "{{.RestartCount}}", "phoenix")))
		return n >= 1
	})
	d.berth("stop", "-t", "1", "survivor")
	if code := strings.TrimSpace(d.berth("inspect", "-f", "{{.State.ExitCode}}", "survivor")); code != "137" {
		t.Fatalf("exit code after stop of a TERM-ignoring sh: %s", code)
	}
}
