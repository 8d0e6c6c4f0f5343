package dns

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth/berth/internal/network/firewall"
	"github.com/berth/berth/internal/testutil"
	"github.com/containerd/errdefs"
	miekg "github.com/miekg/dns"
	"golang.org/x/sys/unix"
)

// newNetns creates a network namespace with its loopback up, bind-mounted on a file in a temporary directory,
// and returns that file's path; the namespace is unmounted and the file removed when the test ends.
func newNetns(t testing.TB) string {
	t.Helper()
	testutil.RequiresRoot(t)
	nsPath := filepath.Join(t.TempDir(), "netns")
	f, err := os.Create(nsPath)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	errc := make(chan error, 1)
	go func() {
		// A new namespace on a locked thread, kept alive by the bind mount; the thread is then switched back.
		runtime.LockOSThread()
		orig, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer orig.Close()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("unshare: %w", err)
			return
		}
		err = unix.Mount(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()), nsPath, "", unix.MS_BIND, "")
		if serr := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); serr != nil {
			errc <- errors.Join(err, serr) // the thread stays locked and dies with this goroutine
			return
		}
		runtime.UnlockOSThread()
		errc <- err
	}()
	if err := <-errc; err != nil {
		t.Fatalf("create network namespace: %v", err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(nsPath, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", nsPath, err)
		}
	})
	run(t, "nsenter", "--net="+nsPath, "ip", "link", "set", "lo", "up")
	return nsPath
}

func run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// fakeUpstream is a resolver in the host's network namespace, on loopback, where only a query forwarded from
// the host namespace can reach it.
type fakeUpstream struct {
	addr   string
	mu     sync.Mutex
	protos []string // the transport of each query received
}

func (f *fakeUpstream) ServeDNS(w miekg.ResponseWriter, req *miekg.Msg) {
	proto := "udp"
	if _, ok := w.RemoteAddr().(*net.TCPAddr); ok {
		proto = "tcp"
	}
	f.mu.Lock()
	f.protos = append(f.protos, proto)
	f.mu.Unlock()

	resp := new(miekg.Msg).SetReply(req)
	q := req.Question[0]
	switch {
	case q.Name == "example.test." && q.Qtype == miekg.TypeA:
		resp.Answer = append(resp.Answer, &miekg.A{
			Hdr: miekg.RR_Header{Name: q.Name, Rrtype: miekg.TypeA, Class: miekg.ClassINET, Ttl: 60},
			A:   net.IPv4(192, 0, 2, 1),
		})
	case q.Name == "big.test." && q.Qtype == miekg.TypeA:
		for i := range 40 {
			resp.Answer = append(resp.Answer, &miekg.A{
				Hdr: miekg.RR_Header{Name: q.Name, Rrtype: miekg.TypeA, Class: miekg.ClassINET, Ttl: 60},
				A:   net.IPv4(192, 0, 2, byte(i+1)),
			})
		}
	default:
		resp.Rcode = miekg.RcodeNameError
	}
	if proto == "udp" {
		resp.Truncate(miekg.MinMsgSize)
	}
	_ = w.WriteMsg(resp)
}

func (f *fakeUpstream) sawTCP() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Contains(f.protos, "tcp")
}

// startUpstream serves f on 127.0.0.1:port, UDP and TCP, in the test's (host) network namespace.
func startUpstream(t *testing.T) *fakeUpstream {
	t.Helper()
	f := &fakeUpstream{}
	for range 10 {
		pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		f.addr = pc.LocalAddr().String()
		l, err := net.Listen("tcp4", f.addr)
		if err != nil {
			pc.Close() // the TCP port is taken; try another
			continue
		}
		for _, s := range []*miekg.Server{{PacketConn: pc, Handler: f}, {Listener: l, Handler: f}} {
			started := make(chan struct{})
			s.NotifyStartedFunc = func() { close(started) }
			go s.ActivateAndServe()
			<-started
			t.Cleanup(func() { _ = s.Shutdown() })
		}
		return f
	}
	t.Fatal("no free port for the fake upstream")
	return nil
}

// deadUpstream returns an address on which nothing answers: a closed UDP and TCP port.
func deadUpstream(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	return addr
}

// query sends one question to 127.0.0.11:53 from inside the namespace at nsPath. The socket is created on a
// thread switched into the namespace; the exchange itself runs on this goroutine.
func query(t *testing.T, nsPath, proto, name string, qtype uint16) (*miekg.Msg, error) {
	t.Helper()
	var conn net.Conn
	err := inNetns(nsPath, func() error {
		var err error
		conn, err = net.Dial(proto, net.JoinHostPort(Address, "53"))
		return err
	})
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	co := &miekg.Conn{Conn: conn}
	if err := co.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		return nil, err
	}
	if err := co.WriteMsg(new(miekg.Msg).SetQuestion(name, qtype)); err != nil {
		return nil, err
	}
	return co.ReadMsg()
}

func mustQuery(t *testing.T, nsPath, proto, name string, qtype uint16) *miekg.Msg {
	t.Helper()
	resp, err := query(t, nsPath, proto, name, qtype)
	if err != nil {
		t.Fatalf("query %s %s over %s: %v", name, miekg.TypeToString[qtype], proto, err)
	}
	return resp
}

func answerAddrs(resp *miekg.Msg) []string {
	var out []string
	for _, rr := range resp.Answer {
		switch rr := rr.(type) {
		case *miekg.A:
			out = append(out, rr.A.String())
		case *miekg.AAAA:
			out = append(out, rr.AAAA.String())
		case *miekg.PTR:
			out = append(out, rr.Ptr)
		}
	}
	return out
}

// attached is the container's list of networks, changed by the test as connect/disconnect would.
type attached struct {
	mu   sync.Mutex
	nets []string
}

func (a *attached) get() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.nets)
}

func (a *attached) set(nets ...string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.nets = nets
}

func TestServer(t *testing.T) {
	nsPath := newNetns(t)
	up := startUpstream(t)

	reg := testRegistry(t) // web (alias frontend) -> 10.0.0.5 on n1, db -> 10.0.0.6 on n2
	const selfID = "5e1f5e1f5e1f5e1f5e1f"
	must(t, reg.AddEndpoint("n1", Endpoint{ContainerID: selfID, Name: "self", Addr: netip.MustParseAddr("10.0.0.2")}))
	must(t, reg.AddEndpoint("n1", Endpoint{ContainerID: "a1", Name: "api1", Aliases: []string{"api"}, Addr: netip.MustParseAddr("10.0.0.7")}))
	must(t, reg.AddEndpoint("n1", Endpoint{ContainerID: "a2", Name: "api2", Aliases: []string{"api"}, Addr: netip.MustParseAddr("10.0.0.8")}))
	nets := &attached{}
	nets.set("n1")

	ctx := t.Context()
	stop, err := Serve(ctx, nsPath, nets.get, reg, []string{deadUpstream(t), up.addr}, WithForwardTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)

	tests := []struct {
		name      string
		proto     string
		query     string
		qtype     uint16
		wantRcode int
		want      []string // in any order
	}{
		{name: "container name", query: "web.", qtype: miekg.TypeA, want: []string{"10.0.0.5"}},
		{name: "container name over tcp", proto: "tcp", query: "web.", qtype: miekg.TypeA, want: []string{"10.0.0.5"}},
		{name: "case-insensitive", query: "WEB.", qtype: miekg.TypeA, want: []string{"10.0.0.5"}},
		{name: "name.network", query: "web.n1.", qtype: miekg.TypeA, want: []string{"10.0.0.5"}},
		{name: "own name", query: "self.", qtype: miekg.TypeA, want: []string{"10.0.0.2"}},
		{name: "alias", query: "frontend.", qtype: miekg.TypeA, want: []string{"10.0.0.5"}},
		{name: "short ID", query: webID[:12] + ".", qtype: miekg.TypeA, want: []string{"10.0.0.5"}},
		{name: "shared alias", query: "api.", qtype: miekg.TypeA, want: []string{"10.0.0.7", "10.0.0.8"}},
		{name: "AAAA of an IPv4-only name is empty", query: "web.", qtype: miekg.TypeAAAA},
		{name: "MX of a known name is empty", query: "web.", qtype: miekg.TypeMX},
		{name: "other network is not resolved", query: "db.", qtype: miekg.TypeA, wantRcode: miekg.RcodeNameError},
		{name: "name.network of an unattached network", query: "db.n2.", qtype: miekg.TypeA, wantRcode: miekg.RcodeNameError},
		{name: "PTR", query: "5.0.0.10.in-addr.arpa.", qtype: miekg.TypePTR, want: []string{"web.n1."}},
		{name: "PTR on another network is forwarded", query: "6.0.0.10.in-addr.arpa.", qtype: miekg.TypePTR, wantRcode: miekg.RcodeNameError},
		{name: "forwarded from the host namespace", query: "example.test.", qtype: miekg.TypeA, want: []string{"192.0.2.1"}},
		{name: "forwarded over tcp", proto: "tcp", query: "example.test.", qtype: miekg.TypeA, want: []string{"192.0.2.1"}},
		{name: "unknown single label is forwarded", query: "nosuch.", qtype: miekg.TypeA, wantRcode: miekg.RcodeNameError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			proto := cmp.Or(tt.proto, "udp")
			resp := mustQuery(t, nsPath, proto, tt.query, tt.qtype)
			if resp.Rcode != tt.wantRcode {
				t.Fatalf("rcode = %s, want %s", miekg.RcodeToString[resp.Rcode], miekg.RcodeToString[tt.wantRcode])
			}
			got := answerAddrs(resp)
			slices.Sort(got)
			if !slices.Equal(got, tt.want) {
				t.Errorf("answer = %v, want %v", got, tt.want)
			}
		})
	}

	t.Run("shared alias rotates", func(t *testing.T) {
		first := answerAddrs(mustQuery(t, nsPath, "udp", "api.", miekg.TypeA))
		second := answerAddrs(mustQuery(t, nsPath, "udp", "api.", miekg.TypeA))
		if len(first) != 2 || first[0] == second[0] {
			t.Errorf("answers %v then %v, want the order rotated", first, second)
		}
	})

	t.Run("truncated upstream reply falls back to tcp", func(t *testing.T) {
		resp := mustQuery(t, nsPath, "udp", "big.test.", miekg.TypeA)
		if !resp.Truncated || !up.sawTCP() {
			t.Errorf("over udp: truncated=%v, upstream saw tcp=%v; want both", resp.Truncated, up.sawTCP())
		}
		resp = mustQuery(t, nsPath, "tcp", "big.test.", miekg.TypeA)
		if len(resp.Answer) != 40 || resp.Truncated {
			t.Errorf("over tcp: %d answers, truncated=%v; want 40, false", len(resp.Answer), resp.Truncated)
		}
	})

	t.Run("connecting a network makes its names visible", func(t *testing.T) {
		nets.set("n1", "n2")
		defer nets.set("n1")
		if got := answerAddrs(mustQuery(t, nsPath, "udp", "db.", miekg.TypeA)); !slices.Equal(got, []string{"10.0.0.6"}) {
			t.Errorf("db = %v", got)
		}
	})

	t.Run("removed record is NXDOMAIN", func(t *testing.T) {
		reg.Remove("n1", "frontend", webAddr)
		resp := mustQuery(t, nsPath, "udp", "frontend.", miekg.TypeA)
		if resp.Rcode != miekg.RcodeNameError {
			t.Errorf("rcode = %s, want NXDOMAIN", miekg.RcodeToString[resp.Rcode])
		}
	})

	t.Run("busybox nslookup", func(t *testing.T) {
		busyboxLookup(t, nsPath, "web", "10.0.0.5")
	})

	t.Run("the address is on lo", func(t *testing.T) {
		out := run(t, "nsenter", "--net="+nsPath, "ip", "-4", "addr", "show", "dev", "lo")
		if !strings.Contains(out, Address+"/32") {
			t.Errorf("lo has no %s/32:\n%s", Address, out)
		}
	})

	t.Run("a second server takes over, replacing the table", func(t *testing.T) {
		// As a restarted daemon does: a new server on the namespace of a running container.
		stop2, err := Serve(ctx, nsPath, nets.get, reg, nil)
		if err != nil {
			t.Fatal(err)
		}
		// The new server, without upstream, answers: it has no forwarder.
		if resp := mustQuery(t, nsPath, "udp", "example.test.", miekg.TypeA); resp.Rcode != miekg.RcodeServerFailure {
			t.Errorf("after a second Serve: rcode = %s, want SERVFAIL from the new server", miekg.RcodeToString[resp.Rcode])
		}
		if got := answerAddrs(mustQuery(t, nsPath, "tcp", "web.", miekg.TypeA)); !slices.Equal(got, []string{"10.0.0.5"}) {
			t.Errorf("web over tcp = %v", got)
		}
		if got := natTable(t, nsPath); len(got) != 4 {
			t.Errorf("table %s has %d rules, want 4 (replaced, not added to):\n%s", firewall.DNSTable, len(got), strings.Join(got, "\n"))
		}
		stop2()
		// The table still points at the stopped server: refused, not answered by the first one.
		if _, err := query(t, nsPath, "tcp", "web.", miekg.TypeA); err == nil {
			t.Error("tcp query answered after the second server stopped")
		}
	})

	t.Run("stop closes the sockets and a new server can start", func(t *testing.T) {
		stop()
		stop() // idempotent
		if _, err := query(t, nsPath, "tcp", "web.", miekg.TypeA); err == nil {
			t.Fatal("tcp query answered after stop")
		}
		if _, err := query(t, nsPath, "udp", "web.", miekg.TypeA); err == nil {
			t.Fatal("udp query answered after stop")
		}

		// No upstream this time: local names still resolve, others fail. The table's ports are free again, so
		// the new server listens on them and leaves the table as it was (a daemon restart changes nothing there).
		before := natTable(t, nsPath)
		stop2, err := Serve(ctx, nsPath, nets.get, reg, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer stop2()
		if after := natTable(t, nsPath); !slices.Equal(after, before) {
			t.Errorf("a server on the table's free ports rewrote it:\n%s\nwas:\n%s", strings.Join(after, "\n"), strings.Join(before, "\n"))
		}
		if got := answerAddrs(mustQuery(t, nsPath, "udp", "web.", miekg.TypeA)); !slices.Equal(got, []string{"10.0.0.5"}) {
			t.Errorf("web = %v", got)
		}
		if resp := mustQuery(t, nsPath, "udp", "example.test.", miekg.TypeA); resp.Rcode != miekg.RcodeServerFailure {
			t.Errorf("without upstream: rcode = %s, want SERVFAIL", miekg.RcodeToString[resp.Rcode])
		}
	})
}

func TestServerAllUpstreamsFail(t *testing.T) {
	nsPath := newNetns(t)
	reg := testRegistry(t)
	stop, err := Serve(t.Context(), nsPath, func() []string { return []string{"n1"} }, reg,
		[]string{deadUpstream(t), deadUpstream(t)}, WithForwardTimeout(500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if resp := mustQuery(t, nsPath, "udp", "example.test.", miekg.TypeA); resp.Rcode != miekg.RcodeServerFailure {
		t.Errorf("rcode = %s, want SERVFAIL", miekg.RcodeToString[resp.Rcode])
	}
}

func TestServeErrors(t *testing.T) {
	testutil.RequiresRoot(t)
	nets := func() []string { return nil }
	reg := NewRegistry()
	tests := []struct {
		name     string
		nsPath   string
		upstream []string
		check    func(error) bool
	}{
		{name: "missing namespace", nsPath: "/nonexistent/berth-test-netns", check: errdefs.IsNotFound},
		{name: "not a namespace", nsPath: "/proc/self/ns/uts", check: errdefs.IsInvalidArgument},
		{name: "bad upstream", nsPath: "/proc/self/ns/net", upstream: []string{"resolver.example"}, check: errdefs.IsInvalidArgument},
		{name: "no namespace", check: errdefs.IsInvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stop, err := Serve(t.Context(), tt.nsPath, nets, reg, tt.upstream)
			if err == nil {
				stop()
				t.Fatal("Serve succeeded")
			}
			if !tt.check(err) {
				t.Errorf("err = %v, wrong category", err)
			}
		})
	}
	t.Run("cancelled context", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if _, err := Serve(ctx, "/proc/self/ns/net", nets, reg, nil); !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
	})
}

func TestParseUpstreams(t *testing.T) {
	got, err := parseUpstreams([]string{"192.0.2.53", "127.0.0.53:53", "[2001:db8::1]:5353", "2001:db8::2"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"192.0.2.53:53", "127.0.0.53:53", "[2001:db8::1]:5353", "[2001:db8::2]:53"}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestInNetns(t *testing.T) {
	nsPath := newNetns(t)
	threadNetns := func() uint64 {
		var st unix.Stat_t
		if err := unix.Stat(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()), &st); err != nil {
			t.Error(err)
		}
		return st.Ino
	}
	var target unix.Stat_t
	must(t, unix.Stat(nsPath, &target))
	runtime.LockOSThread()
	host := threadNetns()
	runtime.UnlockOSThread()

	for range 20 {
		must(t, inNetns(nsPath, func() error {
			if got := threadNetns(); got != target.Ino {
				return fmt.Errorf("fn ran in namespace %d, want %d", got, target.Ino)
			}
			return nil
		}))
	}
	// Every thread the runtime hands out afterwards is back in the host namespace.
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			if got := threadNetns(); got != host {
				t.Errorf("thread %d is in namespace %d, want the host's %d", unix.Gettid(), got, host)
			}
		})
	}
	wg.Wait()
}

// busyboxLookup resolves name with busybox's nslookup (a real client's resolver) at the embedded server's
// address inside the namespace at nsPath, and wants addr in its answer.
func busyboxLookup(t *testing.T, nsPath, name, addr string) {
	t.Helper()
	if _, err := os.Stat("/usr/bin/busybox"); err != nil {
		t.Skip("no busybox")
	}
	out, err := exec.Command("nsenter", "--net="+nsPath, "/usr/bin/busybox", "nslookup", name, Address).CombinedOutput()
	if err != nil || !strings.Contains(string(out), addr) {
		t.Errorf("nslookup %s: %v\n%s", name, err, out)
	}
}
