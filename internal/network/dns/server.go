package dns

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	miekg "github.com/miekg/dns"
)

// Address is where a container finds the embedded server: the nameserver of its resolv.conf.
const Address = "127.0.0.11"

const (
	// ttl is what Docker gives the records it answers.
	ttl = 600
	// DefaultForwardTimeout bounds one exchange with one upstream resolver.
	DefaultForwardTimeout = 2 * time.Second
	// maxForwards bounds the queries in flight to upstream resolvers per server, as Docker does.
	maxForwards = 1024
	// shutdownTimeout bounds how long stop waits for queries in flight.
	shutdownTimeout = 5 * time.Second
)

var listenAddr = netip.MustParseAddr(Address)

// Option configures Serve.
type Option func(*config)

type config struct {
	logger  *slog.Logger
	timeout time.Duration
}

// WithLogger sets the logger; the default is slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(c *config) { c.logger = l }
}

// WithForwardTimeout sets how long one exchange with one upstream resolver may take (DefaultForwardTimeout).
func WithForwardTimeout(d time.Duration) Option {
	return func(c *config) { c.timeout = d }
}

// Serve starts the embedded DNS server of one container: it answers at 127.0.0.11:53, UDP and TCP, inside the
// network namespace bind-mounted at nsPath, until stop is called. stop closes the sockets and waits (briefly)
// for the queries in flight; calling it more than once is harmless.
//
// ctx bounds the setup only; the server outlives it. networks is called on every query and returns the
// networks the container is attached to, in priority order, so connecting and disconnecting need no restart.
// Names on those networks are answered from reg: A (and AAAA) records for names, PTR records for addresses, an
// empty answer for other record types of a known name. Everything else goes to the upstream resolvers
// ("ip:port", or "ip" for port 53, typically the nameservers of the host's resolv.conf), tried in order;
// their answer is returned as is. With no upstream, or when none answers, the reply is SERVFAIL; a daemon
// that must not resolve external names for a container (internal networks only) passes no upstream.
//
// Port 53 stays the container's, as in docker: the sockets listen on 127.0.0.11 at ports the kernel picks,
// and the namespace's nftables table firewall.DNSTable redirects 127.0.0.11:53 to them. 127.0.0.11/32 is
// added to the namespace's loopback (which is brought up). A later Serve on the same namespace (a daemon
// restart) replaces the table, taking over from any earlier server; stop leaves the address and the table, so
// queries to a stopped server are refused rather than reaching another one. Queries are forwarded from the
// daemon's own network namespace, where host-local resolvers such as systemd-resolved (127.0.0.53) are
// reachable.
func Serve(ctx context.Context, nsPath string, networks func() []string, reg *Registry, upstream []string, opts ...Option) (stop func(), err error) {
	if nsPath == "" || networks == nil || reg == nil {
		return nil, fmt.Errorf("dns server: network namespace, networks and registry are required: %w", errdefs.ErrInvalidArgument)
	}
	ups, err := parseUpstreams(upstream)
	if err != nil {
		return nil, err
	}
	cfg := config{logger: slog.Default(), timeout: DefaultForwardTimeout}
	for _, o := range opts {
		o(&cfg)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	log := cfg.logger.With("netns", nsPath)

	pc, l, err := listen(ctx, nsPath, listenAddr)
	if err != nil {
		return nil, fmt.Errorf("dns server in %s: %w", nsPath, err)
	}

	// Handlers run on the goroutines of the miekg servers, never on the thread that entered the container's
	// namespace, so the forwarder's sockets belong to the daemon's namespace.
	fwdCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	h := &handler{
		networks: networks,
		reg:      reg,
		fwd:      &forwarder{upstream: ups, timeout: cfg.timeout, sem: make(chan struct{}, maxForwards)},
		ctx:      fwdCtx,
		log:      log,
	}
	servers := []*miekg.Server{
		{PacketConn: pc, Handler: h},
		{Listener: l, Handler: h},
	}
	var wg sync.WaitGroup
	errc := make(chan error, len(servers))
	for _, s := range servers {
		started := make(chan struct{})
		s.NotifyStartedFunc = func() { close(started) }
		wg.Go(func() {
			if err := s.ActivateAndServe(); err != nil {
				log.Error("embedded DNS server stopped", "error", err)
				errc <- err
			}
		})
		select {
		case <-started:
		case err := <-errc:
			cancel()
			pc.Close()
			l.Close()
			for _, s := range servers {
				_ = s.Shutdown() // "not started" for the failed one; its socket is closed above
			}
			wg.Wait()
			return nil, fmt.Errorf("dns server in %s: %w", nsPath, err)
		}
	}
	log.Debug("embedded DNS server started", "addr", Address, "upstream", upstream)

	return sync.OnceFunc(func() {
		cancel() // abort forwards in flight so shutdown doesn't wait on upstream timeouts
		sctx, scancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer scancel()
		for _, s := range servers {
			if err := s.ShutdownContext(sctx); err != nil {
				log.Warn("embedded DNS server shutdown", "error", err)
			}
		}
		pc.Close()
		l.Close()
		wg.Wait()
		log.Debug("embedded DNS server stopped")
	}), nil
}

// parseUpstreams accepts "ip:port" and "ip" (port 53).
func parseUpstreams(upstream []string) ([]string, error) {
	out := make([]string, 0, len(upstream))
	for _, u := range upstream {
		ap, err := netip.ParseAddrPort(u)
		if err != nil {
			a, aerr := netip.ParseAddr(u)
			if aerr != nil {
				return nil, fmt.Errorf("upstream resolver %q: %w", u, errdefs.ErrInvalidArgument)
			}
			ap = netip.AddrPortFrom(a, 53)
		}
		out = append(out, ap.String())
	}
	return out, nil
}

// handler answers one container's queries.
type handler struct {
	networks func() []string
	reg      *Registry
	fwd      *forwarder
	ctx      context.Context // cancelled by stop; the server's lifetime, not a caller's
	log      *slog.Logger
}

var _ miekg.Handler = (*handler)(nil)

func (h *handler) ServeDNS(w miekg.ResponseWriter, req *miekg.Msg) {
	proto := "udp"
	if _, ok := w.RemoteAddr().(*net.TCPAddr); ok {
		proto = "tcp"
	}
	resp := h.answer(req, proto)
	// A UDP reply must fit the client's buffer; a truncated one (TC set) makes the client retry over TCP.
	size := miekg.MaxMsgSize
	if proto == "udp" {
		size = miekg.MinMsgSize
		if opt := req.IsEdns0(); opt != nil && int(opt.UDPSize()) > size {
			size = int(opt.UDPSize())
		}
	}
	resp.Truncate(size)
	if err := w.WriteMsg(resp); err != nil {
		h.log.Debug("write DNS reply", "error", err)
	}
}

func (h *handler) answer(req *miekg.Msg, proto string) *miekg.Msg {
	if req.Opcode != miekg.OpcodeQuery {
		return new(miekg.Msg).SetRcode(req, miekg.RcodeNotImplemented)
	}
	if len(req.Question) != 1 {
		return new(miekg.Msg).SetRcode(req, miekg.RcodeFormatError)
	}
	if resp := h.local(req); resp != nil {
		return resp
	}
	// Not ours, including single-label names: the upstream resolvers decide, as in Docker.
	resp, err := h.fwd.forward(h.ctx, req, proto)
	if err != nil {
		q := req.Question[0]
		h.log.Debug("forward DNS query", "name", q.Name, "type", miekg.TypeToString[q.Qtype], "error", err)
		return new(miekg.Msg).SetRcode(req, miekg.RcodeServerFailure)
	}
	return resp
}

// local answers from the Registry, or returns nil when the question is not about a registered name or address.
func (h *handler) local(req *miekg.Msg) *miekg.Msg {
	q := req.Question[0]
	if q.Qclass != miekg.ClassINET {
		return nil
	}
	networks := h.networks()
	var answer []miekg.RR
	switch q.Qtype {
	case miekg.TypePTR:
		addr, ok := reverseAddr(q.Name)
		if !ok {
			return nil
		}
		name, ok := h.reg.LookupAddr(networks, addr)
		if !ok {
			return nil
		}
		answer = append(answer, &miekg.PTR{Hdr: header(q), Ptr: miekg.Fqdn(name)})
	default:
		want := func(netip.Addr) bool { return false } // other types of a known name: an empty answer
		switch q.Qtype {
		case miekg.TypeA:
			want = netip.Addr.Is4
		case miekg.TypeAAAA:
			want = netip.Addr.Is6
		case miekg.TypeANY:
			want = func(netip.Addr) bool { return true }
		}
		addrs, found := h.reg.resolve(networks, q.Name, want)
		if !found {
			return nil
		}
		for _, a := range addrs {
			if a.Is4() {
				hdr := header(q)
				hdr.Rrtype = miekg.TypeA
				answer = append(answer, &miekg.A{Hdr: hdr, A: a.AsSlice()})
			} else {
				hdr := header(q)
				hdr.Rrtype = miekg.TypeAAAA
				answer = append(answer, &miekg.AAAA{Hdr: hdr, AAAA: a.AsSlice()})
			}
		}
	}
	resp := new(miekg.Msg).SetReply(req)
	resp.Authoritative = true
	resp.RecursionAvailable = true
	resp.Answer = answer
	if opt := req.IsEdns0(); opt != nil {
		resp.SetEdns0(max(opt.UDPSize(), miekg.MinMsgSize), false)
	}
	return resp
}

func header(q miekg.Question) miekg.RR_Header {
	return miekg.RR_Header{Name: q.Name, Rrtype: q.Qtype, Class: miekg.ClassINET, Ttl: ttl}
}

// reverseAddr parses the owner name of a PTR query, "4.3.2.1.in-addr.arpa." or the 32-nibble ip6.arpa form.
func reverseAddr(name string) (netip.Addr, bool) {
	n := strings.ToLower(strings.TrimSuffix(name, "."))
	if rest, ok := strings.CutSuffix(n, ".in-addr.arpa"); ok {
		labels := strings.Split(rest, ".")
		if len(labels) != 4 {
			return netip.Addr{}, false
		}
		a, err := netip.ParseAddr(labels[3] + "." + labels[2] + "." + labels[1] + "." + labels[0])
		return a, err == nil
	}
	if rest, ok := strings.CutSuffix(n, ".ip6.arpa"); ok {
		labels := strings.Split(rest, ".")
		if len(labels) != 32 {
			return netip.Addr{}, false
		}
		var b strings.Builder
		for i := 31; i >= 0; i-- {
			if len(labels[i]) != 1 {
				return netip.Addr{}, false
			}
			b.WriteString(labels[i])
			if i%4 == 0 && i > 0 {
				b.WriteByte(':')
			}
		}
		a, err := netip.ParseAddr(b.String())
		return a, err == nil && a.Is6()
	}
	return netip.Addr{}, false
}

// forwarder relays queries to the upstream resolvers. Its sockets are created by the goroutine that calls
// forward, which must be an ordinary one (in the daemon's network namespace).
type forwarder struct {
	upstream []string
	timeout  time.Duration
	sem      chan struct{}
}

var (
	errNoUpstream = errors.New("no upstream resolver")
	errBusy       = errors.New("too many queries in flight to upstream resolvers")
)

// forward tries each upstream in order over proto ("udp" falls back to TCP on a truncated reply) and returns
// the first answer that is not SERVFAIL or REFUSED, as is.
func (f *forwarder) forward(ctx context.Context, req *miekg.Msg, proto string) (*miekg.Msg, error) {
	if len(f.upstream) == 0 {
		return nil, errNoUpstream
	}
	select {
	case f.sem <- struct{}{}:
		defer func() { <-f.sem }()
	default:
		return nil, errBusy
	}
	var errs []error
	for _, up := range f.upstream {
		resp, err := f.exchange(ctx, req, up, proto)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", up, err))
			if ctx.Err() != nil {
				break
			}
			continue
		}
		if resp.Rcode == miekg.RcodeServerFailure || resp.Rcode == miekg.RcodeRefused {
			errs = append(errs, fmt.Errorf("%s: %s", up, miekg.RcodeToString[resp.Rcode]))
			continue
		}
		resp.Compress = true // so that as much as possible fits if the reply must be truncated for the client
		return resp, nil
	}
	return nil, errors.Join(errs...)
}

func (f *forwarder) exchange(ctx context.Context, req *miekg.Msg, upstream, proto string) (*miekg.Msg, error) {
	c := &miekg.Client{Net: proto, Timeout: f.timeout, UDPSize: miekg.DefaultMsgSize}
	resp, _, err := c.ExchangeContext(ctx, req, upstream)
	if err == nil && proto == "udp" && resp.Truncated {
		c.Net = "tcp"
		resp, _, err = c.ExchangeContext(ctx, req, upstream)
	}
	if err != nil {
		return nil, err
	}
	return resp, nil
}
