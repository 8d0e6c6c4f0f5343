package registry_test

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/berth/berth/internal/registry"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// proxyEnv is an upstream registry (with basic auth, reached through a
// switchable handler) and a pull-through cache in front of it.
type proxyEnv struct {
	up    *env // talks to the upstream directly, with credentials
	proxy *env
	// tamper, when set, rewrites the bodies of upstream GETs of blobs and manifests.
	tamper atomic.Pointer[func(path string, body []byte) []byte]
	// down makes the upstream answer nothing but a closed connection.
	down atomic.Bool
	// blobGets counts upstream GETs of each blob path.
	mu       sync.Mutex
	blobGets map[string]int
	// gate, when set, holds upstream blob GETs until it is closed.
	gate atomic.Pointer[chan struct{}]
	// midGate, when set, makes upstream blob GETs send their first half,
	// signal reached, and send the rest once gate is closed.
	midGate atomic.Pointer[midGate]
}

type midGate struct {
	reached, gate chan struct{}
	once          sync.Once
}

func newProxyEnv(t *testing.T) *proxyEnv {
	t.Helper()
	upRoot := t.TempDir()
	upReg, err := registry.New(upRoot, registry.WithHtpasswd(writeHtpasswd(t, "mirror", "pw")))
	if err != nil {
		t.Fatal(err)
	}
	pe := &proxyEnv{blobGets: map[string]int{}}
	upSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if pe.down.Load() {
			panic(http.ErrAbortHandler)
		}
		isBlob := req.Method == http.MethodGet && strings.Contains(req.URL.Path, "/blobs/sha")
		if isBlob {
			pe.mu.Lock()
			pe.blobGets[req.URL.Path]++
			pe.mu.Unlock()
			if g := pe.gate.Load(); g != nil {
				<-*g
			}
		}
		if g := pe.midGate.Load(); g != nil && isBlob {
			rec := httptest.NewRecorder()
			upReg.ServeHTTP(rec, req)
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.Code)
			body := rec.Body.Bytes()
			if f := pe.tamper.Load(); f != nil {
				body = (*f)(req.URL.Path, body)
			}
			_, _ = w.Write(body[:len(body)/2])
			w.(http.Flusher).Flush()
			g.once.Do(func() { close(g.reached) })
			<-g.gate
			_, _ = w.Write(body[len(body)/2:])
			return
		}
		if f := pe.tamper.Load(); f != nil && req.Method == http.MethodGet && (isBlob || strings.Contains(req.URL.Path, "/manifests/")) {
			rec := httptest.NewRecorder()
			upReg.ServeHTTP(rec, req)
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.Code)
			_, _ = w.Write((*f)(req.URL.Path, rec.Body.Bytes()))
			return
		}
		upReg.ServeHTTP(w, req)
	}))
	t.Cleanup(upSrv.Close)
	pe.up = &env{t: t, srv: upSrv, root: upRoot}

	proxyRoot := t.TempDir()
	proxyReg, err := registry.New(proxyRoot, registry.WithProxy(registry.ProxyConfig{
		RemoteURL: upSrv.URL, Username: "mirror", Password: "pw",
	}))
	if err != nil {
		t.Fatal(err)
	}
	proxySrv := httptest.NewServer(proxyReg)
	t.Cleanup(proxySrv.Close)
	pe.proxy = &env{t: t, srv: proxySrv, root: proxyRoot}
	return pe
}

// upDo is a request to the upstream with its credentials.
func (pe *proxyEnv) upDo(method, path string, body []byte, hdr map[string]string) *http.Response {
	h := basic("mirror", "pw")
	for k, v := range hdr {
		h[k] = v
	}
	return pe.up.do(method, path, body, h)
}

// pushUpstream pushes an image with the given layer under repo:tag upstream.
func (pe *proxyEnv) pushUpstream(repo, tag string, layer []byte) (manifestDigest, layerDigest digest.Digest) {
	t := pe.up.t
	t.Helper()
	cfg := []byte(`{"architecture":"amd64","os":"linux"}`)
	for _, b := range [][]byte{cfg, layer} {
		d := digest.FromBytes(b)
		if r := pe.upDo("POST", "/v2/"+repo+"/blobs/uploads/?digest="+d.String(), b, nil); r.StatusCode != 201 {
			t.Fatalf("upstream blob push: %d", r.StatusCode)
		}
	}
	cd := desc(ocispec.MediaTypeImageConfig, cfg)
	m := mustJSON(t, manifest{SchemaVersion: 2, MediaType: ocispec.MediaTypeImageManifest, Config: &cd,
		Layers: []ocispec.Descriptor{desc(ocispec.MediaTypeImageLayerGzip, layer)}})
	if r := pe.upDo("PUT", "/v2/"+repo+"/manifests/"+tag, m, map[string]string{"Content-Type": ocispec.MediaTypeImageManifest}); r.StatusCode != 201 {
		t.Fatalf("upstream manifest push: %d %s", r.StatusCode, readAll(t, r))
	}
	return digest.FromBytes(m), digest.FromBytes(layer)
}

func (pe *proxyEnv) cachedBlob(d digest.Digest) bool {
	_, err := os.Stat(filepath.Join(pe.proxy.root, "blobs", d.Algorithm().String(), d.Encoded()))
	return err == nil
}

func randomBytes(t *testing.T, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestProxyPullThrough(t *testing.T) {
	pe := newProxyEnv(t)
	layer := randomBytes(t, 3<<20+17) // several of the proxy's chunks
	md, ld := pe.pushUpstream("library/alpine", "latest", layer)

	r := pe.proxy.do("GET", "/v2/library/alpine/manifests/latest", nil, map[string]string{"Accept": ocispec.MediaTypeImageManifest})
	if r.StatusCode != 200 || r.Header.Get("Docker-Content-Digest") != md.String() || r.Header.Get("Content-Type") != ocispec.MediaTypeImageManifest {
		t.Fatalf("manifest by tag: %d %q %q", r.StatusCode, r.Header.Get("Docker-Content-Digest"), r.Header.Get("Content-Type"))
	}
	if got := digest.FromBytes(readAll(t, r)); got != md {
		t.Fatalf("manifest body digest %s, want %s", got, md)
	}
	if r := pe.proxy.do("HEAD", "/v2/library/alpine/blobs/"+ld.String(), nil, nil); r.StatusCode != 200 || r.ContentLength != int64(len(layer)) {
		t.Fatalf("HEAD uncached blob: %d, length %d", r.StatusCode, r.ContentLength)
	}
	if pe.cachedBlob(ld) {
		t.Fatal("HEAD fetched the blob")
	}
	r = pe.proxy.do("GET", "/v2/library/alpine/blobs/"+ld.String(), nil, nil)
	if b := readAll(t, r); r.StatusCode != 200 || !bytes.Equal(b, layer) {
		t.Fatalf("GET blob through the proxy: %d, %d bytes", r.StatusCode, len(b))
	}
	if !pe.cachedBlob(ld) {
		t.Fatal("blob not cached after the pull")
	}

	// The upstream goes away: what was pulled is still served.
	pe.down.Store(true)
	r = pe.proxy.do("GET", "/v2/library/alpine/manifests/latest", nil, nil)
	if r.StatusCode != 200 || r.Header.Get("Docker-Content-Digest") != md.String() {
		t.Fatalf("cached manifest with upstream down: %d", r.StatusCode)
	}
	r = pe.proxy.do("GET", "/v2/library/alpine/manifests/"+md.String(), nil, nil)
	if r.StatusCode != 200 {
		t.Fatalf("cached manifest by digest with upstream down: %d", r.StatusCode)
	}
	r = pe.proxy.do("GET", "/v2/library/alpine/blobs/"+ld.String(), nil, nil)
	if b := readAll(t, r); r.StatusCode != 200 || !bytes.Equal(b, layer) {
		t.Fatalf("cached blob with upstream down: %d", r.StatusCode)
	}
	if r := pe.proxy.do("GET", "/v2/library/alpine/manifests/other", nil, nil); r.StatusCode != http.StatusBadGateway {
		t.Fatalf("uncached tag with upstream down: %d, want 502", r.StatusCode)
	}
	pe.mu.Lock()
	defer pe.mu.Unlock()
	if n := pe.blobGets["/v2/library/alpine/blobs/"+ld.String()]; n != 1 {
		t.Fatalf("upstream served the layer %d times, want once", n)
	}
}

func TestProxyRevalidatesTags(t *testing.T) {
	pe := newProxyEnv(t)
	md1, _ := pe.pushUpstream("app", "v1", []byte("first"))
	if r := pe.proxy.do("GET", "/v2/app/manifests/v1", nil, nil); r.Header.Get("Docker-Content-Digest") != md1.String() {
		t.Fatalf("first pull: %d %s", r.StatusCode, r.Header.Get("Docker-Content-Digest"))
	}
	md2, _ := pe.pushUpstream("app", "v1", []byte("second"))
	if r := pe.proxy.do("HEAD", "/v2/app/manifests/v1", nil, nil); r.StatusCode != 200 || r.Header.Get("Docker-Content-Digest") != md2.String() {
		t.Fatalf("after the tag moved upstream: %d %s, want %s", r.StatusCode, r.Header.Get("Docker-Content-Digest"), md2)
	}
	// Deleted upstream: unknown through the proxy too.
	if r := pe.upDo("DELETE", "/v2/app/manifests/v1", nil, nil); r.StatusCode != 202 {
		t.Fatalf("upstream tag delete: %d", r.StatusCode)
	}
	r := pe.proxy.do("GET", "/v2/app/manifests/v1", nil, nil)
	if r.StatusCode != 404 || errCode(t, r) != "MANIFEST_UNKNOWN" {
		t.Fatalf("deleted upstream: %d", r.StatusCode)
	}
}

func TestProxyRefusesWrites(t *testing.T) {
	pe := newProxyEnv(t)
	md, ld := pe.pushUpstream("app", "v1", []byte("layer"))
	pe.proxy.do("GET", "/v2/app/manifests/v1", nil, nil)
	tests := []struct{ name, method, path string }{
		{"start upload", "POST", "/v2/app/blobs/uploads/"},
		{"monolithic upload", "POST", "/v2/app/blobs/uploads/?digest=" + ld.String()},
		{"mount", "POST", "/v2/other/blobs/uploads/?mount=" + ld.String() + "&from=app"},
		{"put manifest", "PUT", "/v2/app/manifests/v2"},
		{"delete manifest", "DELETE", "/v2/app/manifests/" + md.String()},
		{"delete tag", "DELETE", "/v2/app/manifests/v1"},
		{"delete blob", "DELETE", "/v2/app/blobs/" + ld.String()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := pe.proxy.do(tt.method, tt.path, []byte("{}"), nil)
			if r.StatusCode != http.StatusMethodNotAllowed || errCode(t, r) != "UNSUPPORTED" {
				t.Fatalf("status %d, want 405 UNSUPPORTED", r.StatusCode)
			}
		})
	}
	if r := pe.proxy.do("GET", "/v2/app/manifests/v1", nil, nil); r.StatusCode != 200 || r.Header.Get("Docker-Content-Digest") != md.String() {
		t.Fatalf("cache changed by refused writes: %d", r.StatusCode)
	}
}

func TestProxyUnknown(t *testing.T) {
	pe := newProxyEnv(t)
	pe.pushUpstream("app", "v1", []byte("layer"))
	missing := digest.FromBytes([]byte("missing"))
	tests := []struct {
		name, method, path, code string
		status                   int
	}{
		{"tag", "GET", "/v2/app/manifests/nope", "MANIFEST_UNKNOWN", 404},
		{"tag HEAD", "HEAD", "/v2/app/manifests/nope", "", 404},
		{"manifest digest", "GET", "/v2/app/manifests/" + missing.String(), "MANIFEST_UNKNOWN", 404},
		{"blob", "GET", "/v2/app/blobs/" + missing.String(), "BLOB_UNKNOWN", 404},
		{"blob HEAD", "HEAD", "/v2/app/blobs/" + missing.String(), "", 404},
		{"repository", "GET", "/v2/nothere/manifests/v1", "MANIFEST_UNKNOWN", 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := pe.proxy.do(tt.method, tt.path, nil, nil)
			if r.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", r.StatusCode, tt.status)
			}
			if tt.code != "" {
				if c := errCode(t, r); c != tt.code {
					t.Fatalf("code %q, want %q", c, tt.code)
				}
			}
		})
	}
}

func TestProxyTamperedBlob(t *testing.T) {
	tampers := []struct {
		name   string
		tamper func(path string, b []byte) []byte
	}{
		{name: "flipped", tamper: func(_ string, b []byte) []byte {
			c := bytes.Clone(b)
			c[len(c)-1] ^= 0xff // same length, different content
			return c
		}},
		{name: "cut short", tamper: func(_ string, b []byte) []byte { return b[:len(b)/2] }},
	}
	for _, tc := range tampers {
		for _, size := range []int{100, 2<<20 + 5} {
			t.Run(fmt.Sprintf("%s/%d bytes", tc.name, size), func(t *testing.T) {
				testProxyTamperedBlob(t, size, tc.tamper)
			})
		}
	}
}

func testProxyTamperedBlob(t *testing.T, size int, tamper func(path string, b []byte) []byte) {
	pe := newProxyEnv(t)
	layer := randomBytes(t, size)
	_, ld := pe.pushUpstream("app", "v1", layer)
	pe.tamper.Store(&tamper)
	// The client sees a broken transfer: no response at all, or a
	// body cut short of its Content-Length.
	resp, err := pe.proxy.srv.Client().Get(pe.proxy.srv.URL + "/v2/app/blobs/" + ld.String())
	if err == nil {
		got, rerr := io.ReadAll(resp.Body)
		resp.Body.Close()
		if rerr == nil && resp.StatusCode == 200 {
			t.Fatalf("tampered blob delivered whole (%d bytes, want a broken transfer)", len(got))
		}
		if len(got) == len(layer) {
			t.Fatalf("client received all %d bytes of tampered content", len(got))
		}
	}
	if pe.cachedBlob(ld) {
		t.Fatal("tampered blob was cached")
	}
	if ingests, _ := os.ReadDir(filepath.Join(pe.proxy.root, "ingest")); len(ingests) != 0 {
		t.Fatalf("fetch left %d ingests behind", len(ingests))
	}
	// The upstream heals: the next pull fetches and verifies again.
	pe.tamper.Store(nil)
	r := pe.proxy.do("GET", "/v2/app/blobs/"+ld.String(), nil, nil)
	if b := readAll(t, r); r.StatusCode != 200 || !bytes.Equal(b, layer) {
		t.Fatalf("pull after the upstream healed: %d", r.StatusCode)
	}
}

func TestProxyTamperedManifest(t *testing.T) {
	pe := newProxyEnv(t)
	md, _ := pe.pushUpstream("app", "v1", []byte("layer"))
	swap := func(_ string, b []byte) []byte {
		return bytes.Replace(b, []byte(`"schemaVersion":2`), []byte(`"schemaVersion": 2`), 1)
	}
	for _, ref := range []string{"v1", md.String()} {
		pe.tamper.Store(&swap)
		r := pe.proxy.do("GET", "/v2/app/manifests/"+ref, nil, nil)
		if r.StatusCode == 200 {
			t.Fatalf("%s: tampered manifest served", ref)
		}
		if _, err := os.Stat(filepath.Join(pe.proxy.root, "blobs", "sha256", md.Encoded())); err == nil {
			t.Fatalf("%s: tampered manifest cached", ref)
		}
		if r := pe.proxy.do("GET", "/v2/app/tags/list", nil, nil); r.StatusCode != 200 {
			t.Fatalf("tag list: %d", r.StatusCode)
		}
	}
	pe.tamper.Store(nil)
	if r := pe.proxy.do("GET", "/v2/app/manifests/v1", nil, nil); r.StatusCode != 200 || r.Header.Get("Docker-Content-Digest") != md.String() {
		t.Fatalf("honest manifest: %d", r.StatusCode)
	}
}

func TestProxyConcurrentBlobFetchedOnce(t *testing.T) {
	pe := newProxyEnv(t)
	layer := randomBytes(t, 2<<20)
	_, ld := pe.pushUpstream("app", "v1", layer)
	gate := make(chan struct{})
	pe.gate.Store(&gate)
	const clients = 6
	var wg sync.WaitGroup
	results := make([][]byte, clients)
	errs := make([]error, clients)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := pe.proxy.srv.Client().Get(pe.proxy.srv.URL + "/v2/app/blobs/" + ld.String())
			if err != nil {
				errs[i] = err
				return
			}
			defer resp.Body.Close()
			results[i], errs[i] = io.ReadAll(resp.Body)
		}()
	}
	close(gate)
	wg.Wait()
	for i := range clients {
		if errs[i] != nil || !bytes.Equal(results[i], layer) {
			t.Fatalf("client %d: %v, %d bytes", i, errs[i], len(results[i]))
		}
	}
	pe.mu.Lock()
	defer pe.mu.Unlock()
	if n := pe.blobGets["/v2/app/blobs/"+ld.String()]; n != 1 {
		t.Fatalf("upstream served the blob %d times to %d clients, want once", n, clients)
	}
}

func TestProxyBadCredentials(t *testing.T) {
	pe := newProxyEnv(t)
	pe.pushUpstream("app", "v1", []byte("layer"))
	reg, err := registry.New(t.TempDir(), registry.WithProxy(registry.ProxyConfig{
		RemoteURL: pe.up.srv.URL, Username: "mirror", Password: "wrong",
	}))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(reg)
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL + "/v2/app/manifests/v1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("status %d, want 401", resp.StatusCode)
	}
}

func TestProxyConfigInvalid(t *testing.T) {
	for _, u := range []string{"", "ftp://x", "registry.example.com", "https://x/sub/path"} {
		if _, err := registry.New(t.TempDir(), registry.WithProxy(registry.ProxyConfig{RemoteURL: u})); err == nil {
			t.Errorf("remote URL %q accepted", u)
		}
	}
}

// TestProxyTokenUpstream: an upstream with docker's bearer-token flow (as Docker Hub has) is reached with the
// proxy's credentials and per-repository scopes; what those credentials may not pull stays out of reach.
func TestProxyTokenUpstream(t *testing.T) {
	up := newTokenEnv(t, false)
	push := func(repo string) digest.Digest {
		cfg, layer := []byte(`{"os":"linux"}`), []byte("layer of "+repo)
		for _, b := range [][]byte{cfg, layer} {
			if r := up.clientDo("alice", "apw", "POST", "/v2/"+repo+"/blobs/uploads/?digest="+digest.FromBytes(b).String(), b); r.StatusCode != 201 {
				t.Fatalf("upstream blob push: %d", r.StatusCode)
			}
		}
		cd := desc(ocispec.MediaTypeImageConfig, cfg)
		m := mustJSON(t, manifest{SchemaVersion: 2, MediaType: ocispec.MediaTypeImageManifest, Config: &cd,
			Layers: []ocispec.Descriptor{desc(ocispec.MediaTypeImageLayerGzip, layer)}})
		if r := up.clientDo("alice", "apw", "PUT", "/v2/"+repo+"/manifests/latest", m); r.StatusCode != 201 {
			t.Fatalf("upstream manifest push: %d %s", r.StatusCode, readAll(t, r))
		}
		return digest.FromBytes(layer)
	}
	cLayer := push("c")
	push("d")
	// carol may pull c only.
	reg, err := registry.New(t.TempDir(), registry.WithProxy(registry.ProxyConfig{
		RemoteURL: up.srv.URL, Username: "carol", Password: "cpw",
	}))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(reg)
	defer srv.Close()
	p := &env{t: t, srv: srv}
	if r := p.do("GET", "/v2/c/manifests/latest", nil, nil); r.StatusCode != 200 {
		t.Fatalf("manifest of c: %d %s", r.StatusCode, readAll(t, r))
	}
	if r := p.do("GET", "/v2/c/blobs/"+cLayer.String(), nil, nil); r.StatusCode != 200 || string(readAll(t, r)) != "layer of c" {
		t.Fatalf("blob of c: %d", r.StatusCode)
	}
	if r := p.do("GET", "/v2/d/manifests/latest", nil, nil); r.StatusCode != http.StatusForbidden || errCode(t, r) != "DENIED" {
		t.Fatalf("manifest of d, which carol may not pull: %d, want the upstream's 403 DENIED", r.StatusCode)
	}
}

// TestProxyFollowerStreams: a second client of a blob being fetched receives its bytes while the fetch is still
// going (the upstream is stopped half-way until that client has read some), and both get the whole blob.
func TestProxyFollowerStreams(t *testing.T) {
	pe := newProxyEnv(t)
	layer := randomBytes(t, 6<<20)
	_, ld := pe.pushUpstream("app", "v1", layer)
	g := &midGate{reached: make(chan struct{}), gate: make(chan struct{})}
	pe.midGate.Store(g)
	url := pe.proxy.srv.URL + "/v2/app/blobs/" + ld.String()

	first := make(chan []byte)
	go func() {
		resp, err := pe.proxy.srv.Client().Get(url)
		if err != nil {
			first <- nil
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		first <- b
	}()
	<-g.reached // the fetch is registered and cannot finish until the gate opens
	resp, err := pe.proxy.srv.Client().Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.ContentLength != int64(len(layer)) {
		t.Fatalf("follower: %d, length %d", resp.StatusCode, resp.ContentLength)
	}
	// Hangs (until the test's timeout) if the follower only gets bytes after the fetch ends.
	head := make([]byte, 1<<20)
	if _, err := io.ReadFull(resp.Body, head); err != nil {
		t.Fatalf("follower's first MiB: %v", err)
	}
	close(g.gate)
	rest, err := io.ReadAll(resp.Body)
	if err != nil || !bytes.Equal(append(head, rest...), layer) {
		t.Fatalf("follower's blob: %v, %d bytes", err, len(head)+len(rest))
	}
	if b := <-first; !bytes.Equal(b, layer) {
		t.Fatalf("first client's blob: %d bytes", len(b))
	}
	pe.mu.Lock()
	defer pe.mu.Unlock()
	if n := pe.blobGets["/v2/app/blobs/"+ld.String()]; n != 1 {
		t.Fatalf("upstream served the blob %d times, want once", n)
	}
}

// TestProxyFollowerAbortsOnTamper: a client following a fetch of tampered content sees a broken transfer too.
func TestProxyFollowerAbortsOnTamper(t *testing.T) {
	pe := newProxyEnv(t)
	layer := randomBytes(t, 4<<20)
	_, ld := pe.pushUpstream("app", "v1", layer)
	flip := func(_ string, b []byte) []byte {
		c := bytes.Clone(b)
		c[len(c)-1] ^= 0xff
		return c
	}
	g := &midGate{reached: make(chan struct{}), gate: make(chan struct{})}
	pe.midGate.Store(g)
	pe.tamper.Store(&flip)
	url := pe.proxy.srv.URL + "/v2/app/blobs/" + ld.String()
	first := make(chan int)
	go func() {
		resp, err := pe.proxy.srv.Client().Get(url)
		if err != nil {
			first <- -1
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		first <- len(b)
	}()
	<-g.reached
	// The fetch is under way, so this request follows it: its headers arrive now.
	resp, err := pe.proxy.srv.Client().Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	close(g.gate)
	if b, err := io.ReadAll(resp.Body); err == nil || len(b) == len(layer) {
		t.Fatalf("follower of a tampered fetch: %v after %d bytes, want a broken transfer", err, len(b))
	}
	if n := <-first; n == len(layer) {
		t.Fatal("the fetching client received the whole tampered blob")
	}
	if pe.cachedBlob(ld) {
		t.Fatal("tampered blob cached")
	}
}
