package dns

import (
	"net"
	"slices"
	"strings"
	"testing"

	miekg "github.com/miekg/dns"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/berth/berth/internal/network/firewall"
)

// natTable lists the NAT rules of the server's table in the namespace at nsPath, as nft prints them.
func natTable(t *testing.T, nsPath string) []string {
	t.Helper()
	out := run(t, "nsenter", "--net="+nsPath, "nft", "list", "table", "ip", firewall.DNSTable)
	var rules []string
	for _, l := range strings.Split(out, "\n") {
		if l = strings.TrimSpace(l); strings.Contains(l, "nat to") || strings.Contains(l, "nat ip to") {
			rules = append(rules, l)
		}
	}
	return rules
}

// containerServer is a container's own DNS server on 0.0.0.0:53 (UDP and TCP) in the namespace at nsPath; it
// answers user.test. with 192.0.2.99 and refuses everything else. It fails the test if it cannot bind.
func containerServer(t *testing.T, nsPath string) {
	t.Helper()
	var (
		pc net.PacketConn
		l  net.Listener
	)
	err := inNetns(nsPath, func() error {
		var err error
		if pc, err = net.ListenPacket("udp4", "0.0.0.0:53"); err != nil {
			return err
		}
		l, err = net.Listen("tcp4", "0.0.0.0:53")
		return err
	})
	if err != nil {
		if pc != nil {
			pc.Close()
		}
		t.Fatalf("the container's server cannot bind 0.0.0.0:53: %v", err)
	}
	h := miekg.HandlerFunc(func(w miekg.ResponseWriter, req *miekg.Msg) {
		resp := new(miekg.Msg).SetReply(req)
		if q := req.Question[0]; q.Name == "user.test." && q.Qtype == miekg.TypeA {
			resp.Answer = append(resp.Answer, &miekg.A{
				Hdr: miekg.RR_Header{Name: q.Name, Rrtype: miekg.TypeA, Class: miekg.ClassINET, Ttl: 60},
				A:   net.IPv4(192, 0, 2, 99),
			})
		} else {
			resp.Rcode = miekg.RcodeRefused
		}
		_ = w.WriteMsg(resp)
	})
	for _, s := range []*miekg.Server{{PacketConn: pc, Handler: h}, {Listener: l, Handler: h}} {
		started := make(chan struct{})
		s.NotifyStartedFunc = func() { close(started) }
		go s.ActivateAndServe()
		<-started
		t.Cleanup(func() { _ = s.Shutdown() })
	}
}

// queryAt sends one question to addr ("ip:port") from inside the namespace at nsPath.
func queryAt(t *testing.T, nsPath, proto, addr, name string) *miekg.Msg {
	t.Helper()
	var conn net.Conn
	err := inNetns(nsPath, func() error {
		var err error
		conn, err = net.Dial(proto, addr)
		return err
	})
	if err != nil {
		t.Fatalf("dial %s %s: %v", proto, addr, err)
	}
	c := &miekg.Client{Net: proto}
	resp, _, err := c.ExchangeWithConn(new(miekg.Msg).SetQuestion(name, miekg.TypeA), &miekg.Conn{Conn: conn})
	conn.Close()
	if err != nil {
		t.Fatalf("query %s at %s over %s: %v", name, addr, proto, err)
	}
	return resp
}

// The bug of issues 11 and 13: a container's own DNS server binds 0.0.0.0:53 beside the embedded one, and
// names still resolve through 127.0.0.11:53.
func TestServerLeavesPort53Free(t *testing.T) {
	nsPath := newNetns(t)
	reg := testRegistry(t)
	stop, err := Serve(t.Context(), nsPath, func() []string { return []string{"n1"} }, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)

	containerServer(t, nsPath)

	tests := []struct {
		name, proto, addr, query string
		want                     []string
		wantRcode                int
	}{
		{name: "embedded over udp", proto: "udp", addr: "127.0.0.11:53", query: "web.", want: []string{"10.0.0.5"}},
		{name: "embedded over tcp", proto: "tcp", addr: "127.0.0.11:53", query: "web.", want: []string{"10.0.0.5"}},
		{name: "the container's over udp", proto: "udp", addr: "127.0.0.1:53", query: "user.test.", want: []string{"192.0.2.99"}},
		{name: "the container's over tcp", proto: "tcp", addr: "127.0.0.1:53", query: "user.test.", want: []string{"192.0.2.99"}},
		{name: "the container's does not know containers", proto: "udp", addr: "127.0.0.1:53", query: "web.", wantRcode: miekg.RcodeRefused},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := queryAt(t, nsPath, tt.proto, tt.addr, tt.query)
			if resp.Rcode != tt.wantRcode {
				t.Fatalf("rcode = %s, want %s", miekg.RcodeToString[resp.Rcode], miekg.RcodeToString[tt.wantRcode])
			}
			if got := answerAddrs(resp); !slices.Equal(got, tt.want) {
				t.Errorf("answer = %v, want %v", got, tt.want)
			}
		})
	}

	t.Run("busybox nslookup", func(t *testing.T) {
		busyboxLookup(t, nsPath, "web", "10.0.0.5")
	})

	t.Run("the table", func(t *testing.T) {
		rules := natTable(t, nsPath)
		wants := []string{"ip daddr 127.0.0.11 udp dport 53 dnat", "ip daddr 127.0.0.11 tcp dport 53 dnat",
			"ip saddr 127.0.0.11 udp sport", "ip saddr 127.0.0.11 tcp sport"}
		if len(rules) != len(wants) {
			t.Fatalf("%d rules, want %d:\n%s", len(rules), len(wants), strings.Join(rules, "\n"))
		}
		for i, w := range wants {
			if !strings.HasPrefix(rules[i], w) || !strings.Contains(rules[i], `comment "dns `) {
				t.Errorf("rule %d: %s\nwant it to start with %q and carry its comment", i, rules[i], w)
			}
		}
	})
}

// heldUpstream is a resolver that tells the test a query arrived and answers it only when the test says so.
type heldUpstream struct {
	addr     string
	arrived  chan struct{}
	release  chan struct{}
	shutdown func()
}

func (h *heldUpstream) ServeDNS(w miekg.ResponseWriter, req *miekg.Msg) {
	h.arrived <- struct{}{}
	<-h.release
	resp := new(miekg.Msg).SetReply(req)
	resp.Answer = append(resp.Answer, &miekg.A{
		Hdr: miekg.RR_Header{Name: req.Question[0].Name, Rrtype: miekg.TypeA, Class: miekg.ClassINET, Ttl: 60},
		A:   net.IPv4(192, 0, 2, 7),
	})
	_ = w.WriteMsg(resp)
}

// A reply whose query conntrack forgot (flushed while the query was upstream) still comes from :53: the
// table's SNAT, not conntrack, rewrites its source, and the client's socket, connected to :53, takes it.
func TestReplyAfterConntrackFlush(t *testing.T) {
	nsPath := newNetns(t)
	up := &heldUpstream{arrived: make(chan struct{}, 1), release: make(chan struct{})}
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	up.addr = pc.LocalAddr().String()
	s := &miekg.Server{PacketConn: pc, Handler: up}
	started := make(chan struct{})
	s.NotifyStartedFunc = func() { close(started) }
	go s.ActivateAndServe()
	<-started
	t.Cleanup(func() { _ = s.Shutdown() })

	stop, err := Serve(t.Context(), nsPath, func() []string { return []string{"n1"} }, testRegistry(t), []string{up.addr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)

	type result struct {
		resp *miekg.Msg
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := query(t, nsPath, "udp", "held.test.", miekg.TypeA)
		done <- result{resp, err}
	}()
	select {
	case <-up.arrived:
	case r := <-done:
		t.Fatalf("query finished before reaching the upstream: %v %v", r.resp, r.err)
	}
	err = inNetns(nsPath, func() error {
		h, err := netlink.NewHandle(unix.NETLINK_NETFILTER)
		if err != nil {
			return err
		}
		defer h.Close()
		return h.ConntrackTableFlush(netlink.ConntrackTable)
	})
	if err != nil {
		close(up.release)
		t.Fatalf("flush conntrack: %v", err)
	}
	close(up.release)
	r := <-done
	if r.err != nil {
		t.Fatalf("query after the conntrack flush: %v", r.err)
	}
	if got := answerAddrs(r.resp); !slices.Equal(got, []string{"192.0.2.7"}) {
		t.Errorf("answer = %v, want [192.0.2.7]", got)
	}
}

// BenchmarkServe is the setup cost the embedded DNS adds to a container's start on a user-defined network (a
// new namespace each time): the address on lo, the sockets and the NAT table, then stop.
func BenchmarkServe(b *testing.B) {
	reg := NewRegistry()
	nets := func() []string { return nil }
	for range b.N {
		b.StopTimer()
		nsPath := newNetns(b)
		b.StartTimer()
		stop, err := Serve(b.Context(), nsPath, nets, reg, nil)
		if err != nil {
			b.Fatal(err)
		}
		stop()
	}
}

// BenchmarkServeAgain is the cost of serving a namespace served before, as a restarted daemon does for each
// running container: the table's ports are free again, so it is kept.
func BenchmarkServeAgain(b *testing.B) {
	nsPath := newNetns(b)
	reg := NewRegistry()
	nets := func() []string { return nil }
	for b.Loop() {
		stop, err := Serve(b.Context(), nsPath, nets, reg, nil)
		if err != nil {
			b.Fatal(err)
		}
		stop()
	}
}
