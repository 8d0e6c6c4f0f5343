package ipam

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/containerd/errdefs"
)

func prefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

func TestDefaultPools(t *testing.T) {
	pools := DefaultPools()
	if len(pools) != 31 {
		t.Fatalf("got %d pools, want 31 (15 /16s and 16 /20s)", len(pools))
	}
	for i, want := range map[int]string{0: "172.17.0.0/16", 14: "172.31.0.0/16", 15: "192.168.0.0/20", 16: "192.168.16.0/20", 30: "192.168.240.0/20"} {
		if got := pools[i].String(); got != want {
			t.Errorf("pools[%d] = %s, want %s", i, got, want)
		}
	}
}

func TestSplitPool(t *testing.T) {
	tests := []struct {
		name    string
		base    string
		size    int
		want    []string // first entries
		count   int
		wantErr bool
	}{
		{name: "same size", base: "10.0.0.0/16", size: 16, want: []string{"10.0.0.0/16"}, count: 1},
		{name: "/24s", base: "10.10.0.0/16", size: 24, want: []string{"10.10.0.0/24", "10.10.1.0/24"}, count: 256},
		{name: "docker's 10/8 example", base: "10.0.0.0/8", size: 24, want: []string{"10.0.0.0/24"}, count: 65536},
		{name: "top of the address space", base: "255.255.255.0/24", size: 26, want: []string{"255.255.255.0/26"}, count: 4},
		{name: "size bigger than base", base: "10.0.0.0/16", size: 8, wantErr: true},
		{name: "size past the address length", base: "10.0.0.0/16", size: 33, wantErr: true},
		{name: "not masked", base: "10.0.0.1/16", size: 24, wantErr: true},
		{name: "too many", base: "10.0.0.0/8", size: 28, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := SplitPool(netip.MustParsePrefix(tt.base), tt.size)
			if tt.wantErr {
				if !errdefs.IsInvalidArgument(err) {
					t.Fatalf("err = %v, want an invalid argument", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tt.count {
				t.Fatalf("got %d subnets, want %d", len(got), tt.count)
			}
			for i, w := range tt.want {
				if got[i].String() != w {
					t.Errorf("subnet %d = %s, want %s", i, got[i], w)
				}
			}
			if last := got[len(got)-1]; !netip.MustParsePrefix(tt.base).Contains(lastAddr(last)) {
				t.Errorf("last subnet %s leaves the base", last)
			}
		})
	}
}

func TestChooseSubnet(t *testing.T) {
	tests := []struct {
		name    string
		pools   []netip.Prefix
		inUse   []netip.Prefix
		want    string
		wantErr bool
	}{
		{name: "empty host", pools: DefaultPools(), want: "172.17.0.0/16"},
		{name: "docker0 present", pools: DefaultPools(), inUse: prefixes("172.17.0.0/16"), want: "172.18.0.0/16"},
		{name: "docker0 by its address", pools: DefaultPools(), inUse: prefixes("172.17.0.1/16"), want: "172.18.0.0/16"},
		{
			name:  "a /24 route inside 172.18",
			pools: DefaultPools(),
			inUse: prefixes("172.17.0.0/16", "172.18.5.0/24"),
			want:  "172.19.0.0/16",
		},
		{
			name:  "a wider route covering several pools",
			pools: DefaultPools(),
			inUse: prefixes("172.16.0.0/13"),
			want:  "172.24.0.0/16",
		},
		{
			name:  "default route and IPv6 ignored",
			pools: DefaultPools(),
			inUse: prefixes("0.0.0.0/0", "fd00::/8", "192.0.2.0/24"),
			want:  "172.17.0.0/16",
		},
		{
			name:  "all 172s taken, home LAN on 192.168.1.0/24",
			pools: DefaultPools(),
			inUse: prefixes("172.16.0.0/12", "192.168.1.0/24"),
			want:  "192.168.16.0/20",
		},
		{name: "everything taken", pools: DefaultPools(), inUse: prefixes("172.16.0.0/12", "192.168.0.0/16"), wantErr: true},
		{name: "no pools", wantErr: true},
		{name: "caller's order", pools: prefixes("10.1.0.0/24", "10.0.0.0/24"), inUse: prefixes("10.1.0.0/16"), want: "10.0.0.0/24"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ChooseSubnet(tt.pools, tt.inUse)
			if tt.wantErr {
				if !errdefs.IsUnavailable(err) {
					t.Fatalf("err = %v, want unavailable", err)
				}
				const msg = "could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network"
				if err.Error() != msg {
					t.Errorf("message %q, want docker's %q", err, msg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.String() != tt.want {
				t.Errorf("ChooseSubnet = %s, want %s", got, tt.want)
			}
		})
	}
}

// TestChooseSubnetSkipsExisting plays a daemon creating networks one after another.
func TestChooseSubnetSkipsExisting(t *testing.T) {
	inUse := prefixes("172.17.0.0/16")
	var got []string
	for range 3 {
		p, err := ChooseSubnet(DefaultPools(), inUse)
		if err != nil {
			t.Fatal(err)
		}
		inUse = append(inUse, p)
		got = append(got, p.String())
	}
	if want := []string{"172.18.0.0/16", "172.19.0.0/16", "172.20.0.0/16"}; !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestMAC(t *testing.T) {
	tests := []struct {
		name string
		addr string
		want string
	}{
		{name: "docker0 container", addr: "172.17.0.2", want: "02:42:ac:11:00:02"},
		{name: "high bytes", addr: "192.168.255.254", want: "02:42:c0:a8:ff:fe"},
		{name: "4in6", addr: "::ffff:10.0.0.1", want: "02:42:0a:00:00:01"},
		{name: "IPv6", addr: "fd00::1", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := MAC(netip.MustParseAddr(tt.addr)).String(); got != tt.want {
				t.Errorf("MAC(%s) = %q, want %q", tt.addr, got, tt.want)
			}
		})
	}
}
