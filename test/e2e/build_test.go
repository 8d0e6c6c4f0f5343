package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// writeTree writes files (path -> content) under dir.
func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// buildContext makes a context directory with the given files.
func buildContext(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	writeTree(t, dir, files)
	return dir
}

// noBuildContainers asserts that no container (intermediate ones included) is left.
func noBuildContainers(t *testing.T, d *Daemon) {
	t.Helper()
	if out := strings.TrimSpace(d.berth(t, "ps", "-aq")); out != "" {
		t.Fatalf("containers left behind: %s", out)
	}
}

func inspectConfig(t *testing.T, d *Daemon, ref string) map[string]any {
	t.Helper()
	var out []struct {
		Config map[string]any
		Author string
	}
	if err := json.Unmarshal([]byte(d.berth(t, "image", "inspect", ref)), &out); err != nil || len(out) != 1 {
		t.Fatalf("inspect %s: %v", ref, err)
	}
	return out[0].Config
}

func TestBuildEveryInstruction(t *testing.T) {
	d := startDaemon(t)
	d.importBusybox(t)
	dir := buildContext(t, map[string]string{
		"Dockerfile": `# syntax=docker/dockerfile:1
# escape=\
ARG BASE=busybox
FROM --platform=linux/amd64 ${BASE}:latest AS base
ARG GREETING=hello
ENV APP_HOME=/app \
    MODE=prod
LABEL org.example.name="demo" version=1
WORKDIR $APP_HOME
COPY --chown=1000:1000 --chmod=640 data/*.txt ./data/
ADD archive.tar /unpacked/
COPY --from=busybox:latest /etc/passwd /from-image/
RUN echo "$GREETING from $MODE" > /app/greeting && \
    mkdir -p /data
RUN ["/bin/sh", "-c", "echo exec-form > /app/exec"]
SHELL ["/bin/sh", "-c"]
EXPOSE 8080 9000/udp
USER 1000:1000
VOLUME /data
STOPSIGNAL SIGINT
HEALTHCHECK --interval=5s --timeout=3s CMD true
ONBUILD RUN echo triggered $((6*7))
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["cat /app/greeting /app/exec /app/data/a.txt /unpacked/inside.txt"]
`,
		"data/a.txt": "file a\n",
		"data/b.txt": "file b\n",
		"data/c.md":  "not copied\n",
	})
	// a local tar archive that ADD unpacks
	writeTree(t, dir, map[string]string{"src/inside.txt": "from the archive\n"})
	if out, err := exec.Command("tar", "-C", filepath.Join(dir, "src"), "-cf", filepath.Join(dir, "archive.tar"), "inside.txt").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v %s", err, out)
	}
	os.RemoveAll(filepath.Join(dir, "src"))

	for _, cli := range []string{"berth", "docker"} {
		t.Run(cli, func(t *testing.T) {
			build := d.berthR
			if cli == "docker" {
				build = d.dockerR
			}
			everyInstruction(t, d, cli, build, dir)
		})
	}

	// ONBUILD fires in a child build.
	child := buildContext(t, map[string]string{"Dockerfile": "FROM every:1\nRUN true\n"})
	out := d.docker(t, "build", "-t", "child", child)
	if !strings.Contains(out, "# Executing 1 build trigger") || !strings.Contains(out, "triggered 42") {
		t.Errorf("ONBUILD trigger did not run:\n%s", out)
	}
	if b, _ := json.Marshal(inspectConfig(t, d, "child")["OnBuild"]); string(b) != "null" {
		t.Errorf("child keeps OnBuild: %s", b)
	}
	noBuildContainers(t, d)

	// The engine runs the image's HEALTHCHECK (its test, with a shorter interval from the command line).
	d.berth(t, "run", "-d", "--name", "hc-img", "--health-interval", "200ms", "every:1", "sleep 600")
	waitFor(t, 10*time.Second, "the image's health check to pass", func() bool {
		return strings.TrimSpace(d.berth(t, "inspect", "-f", "{{.State.Health.Status}}", "hc-img")) == "healthy"
	})
	if ps := d.berth(t, "ps", "--filter", "name=hc-img", "--format", "{{.Status}}"); !strings.Contains(ps, "(healthy)") {
		t.Errorf("ps status %q", ps)
	}
	d.berth(t, "rm", "-f", "hc-img")
}

func TestBuildCache(t *testing.T) {
	d := startDaemon(t)
	d.importBusybox(t)
	dir := buildContext(t, map[string]string{
		"Dockerfile": "FROM busybox\nRUN echo one > /one\nCOPY a.txt /a.txt\nCOPY b.txt /b.txt\nRUN cat /a.txt /b.txt > /both\nCMD [\"cat\", \"/both\"]\n",
		"a.txt":      "a1\n",
		"b.txt":      "b1\n",
	})
	first := d.docker(t, "build", "-t", "cached", dir)
	if strings.Contains(first, "Using cache") {
		t.Fatalf("first build used the cache:\n%s", first)
	}
	second := d.docker(t, "build", "-t", "cached2", dir)
	if n := strings.Count(second, " ---> Using cache"); n != 5 {
		t.Errorf("rebuild: %d steps from cache, want 5:\n%s", n, second)
	}
	if strings.Contains(second, "Running in") {
		t.Errorf("rebuild ran a container:\n%s", second)
	}
	id1 := strings.TrimSpace(d.berth(t, "images", "-q", "cached"))
	id2 := strings.TrimSpace(d.berth(t, "images", "-q", "cached2"))
	if id1 == "" || id1 != id2 {
		t.Errorf("cached rebuild made a different image: %q vs %q", id1, id2)
	}

	writeTree(t, dir, map[string]string{"b.txt": "b2\n"})
	third := d.docker(t, "build", "-t", "cached3", dir)
	steps := strings.Split(third, "Step ")
	// steps[1] FROM, [2] RUN, [3] COPY a, [4] COPY b, [5] RUN, [6] CMD
	if len(steps) != 7 {
		t.Fatalf("unexpected output:\n%s", third)
	}
	for i, cached := range []bool{false, true, true, false, false, false} {
		if got := strings.Contains(steps[i+1], "Using cache"); got != cached && i > 0 {
			t.Errorf("step %d: cached=%v, want %v:\n%s", i+1, got, cached, third)
		}
	}
	if out := d.berth(t, "run", "--rm", "cached3"); out != "a1\nb2\n" {
		t.Errorf("edited build runs %q", out)
	}
	nc := d.berth(t, "build", "--no-cache", "-t", "cached4", dir)
	if strings.Contains(nc, "Using cache") {
		t.Errorf("--no-cache used the cache:\n%s", nc)
	}
	// A deleted image is never served from the cache.
	d.berth(t, "rmi", "cached4")
	d.berth(t, "image", "prune", "-f")
	d.berth(t, "build", "-t", "cached5", dir)
	if out := d.berth(t, "run", "--rm", "cached5"); out != "a1\nb2\n" {
		t.Errorf("after prune: %q", out)
	}
	noBuildContainers(t, d)
}

// staticHello builds a static Go program printing its argument-less greeting.
func staticHello(t *testing.T, dir string) {
	t.Helper()
	src := filepath.Join(t.TempDir(), "main.go")
	if err := os.WriteFile(src, []byte("package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"hello from a static binary\") }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "hello"), src)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-mod=mod", "GO111MODULE=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
}

func TestBuildMultiStage(t *testing.T) {
	d := startDaemon(t)
	d.importBusybox(t)
	dir := buildContext(t, map[string]string{
		".dockerignore": "secret*\n*.log\n!keep.log\n",
		"secret.txt":    "do not send\n",
		"debug.log":     "nope\n",
		"keep.log":      "kept\n",
	})
	staticHello(t, dir)
	// -f a Dockerfile outside the context, as the docker CLI sends it
	df := filepath.Join(t.TempDir(), "Build.dockerfile")
	writeTree(t, filepath.Dir(df), map[string]string{filepath.Base(df): `ARG VARIANT=plain
FROM busybox AS builder
ARG VARIANT
COPY hello /src/hello
RUN chmod 0755 /src/hello && echo "$VARIANT" > /src/variant
RUN ls /src > /src/listing; ls / > /src/root

FROM scratch AS final
COPY --from=builder /src/hello /hello
COPY --from=builder /src/variant /variant
ENTRYPOINT ["/hello"]

FROM busybox AS inspect
COPY . /ctx/
CMD ["ls", "-a", "/ctx"]
`})
	for _, cli := range []string{"berth", "docker"} {
		t.Run(cli, func(t *testing.T) {
			build := d.berthR
			if cli == "docker" {
				build = d.dockerR
			}
			iid := filepath.Join(t.TempDir(), "iid")
			r := build(nil, "build", "-f", df, "--target", "final", "--build-arg", "VARIANT=fancy", "--iidfile", iid, "-t", "hello-"+cli, dir)
			if r.Code != 0 {
				t.Fatalf("build: %s", r)
			}
			if strings.Contains(r.Stdout, "Step 11/") || !strings.Contains(r.Stdout, "Step 10/10 : ENTRYPOINT [\"/hello\"]") {
				t.Errorf("--target built past the final stage:\n%s", r.Stdout)
			}
			id, err := os.ReadFile(iid)
			if err != nil || !regexp.MustCompile(`^sha256:[0-9a-f]{64}$`).Match(id) {
				t.Fatalf("--iidfile: %q %v", id, err)
			}
			if got := strings.TrimSpace(d.berth(t, "image", "inspect", "--format", "{{.Id}}", "hello-"+cli)); got != string(id) {
				t.Errorf("iidfile %s, image %s", id, got)
			}
			if out := d.berth(t, "run", "--rm", "hello-"+cli); out != "hello from a static binary\n" {
				t.Errorf("run: %q", out)
			}
			if n := strings.TrimSpace(d.berth(t, "image", "inspect", "--format", "{{len .RootFS.Layers}}", "hello-"+cli)); n != "2" {
				t.Errorf("scratch image has %s layers, want 2", n)
			}
			// -q prints only the ID
			q := build(nil, "build", "-q", "-f", df, "--target", "inspect", dir)
			if q.Code != 0 || !regexp.MustCompile(`^sha256:[0-9a-f]{64}\n$`).MatchString(q.Stdout) {
				t.Fatalf("-q: %s", q)
			}
			ls := d.berth(t, "run", "--rm", strings.TrimSpace(q.Stdout))
			if strings.Contains(ls, "secret.txt") || strings.Contains(ls, "debug.log") || !strings.Contains(ls, "keep.log") || !strings.Contains(ls, "hello") || strings.Contains(ls, ".dockerfile.") {
				t.Errorf(".dockerignore not applied: %s", ls)
			}
		})
	}
	noBuildContainers(t, d)
}

func TestBuildErrors(t *testing.T) {
	d := startDaemon(t)
	d.importBusybox(t)
	before := d.berth(t, "images", "-aq")

	for _, cli := range []string{"berth", "docker"} {
		build := d.berthR
		if cli == "docker" {
			build = d.dockerR
		}
		dir := buildContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN echo before\nRUN false\nRUN echo after\n"})
		r := build(nil, "build", "--no-cache", "-t", "failing", dir)
		if r.Code != 1 || !strings.Contains(r.Stderr, "The command '/bin/sh -c false' returned a non-zero code: 1") {
			t.Errorf("%s: failing RUN: %s", cli, r)
		}
		dir = buildContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN exit 3\n"})
		if r := build(nil, "build", dir); r.Code != 3 {
			t.Errorf("%s: RUN exit 3: %s", cli, r)
		}
		dir = buildContext(t, map[string]string{"Dockerfile": "FROM busybox\n\nFOO bar\n"})
		if r := build(nil, "build", dir); r.Code == 0 || !strings.Contains(r.Stderr, "Dockerfile parse error line 3: unknown instruction: FOO") {
			t.Errorf("%s: unknown instruction: %s", cli, r)
		}
		dir = buildContext(t, map[string]string{"Dockerfile": "FROM busybox\nENV A=" + cli + "\nCOPY missing.txt /\n"})
		if r := build(nil, "build", dir); r.Code == 0 || !strings.Contains(r.Stderr, "COPY failed: file not found in build context or excluded by .dockerignore: stat missing.txt: file does not exist") {
			t.Errorf("%s: missing file: %s", cli, r)
		}
		dir = buildContext(t, map[string]string{"Dockerfile": "FROM busybox\nCOPY ../outside /\n"})
		if r := build(nil, "build", dir); r.Code == 0 || !strings.Contains(r.Stderr, "forbidden path outside the build context: ../outside") {
			t.Errorf("%s: ../ source: %s", cli, r)
		}
		if r := build(nil, "build", "-t", "Bad:Tag", dir); r.Code == 0 || !strings.Contains(r.Stderr, "invalid reference format: repository name (library/Bad) must be lowercase") {
			t.Errorf("%s: bad tag accepted: %s", cli, r)
		}
		dir = buildContext(t, map[string]string{"Dockerfile": "FROM nosuchimage\n"})
		// A missing base is pulled from Docker Hub: unreachable here, reachable elsewhere but without this name.
		if r := build(nil, "build", dir); r.Code == 0 || !strings.Contains(r.Stderr, "registry-1.docker.io") && !strings.Contains(r.Stderr, "pull access denied for nosuchimage") {
			t.Errorf("%s: missing base: %s", cli, r)
		}
	}
	if out := d.berth(t, "images", "-q", "failing"); out != "" {
		t.Errorf("a failed build tagged an image: %s", out)
	}
	if after := d.berth(t, "images", "-aq"); after != before {
		t.Errorf("failed builds left images: before %q, after %q", before, after)
	}
	noBuildContainers(t, d)
}

func TestBuildSymlinkOutsideContext(t *testing.T) {
	d := startDaemon(t)
	d.importBusybox(t)
	shadow, _ := os.ReadFile("/etc/shadow")
	for _, c := range []struct {
		name string
		run  func(io.Reader, ...string) result
	}{{"docker", d.dockerR}, {"berth", d.berthR}} {
		// COPY through a symlinked directory finds nothing outside the context.
		for _, src := range []string{"link/shadow", "link/", "link/*"} {
			dir := buildContext(t, map[string]string{"Dockerfile": "FROM busybox\nCOPY " + src + " /viadir/\n"})
			if err := os.Symlink("/etc", filepath.Join(dir, "link")); err != nil {
				t.Fatal(err)
			}
			r := c.run(nil, "build", "-t", "leak", dir)
			if r.Code == 0 || !strings.Contains(r.Stderr, "COPY failed") {
				t.Fatalf("%s: COPY %s through a symlink to /etc: %s", c.name, src, r)
			}
		}
		// COPY of the symlink itself copies a symlink.
		dir2 := buildContext(t, map[string]string{"Dockerfile": "FROM busybox\nCOPY x /x\n"})
		if err := os.Symlink("/etc/shadow", filepath.Join(dir2, "x")); err != nil {
			t.Fatal(err)
		}
		mustOK(t, c.run(nil, "build", "-t", "leak", dir2), c.name+" build")
		out := d.berth(t, "run", "--rm", "leak", "sh", "-c", "readlink /x; cat /x 2>&1; true")
		if len(shadow) > 0 && strings.Contains(out, strings.SplitN(string(shadow), "\n", 2)[0]) {
			t.Fatalf("%s: host /etc/shadow leaked into the image: %s", c.name, out)
		}
		if !strings.HasPrefix(out, "/etc/shadow\n") {
			t.Errorf("%s: x is not copied as a symlink: %q", c.name, out)
		}
	}
	noBuildContainers(t, d)
}

// TestBuildLargeContext covers berth build's context manifests: a large file is sent once, named by digest in
// later builds, re-sent when the daemon no longer has it, and the cache is shared with the docker CLI's builds.
func TestBuildLargeContext(t *testing.T) {
	d := startDaemon(t)
	d.importBusybox(t)
	dir := buildContext(t, map[string]string{"Dockerfile": "FROM busybox\nCOPY big.bin /big.bin\nRUN sha256sum /big.bin | cut -c1-64 > /sum\nCMD [\"cat\", \"/sum\"]\n"})
	big := filepath.Join(dir, "big.bin")
	write := func(b byte) string {
		data := []byte(strings.Repeat(string([]byte{b, b + 1, b + 2, '\n'}), 3<<18)) // 3 MiB
		if err := os.WriteFile(big, data, 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("sha256sum", big).Output()
		if err != nil {
			t.Fatal(err)
		}
		return string(out[:64]) + "\n"
	}
	home := t.TempDir() // the CLI's checksum cache
	berth := func(args ...string) result {
		cmd := append([]string{"-H", d.Host}, args...)
		return run(t.Context(), nil, []string{"XDG_CACHE_HOME=" + home}, filepath.Join(binDir, "berth"), cmd...)
	}
	sum := write('a')
	for i := range 2 {
		if r := berth("build", "-t", "big", dir); r.Code != 0 {
			t.Fatalf("build %d: %s", i, r)
		}
		if out := d.berth(t, "run", "--rm", "big"); out != sum {
			t.Fatalf("build %d: content sum %q, want %q", i, out, sum)
		}
	}
	if _, err := os.Stat(filepath.Join(home, "berth", "build-sums.json")); err != nil {
		t.Errorf("no checksum cache: %v", err)
	}
	// Same size, new content: the stat-keyed cache notices, the daemon gets the new bytes.
	sum = write('x')
	r := berth("build", "-t", "big", dir)
	if r.Code != 0 || strings.Contains(r.Stdout, "Step 2/4 : COPY big.bin /big.bin\n ---> Using cache") {
		t.Fatalf("edited large file: %s", r)
	}
	if out := d.berth(t, "run", "--rm", "big"); out != sum {
		t.Fatalf("edited: content sum %q, want %q", out, sum)
	}
	// The docker CLI's plain context hits the same cache entries.
	out := d.docker(t, "build", dir)
	if n := strings.Count(out, "Using cache"); n != 3 {
		t.Errorf("docker build after berth build: %d cached steps, want 3:\n%s", n, out)
	}
	// After a prune the daemon lacks the content and the CLI sends the whole context again.
	d.berth(t, "builder", "prune", "-f")
	d.berth(t, "rmi", "big")
	d.berth(t, "image", "prune", "-f")
	if r := berth("build", "-t", "big", dir); r.Code != 0 || strings.Contains(r.Stdout, "Using cache") {
		t.Fatalf("build after prune: %s", r)
	}
	if out := d.berth(t, "run", "--rm", "big"); out != sum {
		t.Fatalf("after prune: content sum %q, want %q", out, sum)
	}
	noBuildContainers(t, d)
}

// TestBuildAddURLAndHeredoc covers ADD of a URL (fetched by the daemon; file name from the URL, mode 0600), a
// RUN heredoc and COPY heredocs.
func TestBuildAddURLAndHeredoc(t *testing.T) {
	d := startDaemon(t)
	d.importBusybox(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Last-Modified", "Mon, 02 Jan 2006 15:04:05 GMT")
		io.WriteString(w, "downloaded "+r.URL.Path+"\n")
	}))
	defer srv.Close()
	dir := buildContext(t, map[string]string{"Dockerfile": "FROM busybox\nADD " + srv.URL + "/files/remote.txt /dl/\nRUN <<EOF\nset -e\necho from a heredoc > /heredoc\nEOF\nCMD cat /dl/remote.txt /heredoc; stat -c '%a %Y' /dl/remote.txt\n"})
	d.berth(t, "build", "-t", "addurl", dir)
	out := d.berth(t, "run", "--rm", "addurl")
	if want := "downloaded /files/remote.txt\nfrom a heredoc\n600 1136214245\n"; out != want {
		t.Errorf("run = %q, want %q", out, want)
	}

	// COPY heredocs: a file (variables expanded), a quoted delimiter (kept as written), into a directory.
	dir = buildContext(t, map[string]string{"Dockerfile": "FROM busybox\nARG WHO=world\n" +
		"COPY <<EOF /greeting\nhello $WHO\nEOF\n" +
		"COPY <<\"EOT\" /etc/conf/\nraw $WHO\nEOT\n" +
		"CMD cat /greeting /etc/conf/EOT; stat -c '%a' /greeting\n"})
	for _, build := range []func(io.Reader, ...string) result{d.berthR, d.dockerR} {
		mustOK(t, build(nil, "build", "--build-arg", "WHO=berth", "-t", "heredoc", dir), "COPY heredoc build")
		if out, want := d.berth(t, "run", "--rm", "heredoc"), "hello berth\nraw $WHO\n644\n"; out != want {
			t.Errorf("COPY heredoc: run = %q, want %q", out, want)
		}
	}
	out = mustOK(t, d.berthR(nil, "build", "--build-arg", "WHO=berth", "-t", "heredoc", dir), "cached COPY heredoc build")
	if strings.Count(out, "Using cache") < 3 {
		t.Errorf("COPY heredoc steps not cached:\n%s", out)
	}
	noBuildContainers(t, d)
}

// TestBuildClientGone: the CLI going away mid-RUN removes the intermediate container.
func TestBuildClientGone(t *testing.T) {
	d := startDaemon(t)
	d.importBusybox(t)
	dir := buildContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN echo started; sleep 600\n"})
	cmd := exec.Command(filepath.Join(binDir, "berth"), "-H", d.Host, "build", dir)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	var seen string
	for !strings.Contains(seen, "started\n") {
		n, err := stdout.Read(buf)
		if err != nil {
			t.Fatalf("build output ended early: %q %v", seen, err)
		}
		seen += string(buf[:n])
	}
	if out := strings.TrimSpace(d.berth(t, "ps", "-q")); out == "" {
		t.Fatal("no running build container")
	}
	cmd.Process.Kill()
	cmd.Wait()
	waitFor(t, 60*time.Second, "the build container to go", func() bool {
		return strings.TrimSpace(d.berth(t, "ps", "-aq")) == ""
	})
}

// TestBuildDockerfileFromStdin: -f - reads the Dockerfile from stdin, with the directory as the context.
func TestBuildDockerfileFromStdin(t *testing.T) {
	d := startDaemon(t)
	d.importBusybox(t)
	dir := buildContext(t, map[string]string{"msg.txt": "from the context\n"})
	for _, cli := range []string{"berth", "docker"} {
		build := d.berthR
		if cli == "docker" {
			build = d.dockerR
		}
		df := "FROM busybox\nCOPY msg.txt /\nCMD [\"cat\", \"/msg.txt\"]\n"
		if r := build(strings.NewReader(df), "build", "-t", "stdin-"+cli, "-f", "-", dir); r.Code != 0 {
			t.Fatalf("%s build -f -: %s", cli, r)
		}
		if out := d.berth(t, "run", "--rm", "stdin-"+cli); out != "from the context\n" {
			t.Errorf("%s: run = %q", cli, out)
		}
	}
}

// TestBuildBerthCLIAgainstDockerd: berth build against a real dockerd falls back from Berth's context manifests to
// the plain classic protocol, so large files still arrive.
func TestBuildBerthCLIAgainstDockerd(t *testing.T) {
	requireRoot(t)
	dockerd, err := exec.LookPath("dockerd")
	if err != nil {
		t.Fatal("dockerd is not installed (scripts/test.sh installs docker.io)")
	}
	d := startDaemon(t)
	real := startDockerd(t, d, dockerd, "--bridge", "none", "--iptables=false", "--ip6tables=false", "--ip-forward=false", "--ip-masq=false")
	if r := real(bytes.NewReader(busyboxTar(t)), "import", "-c", `CMD ["sh"]`, "-", "busybox:latest"); r.Code != 0 {
		t.Fatalf("docker import: %s", r)
	}
	dir := buildContext(t, map[string]string{
		"Dockerfile": "FROM busybox\nCOPY big.bin /big.bin\nCMD [\"wc\", \"-c\", \"/big.bin\"]\n",
		"big.bin":    strings.Repeat("0123456789abcdef", 1<<17), // 2 MiB: sent by digest to a Berth daemon
	})
	sock := "unix://" + filepath.Join(d.Root, "docker.sock")
	env := []string{"XDG_CACHE_HOME=" + t.TempDir()}
	for i := range 2 {
		r := run(t.Context(), nil, env, filepath.Join(binDir, "berth"), "-H", sock, "build", "--network", "none", "-t", "from-berth-cli", dir)
		if r.Code != 0 {
			t.Fatalf("berth build against dockerd (%d): %s", i, r)
		}
	}
	if r := real(nil, "run", "--rm", "--network", "none", "from-berth-cli"); r.Code != 0 || r.Stdout != "2097152 /big.bin\n" {
		t.Fatalf("docker run of the image berth built: %s", r)
	}
}

func everyInstruction(t *testing.T, d *Daemon, cli string, build func(io.Reader, ...string) result, dir string) {
	// --no-cache: the second CLI would otherwise get every step from the first one's build
	r := build(nil, "build", "--no-cache", "-t", "every:1", "-t", "every:2", "--build-arg", "GREETING=hi", "--label", "built.by=test", dir)
	if r.Code != 0 {
		t.Fatalf("%s build: %s", cli, r)
	}
	out := r.Stdout
	for _, want := range []string{"Step 1/21 : ARG BASE=busybox", "Step 2/21 : FROM --platform=linux/amd64 ${BASE}:latest AS base",
		" ---> Running in ", "Removing intermediate container ", "Successfully built ", "Step 21/21 : LABEL built.by=test", "Successfully tagged every:1", "Successfully tagged every:2"} {
		if !strings.Contains(out, want) {
			t.Errorf("build output lacks %q:\n%s", want, out)
		}
	}
	cfg := inspectConfig(t, d, "every:1")
	check := func(key, want string) {
		t.Helper()
		b, _ := json.Marshal(cfg[key])
		if string(b) != want {
			t.Errorf("Config.%s = %s, want %s", key, b, want)
		}
	}
	check("Env", `["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin","APP_HOME=/app","MODE=prod"]`)
	check("Labels", `{"built.by":"test","org.example.name":"demo","version":"1"}`)
	check("WorkingDir", `"/app"`)
	check("ExposedPorts", `{"8080/tcp":{},"9000/udp":{}}`)
	check("User", `"1000:1000"`)
	check("Volumes", `{"/data":{}}`)
	check("StopSignal", `"SIGINT"`)
	check("Healthcheck", `{"Interval":5000000000,"Test":["CMD-SHELL","true"],"Timeout":3000000000}`)
	check("OnBuild", `["RUN echo triggered $((6*7))"]`)
	check("Entrypoint", `["/bin/sh","-c"]`)
	check("Cmd", `["cat /app/greeting /app/exec /app/data/a.txt /unpacked/inside.txt"]`)
	check("Shell", `["/bin/sh","-c"]`)

	run := d.berth(t, "run", "--rm", "every:1")
	if run != "hi from prod\nexec-form\nfile a\nfrom the archive\n" {
		t.Errorf("run output = %q", run)
	}
	if pw := d.berth(t, "run", "--rm", "--entrypoint", "cat", "every:1", "/from-image/passwd"); !strings.HasPrefix(pw, "root:x:0:0:") {
		t.Errorf("COPY --from=image: %q", pw)
	}
	ls := d.berth(t, "run", "--rm", "--entrypoint", "ls", "every:1", "-ln", "/app/data")
	if !strings.Contains(ls, "-rw-r-----    1 1000     1000") || strings.Contains(ls, "c.md") || !strings.Contains(ls, "b.txt") {
		t.Errorf("COPY --chown --chmod with a glob: %s", ls)
	}

	hist := d.berth(t, "history", "--no-trunc", "--format", "{{.CreatedBy}}|{{.Size}}", "every:1")
	for _, re := range []string{
		`(?m)^/bin/sh -c #\(nop\)  CMD \["cat /app/greeting /app/exec /app/data/a.txt /unpacked/inside.txt"\]\|0B$`,
		`(?m)^\|1 GREETING=hi /bin/sh -c echo "\$GREETING from \$MODE" > /app/greeting &&     mkdir -p /data\|\d`,
		`(?m)^/bin/sh -c #\(nop\) COPY multi:[0-9a-f]{64} in ./data/ \|`,
		`(?m)^/bin/sh -c #\(nop\)  ENV APP_HOME=/app MODE=prod\|0B$`,
	} {
		if !regexp.MustCompile(re).MatchString(hist) {
			t.Errorf("history lacks %s:\n%s", re, hist)
		}
	}
}

// TestBuildPullsMissingBase builds FROM an image that is only in a registry: the build pulls it (and --pull pulls
// again), through both CLIs.
func TestBuildPullsMissingBase(t *testing.T) {
	d := startDaemon(t)
	d.importBusybox(t)
	reg, _ := startBerthRegistry(t, d)
	base := reg + "/base/busybox:1"
	d.berth(t, "tag", "busybox", base)
	mustOK(t, d.berthR(nil, "push", base), "push")
	d.berth(t, "rmi", base)

	dir := buildContext(t, map[string]string{"Dockerfile": "FROM " + base + "\nRUN echo built > /built\n"})
	out := mustOK(t, d.dockerR(nil, "build", "-t", "pulled:1", dir), "docker build")
	for _, want := range []string{"Step 1/2 : FROM " + base, "Pulling from base/busybox", "Status: Downloaded newer image for " + base, "Successfully tagged pulled:1"} {
		if !strings.Contains(out, want) {
			t.Errorf("build output lacks %q:\n%s", want, out)
		}
	}
	if got := d.berth(t, "run", "--rm", "pulled:1", "cat", "/built"); got != "built\n" {
		t.Fatalf("built image: %q", got)
	}
	if d.berth(t, "image", "inspect", "-f", "{{.ID}}", base) == "" {
		t.Fatal("the base image was not kept")
	}
	out = mustOK(t, d.berthR(nil, "build", "--pull", "-t", "pulled:2", dir), "berth build --pull")
	if !strings.Contains(out, "Status: Image is up to date for "+base) {
		t.Errorf("--pull did not ask the registry:\n%s", out)
	}

	// A base that is nowhere is the registry's error, and the build leaves nothing.
	bad := buildContext(t, map[string]string{"Dockerfile": "FROM " + reg + "/nowhere/x:1\nRUN true\n"})
	r := d.dockerR(nil, "build", "-t", "bad:1", bad)
	if r.Code == 0 || !strings.Contains(r.Stdout+r.Stderr, "not found") {
		t.Fatalf("missing base: %s", r)
	}
	noBuildContainers(t, d)
}

// TestBuildAddHost: --add-host entries reach RUN containers' /etc/hosts through both CLIs.
func TestBuildAddHost(t *testing.T) {
	d := startDaemon(t)
	d.importBusybox(t)
	dir := buildContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN grep -q '10.1.2.3[[:space:]]*buildhost' /etc/hosts\n"})
	for _, build := range []func(io.Reader, ...string) result{d.berthR, d.dockerR} {
		mustOK(t, build(nil, "build", "--no-cache", "--add-host", "buildhost:10.1.2.3", dir), "build --add-host")
		if r := build(nil, "build", "--no-cache", dir); r.Code == 0 {
			t.Fatalf("the RUN found buildhost without --add-host: %s", r)
		}
	}
	noBuildContainers(t, d)
}
