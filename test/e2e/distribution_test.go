package e2e

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// freeAddr returns 127.0.0.1:<a port free right now>.
func freeAddr(t *testing.T) string {
	t.Helper()
	return fmt.Sprintf("127.0.0.1:%d", freePort(t))
}

// waitRegistry waits until addr answers GET /v2/ (any status).
func waitRegistry(t *testing.T, addr string) {
	t.Helper()
	waitFor(t, 20*time.Second, "registry at "+addr, func() bool {
		resp, err := http.Get("http://" + addr + "/v2/")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return true
	})
}

// startBerthRegistry runs `berth registry serve` on a free loopback port and returns its address and a function
// that stops it (before the end of the test).
func startBerthRegistry(t *testing.T, d *Daemon, extra ...string) (string, func()) {
	t.Helper()
	addr := freeAddr(t)
	root := filepath.Join(d.Root, "registry-"+strings.ReplaceAll(addr, ":", "-"))
	stop := startProcess(t, d.Root, "berth-registry", 10*time.Second, append([]string{filepath.Join(binDir, "berth"), "registry", "serve", "--addr", addr, "--root", root}, extra...)...)
	waitRegistry(t, addr)
	return addr, stop
}

// startReferenceRegistry runs Debian's docker-registry (the CNCF distribution registry) with filesystem storage
// in a temp dir, and returns its address and storage root.
func startReferenceRegistry(t *testing.T, d *Daemon) (string, string) {
	t.Helper()
	if _, err := exec.LookPath("docker-registry"); err != nil {
		t.Skip("docker-registry is not installed")
	}
	addr := freeAddr(t)
	storage := filepath.Join(d.Root, "refreg")
	cfg := fmt.Sprintf("version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\nhttp:\n  addr: %s\n", storage, addr)
	cfgPath := filepath.Join(d.Root, "refreg.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	startProcess(t, d.Root, "docker-registry", 10*time.Second, "docker-registry", "serve", cfgPath)
	waitRegistry(t, addr)
	return addr, storage
}

// berthC runs the berth CLI with the same credentials file as the test's docker CLI.
func (d *Daemon) berthC(stdin io.Reader, args ...string) result {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return run(ctx, stdin, []string{"DOCKER_CONFIG=" + filepath.Join(d.Root, "docker-config")}, filepath.Join(binDir, "berth"), append([]string{"-H", d.Host}, args...)...)
}

func mustOK(t *testing.T, r result, what string) string {
	t.Helper()
	if r.Code != 0 {
		t.Fatalf("%s: %s", what, r)
	}
	return r.Stdout + r.Stderr
}

func inspectImage(t *testing.T, d *Daemon, ref string) map[string]any {
	t.Helper()
	var out []map[string]any
	if err := json.Unmarshal([]byte(d.docker(t, "image", "inspect", ref)), &out); err != nil || len(out) != 1 {
		t.Fatalf("inspect %s: %v", ref, err)
	}
	return out[0]
}

// TestDistributionBerthRegistry: the docker CLI pushes to and pulls from `berth registry serve` through Berth:
// progress messages, RepoDigests, layer skipping and cross-repository mounts, run pulling a missing image.
func TestDistributionBerthRegistry(t *testing.T) {
	d := startDaemonWith(t, "", "--bridge", "none")
	d.importBusybox(t)
	reg, _ := startBerthRegistry(t, d)
	repo := reg + "/team/busybox"

	d.docker(t, "tag", "busybox", repo+":v1")
	out := mustOK(t, d.dockerR(nil, "push", repo+":v1"), "push")
	for _, want := range []string{"The push refers to repository [" + repo + "]", ": Pushed", "v1: digest: sha256:", " size: "} {
		if !strings.Contains(out, want) {
			t.Errorf("push output lacks %q:\n%s", want, out)
		}
	}
	digest := out[strings.Index(out, "digest: ")+8:]
	digest = digest[:strings.IndexByte(digest, ' ')]

	// Pushing again skips the layer the registry has.
	out = mustOK(t, d.dockerR(nil, "push", repo+":v1"), "push again")
	if !strings.Contains(out, ": Layer already exists") || strings.Contains(out, ": Pushed") {
		t.Errorf("second push:\n%s", out)
	}
	// Another repository of the same registry mounts it.
	d.docker(t, "tag", "busybox", reg+"/other/bb:v2")
	out = mustOK(t, d.dockerR(nil, "push", reg+"/other/bb:v2"), "push other")
	if !strings.Contains(out, ": Mounted from team/busybox") {
		t.Errorf("push to another repository did not mount:\n%s", out)
	}

	// Pull into an empty store.
	d.docker(t, "rmi", "busybox", repo+":v1", reg+"/other/bb:v2")
	out = mustOK(t, d.dockerR(nil, "pull", repo+":v1"), "pull")
	for _, want := range []string{"v1: Pulling from team/busybox", ": Pulling fs layer", ": Download complete", ": Pull complete",
		"Digest: " + digest, "Status: Downloaded newer image for " + repo + ":v1", repo + ":v1"} {
		if !strings.Contains(out, want) {
			t.Errorf("pull output lacks %q:\n%s", want, out)
		}
	}
	img := inspectImage(t, d, repo+":v1")
	if rd := fmt.Sprint(img["RepoDigests"]); !strings.Contains(rd, repo+"@"+digest) {
		t.Errorf("RepoDigests = %s, want %s@%s", rd, repo, digest)
	}
	if out := d.docker(t, "images", "--digests", "--format", "{{.Repository}} {{.Tag}} {{.Digest}}", repo); !strings.Contains(out, repo+" v1 "+digest) {
		t.Errorf("images --digests: %q", out)
	}
	out = mustOK(t, d.dockerR(nil, "pull", repo+":v1"), "pull again")
	if !strings.Contains(out, ": Already exists") || !strings.Contains(out, "Status: Image is up to date for "+repo+":v1") {
		t.Errorf("second pull:\n%s", out)
	}
	// By digest, verified.
	out = mustOK(t, d.dockerR(nil, "pull", repo+"@"+digest), "pull by digest")
	if !strings.Contains(out, "Digest: "+digest) {
		t.Errorf("pull by digest:\n%s", out)
	}

	// Errors as docker words them.
	r := d.dockerR(nil, "pull", repo+":nope")
	if r.Code == 0 || !strings.Contains(r.Stderr, "Error response from daemon: manifest for "+repo+":nope not found: manifest unknown") {
		t.Errorf("pull of a missing tag: %s", r)
	}
	r = d.dockerR(nil, "push", reg+"/not/here:v9")
	if r.Code == 0 || !strings.Contains(r.Stderr, "An image does not exist locally with the tag: "+reg+"/not/here") {
		t.Errorf("push of a missing tag: %s", r)
	}

	// run pulls a missing image (the docker CLI does it on the daemon's "No such image"), and so does berth's.
	d.docker(t, "rmi", repo+":v1")
	r = d.dockerR(nil, "run", "--rm", repo+":v1", "echo", "hello from the registry")
	if r.Code != 0 || !strings.Contains(r.Stderr, "Unable to find image '"+repo+":v1' locally") || !strings.Contains(r.Stdout, "hello from the registry") {
		t.Errorf("docker run of a missing image: %s", r)
	}
	d.docker(t, "rmi", repo+":v1")
	r = d.berthC(nil, "run", "--rm", repo+":v1", "echo", "berth pulled it")
	if r.Code != 0 || !strings.Contains(r.Stdout, "berth pulled it") || !strings.Contains(r.Stderr, "Pull complete") {
		t.Errorf("berth run of a missing image: %s", r)
	}
	r = d.berthC(nil, "run", "--rm", "--pull", "never", reg+"/other/bb:v2", "true")
	if r.Code == 0 || !strings.Contains(r.Stderr, "No such image") {
		t.Errorf("run --pull never: %s", r)
	}
	r = d.berthC(nil, "pull", "-q", reg+"/other/bb:v2")
	if r.Code != 0 || strings.TrimSpace(r.Stdout) != reg+"/other/bb:v2" {
		t.Errorf("berth pull -q: %s", r)
	}
}

// TestDistributionReferenceRegistry: Berth against Debian's docker-registry, and skopeo copying images out of
// and into it.
func TestDistributionReferenceRegistry(t *testing.T) {
	d := startDaemonWith(t, "", "--bridge", "none")
	d.importBusybox(t)
	reg, _ := startReferenceRegistry(t, d)
	repo := reg + "/lib/busybox"
	d.docker(t, "tag", "busybox", repo+":1")
	mustOK(t, d.dockerR(nil, "push", repo+":1"), "push")

	// skopeo reads what Berth pushed.
	if _, err := exec.LookPath("skopeo"); err != nil {
		t.Skip("skopeo is not installed")
	}
	oci := filepath.Join(d.Root, "oci")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r := run(ctx, nil, nil, "skopeo", "copy", "--src-tls-verify=false", "docker://"+repo+":1", "oci:"+oci+":v1")
	mustOK(t, r, "skopeo copy out")
	if _, err := os.Stat(filepath.Join(oci, "index.json")); err != nil {
		t.Fatal(err)
	}
	// skopeo writes an image into the registry (OCI manifest now), Berth pulls and runs it.
	r = run(ctx, nil, nil, "skopeo", "copy", "--dest-tls-verify=false", "oci:"+oci+":v1", "docker://"+reg+"/from/skopeo:v1")
	mustOK(t, r, "skopeo copy in")
	out := mustOK(t, d.dockerR(nil, "pull", reg+"/from/skopeo:v1"), "pull skopeo's image")
	if !strings.Contains(out, "Status: Downloaded newer image for "+reg+"/from/skopeo:v1") {
		t.Errorf("pull:\n%s", out)
	}
	if out := d.docker(t, "run", "--rm", reg+"/from/skopeo:v1", "echo", "ok"); strings.TrimSpace(out) != "ok" {
		t.Errorf("run: %q", out)
	}
	// And pushes it back under a new name (its layers are known to be in this registry: mounted).
	d.docker(t, "tag", reg+"/from/skopeo:v1", reg+"/again/bb:v1")
	out = mustOK(t, d.dockerR(nil, "push", reg+"/again/bb:v1"), "push again")
	if !strings.Contains(out, "Mounted from") {
		t.Errorf("push of a pulled image did not mount:\n%s", out)
	}
}

// TestDistributionMirror: `docker pull alpine` goes to the --registry-mirror (a local registry holding
// library/alpine) instead of the unreachable docker.io.
func TestDistributionMirror(t *testing.T) {
	src := startDaemonWith(t, "", "--bridge", "none")
	src.importBusybox(t)
	reg, _ := startBerthRegistry(t, src)
	src.docker(t, "tag", "busybox", reg+"/library/alpine:latest")
	mustOK(t, src.dockerR(nil, "push", reg+"/library/alpine:latest"), "push alpine")

	d := startDaemonWith(t, `{"registry-mirrors": ["http://`+reg+`"]}`, "--bridge", "none")
	if out := d.docker(t, "info", "--format", "{{json .RegistryConfig.Mirrors}}"); !strings.Contains(out, "http://"+reg+"/") {
		t.Errorf("info mirrors: %s", out)
	}
	out := mustOK(t, d.dockerR(nil, "pull", "alpine"), "pull alpine")
	if !strings.Contains(out, "latest: Pulling from library/alpine") || !strings.Contains(out, "Status: Downloaded newer image for alpine:latest") ||
		!strings.Contains(out, "docker.io/library/alpine:latest") {
		t.Errorf("pull through mirror:\n%s", out)
	}
	if out := d.docker(t, "images", "--format", "{{.Repository}}:{{.Tag}}"); !strings.Contains(out, "alpine:latest") {
		t.Errorf("images: %q", out)
	}
	// A name the mirror lacks falls back to docker.io, which is unreachable here: an error, not a hang.
	if r := d.dockerR(nil, "pull", "nosuchimage-berth"); r.Code == 0 {
		t.Errorf("pull of an image the mirror lacks succeeded: %s", r)
	}
}

// TestDistributionProxyMirror: Berth's engine uses `berth registry serve --proxy-remote-url` as its docker.io
// mirror; the image comes from the upstream through the cache, and pulling it again works once the upstream is
// gone.
func TestDistributionProxyMirror(t *testing.T) {
	src := startDaemonWith(t, "", "--bridge", "none")
	src.importBusybox(t)
	upstream, stop := startBerthRegistry(t, src)
	src.docker(t, "tag", "busybox", upstream+"/library/alpine:3")
	mustOK(t, src.dockerR(nil, "push", upstream+"/library/alpine:3"), "push to upstream")
	proxy, _ := startBerthRegistry(t, src, "--proxy-remote-url", "http://"+upstream)

	d := startDaemonWith(t, `{"registry-mirrors": ["http://`+proxy+`"]}`, "--bridge", "none")
	out := mustOK(t, d.dockerR(nil, "pull", "alpine:3"), "pull through the proxy mirror")
	if !strings.Contains(out, "Status: Downloaded newer image for alpine:3") {
		t.Errorf("pull:\n%s", out)
	}
	if got := d.docker(t, "run", "--rm", "alpine:3", "echo", "via proxy"); got != "via proxy\n" {
		t.Fatalf("run: %q", got)
	}
	stop()
	d.docker(t, "rmi", "alpine:3")
	mustOK(t, d.dockerR(nil, "pull", "alpine:3"), "pull from the proxy's cache with the upstream gone")
}

// TestDistributionTamperedBlob: a layer whose bytes changed in the registry is refused and nothing is left.
func TestDistributionTamperedBlob(t *testing.T) {
	d := startDaemonWith(t, "", "--bridge", "none")
	d.importBusybox(t)
	reg, storage := startReferenceRegistry(t, d)
	repo := reg + "/t/bb"
	d.docker(t, "tag", "busybox", repo+":1")
	mustOK(t, d.dockerR(nil, "push", repo+":1"), "push")
	d.docker(t, "rmi", "busybox", repo+":1")

	// Replace the biggest blob (the layer) with other bytes of the same size.
	var layer string
	var size int64
	filepath.Walk(filepath.Join(storage, "docker/registry/v2/blobs"), func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() && fi.Size() > size {
			layer, size = p, fi.Size()
		}
		return nil
	})
	if layer == "" {
		t.Fatal("no blob found in the registry's storage")
	}
	b, err := os.ReadFile(layer)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(layer, b, 0o644); err != nil {
		t.Fatal(err)
	}
	r := d.dockerR(nil, "pull", repo+":1")
	if r.Code == 0 || !strings.Contains(r.Stderr, "filesystem layer verification failed for digest sha256:") {
		t.Errorf("pull of a tampered layer: %s", r)
	}
	if out := d.docker(t, "images", "-a", "-q"); strings.TrimSpace(out) != "" {
		t.Errorf("images after a refused pull: %q", out)
	}
	for _, dir := range []string{"overlay/layers", "image/downloads"} {
		if des, _ := os.ReadDir(filepath.Join(d.DataRoot, dir)); len(des) != 0 {
			t.Errorf("%s not empty after a refused pull: %d entries", dir, len(des))
		}
	}
}

// TestDistributionAuth: a registry with htpasswd: wrong credentials give docker's errors; login then push works,
// and the credentials land in config.json where both CLIs read them.
func TestDistributionAuth(t *testing.T) {
	d := startDaemonWith(t, "", "--bridge", "none")
	d.importBusybox(t)
	htpasswd := writeHtpasswd(t, d.Root, "alice", "s3cret")
	reg, _ := startBerthRegistry(t, d, "--htpasswd", htpasswd)
	repo := reg + "/alice/bb"
	d.docker(t, "tag", "busybox", repo+":1")

	r := d.dockerR(nil, "push", repo+":1")
	if r.Code == 0 || !strings.Contains(r.Stderr, "unauthorized: authentication required") {
		t.Errorf("anonymous push: %s", r)
	}
	r = d.dockerR(strings.NewReader("wrong\n"), "login", "-u", "alice", "--password-stdin", reg)
	if r.Code == 0 || !strings.Contains(r.Stderr, "Error response from daemon: login attempt to http://"+reg+"/v2/ failed with status: 401 Unauthorized") {
		t.Errorf("login with a wrong password: %s", r)
	}
	r = d.berthC(strings.NewReader("wrong\n"), "login", "-u", "alice", "--password-stdin", reg)
	if r.Code == 0 || !strings.Contains(r.Stderr, "401 Unauthorized") {
		t.Errorf("berth login with a wrong password: %s", r)
	}
	r = d.berthC(strings.NewReader("s3cret\n"), "login", "-u", "alice", "--password-stdin", reg)
	if r.Code != 0 || !strings.Contains(r.Stdout, "Login Succeeded") {
		t.Fatalf("berth login: %s", r)
	}
	cfg, err := os.ReadFile(filepath.Join(d.Root, "docker-config", "config.json"))
	if err != nil || !bytes.Contains(cfg, []byte(`"`+reg+`"`)) || !bytes.Contains(cfg, []byte(`"auth"`)) {
		t.Fatalf("config.json after login: %s %v", cfg, err)
	}
	// The docker CLI reads the credentials berth stored.
	mustOK(t, d.dockerR(nil, "push", repo+":1"), "docker push after berth login")
	d.docker(t, "rmi", repo+":1")
	mustOK(t, d.berthC(nil, "pull", repo+":1"), "berth pull with credentials")
	r = d.berthC(nil, "logout", reg)
	if r.Code != 0 || !strings.Contains(r.Stdout, "Removing login credentials for "+reg) {
		t.Errorf("logout: %s", r)
	}
	d.docker(t, "rmi", repo+":1")
	r = d.berthC(nil, "pull", repo+":1")
	if r.Code == 0 || !strings.Contains(r.Stderr, "unauthorized: authentication required") {
		t.Errorf("anonymous pull: %s", r)
	}
	// docker login works too.
	r = d.dockerR(strings.NewReader("s3cret\n"), "login", "-u", "alice", "--password-stdin", reg)
	if r.Code != 0 || !strings.Contains(r.Stdout, "Login Succeeded") {
		t.Errorf("docker login: %s", r)
	}
	// search uses the registry's catalog.
	r = d.dockerR(nil, "search", reg+"/alice")
	if r.Code != 0 || !strings.Contains(r.Stdout, "alice/bb") {
		t.Errorf("search: %s", r)
	}
}

// hostIP returns a non-loopback IPv4 address of this host, or "" when there is none.
func hostIP() string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return ""
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil && !ipn.IP.IsLoopback() && !ipn.IP.IsLinkLocalUnicast() {
			return ipn.IP.String()
		}
	}
	return ""
}

// TestDistributionInsecureRegistry: a plain-HTTP registry on a non-loopback address is refused (HTTPS only) until
// it is listed with --insecure-registry.
func TestDistributionInsecureRegistry(t *testing.T) {
	ip := hostIP()
	if ip == "" {
		t.Skip("no non-loopback IPv4 address")
	}
	src := startDaemonWith(t, "", "--bridge", "none")
	src.importBusybox(t)
	l, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	startProcess(t, src.Root, "berth-registry", 10*time.Second, filepath.Join(binDir, "berth"), "registry", "serve", "--addr", addr, "--root", filepath.Join(src.Root, "reg"))
	waitRegistry(t, addr)

	src.docker(t, "tag", "busybox", addr+"/i/bb:1")
	r := src.dockerR(nil, "push", addr+"/i/bb:1")
	if r.Code == 0 || !strings.Contains(r.Stderr, "http: server gave HTTP response to HTTPS client") {
		t.Errorf("push to an HTTP registry not marked insecure: %s", r)
	}

	d := startDaemonWith(t, "", "--bridge", "none", "--insecure-registry", addr)
	d.importBusybox(t)
	d.docker(t, "tag", "busybox", addr+"/i/bb:1")
	mustOK(t, d.dockerR(nil, "push", addr+"/i/bb:1"), "push to an insecure registry")
	if out := d.docker(t, "info", "--format", "{{json .RegistryConfig.IndexConfigs}}"); !strings.Contains(out, `"`+addr+`":{"Name":"`+addr+`","Mirrors":[],"Secure":false`) {
		t.Errorf("info IndexConfigs: %s", out)
	}
	d.docker(t, "rmi", addr+"/i/bb:1", "busybox")
	mustOK(t, d.dockerR(nil, "pull", addr+"/i/bb:1"), "pull from an insecure registry")
}

// cuttingProxy forwards TCP connections to target and, while budget is positive, closes a connection once it has
// sent budget bytes back to the client: a network failure in the middle of a blob.
type cuttingProxy struct {
	l      net.Listener
	target string
	mu     sync.Mutex
	budget int64 // bytes per connection before cutting it; 0 = never cut
	// stall, when set, holds a connection that used up its budget open until the channel is closed.
	stall chan struct{}
}

func startCuttingProxy(t *testing.T, target string) *cuttingProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cuttingProxy{l: l, target: target}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go p.serve(c)
		}
	}()
	return p
}

func (p *cuttingProxy) setBudget(n int64) {
	p.mu.Lock()
	p.budget = n
	p.mu.Unlock()
}

func (p *cuttingProxy) serve(c net.Conn) {
	defer c.Close()
	u, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	defer u.Close()
	go io.Copy(u, c)
	p.mu.Lock()
	budget := p.budget
	p.mu.Unlock()
	if budget > 0 {
		io.CopyN(c, u, budget)
		p.mu.Lock()
		stall := p.stall
		p.mu.Unlock()
		if stall != nil {
			<-stall
		}
		return
	}
	io.Copy(c, u)
}

// pushRandomLayer pushes ref, an image of one 24 MiB layer of random bytes, and removes it locally, so that the
// next pull downloads it.
func pushRandomLayer(t *testing.T, d *Daemon, ref string) {
	t.Helper()
	big := make([]byte, 24<<20)
	if _, err := io.ReadFull(rand.Reader, big); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "random.bin", Mode: 0o644, Size: int64(len(big)), Typeflag: tar.TypeReg})
	tw.Write(big)
	tw.Close()
	mustOK(t, d.berthR(&buf, "import", "-", ref), "import")
	mustOK(t, d.dockerR(nil, "push", ref), "push")
	d.docker(t, "rmi", ref)
}

// TestDistributionInterruptedPullResumes: a pull cut by a network failure leaves no image, keeps what it
// received, and the next pull asks only for the rest (Range) and completes.
func TestDistributionInterruptedPullResumes(t *testing.T) {
	d := startDaemonWith(t, "", "--bridge", "none")
	reg, _ := startReferenceRegistry(t, d)
	proxy := startCuttingProxy(t, reg)
	via := proxy.l.Addr().String()

	pushRandomLayer(t, d, via+"/big/random:1")

	proxy.setBudget(8 << 20)
	r := d.dockerR(nil, "pull", via+"/big/random:1")
	if r.Code == 0 {
		t.Fatalf("pull through a cutting proxy succeeded: %s", r)
	}
	if out := d.docker(t, "images", "-a", "-q"); strings.TrimSpace(out) != "" {
		t.Errorf("images after an interrupted pull: %q", out)
	}
	des, _ := os.ReadDir(filepath.Join(d.DataRoot, "image", "downloads"))
	if len(des) != 1 {
		t.Fatalf("downloads after an interrupted pull: %d files", len(des))
	}
	if fi, _ := des[0].Info(); fi == nil || fi.Size() == 0 {
		t.Fatalf("partial download is empty")
	}

	proxy.setBudget(0)
	out := mustOK(t, d.dockerR(nil, "pull", via+"/big/random:1"), "pull again")
	if !strings.Contains(out, "Pull complete") {
		t.Errorf("second pull:\n%s", out)
	}
	if !strings.Contains(d.log(), "image: resuming download") {
		t.Error("the second pull did not resume the partial download")
	}
	if des, _ := os.ReadDir(filepath.Join(d.DataRoot, "image", "downloads")); len(des) != 0 {
		t.Errorf("downloads after a completed pull: %d files", len(des))
	}
}

// TestDistributionTokenAuth: docker's bearer-token flow against `berth registry serve --token-realm`: login
// fetches a token with the credentials, push and pull carry scoped tokens, and anonymous access is refused.
func TestDistributionTokenAuth(t *testing.T) {
	d := startDaemonWith(t, "", "--bridge", "none")
	d.importBusybox(t)
	htpasswd := writeHtpasswd(t, d.Root, "bob", "s3cret")
	addr := freeAddr(t)
	startProcess(t, d.Root, "token-registry", 10*time.Second, filepath.Join(binDir, "berth"), "registry", "serve", "--addr", addr,
		"--root", filepath.Join(d.Root, "token-reg"), "--htpasswd", htpasswd, "--token-realm", "http://"+addr+"/token")
	waitRegistry(t, addr)
	repo := addr + "/bob/bb"
	d.docker(t, "tag", "busybox", repo+":1")

	r := d.dockerR(strings.NewReader("nope\n"), "login", "-u", "bob", "--password-stdin", addr)
	if r.Code == 0 || !strings.Contains(r.Stderr, "Error response from daemon:") || !strings.Contains(r.Stderr, "unauthorized") {
		t.Errorf("token login with a wrong password: %s", r)
	}
	r = d.dockerR(nil, "push", repo+":1")
	if r.Code == 0 || !strings.Contains(r.Stderr, "unauthorized") {
		t.Errorf("anonymous push: %s", r)
	}
	r = d.dockerR(strings.NewReader("s3cret\n"), "login", "-u", "bob", "--password-stdin", addr)
	if r.Code != 0 || !strings.Contains(r.Stdout, "Login Succeeded") {
		t.Fatalf("token login: %s", r)
	}
	mustOK(t, d.dockerR(nil, "push", repo+":1"), "push with a token")
	d.docker(t, "rmi", repo+":1")
	mustOK(t, d.dockerR(nil, "pull", repo+":1"), "pull with a token")
	d.docker(t, "logout", addr)
	d.docker(t, "rmi", repo+":1")
	r = d.dockerR(nil, "pull", repo+":1")
	if r.Code == 0 || !strings.Contains(r.Stderr, "Error response from daemon:") || !strings.Contains(r.Stderr, "unauthorized") {
		t.Errorf("anonymous pull: %s", r)
	}
}

// TestDistributionDaemonKilledMidPull: kill -9 of the daemon in the middle of a layer leaves no image; the
// restarted daemon resumes the layer from what it had received.
func TestDistributionDaemonKilledMidPull(t *testing.T) {
	d := startDaemonWith(t, "", "--bridge", "none")
	reg, _ := startReferenceRegistry(t, d)
	proxy := startCuttingProxy(t, reg)
	via := proxy.l.Addr().String()
	pushRandomLayer(t, d, via+"/big/killed:1")

	// The blob stalls after 8 MiB; kill the daemon once the partial download holds data.
	stall := make(chan struct{})
	proxy.mu.Lock()
	proxy.budget, proxy.stall = 8<<20, stall
	proxy.mu.Unlock()
	defer func() {
		select {
		case <-stall:
		default:
			close(stall)
		}
	}()
	pulled := make(chan result, 1)
	go func() { pulled <- d.dockerR(nil, "pull", via+"/big/killed:1") }()
	downloads := filepath.Join(d.DataRoot, "image", "downloads")
	waitFor(t, 60*time.Second, "a partial download", func() bool {
		des, _ := os.ReadDir(downloads)
		for _, de := range des {
			if fi, err := de.Info(); err == nil && fi.Size() >= 4<<20 {
				return true
			}
		}
		return false
	})
	d.kill9()
	if r := <-pulled; r.Code == 0 {
		t.Fatalf("pull survived the daemon's death: %s", r)
	}
	close(stall)
	proxy.setBudget(0)

	d.start()
	if out := d.docker(t, "images", "-a", "-q"); strings.TrimSpace(out) != "" {
		t.Errorf("images after the daemon died mid-pull: %q", out)
	}
	mustOK(t, d.dockerR(nil, "pull", via+"/big/killed:1"), "pull after restart")
	if !strings.Contains(d.log(), "image: resuming download") {
		t.Error("the pull after the restart did not resume the partial download")
	}
}

// TestDistributionPullOutOfSpace: a pull that fills the disk says "no space left on device" (when unpacking a
// layer filled it, it said the layer failed verification), keeps no image, and a pull once there is room
// succeeds. The layer is 40 MB of zeros: its compressed download fits in the 16 MB disk, its content does not.
func TestDistributionPullOutOfSpace(t *testing.T) {
	src := startDaemonWith(t, "", "--bridge", "none")
	reg, _ := startBerthRegistry(t, src)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "zeros.bin", Mode: 0o644, Size: 40 << 20, Typeflag: tar.TypeReg})
	tw.Write(make([]byte, 40<<20))
	tw.Close()
	ref := reg + "/big/zeros:1"
	mustOK(t, src.berthR(&buf, "import", "-", ref), "import")
	mustOK(t, src.dockerR(nil, "push", ref), "push")

	small := t.TempDir()
	if err := syscall.Mount("tmpfs", small, "tmpfs", 0, "size=16m"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Unmount(small, syscall.MNT_DETACH) })
	d := startDaemonWith(t, "", "--bridge", "none", "--data-root", small)
	r := d.dockerR(nil, "pull", ref)
	if r.Code == 0 || !strings.Contains(r.Stderr+r.Stdout, "no space left on device") || strings.Contains(r.Stderr+r.Stdout, "verification failed") {
		t.Fatalf("pull onto a full disk: %s", r)
	}
	if out := d.docker(t, "images", "-q"); strings.TrimSpace(out) != "" {
		t.Errorf("an image was kept: %s", out)
	}
	if err := syscall.Mount("tmpfs", small, "tmpfs", syscall.MS_REMOUNT, "size=256m"); err != nil {
		t.Fatal(err)
	}
	mustOK(t, d.dockerR(nil, "pull", ref), "pull with room")
}
