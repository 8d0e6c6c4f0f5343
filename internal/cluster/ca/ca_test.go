package ca

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"

	"github.com/berth/berth/internal/cluster/api"
)

func issue(t *testing.T, root *RootCA, id string, role api.NodeRole) tls.Certificate {
	t.Helper()
	keyPEM, csrPEM, err := NewKeyAndCSR()
	if err != nil {
		t.Fatal(err)
	}
	certPEM, err := root.Sign(SignRequest{CSR: csrPEM, NodeID: id, ClusterID: "cluster1", Role: role, Expiry: 2 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	kp, err := KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return kp
}

func TestNodeCertificates(t *testing.T) {
	root, err := NewRootCA()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		id   string
		role api.NodeRole
		ou   string
	}{
		{name: "manager", id: "mgr1", role: api.RoleManager, ou: "swarm-manager"},
		{name: "worker", id: "wrk1", role: api.RoleWorker, ou: "swarm-worker"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			kp := issue(t, root, tc.id, tc.role)
			leaf := kp.Leaf
			if leaf.Subject.CommonName != tc.id || leaf.Subject.OrganizationalUnit[0] != tc.ou || leaf.Subject.Organization[0] != "cluster1" {
				t.Fatalf("subject %v", leaf.Subject)
			}
			if len(kp.Certificate) != 2 {
				t.Fatalf("chain of %d certificates, want the leaf and the root", len(kp.Certificate))
			}
			id, err := IdentityOf(leaf)
			if err != nil || id.NodeID != tc.id || id.Role != tc.role || id.ClusterID != "cluster1" {
				t.Fatalf("identity %+v, %v", id, err)
			}
			if d := leaf.NotAfter.Sub(time.Now()); d < 110*time.Minute || d > 2*time.Hour {
				t.Fatalf("expiry in %v, want 2h", d)
			}
			isManagerName := leaf.VerifyHostname(ManagerName) == nil
			if isManagerName != (tc.role == api.RoleManager) {
				t.Fatalf("certificate names swarm-manager: %v", isManagerName)
			}
		})
	}
	other, _ := NewRootCA()
	if _, err := (&RootCA{Cert: other.Cert, CertPEM: other.CertPEM}).Sign(SignRequest{CSR: []byte("x")}); !errdefs.IsFailedPrecondition(err) {
		t.Fatalf("signing without the key: %v", err)
	}
	if _, err := root.Sign(SignRequest{CSR: []byte("garbage"), NodeID: "n", Role: api.RoleWorker}); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("signing garbage: %v", err)
	}
}

func TestRootCARoundTrip(t *testing.T) {
	root, _ := NewRootCA()
	back, err := ParseRootCA(root.CertPEM, KeyPEM(root.Key))
	if err != nil || back.Digest() != root.Digest() || back.Key == nil {
		t.Fatalf("round trip: %v", err)
	}
	other, _ := NewRootCA()
	if _, err := ParseRootCA(root.CertPEM, KeyPEM(other.Key)); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("mismatched key: %v", err)
	}
}

func TestJoinTokens(t *testing.T) {
	root, _ := NewRootCA()
	tok := NewJoinToken(root)
	if !strings.HasPrefix(tok, "SWMTKN-1-") || len(tok) != len("SWMTKN-1-")+50+1+25 {
		t.Fatalf("token %q", tok)
	}
	parsed, err := ParseJoinToken(tok)
	if err != nil || parsed.Digest != root.Digest() {
		t.Fatalf("parsed %+v, %v", parsed, err)
	}
	if tok == NewJoinToken(root) {
		t.Fatal("two tokens alike")
	}
	tests := []struct {
		name, tok string
	}{
		{name: "empty", tok: ""},
		{name: "other prefix", tok: strings.Replace(tok, "SWMTKN", "SWMKEY", 1)},
		{name: "other version", tok: strings.Replace(tok, "-1-", "-2-", 1)},
		{name: "short secret", tok: tok[:len(tok)-1]},
		{name: "garbage", tok: "SWMTKN-1-abc-def"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ParseJoinToken(tc.tok); !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), "invalid join token") {
				t.Fatalf("err %v", err)
			}
		})
	}
	// The last character changed to another (a fixed "x" would equal it in about one token in 36).
	other := "x"
	if strings.HasSuffix(tok, "x") {
		other = "y"
	}
	if TokenMatches(tok, "") || !TokenMatches(tok, tok) || TokenMatches(tok[:len(tok)-1]+other, tok) {
		t.Fatal("TokenMatches")
	}
}

// The mutual TLS of the cluster: a node dialling with the token's digest finds the right root, a wrong digest is
// refused, a node certificate authenticates its holder, a worker cannot pass for a manager.
func TestMutualTLS(t *testing.T) {
	root, _ := NewRootCA()
	pool, _ := Pool(root.CertPEM)
	mgr := issue(t, root, "mgr1", api.RoleManager)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := PeerIdentity(r.TLS)
		if err != nil {
			http.Error(w, "anonymous", 401)
			return
		}
		io.WriteString(w, id.NodeID+" "+string(id.Role))
	}))
	srv.TLS = ServerConfig(mgr, pool)
	srv.StartTLS()
	defer srv.Close()
	get := func(cfg *tls.Config) (string, error) {
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg, DialContext: (&net.Dialer{}).DialContext}}
		resp, err := c.Get(srv.URL)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b), nil
	}

	var found *RootCA
	if body, err := get(PinnedClientConfig(root.Digest(), func(r *RootCA) { found = r })); err != nil || body != "anonymous\n" {
		t.Fatalf("pinned dial: %q, %v", body, err)
	}
	if found == nil || found.Digest() != root.Digest() {
		t.Fatal("the pinned dial did not return the root")
	}
	other, _ := NewRootCA()
	if _, err := get(PinnedClientConfig(other.Digest(), nil)); err == nil || !strings.Contains(err.Error(), "remote CA does not match fingerprint") {
		t.Fatalf("dial pinning another root: %v", err)
	}

	wrk := issue(t, root, "wrk1", api.RoleWorker)
	if body, err := get(ClientConfig(&wrk, pool)); err != nil || body != "wrk1 worker" {
		t.Fatalf("worker: %q, %v", body, err)
	}
	// A certificate from another root is refused by the handshake.
	stranger := issue(t, other, "evil", api.RoleManager)
	if _, err := get(ClientConfig(&stranger, pool)); err == nil {
		t.Fatal("a certificate of another root was accepted")
	}
	// A worker's certificate cannot serve as a manager's: clients require the swarm-manager name.
	wsrv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	wsrv.TLS = ServerConfig(wrk, pool)
	wsrv.StartTLS()
	defer wsrv.Close()
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: ClientConfig(&mgr, pool)}}
	if _, err := c.Get(wsrv.URL); err == nil || !strings.Contains(err.Error(), "swarm-manager") {
		t.Fatalf("a worker passed for a manager: %v", err)
	}
}

func TestSealing(t *testing.T) {
	key := NewDataKey()
	sealed, err := Seal(key, []byte("root key"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(sealed), "root key") {
		t.Fatal("sealed data holds the plaintext")
	}
	back, err := Open(key, sealed)
	if err != nil || string(back) != "root key" {
		t.Fatalf("open: %q, %v", back, err)
	}
	if _, err := Open(NewDataKey(), sealed); !errors.Is(err, ErrSealed) {
		t.Fatalf("wrong key: %v", err)
	}
	sealed[len(sealed)-1] ^= 1
	if _, err := Open(key, sealed); !errors.Is(err, ErrSealed) {
		t.Fatalf("tampered: %v", err)
	}
	uk := NewUnlockKey()
	if !strings.HasPrefix(uk, "SWMKEY-1-") {
		t.Fatalf("unlock key %q", uk)
	}
	if k, err := ParseUnlockKey(uk); err != nil || len(k) != 32 {
		t.Fatalf("parse unlock key: %v", err)
	}
	for _, bad := range []string{"", "SWMKEY-1-", "SWMKEY-1-abc", "SWMTKN-1-xyz"} {
		if _, err := ParseUnlockKey(bad); !errdefs.IsInvalidArgument(err) {
			t.Fatalf("%q: %v", bad, err)
		}
	}
}
