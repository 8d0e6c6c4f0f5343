package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moby/sys/mountinfo"
)

// TestKillThenRemove: docker kill returns once the container is dead, so the remove that scripts run right after
// it never meets a running container (before, 6 of 20 such removes failed with 409).
func TestKillThenRemove(t *testing.T) {
	d := startDaemon(t)
	d.importBusybox(t)
	for i := range 20 {
		name := fmt.Sprintf("k%d", i)
		d.docker(t, "run", "-d", "--name", name, "busybox", "sleep", "300")
		d.docker(t, "kill", name)
		if r := d.dockerR(nil, "rm", name); r.Code != 0 {
			t.Fatalf("rm right after kill, round %d: %s", i, r)
		}
	}
	// A kill with another signal returns once it is delivered; the container lives on.
	d.docker(t, "run", "-d", "--name", "hup", "busybox", "sh", "-c", "trap '' HUP; sleep 300")
	d.docker(t, "kill", "-s", "HUP", "hup")
	if st := strings.TrimSpace(d.docker(t, "inspect", "-f", "{{.State.Status}}", "hup")); st != "running" {
		t.Errorf("after SIGHUP: %s", st)
	}
	d.docker(t, "rm", "-f", "hup")
}

// TestSocketGroup: the API socket is mode 0660, root's and the group's given with -G (docker's default group is
// docker), so a user of that group can use the docker CLI without root and another user cannot; a group that
// does not exist is refused.
func TestSocketGroup(t *testing.T) {
	requireRoot(t)
	const group, member, stranger = "berthsock", "berthsockm", "berthsocks"
	for _, c := range [][]string{
		{"groupadd", "-f", group},
		{"useradd", "-M", "-N", "-g", group, member},
		{"useradd", "-M", "-N", stranger},
	} {
		if r := run(context.Background(), nil, nil, c[0], c[1:]...); r.Code != 0 && !strings.Contains(r.Stderr, "already exists") {
			t.Fatalf("%v: %s", c, r)
		}
	}
	t.Cleanup(func() {
		run(context.Background(), nil, nil, "userdel", member)
		run(context.Background(), nil, nil, "userdel", stranger)
		run(context.Background(), nil, nil, "groupdel", group)
	})
	d := startDaemonWith(t, "", "-G", group)
	st, err := os.Stat(d.Sock)
	if err != nil {
		t.Fatal(err)
	}
	g, _ := user.LookupGroup(group)
	if st.Mode().Perm() != 0o660 || fmt.Sprint(st.Sys().(*syscall.Stat_t).Gid) != g.Gid {
		t.Fatalf("socket mode %v gid %d, want 0660 and %s's %s", st.Mode().Perm(), st.Sys().(*syscall.Stat_t).Gid, group, g.Gid)
	}
	as := func(who string) result {
		u, err := user.Lookup(who)
		if err != nil {
			t.Fatal(err)
		}
		return run(context.Background(), nil, []string{"DOCKER_HOST=" + d.Host, "HOME=/tmp", "DOCKER_CONFIG=" + t.TempDir()},
			"setpriv", "--reuid="+u.Uid, "--regid="+u.Gid, "--init-groups", "docker", "version", "--format", "{{.Server.Version}}")
	}
	if r := as(member); r.Code != 0 || strings.TrimSpace(r.Stdout) == "" {
		t.Errorf("a member of %s: %s", group, r)
	}
	if r := as(stranger); r.Code == 0 || !strings.Contains(r.Stderr, "permission denied") {
		t.Errorf("a user outside %s: %s", group, r)
	}
}

// dockerPy runs a Python script with Debian's python3-docker (docker-py 5), the client scripts use, against d;
// the script's stdout is returned. scripts/test.sh installs python3-docker: its absence fails the test.
func dockerPy(t *testing.T, d *Daemon, script string) result {
	t.Helper()
	if r := run(context.Background(), nil, nil, "/usr/bin/python3", "-c", "import docker"); r.Code != 0 {
		t.Fatalf("python3-docker is missing (scripts/test.sh installs it): %s", r)
	}
	return run(context.Background(), strings.NewReader(script), []string{"DOCKER_HOST=" + d.Host}, "/usr/bin/python3", "-")
}

// TestPortBindingValidation: a host port out of range is refused at create with docker's 400 and words (it was
// accepted and then failed at start); a host port range binds the first free port of it, as docker's allocator.
func TestPortBindingValidation(t *testing.T) {
	d := startDaemon(t)
	d.importBusybox(t)
	r := dockerPy(t, d, `
import docker
c = docker.from_env()
try:
    c.containers.create("busybox", "true", ports={"80/tcp": 99999})
    print("created")
except docker.errors.APIError as e:
    print(e.status_code, e.explanation)
`)
	if got := strings.TrimSpace(r.Stdout); got != `400 invalid port specification: "99999"` {
		t.Errorf("HostPort 99999: %q (%s)", got, r)
	}
	base := freePort(t)
	out := d.docker(t, "run", "-d", "-p", fmt.Sprintf("%d-%d:80", base, base+2), "busybox", "sleep", "300")
	id := strings.TrimSpace(out)
	defer d.docker(t, "rm", "-f", id)
	if got := strings.TrimSpace(d.docker(t, "port", id, "80")); !strings.HasSuffix(got, fmt.Sprintf(":%d", base)) {
		t.Errorf("range binding: %q, want port %d", got, base)
	}
}

// TestHugeConfigRefused: a 20 MB label is refused with a 400 that says why, and nothing is created (a 100 MB one
// used to be kept and served with every listing).
func TestHugeConfigRefused(t *testing.T) {
	d := startDaemon(t)
	d.importBusybox(t)
	r := dockerPy(t, d, `
import docker
c = docker.from_env()
try:
    c.containers.create("busybox", "true", labels={"big": "x" * (20 << 20)})
    print("created")
except docker.errors.APIError as e:
    print(e.status_code, e.explanation)
print(len(c.containers.list(all=True)))
`)
	if got := strings.Fields(r.Stdout); len(got) < 2 || got[0] != "400" || !strings.Contains(r.Stdout, "request body too large") || got[len(got)-1] != "0" {
		t.Errorf("a 20 MB label: %s", r)
	}
}

// TestOOMKilled: a container the kernel kills for memory says so (State.OOMKilled, exit 137) and an oom event
// precedes its die event, as docker reports them; docker-py reads the same.
func TestOOMKilled(t *testing.T) {
	d := startDaemon(t)
	d.importBusybox(t)
	since := time.Now().Add(-time.Second).Format(time.RFC3339Nano)
	r := d.dockerR(nil, "run", "--name", "hog", "--memory", "8m", "busybox", "sh", "-c", `x=$(head -c 200000000 /dev/zero | tr '\0' a); echo survived`)
	if r.Code != 137 || strings.Contains(r.Stdout, "survived") {
		t.Fatalf("a container over its memory limit: %s", r)
	}
	if got := strings.TrimSpace(d.docker(t, "inspect", "-f", "{{.State.OOMKilled}} {{.State.ExitCode}}", "hog")); got != "true 137" {
		t.Errorf("inspect: %q, want \"true 137\"", got)
	}
	evs := d.docker(t, "events", "--since", since, "--until", time.Now().Format(time.RFC3339Nano), "--filter", "container=hog", "--format", "{{.Action}}")
	acts := strings.Fields(evs)
	oom, die := slices.Index(acts, "oom"), slices.Index(acts, "die")
	if oom < 0 || die < 0 || oom > die {
		t.Errorf("events %v: want oom before die", acts)
	}
	// A container that stays within its limit is not marked.
	d.docker(t, "run", "--name", "fine", "--memory", "64m", "busybox", "true")
	if got := strings.TrimSpace(d.docker(t, "inspect", "-f", "{{.State.OOMKilled}}", "fine")); got != "false" {
		t.Errorf("fine: OOMKilled %s", got)
	}
	py := dockerPy(t, d, `
import docker
print(docker.from_env().containers.get("hog").attrs["State"]["OOMKilled"])
`)
	if strings.TrimSpace(py.Stdout) != "True" {
		t.Errorf("docker-py: %s", py)
	}
}

// TestHostGateway: --add-host NAME:host-gateway maps NAME to the host's address on the default bridge (it was
// 127.0.0.1, the container's own loopback), so host.docker.internal reaches a server on the host; daemon.json
// host-gateway-ip overrides it.
func TestHostGateway(t *testing.T) {
	d := startDaemon(t)
	d.importBusybox(t)
	gw := strings.TrimSpace(d.docker(t, "network", "inspect", "-f", "{{range .IPAM.Config}}{{.Gateway}}{{end}}", "bridge"))
	if net.ParseIP(gw) == nil {
		t.Fatalf("bridge gateway %q", gw)
	}
	l, err := net.Listen("tcp", net.JoinHostPort(gw, "0"))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello from the host") })}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	port := l.Addr().(*net.TCPAddr).Port
	out := d.docker(t, "run", "--rm", "--add-host", "host.docker.internal:host-gateway", "busybox", "sh", "-c",
		fmt.Sprintf("grep host.docker.internal /etc/hosts; wget -qO- http://host.docker.internal:%d/", port))
	if !strings.Contains(out, gw+"\thost.docker.internal") || !strings.Contains(out, "hello from the host") {
		t.Errorf("host-gateway: %q (gateway %s)", out, gw)
	}

	d2 := startDaemonWith(t, `{"host-gateway-ip": "192.0.2.7"}`)
	d2.importBusybox(t)
	if out := d2.docker(t, "run", "--rm", "--add-host", "gw:host-gateway", "busybox", "grep", "gw", "/etc/hosts"); strings.TrimSpace(out) != "192.0.2.7\tgw" {
		t.Errorf("host-gateway-ip: %q", out)
	}
}

// TestStopLeavesNoNetnsMount: a daemon stopped with no container left leaves no bind mount of
// <exec-root>/netns behind; one stopped while a container runs keeps it, for the container's namespace.
func TestStopLeavesNoNetnsMount(t *testing.T) {
	d := startDaemon(t)
	d.importBusybox(t)
	dir := filepath.Join(d.ExecRoot, "netns")
	mounted := func() bool {
		ok, err := mountinfo.Mounted(dir)
		return err == nil && ok
	}
	d.docker(t, "run", "-d", "--name", "keep", "busybox", "sleep", "300")
	if !mounted() {
		t.Fatalf("%s is not a mount while a container runs", dir)
	}
	d.stopDaemon()
	if !mounted() {
		t.Fatalf("stopping the daemon took %s from a running container", dir)
	}
	d.start()
	d.docker(t, "rm", "-f", "keep")
	d.stopDaemon()
	if mounted() {
		t.Errorf("%s is still mounted after the daemon stopped with no container", dir)
	}
	d.start() // the harness's cleanup stops it again
}

// TestInspectLegacyNetworkFields: docker inspect -f '{{.NetworkSettings.IPAddress}}' prints the default bridge
// address and docker-py's attrs["NetworkSettings"]["IPAddress"] exists (it raised KeyError), as with dockerd's
// API up to 1.51.
func TestInspectLegacyNetworkFields(t *testing.T) {
	d := startDaemon(t)
	d.importBusybox(t)
	d.docker(t, "run", "-d", "--name", "web", "busybox", "sleep", "300")
	ip := strings.TrimSpace(d.docker(t, "inspect", "-f", "{{.NetworkSettings.IPAddress}}", "web"))
	want := strings.TrimSpace(d.docker(t, "inspect", "-f", "{{.NetworkSettings.Networks.bridge.IPAddress}}", "web"))
	if ip == "" || ip != want {
		t.Errorf("NetworkSettings.IPAddress %q, want the bridge endpoint's %q", ip, want)
	}
	r := dockerPy(t, d, `
import docker
ns = docker.from_env().containers.get("web").attrs["NetworkSettings"]
print(ns["IPAddress"], ns["Gateway"], ns["MacAddress"] != "", ns["SandboxKey"] != "")
`)
	if f := strings.Fields(r.Stdout); len(f) != 4 || f[0] != want || net.ParseIP(f[1]) == nil || f[2] != "True" || f[3] != "True" {
		t.Errorf("docker-py: %s", r)
	}
}

// TestStatsNetIO: docker stats shows a container's network traffic (NET I/O was always 0B / 0B).
func TestStatsNetIO(t *testing.T) {
	d := startDaemon(t)
	d.importBusybox(t)
	gw := strings.TrimSpace(d.docker(t, "network", "inspect", "-f", "{{range .IPAM.Config}}{{.Gateway}}{{end}}", "bridge"))
	d.docker(t, "run", "-d", "--name", "talker", "busybox", "sh", "-c", "ping -c 20 -s 1000 -i 0.01 "+gw+"; sleep 300")
	waitFor(t, 10*time.Second, "the pings", func() bool { return strings.Contains(d.docker(t, "logs", "talker"), "packets transmitted") })
	io := strings.TrimSpace(d.docker(t, "stats", "--no-stream", "--format", "{{.NetIO}}", "talker"))
	in, out, ok := strings.Cut(io, " / ")
	if !ok || strings.HasPrefix(in, "0B") || strings.HasPrefix(out, "0B") {
		t.Errorf("NET I/O %q after 20 kB of pings", io)
	}
	r := dockerPy(t, d, `
import docker
s = docker.from_env().containers.get("talker").stats(stream=False)
print(s["networks"]["eth0"]["tx_bytes"] > 20000, s["networks"]["eth0"]["rx_bytes"] > 20000)
`)
	if strings.TrimSpace(r.Stdout) != "True True" {
		t.Errorf("docker-py stats networks: %s", r)
	}
}

// TestGPUsAndPlatformRefused: --gpus fails as on a docker host without a GPU driver, and an image of another
// platform than --platform asks for is refused (no emulation) — both leave no container behind.
func TestGPUsAndPlatformRefused(t *testing.T) {
	d := startDaemon(t)
	d.importBusybox(t)
	r := d.dockerR(nil, "run", "--rm", "--gpus", "all", "busybox", "true")
	if r.Code != 125 || !strings.Contains(r.Stderr, `could not select device driver "" with capabilities: [[gpu]]`) {
		t.Errorf("--gpus all: %s", r)
	}
	other := "linux/arm64"
	if goruntime.GOARCH == "arm64" {
		other = "linux/amd64"
	}
	// --pull never: the CLI shows the daemon's refusal instead of trying a pull (this machine reaches no
	// registry).
	r = d.dockerR(nil, "create", "--pull", "never", "--platform", other, "busybox", "true")
	if r.Code == 0 || !strings.Contains(r.Stderr, "image with reference busybox was found but its platform (linux/") ||
		!strings.Contains(r.Stderr, "does not match the specified platform ("+other+")") {
		t.Errorf("create --platform %s: %s", other, r)
	}
	if ids := strings.TrimSpace(d.docker(t, "ps", "-aq")); ids != "" {
		t.Errorf("containers left: %s", ids)
	}
	// The platform the image has is fine.
	d.docker(t, "run", "--rm", "--platform", "linux/"+goruntime.GOARCH, "busybox", "true")
}

// TestSystemDFShared: docker system df -v shows each image's SHARED SIZE and UNIQUE SIZE (they were N/A), and
// the images' total counts a layer two images share once.
func TestSystemDFShared(t *testing.T) {
	d := startDaemon(t)
	d.importBusybox(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM busybox\nRUN head -c 300000 /dev/urandom > /blob\n"), 0o644)
	d.docker(t, "build", "-q", "-t", "derived", dir)
	out := d.docker(t, "system", "df", "-v", "--format", "{{range .Images}}{{.Repository}} {{.SharedSize}} {{.UniqueSize}} {{.Size}}\n{{end}}")
	rows := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 4 {
			rows[f[0]] = f[1:]
		}
	}
	bb, der := rows["busybox"], rows["derived"]
	if bb == nil || der == nil || strings.Contains(out, "N/A") {
		t.Fatalf("system df -v:\n%s", out)
	}
	// busybox's one layer is shared with derived: all of busybox is shared, derived's own layer is unique.
	if bb[0] == "0B" || bb[1] != "0B" || der[0] != bb[0] || der[1] == "0B" {
		t.Errorf("shared/unique sizes: busybox %v, derived %v", bb, der)
	}
}
