package vnet

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/berth/berth/internal/network/link"
	"github.com/berth/berth/internal/testutil"
)

func run(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// Attach in a namespace made as the engine makes a container's: a tap beside the veth, joined both ways by tc
// redirects, the guest told the veth's address, MAC and gateway; a second Attach (the machine's restart)
// replaces the redirects; closing the tap removes it.
func TestAttach(t *testing.T) {
	testutil.RequiresRoot(t)
	ctx := context.Background()
	b := make([]byte, 3)
	rand.Read(b)
	suffix := hex.EncodeToString(b)
	dir := t.TempDir()
	// NewNetNS makes the namespaces' directory a mount point of its own, as iproute2 does with /run/netns.
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	ns := filepath.Join(dir, "ns")
	if err := link.NewNetNS(ctx, ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { link.DeleteNetNS(ctx, ns) })
	host := "vt" + suffix
	run(t, "ip", "link", "add", host, "type", "veth", "peer", "name", "eth0", "netns", ns)
	t.Cleanup(func() { exec.Command("ip", "link", "del", host).Run() })
	in := func(args ...string) string { return run(t, append([]string{"nsenter", "--net=" + ns}, args...)...) }
	in("ip", "link", "set", "eth0", "address", "02:42:ac:1e:00:05", "mtu", "1450", "up")
	in("ip", "addr", "add", "172.30.0.5/16", "dev", "eth0")
	in("ip", "route", "add", "default", "via", "172.30.0.1")

	for round := 0; round < 2; round++ {
		nics, err := Attach(ctx, ns)
		if err != nil {
			t.Fatal(err)
		}
		if len(nics) != 1 {
			t.Fatalf("%d NICs", len(nics))
		}
		g := nics[0].Guest
		if g.MAC != "02:42:ac:1e:00:05" || g.Addr.String() != "172.30.0.5/16" || g.Gateway.String() != "172.30.0.1" || g.MTU != 1450 {
			t.Errorf("guest interface %+v", g)
		}
		if out := in("ip", "-o", "link", "show", "tap0"); !strings.Contains(out, "mtu 1450") || !strings.Contains(out, "UP") {
			t.Errorf("tap0: %s", out)
		}
		for dev, to := range map[string]string{"eth0": "tap0", "tap0": "eth0"} {
			out := in("tc", "filter", "show", "dev", dev, "ingress")
			if strings.Count(out, "mirred") != 1 || !strings.Contains(out, "Redirect to device "+to) {
				t.Errorf("round %d, %s's ingress filters:\n%s", round, dev, out)
			}
		}
		Close(nics)
		if err := exec.Command("nsenter", "--net="+ns, "ip", "link", "show", "tap0").Run(); err == nil {
			t.Error("tap0 outlived its last descriptor")
		}
	}

	// A namespace without a veth (--network none) has nothing to attach.
	empty := filepath.Join(dir, "empty")
	if err := link.NewNetNS(ctx, empty); err != nil {
		t.Fatal(err)
	}
	defer link.DeleteNetNS(ctx, empty)
	if nics, err := Attach(ctx, empty); err != nil || len(nics) != 0 {
		t.Errorf("empty namespace: %v, %v", nics, err)
	}
}
