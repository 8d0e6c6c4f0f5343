package e2e

import (
	"bytes"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestNetworkingContainerDNSServer (issues 11 and 13): a container on a user-defined network runs its own DNS
// server on port 53, UDP and TCP, as a dnsmasq, CoreDNS or Pi-hole container does on a compose network. It
// binds (the embedded DNS leaves 53 free, as docker's DNAT does), other containers reach it at its address,
// and names still resolve through 127.0.0.11, from another container and from inside its own namespace (where
// 127.0.0.1:53 is its own server), also after connecting it to a second network and after kill -9 of the
// daemon, which re-serves DNS on the ports the namespace's table names (free again) and leaves the table as it
// was, nothing added to it.
func TestNetworkingContainerDNSServer(t *testing.T) {
	d := startDaemon(t)
	d.importBusybox(t)
	if r := d.berthR(bytes.NewReader(goProgramTar(t, "dnsd", dnsdSrc)), "import", "--change", `CMD ["/dnsd"]`, "-", "dnsd:latest"); r.Code != 0 {
		t.Fatalf("import dnsd: %s", r)
	}
	d.docker(t, "network", "create", "n")
	d.docker(t, "run", "-d", "--network", "n", "--name", "dns", "dnsd")
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("docker logs dns:\n%s", d.dockerR(nil, "logs", "dns"))
		}
	})
	waitFor(t, 10*time.Second, "dnsd to bind port 53", func() bool {
		return strings.Contains(d.dockerR(nil, "logs", "dns").Stdout, "dnsd: serving 53/udp and 53/tcp")
	})
	if st := strings.TrimSpace(d.docker(t, "inspect", "-f", "{{.State.Status}}", "dns")); st != "running" {
		t.Fatalf("dns is %s; logs:\n%s", st, d.dockerR(nil, "logs", "dns"))
	}
	dnsIP := strings.TrimSpace(d.docker(t, "inspect", "-f", "{{.NetworkSettings.Networks.n.IPAddress}}", "dns"))
	if dnsIP == "" {
		t.Fatal("dns has no address on n")
	}

	// nslookup runs busybox's nslookup in a new container with the given --network and returns its output.
	nslookup := func(network, name, server string) string {
		r := d.dockerR(nil, "run", "--rm", "--network", network, "busybox", "nslookup", name, server)
		if r.Code != 0 {
			t.Fatalf("nslookup %s %s on --network %s: %s", name, server, network, r)
		}
		return r.Stdout
	}
	check := func(t *testing.T) {
		t.Helper()
		if out := nslookup("n", "dns", "127.0.0.11"); !strings.Contains(out, dnsIP) {
			t.Errorf("another container on n resolving dns via 127.0.0.11: want %s in\n%s", dnsIP, out)
		}
		if out := nslookup("n", "any.example", dnsIP); !strings.Contains(out, "192.0.2.53") {
			t.Errorf("another container on n asking dns's own server at %s:53: want 192.0.2.53 in\n%s", dnsIP, out)
		}
		// In dns's own namespace: 127.0.0.11:53 is the embedded server, 127.0.0.1:53 the container's.
		if out := nslookup("container:dns", "dns", "127.0.0.11"); !strings.Contains(out, dnsIP) {
			t.Errorf("in dns's namespace, resolving dns via 127.0.0.11: want %s in\n%s", dnsIP, out)
		}
		if out := nslookup("container:dns", "any.example", "127.0.0.1"); !strings.Contains(out, "192.0.2.53") {
			t.Errorf("in dns's namespace, asking 127.0.0.1:53: want 192.0.2.53 in\n%s", out)
		}
	}
	t.Run("before restart", check)

	pid := strings.TrimSpace(d.docker(t, "inspect", "-f", "{{.State.Pid}}", "dns"))
	if _, err := strconv.Atoi(pid); err != nil || pid == "0" {
		t.Fatalf("dns's pid: %q", pid)
	}
	table := func() string {
		out, err := exec.Command("nsenter", "-t", pid, "-n", "nft", "list", "table", "ip", "berth-dns").CombinedOutput()
		if err != nil {
			t.Fatalf("nft list table ip berth-dns in dns's namespace: %v\n%s", err, out)
		}
		return string(out)
	}
	before := table()

	// Connecting a second network: the running server answers for it too (it asks the container's networks on
	// each query), so the table is left as it is.
	d.docker(t, "network", "create", "n2")
	d.docker(t, "run", "-d", "--network", "n2", "--name", "other", "busybox", "sleep", "1000")
	otherIP := strings.TrimSpace(d.docker(t, "inspect", "-f", "{{.NetworkSettings.Networks.n2.IPAddress}}", "other"))
	d.docker(t, "network", "connect", "n2", "dns")
	if out := nslookup("container:dns", "other", "127.0.0.11"); !strings.Contains(out, otherIP) {
		t.Errorf("in dns's namespace after connecting n2, resolving other: want %s in\n%s", otherIP, out)
	}
	if got := table(); got != before {
		t.Errorf("network connect changed the table:\n%s\nwas:\n%s", got, before)
	}

	d.kill9()
	d.start()
	t.Run("after kill -9 of the daemon", check)
	after := table()
	for _, want := range []string{"udp dport 53 dnat", "tcp dport 53 dnat", "udp sport", "tcp sport"} {
		if n := strings.Count(after, want); n != 1 {
			t.Errorf("%q appears %d times in the table after the restart, want once:\n%s", want, n, after)
		}
	}
	if before != after {
		t.Errorf("the restarted daemon rewrote the table although its ports were free:\n%s\nwas:\n%s", after, before)
	}
}

// dnsdSrc is a tiny DNS server (the standard library only, so it builds without modules): on :53, UDP and TCP,
// it answers an A question for any name with 192.0.2.53 and any other question with no record.
const dnsdSrc = `package main

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
)

func answer(q []byte) []byte {
	if len(q) < 12 {
		return nil
	}
	i := 12
	for i < len(q) && q[i] != 0 {
		i += int(q[i]) + 1
	}
	i += 5 // the root label, type and class
	if i > len(q) {
		return nil
	}
	qtype := binary.BigEndian.Uint16(q[i-4 : i-2])
	r := append([]byte{q[0], q[1], 0x84 | q[2]&0x01, 0x80, 0, 1, 0, 0, 0, 0, 0, 0}, q[12:i]...)
	if qtype == 1 {
		r[7] = 1
		r = append(r, 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 53)
	}
	return r
}

func main() {
	pc, err := net.ListenPacket("udp", ":53")
	if err != nil {
		fmt.Println("dnsd:", err)
		os.Exit(1)
	}
	l, err := net.Listen("tcp", ":53")
	if err != nil {
		fmt.Println("dnsd:", err)
		os.Exit(1)
	}
	fmt.Println("dnsd: serving 53/udp and 53/tcp")
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				for {
					var n [2]byte
					if _, err := io.ReadFull(c, n[:]); err != nil {
						return
					}
					q := make([]byte, binary.BigEndian.Uint16(n[:]))
					if _, err := io.ReadFull(c, q); err != nil {
						return
					}
					r := answer(q)
					c.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(r))), r...))
				}
			}()
		}
	}()
	buf := make([]byte, 512)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		if r := answer(buf[:n]); r != nil {
			pc.WriteTo(r, from)
		}
	}
}
`
