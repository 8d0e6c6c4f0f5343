// Package distribution owns the daemon's side of talking to registries: which endpoints serve a registry
// (mirrors for docker.io, HTTPS with certs.d CAs, plain HTTP only for insecure registries and loopback), the
// credentials a request carries (X-Registry-Auth, basic and bearer-token flows through go-containerregistry's
// transport), login, search, and a Repository that resolves manifests, streams blobs (with Range for resuming)
// and uploads blobs and manifests. What is pulled or pushed, and how it is verified and stored, is
// internal/image's business: Repository implements its Fetcher and Pusher.
package distribution

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/containerd/errdefs"
)

// Docker Hub's names: how references spell it, the host that serves its API, and its search index.
const (
	DockerHubDomain = "docker.io"
	DockerHubHost   = "registry-1.docker.io"
	indexServer     = "https://index.docker.io/v1/"
)

// DefaultCertsDirs are where per-registry TLS material lives: <dir>/<host:port>/{ca.crt,*.cert,*.key}.
var DefaultCertsDirs = []string{"/etc/docker/certs.d", "/etc/berth/certs.d"}

// Config says how registries are reached.
type Config struct {
	// Insecure lists registries (host[:port]) and CIDRs reached over plain HTTP or unverified TLS.
	Insecure []string
	// Mirrors are URLs of docker.io mirrors, tried in order before docker.io itself.
	Mirrors []string
	// CertsDirs are searched for <host:port>/ca.crt; DefaultCertsDirs when nil.
	CertsDirs []string
}

// Service resolves registry names to endpoints. It is safe for concurrent use.
type Service struct {
	insecureHosts map[string]bool
	insecureCIDRs []netip.Prefix
	mirrors       []*url.URL
	certsDirs     []string
}

// New validates cfg and returns a Service. Like dockerd, 127.0.0.0/8 is always insecure.
func New(cfg Config) (*Service, error) {
	s := &Service{insecureHosts: map[string]bool{}, certsDirs: cfg.CertsDirs}
	if s.certsDirs == nil {
		s.certsDirs = DefaultCertsDirs
	}
	s.insecureCIDRs = append(s.insecureCIDRs, netip.MustParsePrefix("127.0.0.0/8"))
	for _, r := range cfg.Insecure {
		r = strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(r, "http://"), "https://"), "/")
		if p, err := netip.ParsePrefix(r); err == nil {
			if !slices.Contains(s.insecureCIDRs, p.Masked()) {
				s.insecureCIDRs = append(s.insecureCIDRs, p.Masked())
			}
			continue
		}
		if strings.Contains(r, "/") || r == "" {
			return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("insecure registry %s is not valid", r))
		}
		s.insecureHosts[r] = true
	}
	for _, m := range cfg.Mirrors {
		u, err := url.Parse(strings.TrimSuffix(m, "/"))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid mirror: %q is not a valid URI", m))
		}
		if u.Path != "" {
			return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid mirror: path %q is not allowed", u.Path))
		}
		s.mirrors = append(s.mirrors, u)
	}
	return s, nil
}

// Endpoint is one place a registry's API is served.
type Endpoint struct {
	// Host is host[:port] as requests address it.
	Host string
	// Insecure allows plain HTTP (after HTTPS fails) and unverified TLS.
	Insecure bool
	// Mirror marks a docker.io mirror; failures fall back to the next endpoint.
	Mirror bool
	// Transport carries the endpoint's TLS configuration.
	Transport http.RoundTripper
}

// Endpoints lists where domain (a reference's domain, "docker.io" for Hub) is served, in the order to try:
// mirrors first for docker.io.
func (s *Service) Endpoints(domain string) ([]Endpoint, error) {
	var out []Endpoint
	if domain == DockerHubDomain {
		for _, m := range s.mirrors {
			ep, err := s.endpoint(m.Host, m.Scheme == "http")
			if err != nil {
				return nil, err
			}
			ep.Mirror = true
			out = append(out, ep)
		}
		domain = DockerHubHost
	}
	ep, err := s.endpoint(domain, false)
	if err != nil {
		return nil, err
	}
	return append(out, ep), nil
}

func (s *Service) endpoint(host string, plain bool) (Endpoint, error) {
	insecure := plain || s.IsInsecure(host)
	tr, err := s.transport(host, insecure)
	if err != nil {
		return Endpoint{}, err
	}
	return Endpoint{Host: host, Insecure: insecure, Transport: tr}, nil
}

// IsInsecure reports whether host (host[:port]) may be reached without verified TLS: listed by name, or
// resolving to an address in an insecure CIDR (loopback always is), as dockerd decides.
func (s *Service) IsInsecure(host string) bool {
	if s.insecureHosts[host] {
		return true
	}
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	if s.insecureHosts[h] {
		return true
	}
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(h); err == nil {
		addrs = append(addrs, a)
	} else if h == "localhost" {
		addrs = append(addrs, netip.MustParseAddr("127.0.0.1"))
	} else if ips, err := net.LookupIP(h); err == nil {
		for _, ip := range ips {
			if a, ok := netip.AddrFromSlice(ip); ok {
				addrs = append(addrs, a.Unmap())
			}
		}
	}
	for _, a := range addrs {
		for _, p := range s.insecureCIDRs {
			if p.Contains(a) {
				return true
			}
		}
	}
	return false
}

// transport builds the HTTP transport for host: the system roots plus certs.d CAs and client certificates;
// insecure hosts skip verification, and only they may be spoken to over plain HTTP.
func (s *Service) transport(host string, insecure bool) (http.RoundTripper, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: insecure}
	for _, dir := range s.certsDirs {
		d := filepath.Join(dir, host)
		des, err := os.ReadDir(d)
		if err != nil {
			continue
		}
		for _, de := range des {
			p := filepath.Join(d, de.Name())
			switch {
			case strings.HasSuffix(de.Name(), ".crt"):
				pem, err := os.ReadFile(p)
				if err != nil {
					return nil, err
				}
				if cfg.RootCAs == nil {
					if cfg.RootCAs, err = x509.SystemCertPool(); err != nil || cfg.RootCAs == nil {
						cfg.RootCAs = x509.NewCertPool()
					}
				}
				if !cfg.RootCAs.AppendCertsFromPEM(pem) {
					return nil, fmt.Errorf("certificate %s: no PEM certificate found", p)
				}
			case strings.HasSuffix(de.Name(), ".cert"):
				key := strings.TrimSuffix(p, ".cert") + ".key"
				cert, err := tls.LoadX509KeyPair(p, key)
				if err != nil {
					return nil, fmt.Errorf("missing key %s for client certificate %s: %w", key, p, err)
				}
				cfg.Certificates = append(cfg.Certificates, cert)
			}
		}
		slog.Debug("registry: using certs.d", "host", host, "dir", d)
	}
	base := http.DefaultTransport.(*http.Transport).Clone()
	base.TLSClientConfig = cfg
	base.MaxIdleConnsPerHost = 8
	base.ResponseHeaderTimeout = 2 * time.Minute
	// Bigger buffers: blobs are the bulk of the traffic.
	base.WriteBufferSize = 256 << 10
	base.ReadBufferSize = 256 << 10
	return &schemeGuard{host: host, insecure: insecure, inner: base}, nil
}

// schemeGuard refuses plain HTTP to a registry that is not insecure (go-containerregistry's ping would also try
// HTTP for private address ranges; dockerd does not).
type schemeGuard struct {
	host     string
	insecure bool
	inner    http.RoundTripper
}

func (g *schemeGuard) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Scheme == "http" && !g.insecure && r.URL.Host == g.host {
		return nil, fmt.Errorf("http: server gave HTTP response to HTTPS client")
	}
	return g.inner.RoundTrip(r)
}

// Settings are the registry rules a Service applies, as `docker info` shows them.
type Settings struct {
	// InsecureCIDRs and InsecureHosts are reached without verified TLS; loopback is always insecure.
	InsecureCIDRs []netip.Prefix
	InsecureHosts []string
	// Mirrors are the docker.io mirrors' URLs, in the order they are tried.
	Mirrors []*url.URL
}

// Settings returns the rules s applies; the caller may keep and change the copy.
func (s *Service) Settings() Settings {
	out := Settings{InsecureCIDRs: slices.Clone(s.insecureCIDRs), InsecureHosts: []string{}, Mirrors: []*url.URL{}}
	for h := range s.insecureHosts {
		out.InsecureHosts = append(out.InsecureHosts, h)
	}
	slices.Sort(out.InsecureHosts)
	for _, m := range s.mirrors {
		u := *m
		out.Mirrors = append(out.Mirrors, &u)
	}
	return out
}

// withTimeout bounds control requests (pings, manifests, HEADs); blob streams are bounded by ctx only.
func withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, 2*time.Minute)
}
