package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// startRegistry runs `berth registry serve` on a free port with the extra flags and returns its host:port and a
// function stopping it (also run at the end of the test).
func startRegistry(t *testing.T, extra ...string) (string, func()) {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	dir := t.TempDir()
	argv := append([]string{filepath.Join(binDir, "berth"), "registry", "serve", "--addr", addr, "--root", filepath.Join(dir, "root")}, extra...)
	stop := startProcess(t, dir, "registry", 10*time.Second, argv...)
	waitFor(t, 10*time.Second, "the registry on "+addr, func() bool {
		resp, err := http.Get("http://" + addr + "/v2/")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return true
	})
	return addr, stop
}

// manifestDigest asks a registry for the digest of repo:tag.
func manifestDigest(t *testing.T, addr, repo, tag, user, pass string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodHead, "http://"+addr+"/v2/"+repo+"/manifests/"+tag, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json")
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	d := resp.Header.Get("Docker-Content-Digest")
	if resp.StatusCode != 200 || d == "" {
		t.Fatalf("HEAD %s/%s:%s: %s %q", addr, repo, tag, resp.Status, d)
	}
	return d
}

// writeOCILayout writes an OCI image layout at dir holding one image, tagged latest, whose only layer is the
// uncompressed tarball layer; it returns the manifest's digest.
func writeOCILayout(t *testing.T, dir string, layer []byte) string {
	t.Helper()
	blobs := filepath.Join(dir, "blobs", "sha256")
	if err := os.MkdirAll(blobs, 0o755); err != nil {
		t.Fatal(err)
	}
	put := func(data []byte) (string, int) {
		d := fmt.Sprintf("%x", sha256.Sum256(data))
		if err := os.WriteFile(filepath.Join(blobs, d), data, 0o644); err != nil {
			t.Fatal(err)
		}
		return "sha256:" + d, len(data)
	}
	mustJSON := func(v any) []byte {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	ld, ls := put(layer)
	cd, cs := put(mustJSON(map[string]any{
		"architecture": "amd64", "os": "linux",
		"config": map[string]any{"Cmd": []string{"sh"}},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{ld}},
	}))
	md, ms := put(mustJSON(map[string]any{
		"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"config": map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cs},
		"layers": []any{map[string]any{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": ld, "size": ls}},
	}))
	index := mustJSON(map[string]any{"schemaVersion": 2, "manifests": []any{map[string]any{
		"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": ms,
		"annotations": map[string]string{"org.opencontainers.image.ref.name": "latest"},
	}}})
	if err := os.WriteFile(filepath.Join(dir, "index.json"), index, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	return md
}

func skopeo(t *testing.T, args ...string) result {
	t.Helper()
	bin, err := exec.LookPath("skopeo")
	if err != nil {
		t.Fatal("skopeo is not installed (scripts/test.sh installs it)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// A private blob-info cache and auth file: nothing learnt here leaks into other runs.
	home := t.TempDir()
	return run(ctx, nil, []string{"HOME=" + home, "XDG_RUNTIME_DIR=" + home, "REGISTRY_AUTH_FILE=" + filepath.Join(home, "auth.json")},
		bin, append([]string{"--tmpdir", home}, args...)...)
}

// layoutManifest returns the digest of the single manifest of the OCI layout at dir.
func layoutManifest(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	var idx struct {
		Manifests []struct{ Digest string } `json:"manifests"`
	}
	if err := json.Unmarshal(b, &idx); err != nil || len(idx.Manifests) != 1 {
		t.Fatalf("index.json: %v %s", err, b)
	}
	return idx.Manifests[0].Digest
}

// TestRegistryProxySkopeo: an image pushed to one `berth registry serve` (with htpasswd) is copied by skopeo through
// a second one in pull-through cache mode; the proxy refuses pushes and still serves the image once the upstream
// is gone.
func TestRegistryProxySkopeo(t *testing.T) {
	requireRoot(t)
	dir := t.TempDir()
	htpasswd := writeHtpasswd(t, dir, "mirror", "mirrorpw")
	upstream, stopUpstream := startRegistry(t, "--htpasswd", htpasswd)
	proxy, _ := startRegistry(t, "--proxy-remote-url", "http://"+upstream, "--proxy-username", "mirror", "--proxy-password", "mirrorpw")

	src := filepath.Join(dir, "src")
	writeOCILayout(t, src, busyboxTar(t))
	if r := skopeo(t, "copy", "--dest-tls-verify=false", "--dest-creds", "mirror:mirrorpw", "oci:"+src+":latest",
		"docker://"+upstream+"/library/busybox:latest"); r.Code != 0 {
		t.Fatalf("push to the upstream: %s", r)
	}
	// skopeo compresses the layer on the way, so the upstream's manifest is the reference.
	want := manifestDigest(t, upstream, "library/busybox", "latest", "mirror", "mirrorpw")

	out := filepath.Join(dir, "out1")
	if r := skopeo(t, "copy", "--src-tls-verify=false", "docker://"+proxy+"/library/busybox:latest", "oci:"+out+":latest"); r.Code != 0 {
		t.Fatalf("copy through the proxy: %s", r)
	}
	if got := layoutManifest(t, out); got != want {
		t.Fatalf("manifest through the proxy %s, want %s", got, want)
	}
	if r := skopeo(t, "inspect", "--tls-verify=false", "docker://"+proxy+"/library/busybox:latest"); r.Code != 0 ||
		!strings.Contains(r.Stdout, `"Digest": "`+want+`"`) {
		t.Fatalf("inspect through the proxy: %s", r)
	}

	// Pushes are refused, as in the reference registry's proxy mode.
	r := skopeo(t, "copy", "--dest-tls-verify=false", "oci:"+src+":latest", "docker://"+proxy+"/library/pushed:latest")
	if r.Code == 0 {
		t.Fatal("push to the proxy succeeded")
	}
	if !strings.Contains(r.Stderr, "405") && !strings.Contains(strings.ToLower(r.Stderr), "unsupported") {
		t.Fatalf("push to the proxy failed for another reason: %s", r)
	}

	// The upstream goes away; the cached image still copies.
	stopUpstream()
	out2 := filepath.Join(dir, "out2")
	if r := skopeo(t, "copy", "--src-tls-verify=false", "docker://"+proxy+"/library/busybox:latest", "oci:"+out2+":latest"); r.Code != 0 {
		t.Fatalf("copy from the cache with the upstream down: %s", r)
	}
	if got := layoutManifest(t, out2); got != want {
		t.Fatalf("cached manifest %s, want %s", got, want)
	}
}

// TestRegistryProxyDockerMirror: a real dockerd with --registry-mirror pointing at a `berth registry serve
// --proxy-remote-url` pulls a docker.io image (library/busybox) through it; docker.io itself is unreachable here,
// so the pull can only succeed through the mirror.
func TestRegistryProxyDockerMirror(t *testing.T) {
	requireRoot(t)
	dockerd, err := exec.LookPath("dockerd")
	if err != nil {
		t.Fatal("dockerd is not installed (scripts/test.sh installs docker.io)")
	}
	dir := t.TempDir()
	upstream, _ := startRegistry(t)
	proxy, _ := startRegistry(t, "--proxy-remote-url", "http://"+upstream)
	src := filepath.Join(dir, "src")
	writeOCILayout(t, src, busyboxTar(t))
	if r := skopeo(t, "copy", "--dest-tls-verify=false", "oci:"+src+":latest", "docker://"+upstream+"/library/busybox:1.0"); r.Code != 0 {
		t.Fatalf("push to the upstream: %s", r)
	}
	want := manifestDigest(t, upstream, "library/busybox", "1.0", "", "")
	d := startDaemon(t)
	real := startDockerd(t, d, dockerd, "--bridge", "none", "--iptables=false", "--ip6tables=false", "--ip-forward=false",
		"--ip-masq=false", "--registry-mirror", "http://"+proxy)
	if r := real(nil, "pull", "busybox:1.0"); r.Code != 0 {
		t.Fatalf("docker pull through the mirror: %s", r)
	}
	r := real(nil, "image", "inspect", "-f", "{{json .RepoDigests}}", "busybox:1.0")
	if r.Code != 0 || !strings.Contains(r.Stdout, want) {
		t.Fatalf("pulled image's digests %s, want %s", r, want)
	}
	if r := real(nil, "run", "--rm", "--network", "none", "busybox:1.0", "echo", "through the mirror"); r.Code != 0 ||
		!bytes.Contains([]byte(r.Stdout), []byte("through the mirror")) {
		t.Fatalf("run the mirrored image: %s", r)
	}
}
