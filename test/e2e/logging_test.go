package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// logFiles lists the files of container id's directory whose names contain part (its logs), sorted.
func (d *Daemon) logFiles(t *testing.T, id, part string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(filepath.Join(d.DataRoot, "containers", id), func(p string, e os.DirEntry, err error) error {
		if err == nil && !e.IsDir() && strings.Contains(e.Name(), part) {
			rel, _ := filepath.Rel(filepath.Join(d.DataRoot, "containers", id), p)
			out = append(out, strings.ReplaceAll(rel, id, "ID"))
		}
		return nil
	})
	sort.Strings(out)
	return out
}

// seqLines is "<prefix> from\n" ... "<prefix> to\n".
func seqLines(prefix string, from, to int) string {
	var b strings.Builder
	for i := from; i <= to; i++ {
		fmt.Fprintf(&b, "%s %d\n", prefix, i)
	}
	return b.String()
}

// checkSuffix fails unless out is the lines "line k" ... "line last" for some k, and returns k.
func checkSuffix(t *testing.T, what, out string, last int) int {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	var first int
	if _, err := fmt.Sscanf(lines[0], "line %d", &first); err != nil || out != seqLines("line", first, last) {
		t.Fatalf("%s: not a run of lines ending at %d:\n%s", what, last, out)
	}
	return first
}

// TestLogDrivers: docker's refusals of log drivers and options, --log-driver none, --details with the labels
// and env log-opts, and the local driver, through the docker CLI.
func TestLogDrivers(t *testing.T) {
	d := startDaemon(t)
	d.importBusybox(t)

	refusals := []struct {
		args []string
		want string
	}{
		{[]string{"--log-driver", "syslogd"}, "logger: no log driver named 'syslogd' is registered"},
		{[]string{"--log-opt", "max-sise=1m"}, "unknown log opt 'max-sise' for json-file log driver"},
		{[]string{"--log-driver", "local", "--log-opt", "labelz=a"}, "unknown log opt 'labelz' for log driver local"},
		// docker finds bad values when the container starts, Berth when it is created: the same words.
		{[]string{"--log-opt", "max-size=abc"}, "failed to initialize logging driver: invalid size: 'abc'"},
		{[]string{"--log-opt", "max-file=0"}, "failed to initialize logging driver: max-file cannot be less than 1"},
		{[]string{"--log-opt", "max-size=1m", "--log-opt", "compress=true"}, "failed to initialize logging driver: compress cannot be true when max-file is less than 2 or max-size is not set"},
		{[]string{"--log-opt", "mode=fast"}, "logger: logging mode not supported: fast"},
	}
	for _, r := range refusals {
		res := d.dockerR(nil, append(append([]string{"run", "--rm"}, r.args...), "busybox", "true")...)
		if res.Code != 125 || !strings.Contains(res.Stderr, "Error response from daemon: "+r.want) {
			t.Errorf("docker run %s: %s\nwant exit 125 and %q", strings.Join(r.args, " "), res, r.want)
		}
	}
	if out := d.docker(t, "ps", "-aq"); out != "" {
		t.Fatalf("refused runs left containers: %q", out)
	}

	t.Run("none", func(t *testing.T) {
		// Attached clients still see the output; nothing is written and logs says so as docker does.
		if out := d.docker(t, "run", "--name", "quiet", "--log-driver", "none", "busybox", "echo", "hi"); out != "hi\n" {
			t.Fatalf("run: %q", out)
		}
		id := strings.TrimSpace(d.docker(t, "inspect", "-f", "{{.Id}}", "quiet"))
		r := d.dockerR(nil, "logs", "quiet")
		if r.Code != 1 || strings.TrimSpace(r.Stderr) != "Error response from daemon: configured logging driver does not support reading" || r.Stdout != "" {
			t.Fatalf("logs: %s", r)
		}
		if out := d.docker(t, "inspect", "-f", "{{.LogPath}}|{{.HostConfig.LogConfig.Type}}", "quiet"); out != "|none\n" {
			t.Fatalf("inspect: %q", out)
		}
		if files := d.logFiles(t, id, "log"); len(files) != 0 {
			t.Fatalf("log files of a none container: %v", files)
		}
	})

	t.Run("details", func(t *testing.T) {
		d.docker(t, "run", "--name", "det", "--label", "team=web", "--label", "tier=a,b", "-e", "FOO=bar", "-e", "SP=a b",
			"--log-opt", "labels=team,tier,missing", "--log-opt", "env=FOO,SP", "--log-opt", "tag={{.Name}}",
			"busybox", "sh", "-c", "echo one; echo two >&2")
		r := d.dockerR(nil, "logs", "--details", "det")
		attrs := "FOO=bar,SP=a+b,tag=det,team=web,tier=a%2Cb "
		if r.Code != 0 || r.Stdout != attrs+"one\n" || r.Stderr != attrs+"two\n" {
			t.Fatalf("logs --details: %s", r)
		}
		if out := d.docker(t, "logs", "det"); out != "one\n" {
			t.Fatalf("logs without --details: %q", out)
		}
		// Without attributes docker still puts the separating space.
		d.docker(t, "run", "--name", "plain", "busybox", "echo", "plain")
		if out := d.docker(t, "logs", "--details", "plain"); out != " plain\n" {
			t.Fatalf("logs --details without attributes: %q", out)
		}
		// The regex forms.
		d.docker(t, "run", "--name", "rx", "--label", "app.name=x", "--label", "other=y", "-e", "APP_MODE=z",
			"--log-opt", "labels-regex=^app\\.", "--log-opt", "env-regex=^APP_", "busybox", "echo", "rx")
		if out := d.docker(t, "logs", "--details", "rx"); out != "APP_MODE=z,app.name=x rx\n" {
			t.Fatalf("logs --details with regexes: %q", out)
		}
	})

	t.Run("local", func(t *testing.T) {
		d.docker(t, "run", "--name", "loc", "--log-driver", "local", "--log-opt", "max-size=2k", "--log-opt", "max-file=3",
			"busybox", "sh", "-c", "for i in $(seq 1 300); do echo line $i; done")
		id := strings.TrimSpace(d.docker(t, "inspect", "-f", "{{.Id}}", "loc"))
		if out := d.docker(t, "inspect", "-f", "{{.LogPath}}|{{json .HostConfig.LogConfig}}", "loc"); out != `|{"Type":"local","Config":{"max-file":"3","max-size":"2k"}}`+"\n" {
			t.Fatalf("inspect: %q", out)
		}
		files := d.logFiles(t, id, "container.log")
		if strings.Join(files, " ") != "local-logs/container.log local-logs/container.log.1.gz local-logs/container.log.2.gz" {
			t.Fatalf("local files: %v", files)
		}
		checkSuffix(t, "logs", d.docker(t, "logs", "loc"), 300)
		if out := d.docker(t, "logs", "--tail", "2", "loc"); out != "line 299\nline 300\n" {
			t.Fatalf("logs --tail 2: %q", out)
		}
	})
}

// TestLogRotation: --log-opt max-size and max-file bound a json-file log (compressed with compress=true) and
// `docker logs` reads across the rotated files: all of it, --tail, and --follow while the files rotate.
func TestLogRotation(t *testing.T) {
	d := startDaemon(t)
	d.importBusybox(t)

	for _, compress := range []bool{false, true} {
		name := "rot" + strconv.FormatBool(compress)
		d.docker(t, "run", "--name", name, "--log-opt", "max-size=1k", "--log-opt", "max-file=3",
			"--log-opt", "compress="+strconv.FormatBool(compress),
			"busybox", "sh", "-c", "for i in $(seq 1 300); do echo line $i; done")
		id := strings.TrimSpace(d.docker(t, "inspect", "-f", "{{.Id}}", name))
		ext := ""
		if compress {
			ext = ".gz"
		}
		if files := d.logFiles(t, id, "json.log"); strings.Join(files, " ") != "ID-json.log ID-json.log.1"+ext+" ID-json.log.2"+ext {
			t.Fatalf("compress=%v: files %v", compress, files)
		}
		for _, f := range d.logFiles(t, id, "json.log") {
			if st, _ := os.Stat(filepath.Join(d.DataRoot, "containers", id, strings.ReplaceAll(f, "ID", id))); st.Size() > 1100 {
				t.Errorf("%s: %d bytes, more than max-size and a record", f, st.Size())
			}
		}
		first := checkSuffix(t, "logs", d.docker(t, "logs", name), 300)
		// 1k holds 12 to 14 records of about 75 bytes: two full files and the current one.
		if n := 300 - first + 1; n < 24 || n > 45 {
			t.Errorf("compress=%v: %d lines kept", compress, n)
		}
		if out := d.docker(t, "logs", "--tail", "20", name); out != seqLines("line", 281, 300) {
			t.Errorf("compress=%v: logs --tail 20 (across files):\n%s", compress, out)
		}
	}

	t.Run("follow", func(t *testing.T) {
		// The container writes its lines in bursts while `docker logs -f` follows from before the first: every
		// line arrives once, in order, across rotations (50 files: none is removed before the reader got to it).
		d.docker(t, "run", "-d", "--name", "fol", "--log-opt", "max-size=2k", "--log-opt", "max-file=50", "--log-opt", "compress=true",
			"busybox", "sh", "-c", "sleep 1; for b in $(seq 0 19); do for i in $(seq 1 40); do echo line $((b*40+i)); done; sleep 0.05; done")
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, dockerCLI, "logs", "-f", "fol")
		cmd.Env = append(os.Environ(), "DOCKER_HOST="+d.Host, "DOCKER_CONFIG="+filepath.Join(d.Root, "docker-config"))
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("logs -f: %v", err)
		}
		if string(out) != seqLines("line", 1, 800) {
			t.Fatalf("logs -f read %d bytes, not lines 1 to 800:\n%s", len(out), tail(string(out), 400))
		}
		id := strings.TrimSpace(d.docker(t, "inspect", "-f", "{{.Id}}", "fol"))
		if files := d.logFiles(t, id, "json.log"); len(files) < 5 {
			t.Fatalf("the follow saw only %d files", len(files))
		}
		if out := d.docker(t, "logs", "--tail", "3", "fol"); out != seqLines("line", 798, 800) {
			t.Fatalf("logs --tail 3: %q", out)
		}
	})
}

// TestLogDaemonDefaults: daemon.json's log-driver and log-opts apply to containers that name no driver (and
// the options to those naming the same driver), and a daemon with invalid ones refuses to start.
func TestLogDaemonDefaults(t *testing.T) {
	d := startDaemonWith(t, `{"log-driver": "json-file", "log-opts": {"max-size": "1k", "max-file": "2", "labels": "team"}}`)
	d.importBusybox(t)
	d.docker(t, "run", "--name", "def", "--label", "team=web", "busybox", "sh", "-c", "for i in $(seq 1 100); do echo line $i; done")
	if out := d.docker(t, "inspect", "-f", "{{json .HostConfig.LogConfig}}", "def"); out != `{"Type":"json-file","Config":{"labels":"team","max-file":"2","max-size":"1k"}}`+"\n" {
		t.Fatalf("inspect: %q", out)
	}
	id := strings.TrimSpace(d.docker(t, "inspect", "-f", "{{.Id}}", "def"))
	if files := d.logFiles(t, id, "json.log"); strings.Join(files, " ") != "ID-json.log ID-json.log.1" {
		t.Fatalf("files: %v", files)
	}
	checkSuffix(t, "logs", d.docker(t, "logs", "def"), 100)
	if out := d.docker(t, "logs", "--details", "--tail", "1", "def"); out != "team=web line 100\n" {
		t.Fatalf("logs --details: %q", out)
	}
	// A container's own options win over the daemon's.
	d.docker(t, "run", "--name", "own", "--log-opt", "max-file=5", "busybox", "true")
	if out := d.docker(t, "inspect", "-f", "{{json .HostConfig.LogConfig.Config}}", "own"); out != `{"labels":"team","max-file":"5","max-size":"1k"}`+"\n" {
		t.Fatalf("own options: %q", out)
	}

	// The local driver as the daemon's default.
	l := startDaemonWith(t, `{"log-driver": "local"}`)
	l.importBusybox(t)
	if out := l.docker(t, "run", "--name", "lx", "busybox", "echo", "via local"); out != "via local\n" {
		t.Fatalf("run: %q", out)
	}
	if out := l.docker(t, "inspect", "-f", "{{.HostConfig.LogConfig.Type}} {{.LogPath}}", "lx"); out != "local \n" {
		t.Fatalf("inspect: %q", out)
	}
	if out := l.docker(t, "logs", "lx"); out != "via local\n" {
		t.Fatalf("logs: %q", out)
	}

	// Invalid defaults: the daemon does not start, and says why.
	for _, tc := range []struct{ json, want string }{
		{`{"log-driver": "splunkish"}`, "logger: no log driver named 'splunkish' is registered"},
		{`{"log-opts": {"max-size": "lots"}}`, "invalid size: 'lots'"},
	} {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "daemon.json"), []byte(tc.json), 0o644)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		r := run(ctx, nil, nil, filepath.Join(binDir, "berth"), "daemon", "--data-root", filepath.Join(dir, "data"), "--exec-root", filepath.Join(dir, "exec"),
			"-H", "unix://"+filepath.Join(dir, "s.sock"), "--pidfile", filepath.Join(dir, "pid"), "--config-file", filepath.Join(dir, "daemon.json"))
		cancel()
		if r.Code == 0 || !strings.Contains(r.Stderr, tc.want) {
			t.Errorf("daemon with %s: %s\nwant a failure saying %q", tc.json, r, tc.want)
		}
	}
}
