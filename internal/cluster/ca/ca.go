// Package ca is the cluster's certificate authority, as swarmkit's: a root CA (ECDSA P-256), a certificate per
// node that carries the node's ID (CN), role (OU: swarm-manager or swarm-worker) and cluster (O), join tokens
// SWMTKN-1-<digest of the root CA>-<secret> that pin the root a joining node must find, and the mutual-TLS
// configurations of every connection between nodes. A manager's certificate also names "swarm-manager" (a DNS
// SAN), which is what the managers' listeners and the store's members check for manager-only calls: a worker's
// certificate, signed by the same root, is refused there.
//
// Lifecycle: swarm init makes a RootCA and signs the first manager's certificate; a joining node makes a key and
// a CSR (NewKeyAndCSR), dials a manager trusting only the token's digest (PinnedClientConfig), and gets its
// certificate signed (RootCA.Sign) with the role its token grants; later connections are mutual TLS with the
// node certificate (ServerConfig, ClientConfig), and the peer's identity is read from its certificate (PeerIdentity).
package ca

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"strings"
	"time"

	"github.com/containerd/errdefs"

	"github.com/berth/berth/internal/cluster/api"
)

// Certificate subjects, as swarmkit's.
const (
	RootCN         = "swarm-ca"
	ManagerOU      = "swarm-manager"
	WorkerOU       = "swarm-worker"
	ManagerName    = "swarm-manager" // the DNS SAN of managers' certificates, checked by manager-only listeners
	RootCAExpiry   = 20 * 365 * 24 * time.Hour
	certBackdate   = time.Hour // certificates start an hour early, for clocks that lag
	tokenPrefix    = "SWMTKN"
	tokenVersion   = "1"
	digestLen      = 50 // base-36 digits of a SHA-256
	secretLen      = 25 // base-36 digits of 128 bits
	unlockKeyPrefx = "SWMKEY-1-"
)

// RootCA is a root certificate, with its key when this node can sign.
type RootCA struct {
	Cert    *x509.Certificate
	CertPEM []byte
	Key     *ecdsa.PrivateKey // nil on a node that only trusts the root
}

// NewRootCA makes a self-signed root CA.
func NewRootCA() (*RootCA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: RootCN},
		NotBefore:             now.Add(-certBackdate),
		NotAfter:              now.Add(RootCAExpiry),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, _ := x509.ParseCertificate(der)
	return &RootCA{Cert: cert, CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), Key: key}, nil
}

// ParseRootCA reads a root CA's certificate and, if keyPEM is not empty, its key (which must match).
func ParseRootCA(certPEM, keyPEM []byte) (*RootCA, error) {
	certs, err := ParseCerts(certPEM)
	if err != nil {
		return nil, err
	}
	c := certs[0]
	if !c.IsCA {
		return nil, fmt.Errorf("root CA certificate is not a CA: %w", errdefs.ErrInvalidArgument)
	}
	r := &RootCA{Cert: c, CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})}
	if len(keyPEM) > 0 {
		k, err := ParseKey(keyPEM)
		if err != nil {
			return nil, err
		}
		pub, ok := c.PublicKey.(*ecdsa.PublicKey)
		if !ok || !pub.Equal(&k.PublicKey) {
			return nil, fmt.Errorf("the root CA key does not match its certificate: %w", errdefs.ErrInvalidArgument)
		}
		r.Key = k
	}
	return r, nil
}

// ParseCerts reads one or more PEM certificates.
func ParseCerts(b []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parsing certificate: %v: %w", err, errdefs.ErrInvalidArgument)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no PEM certificate found: %w", errdefs.ErrInvalidArgument)
	}
	return out, nil
}

// ParseKey reads a PEM EC private key (SEC 1 or PKCS #8).
func ParseKey(b []byte) (*ecdsa.PrivateKey, error) {
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("no PEM key found: %w", errdefs.ErrInvalidArgument)
	}
	if k, err := x509.ParseECPrivateKey(blk.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parsing key: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	ek, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("the key is not an ECDSA key: %w", errdefs.ErrInvalidArgument)
	}
	return ek, nil
}

// KeyPEM is the PEM of an EC private key.
func KeyPEM(k *ecdsa.PrivateKey) []byte {
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		panic(err) // a P-256 key always marshals
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
}

// Digest is the root's digest as join tokens pin it: SHA-256 of its PEM, in base 36, 50 digits.
func (r *RootCA) Digest() string { return digestOf(r.CertPEM) }

func digestOf(certPEM []byte) string {
	sum := sha256.Sum256(certPEM)
	return pad(new(big.Int).SetBytes(sum[:]).Text(36), digestLen)
}

func pad(s string, n int) string {
	if len(s) < n {
		s = strings.Repeat("0", n-len(s)) + s
	}
	return s
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err)
	}
	return n
}

// NewKeyAndCSR makes a node's private key and a certificate request for it; the signer sets the subject.
func NewKeyAndCSR() (keyPEM, csrPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "berth-node"}}, key)
	if err != nil {
		return nil, nil, err
	}
	return KeyPEM(key), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), nil
}

// Identity is who a node certificate says its holder is.
type Identity struct {
	NodeID, ClusterID string
	Role              api.NodeRole
	NotAfter          time.Time
	// Serial is the certificate's serial number, hex.
	Serial string
}

// SignRequest is what a node certificate is issued for.
type SignRequest struct {
	CSR       []byte
	NodeID    string
	ClusterID string
	Role      api.NodeRole
	Expiry    time.Duration
	// IPs are a manager's addresses, named in its certificate: its store member's clients (gRPC) check the
	// member's certificate against the address they dial. A worker's certificate names none.
	IPs []net.IP
}

// Sign issues a node certificate for a CSR; the PEM returned is the certificate followed by the root's.
func (r *RootCA) Sign(req SignRequest) ([]byte, error) {
	if r.Key == nil {
		return nil, fmt.Errorf("this node cannot sign: it does not hold the root CA key: %w", errdefs.ErrFailedPrecondition)
	}
	blk, _ := pem.Decode(req.CSR)
	if blk == nil || blk.Type != "CERTIFICATE REQUEST" {
		return nil, fmt.Errorf("invalid certificate request: %w", errdefs.ErrInvalidArgument)
	}
	csr, err := x509.ParseCertificateRequest(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("invalid certificate request: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("invalid certificate request signature: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	if req.Expiry <= 0 {
		req.Expiry = api.DefaultNodeCertExpiry
	}
	ou := WorkerOU
	dns := []string{WorkerOU, req.NodeID}
	var ips []net.IP
	if req.Role == api.RoleManager {
		ou = ManagerOU
		dns = []string{ManagerName, req.NodeID, RootCN}
		ips = req.IPs
	}
	now := time.Now()
	notAfter := now.Add(req.Expiry)
	if notAfter.After(r.Cert.NotAfter) {
		notAfter = r.Cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: req.NodeID, OrganizationalUnit: []string{ou}, Organization: []string{req.ClusterID}},
		DNSNames:     dns,
		IPAddresses:  ips,
		NotBefore:    now.Add(-certBackdate),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, r.Cert, csr.PublicKey, r.Key)
	if err != nil {
		return nil, err
	}
	return append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), r.CertPEM...), nil
}

// IdentityOf reads a node certificate's identity.
func IdentityOf(c *x509.Certificate) (Identity, error) {
	id := Identity{NodeID: c.Subject.CommonName, NotAfter: c.NotAfter, Serial: hex.EncodeToString(c.SerialNumber.Bytes())}
	if len(c.Subject.Organization) == 1 {
		id.ClusterID = c.Subject.Organization[0]
	}
	if len(c.Subject.OrganizationalUnit) == 1 {
		switch c.Subject.OrganizationalUnit[0] {
		case ManagerOU:
			id.Role = api.RoleManager
		case WorkerOU:
			id.Role = api.RoleWorker
		}
	}
	if id.NodeID == "" || id.Role == "" {
		return Identity{}, fmt.Errorf("not a node certificate: %w", errdefs.ErrPermissionDenied)
	}
	return id, nil
}

// PeerIdentity is the identity of the peer of a mutual-TLS connection (verified by the handshake).
func PeerIdentity(st *tls.ConnectionState) (Identity, error) {
	if st == nil || len(st.VerifiedChains) == 0 || len(st.VerifiedChains[0]) == 0 {
		return Identity{}, fmt.Errorf("no verified node certificate: %w", errdefs.ErrUnauthenticated)
	}
	return IdentityOf(st.VerifiedChains[0][0])
}

// Pool is a pool of the root certificates in bundle (PEM, one or more).
func Pool(bundle []byte) (*x509.CertPool, error) {
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(bundle) {
		return nil, fmt.Errorf("no root certificate in the bundle: %w", errdefs.ErrInvalidArgument)
	}
	return p, nil
}

// ServerConfig is the TLS of a node's cluster listener: its certificate, and clients' certificates verified
// against roots when given (a joining node has none yet; the handlers decide what an anonymous peer may do).
func ServerConfig(cert tls.Certificate, roots *x509.CertPool) *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientCAs:    roots,
		ClientAuth:   tls.VerifyClientCertIfGiven,
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"h2", "http/1.1"},
	}
}

// ClientConfig is the TLS of a node's connections to managers: its certificate, and the manager's verified
// against roots and required to be a manager's.
func ClientConfig(cert *tls.Certificate, roots *x509.CertPool) *tls.Config {
	c := &tls.Config{RootCAs: roots, ServerName: ManagerName, MinVersion: tls.VersionTLS12}
	if cert != nil {
		c.Certificates = []tls.Certificate{*cert}
	}
	return c
}

// ErrRootMismatch is wrapped when the manager a node joins through does not present the root its token pins.
var ErrRootMismatch = errors.New("remote CA does not match fingerprint")

// PinnedClientConfig is the TLS of a joining node's first connection: it has no root yet, only the digest its
// token pins, and accepts the manager's certificate only if it chains to a root with that digest (the root
// comes with the manager's chain). It returns the root found through found, once the handshake succeeded.
func PinnedClientConfig(digest string, found func(*RootCA)) *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: true, // verified below, against the pinned digest instead of a root pool
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) < 2 {
				return fmt.Errorf("the manager sent no root CA: %w", ErrRootMismatch)
			}
			root, err := x509.ParseCertificate(raw[len(raw)-1])
			if err != nil {
				return err
			}
			rootPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: root.Raw})
			if subtle.ConstantTimeCompare([]byte(digestOf(rootPEM)), []byte(digest)) != 1 {
				return ErrRootMismatch
			}
			leaf, err := x509.ParseCertificate(raw[0])
			if err != nil {
				return err
			}
			pool := x509.NewCertPool()
			pool.AddCert(root)
			if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: ManagerName, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
				return fmt.Errorf("manager certificate: %w", err)
			}
			if found != nil {
				found(&RootCA{Cert: root, CertPEM: rootPEM})
			}
			return nil
		},
	}
}

// KeyPair reads a node's certificate chain and key into a tls.Certificate, with its leaf parsed.
func KeyPair(certPEM, keyPEM []byte) (tls.Certificate, error) {
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, err
	}
	c.Leaf, err = x509.ParseCertificate(c.Certificate[0])
	return c, err
}

// Token is a parsed join token.
type Token struct {
	Digest, Secret string
}

// NewJoinToken makes a join token pinning root: SWMTKN-1-<digest>-<random secret>.
func NewJoinToken(root *RootCA) string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	secret := pad(new(big.Int).SetBytes(b[:]).Text(36), secretLen)
	return fmt.Sprintf("%s-%s-%s-%s", tokenPrefix, tokenVersion, root.Digest(), secret)
}

// ParseJoinToken checks a join token's form; the words are swarmkit's.
func ParseJoinToken(tok string) (Token, error) {
	parts := strings.Split(tok, "-")
	if len(parts) != 4 || parts[0] != tokenPrefix || parts[1] != tokenVersion || len(parts[2]) != digestLen || len(parts[3]) != secretLen {
		return Token{}, fmt.Errorf("invalid join token: %w", errdefs.ErrInvalidArgument)
	}
	return Token{Digest: parts[2], Secret: parts[3]}, nil
}

// TokenMatches reports, in constant time, whether a presented token is the cluster's.
func TokenMatches(presented, expected string) bool {
	return expected != "" && subtle.ConstantTimeCompare([]byte(presented), []byte(expected)) == 1
}

// SplitHostPort is net.SplitHostPort with a default port.
func SplitHostPort(addr, defPort string) (string, string) {
	if h, p, err := net.SplitHostPort(addr); err == nil {
		return h, p
	}
	return strings.Trim(addr, "[]"), defPort
}

// SameRoot reports whether two PEM bundles start with the same root certificate.
func SameRoot(a, b []byte) bool {
	ca, err1 := ParseCerts(a)
	cb, err2 := ParseCerts(b)
	return err1 == nil && err2 == nil && bytes.Equal(ca[0].Raw, cb[0].Raw)
}
