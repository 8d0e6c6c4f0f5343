package distribution

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/crypto/bcrypt"

	berthreg "github.com/berth/berth/internal/registry"
)

func newService(t *testing.T, cfg Config) *Service {
	t.Helper()
	if cfg.CertsDirs == nil {
		cfg.CertsDirs = []string{t.TempDir()}
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestEndpointsAndInsecureRules(t *testing.T) {
	s := newService(t, Config{
		Insecure: []string{"reg.example:5000", "10.20.0.0/16"},
		Mirrors:  []string{"http://127.0.0.1:5001", "https://mirror.example"},
	})
	tests := []struct {
		name     string
		host     string
		insecure bool
	}{
		{name: "loopback is always insecure", host: "127.0.0.1:5000", insecure: true},
		{name: "localhost", host: "localhost:5000", insecure: true},
		{name: "listed host", host: "reg.example:5000", insecure: true},
		{name: "listed host, other port", host: "reg.example:6000", insecure: false},
		{name: "listed CIDR", host: "10.20.3.4:5000", insecure: true},
		{name: "private address not listed", host: "192.168.1.1:5000", insecure: false},
		{name: "public", host: "quay.io", insecure: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := s.IsInsecure(tc.host); got != tc.insecure {
				t.Errorf("IsInsecure(%s) = %v", tc.host, got)
			}
		})
	}

	eps, err := s.Endpoints("docker.io")
	if err != nil {
		t.Fatal(err)
	}
	var hosts []string
	for _, ep := range eps {
		hosts = append(hosts, ep.Host)
	}
	if strings.Join(hosts, " ") != "127.0.0.1:5001 mirror.example registry-1.docker.io" || !eps[0].Mirror || !eps[1].Mirror || eps[2].Mirror {
		t.Errorf("docker.io endpoints: %v", eps)
	}
	if !eps[0].Insecure || eps[1].Insecure || eps[2].Insecure {
		t.Errorf("mirror insecurity: %v %v %v", eps[0].Insecure, eps[1].Insecure, eps[2].Insecure)
	}
	if eps, _ := s.Endpoints("quay.io"); len(eps) != 1 || eps[0].Mirror {
		t.Errorf("quay.io endpoints: %v", eps)
	}

	st := s.Settings()
	if len(st.Mirrors) != 2 || st.Mirrors[0].String() != "http://127.0.0.1:5001" || st.Mirrors[1].String() != "https://mirror.example" {
		t.Errorf("mirrors: %v", st.Mirrors)
	}
	if !slices.Equal(st.InsecureHosts, []string{"reg.example:5000"}) || fmt.Sprint(st.InsecureCIDRs) != "[127.0.0.0/8 10.20.0.0/16]" {
		t.Errorf("insecure: %v %v", st.InsecureHosts, st.InsecureCIDRs)
	}
	st.Mirrors[0].Host = "changed"
	if s.Settings().Mirrors[0].Host != "127.0.0.1:5001" {
		t.Error("a caller's change to the settings reached the service")
	}

	for _, bad := range []Config{{Mirrors: []string{"ftp://x"}}, {Mirrors: []string{"http://x/path"}}, {Insecure: []string{"a/b/c"}}} {
		if _, err := New(bad); !errdefs.IsInvalidArgument(err) {
			t.Errorf("New(%+v) = %v, want invalid argument", bad, err)
		}
	}
}

// A registry not marked insecure is never spoken to over plain HTTP.
func TestPlainHTTPRefusedForSecureRegistry(t *testing.T) {
	s := newService(t, Config{})
	ep, err := s.endpoint("reg.example:5000", false)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, "http://reg.example:5000/v2/", nil)
	if _, err := ep.Transport.RoundTrip(req); err == nil || !strings.Contains(err.Error(), "HTTP response to HTTPS client") {
		t.Errorf("plain HTTP to a secure registry: %v", err)
	}
}

func TestCertsDirCA(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) }))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "https://")
	dir := t.TempDir()
	s := newService(t, Config{CertsDirs: []string{dir}})
	// 127.0.0.1 is insecure (unverified TLS) by default; this checks the CA through a name that is not.
	ep, err := s.endpoint("reg.example", false)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v2/", nil)
	if _, err := ep.Transport.RoundTrip(req); err == nil {
		t.Fatal("TLS without the CA succeeded")
	}
	os.MkdirAll(filepath.Join(dir, "reg.example"), 0o755)
	pemBytes := pemCert(srv.Certificate().Raw)
	os.WriteFile(filepath.Join(dir, "reg.example", "ca.crt"), pemBytes, 0o644)
	ep, err = s.endpoint("reg.example", false)
	if err != nil {
		t.Fatal(err)
	}
	// The test certificate is for 127.0.0.1/example.com: check against the served name.
	ep.Transport.(*schemeGuard).inner.(*http.Transport).TLSClientConfig.ServerName = "example.com"
	resp, err := ep.Transport.RoundTrip(req)
	if err != nil {
		t.Fatalf("TLS with certs.d CA (%s): %v", host, err)
	}
	resp.Body.Close()
}

func pemCert(der []byte) []byte {
	var b bytes.Buffer
	b.WriteString("-----BEGIN CERTIFICATE-----\n")
	enc := base64.StdEncoding.EncodeToString(der)
	for len(enc) > 64 {
		b.WriteString(enc[:64] + "\n")
		enc = enc[64:]
	}
	b.WriteString(enc + "\n-----END CERTIFICATE-----\n")
	return b.Bytes()
}

func TestCredentialsHideSecrets(t *testing.T) {
	c := Credentials{Username: "alice", Password: "s3cret", IdentityToken: "tok", RegistryToken: "bearer"}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("pull", "auth", c)
	for _, v := range []string{c.String(), fmt.Sprint(c), fmt.Sprintf("%+v", c), logged.String()} {
		if strings.Contains(v, "s3cret") || strings.Contains(v, "tok") || strings.Contains(v, "bearer") {
			t.Errorf("credentials printed as %q", v)
		}
	}
	if !(Credentials{ServerAddress: "r:5000"}).Anonymous() || c.Anonymous() {
		t.Error("Anonymous")
	}
}

func writeHtpasswd(t *testing.T, user, password string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "htpasswd")
	os.WriteFile(p, []byte(user+":"+string(h)+"\n"), 0o600)
	return p
}

// serve runs internal/registry over httptest with opts; the handler is built once the URL is known.
func serve(t *testing.T, opts func(url string) []berthreg.Option) string {
	t.Helper()
	var h http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	reg, err := berthreg.New(t.TempDir(), opts(srv.URL)...)
	if err != nil {
		t.Fatal(err)
	}
	h = reg
	return strings.TrimPrefix(srv.URL, "http://")
}

func openRepo(t *testing.T, s *Service, host, path string, ac Credentials, push bool, mounts ...string) (*Repository, error) {
	t.Helper()
	eps, err := s.Endpoints(host)
	if err != nil {
		t.Fatal(err)
	}
	return s.Open(context.Background(), eps[0], path, ac, push, mounts...)
}

func TestLoginBasic(t *testing.T) {
	host := serve(t, func(string) []berthreg.Option {
		return []berthreg.Option{berthreg.WithHtpasswd(writeHtpasswd(t, "alice", "s3cret"))}
	})
	s := newService(t, Config{})
	if _, err := s.Login(context.Background(), Credentials{Username: "alice", Password: "s3cret", ServerAddress: host}); err != nil {
		t.Fatalf("login: %v", err)
	}
	_, err := s.Login(context.Background(), Credentials{Username: "alice", Password: "nope", ServerAddress: "http://" + host})
	want := "login attempt to http://" + host + "/v2/ failed with status: 401 Unauthorized"
	if !errdefs.IsUnauthorized(err) || err.Error() != want {
		t.Errorf("wrong password: %v, want %q", err, want)
	}
	// Anonymous access to the repository fails with the registry's words.
	repo, err := openRepo(t, s, host, "alice/x", Credentials{}, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := repo.Exists(context.Background(), digest.FromString("x")); err == nil || !errdefs.IsUnauthorized(err) || err.Error() != "unauthorized: authentication required" {
		t.Errorf("anonymous HEAD: %v", err)
	}
}

func TestTokenAuthPushPullMount(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	users, err := berthreg.LoadHtpasswd(writeHtpasswd(t, "alice", "s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	host := serve(t, func(url string) []berthreg.Option {
		return []berthreg.Option{berthreg.WithTokenAuth(berthreg.TokenConfig{
			Realm: url + "/token", Service: "test", Issuer: "test", Key: key, Users: users,
			ACL: func(user, repo string) (bool, bool) { return user == "alice", user == "alice" },
		})}
	})
	s := newService(t, Config{})
	ctx := context.Background()
	alice := Credentials{Username: "alice", Password: "s3cret", ServerAddress: host}

	if _, err := s.Login(ctx, alice); err != nil {
		t.Fatalf("token login: %v", err)
	}
	if _, err := s.Login(ctx, Credentials{Username: "alice", Password: "bad", ServerAddress: host}); !errdefs.IsUnauthorized(err) {
		t.Errorf("token login with a bad password: %v", err)
	}

	repo, err := openRepo(t, s, host, "a/one", alice, true)
	if err != nil {
		t.Fatal(err)
	}
	blob := bytes.Repeat([]byte("layer"), 100000)
	d, n, err := repo.PushBlob(ctx, bytes.NewReader(blob))
	if err != nil || d != digest.FromBytes(blob) || n != int64(len(blob)) {
		t.Fatalf("PushBlob = %s %d %v", d, n, err)
	}
	if ok, err := repo.Exists(ctx, d); !ok || err != nil {
		t.Errorf("Exists after push = %v %v", ok, err)
	}
	cfg := []byte(`{"rootfs":{"type":"layers","diff_ids":[]}}`)
	cd, _, err := repo.PushBlob(ctx, bytes.NewReader(cfg))
	if err != nil {
		t.Fatal(err)
	}
	m, _ := json.Marshal(ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
		Config: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: cd, Size: int64(len(cfg))},
		Layers: []ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageLayer, Digest: d, Size: n}}})
	if err := repo.PushManifest(ctx, "v1", ocispec.MediaTypeImageManifest, m); err != nil {
		t.Fatal(err)
	}

	// A second repository mounts the blob, given pull access to the first.
	two, err := openRepo(t, s, host, "a/two", alice, true, "a/one")
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := two.Mount(ctx, d, "a/one"); !ok || err != nil {
		t.Errorf("Mount = %v %v", ok, err)
	}
	if ok, _ := two.Mount(ctx, digest.FromString("absent"), "a/one"); ok {
		t.Error("mounted a blob that does not exist")
	}

	// Pull side: resolve by tag and by digest, fetch whole and from an offset.
	pull, err := openRepo(t, s, host, "a/one", alice, false)
	if err != nil {
		t.Fatal(err)
	}
	desc, b, err := pull.Resolve(ctx, "v1")
	if err != nil || desc.Digest != digest.FromBytes(m) || desc.MediaType != ocispec.MediaTypeImageManifest || !bytes.Equal(b, m) {
		t.Fatalf("Resolve = %+v %v", desc, err)
	}
	if _, _, err := pull.Resolve(ctx, desc.Digest.String()); err != nil {
		t.Errorf("Resolve by digest: %v", err)
	}
	rc, off, err := pull.Fetch(ctx, ocispec.Descriptor{Digest: d, Size: n}, 1000)
	if err != nil || off != 1000 {
		t.Fatalf("Fetch from 1000 = %d %v", off, err)
	}
	rest, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(rest, blob[1000:]) {
		t.Errorf("ranged fetch returned %d bytes", len(rest))
	}
	if _, _, err := pull.Resolve(ctx, "nope"); !errdefs.IsNotFound(err) || !strings.HasPrefix(err.Error(), "manifest unknown") {
		t.Errorf("Resolve of a missing tag: %v", err)
	}

	// Anonymous: refused with the registry's words.
	if _, err := openRepo(t, s, host, "a/one", Credentials{}, false); err == nil {
		repo, _ := openRepo(t, s, host, "a/one", Credentials{}, false)
		if _, _, err := repo.Resolve(ctx, "v1"); !errdefs.IsUnauthorized(err) && !errdefs.IsPermissionDenied(err) {
			t.Errorf("anonymous resolve: %v", err)
		}
	}

	// Search goes through the catalog.
	res, err := s.Search(ctx, host, "a/", 10, alice)
	if err != nil || len(res) != 2 || res[0].Name != host+"/a/one" {
		t.Errorf("Search = %+v %v", res, err)
	}
	if res, err := s.Search(ctx, host, "a/", 1, alice); err != nil || len(res) != 1 {
		t.Errorf("Search with limit 1 = %+v %v", res, err)
	}
}
