package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/containerd/errdefs"
)

func TestListenTCPRequiresTLS(t *testing.T) {
	if _, err := Listen("tcp://127.0.0.1:0", nil, 0); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("plain tcp listener: %v, want a refusal", err)
	}
	if _, err := Listen("127.0.0.1:2375", nil, 0); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("address without scheme: %v", err)
	}
}

func TestListenUnixMode(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "sub", "b.sock")
	l, err := Listen("unix://"+sock, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	st, err := os.Stat(sock)
	if err != nil || st.Mode().Perm() != 0o660 {
		t.Fatalf("socket mode %v, %v", st.Mode(), err)
	}
}

// TestTLSClientCertificates: over tcp the API answers only clients with a certificate signed by the CA.
func TestTLSClientCertificates(t *testing.T) {
	dir := t.TempDir()
	caKey, caCert, caPEM := newCA(t)
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	srvCert, srvKey := issue(t, caKey, caCert, "localhost", x509.ExtKeyUsageServerAuth)
	cliCert, cliKey := issue(t, caKey, caCert, "client", x509.ExtKeyUsageClientAuth)
	cfg, err := TLSConfig(write("ca.pem", caPEM), write("cert.pem", srvCert), write("key.pem", srvKey))
	if err != nil {
		t.Fatal(err)
	}
	l, err := Listen("tcp://127.0.0.1:0", cfg, 0)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/_ping", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("OK")) })
	srv := &http.Server{Handler: mux}
	go srv.Serve(l)
	defer srv.Shutdown(context.Background())

	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	get := func(certs []tls.Certificate) error {
		c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: certs, ServerName: "localhost"}}}
		resp, err := c.Get("https://" + l.Addr().(*net.TCPAddr).String() + "/_ping")
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	if err := get(nil); err == nil {
		t.Fatal("a client without a certificate was served")
	}
	pair, err := tls.X509KeyPair(cliCert, cliKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := get([]tls.Certificate{pair}); err != nil {
		t.Fatalf("client with a certificate: %v", err)
	}
}

func newCA(t *testing.T) (*ecdsa.PrivateKey, *x509.Certificate, []byte) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return key, cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func issue(t *testing.T, caKey *ecdsa.PrivateKey, ca *x509.Certificate, cn string, usage x509.ExtKeyUsage) (certPEM, keyPEM []byte) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn}, DNSNames: []string{cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{usage}, KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
}
