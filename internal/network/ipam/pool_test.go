package ipam

import (
	"encoding/json"
	"errors"
	"net/netip"
	"slices"
	"testing"

	"github.com/containerd/errdefs"
)

func addr(s string) netip.Addr {
	if s == "" {
		return netip.Addr{}
	}
	return netip.MustParseAddr(s)
}

func prefix(s string) netip.Prefix {
	if s == "" {
		return netip.Prefix{}
	}
	return netip.MustParsePrefix(s)
}

func TestNewPool(t *testing.T) {
	tests := []struct {
		name        string
		subnet      string
		ipRange     string
		gateway     string
		wantGateway string
		wantErr     func(error) bool
		wantMsg     string
	}{
		{name: "default gateway", subnet: "172.18.0.0/16", wantGateway: "172.18.0.1"},
		{name: "explicit gateway", subnet: "172.18.0.0/16", gateway: "172.18.255.254", wantGateway: "172.18.255.254"},
		{name: "gateway outside the ip-range", subnet: "10.0.0.0/16", ipRange: "10.0.5.0/24", gateway: "10.0.0.1", wantGateway: "10.0.0.1"},
		// Like docker, only the subnet's network and broadcast addresses are reserved, not the ip-range's.
		{name: "default gateway from the ip-range", subnet: "10.0.0.0/16", ipRange: "10.0.5.0/24", wantGateway: "10.0.5.0"},
		{name: "ip-range at the subnet start skips the network address", subnet: "10.0.0.0/16", ipRange: "10.0.0.0/24", wantGateway: "10.0.0.1"},
		{name: "/31 has no network or broadcast address", subnet: "10.0.0.0/31", wantGateway: "10.0.0.0"},
		{name: "IPv6", subnet: "fd00:1::/64", wantGateway: "fd00:1::1"},
		{
			name: "zero subnet", wantErr: errdefs.IsInvalidArgument,
			wantMsg: "invalid network config:\ninvalid subnet : invalid CIDR block notation",
		},
		{
			name: "subnet not masked", subnet: "172.18.0.1/16", wantErr: errdefs.IsInvalidArgument,
			wantMsg: "invalid network config:\ninvalid subnet 172.18.0.1/16: it should be 172.18.0.0/16",
		},
		{
			name: "gateway outside the subnet", subnet: "172.18.0.0/16", gateway: "10.0.0.1", wantErr: errdefs.IsInvalidArgument,
			wantMsg: "invalid network config:\ninvalid gateway 10.0.0.1: parent subnet 172.18.0.0/16 doesn't contain this address",
		},
		{
			name: "gateway of the other family", subnet: "172.18.0.0/16", gateway: "fd00::1", wantErr: errdefs.IsInvalidArgument,
			wantMsg: "invalid network config:\ninvalid gateway fd00::1: parent subnet is an IPv4 block",
		},
		{
			name: "ip-range outside the subnet", subnet: "172.18.0.0/16", ipRange: "172.19.0.0/24", wantErr: errdefs.IsInvalidArgument,
			wantMsg: "invalid network config:\ninvalid ip-range 172.19.0.0/24: parent subnet 172.18.0.0/16 doesn't contain ip-range",
		},
		{
			name: "ip-range bigger than the subnet", subnet: "172.18.0.0/16", ipRange: "172.16.0.0/12", wantErr: errdefs.IsInvalidArgument,
			wantMsg: "invalid network config:\ninvalid ip-range 172.16.0.0/12: CIDR block is bigger than its parent subnet 172.18.0.0/16",
		},
		{
			name: "several problems listed", subnet: "172.18.0.0/16", ipRange: "172.18.1.1/24", gateway: "10.0.0.1", wantErr: errdefs.IsInvalidArgument,
			wantMsg: "invalid network config:\n* invalid ip-range 172.18.1.1/24: it should be 172.18.1.0/24\n* invalid gateway 10.0.0.1: parent subnet 172.18.0.0/16 doesn't contain this address",
		},
		{
			name: "gateway on the network address", subnet: "172.18.0.0/16", gateway: "172.18.0.0", wantErr: errdefs.IsInvalidArgument,
			wantMsg: "failed to allocate gateway (172.18.0.0): Address already in use",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := NewPool(prefix(tt.subnet), prefix(tt.ipRange), addr(tt.gateway))
			if tt.wantErr != nil {
				if !tt.wantErr(err) {
					t.Fatalf("err = %v, wrong category", err)
				}
				if err.Error() != tt.wantMsg {
					t.Errorf("message\n%q, want\n%q", err, tt.wantMsg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := p.Gateway().String(); got != tt.wantGateway {
				t.Errorf("Gateway = %s, want %s", got, tt.wantGateway)
			}
			if got := p.Subnet(); got != prefix(tt.subnet) {
				t.Errorf("Subnet = %s, want %s", got, tt.subnet)
			}
			if got := p.IPRange(); got != prefix(tt.ipRange) {
				t.Errorf("IPRange = %s, want %q", got, tt.ipRange)
			}
		})
	}
}

// step is one operation on a pool: allocate (want is the address, or wantErr the category) or release.
type step struct {
	release   string // address to release; otherwise an allocation
	preferred string
	want      string
	wantErr   func(error) bool
	wantMsg   string
}

func TestPoolAllocate(t *testing.T) {
	tests := []struct {
		name    string
		subnet  string
		ipRange string
		gateway string
		serial  bool
		steps   []step
	}{
		{
			name: "sequential from .2", subnet: "172.18.0.0/16",
			steps: []step{{want: "172.18.0.2"}, {want: "172.18.0.3"}, {want: "172.18.0.4"}},
		},
		{
			name: "released address is handed out again", subnet: "172.18.0.0/16",
			steps: []step{{want: "172.18.0.2"}, {want: "172.18.0.3"}, {release: "172.18.0.2"}, {want: "172.18.0.2"}, {want: "172.18.0.4"}},
		},
		{
			name: "serial continues after the last", subnet: "172.18.0.0/16", serial: true,
			steps: []step{{want: "172.18.0.2"}, {want: "172.18.0.3"}, {release: "172.18.0.2"}, {want: "172.18.0.4"}},
		},
		{
			name: "serial wraps around", subnet: "10.0.0.0/29", serial: true,
			// .0 network, .1 gateway, .7 broadcast: .2-.6 usable
			steps: []step{
				{want: "10.0.0.2"}, {want: "10.0.0.3"}, {want: "10.0.0.4"}, {want: "10.0.0.5"}, {want: "10.0.0.6"},
				{release: "10.0.0.3"}, {want: "10.0.0.3"},
				{wantErr: errdefs.IsUnavailable, wantMsg: "no available addresses on this pool"},
			},
		},
		{
			name: "exhaustion of a /30 and recovery", subnet: "10.0.0.0/30",
			steps: []step{
				{want: "10.0.0.2"},
				{wantErr: errdefs.IsUnavailable, wantMsg: "no available addresses on this pool"},
				{release: "10.0.0.2"}, {want: "10.0.0.2"},
			},
		},
		{
			name: "gateway in the middle is skipped", subnet: "10.0.0.0/29", gateway: "10.0.0.3",
			steps: []step{{want: "10.0.0.1"}, {want: "10.0.0.2"}, {want: "10.0.0.4"}},
		},
		{
			name: "preferred address", subnet: "172.18.0.0/16",
			steps: []step{{preferred: "172.18.0.10", want: "172.18.0.10"}, {want: "172.18.0.2"}},
		},
		{
			name: "preferred address in use", subnet: "172.18.0.0/16",
			steps: []step{
				{preferred: "172.18.0.10", want: "172.18.0.10"},
				{preferred: "172.18.0.10", wantErr: errdefs.IsConflict, wantMsg: "Address already in use"},
			},
		},
		{
			name: "preferred gateway, network and broadcast addresses are in use", subnet: "172.18.0.0/16",
			steps: []step{
				{preferred: "172.18.0.1", wantErr: errdefs.IsConflict, wantMsg: "Address already in use"},
				{preferred: "172.18.0.0", wantErr: errdefs.IsConflict, wantMsg: "Address already in use"},
				{preferred: "172.18.255.255", wantErr: errdefs.IsConflict, wantMsg: "Address already in use"},
			},
		},
		{
			name: "preferred address outside the subnet", subnet: "172.18.0.0/16",
			steps: []step{{preferred: "172.19.0.2", wantErr: errdefs.IsInvalidArgument, wantMsg: "requested address is out of range"}},
		},
		{
			name: "preferred address outside the ip-range but inside the subnet", subnet: "10.0.0.0/16", ipRange: "10.0.5.0/24",
			steps: []step{{preferred: "10.0.9.9", want: "10.0.9.9"}, {want: "10.0.5.1"}},
		},
		{
			name: "ip-range limits dynamic allocation", subnet: "10.0.0.0/24", ipRange: "10.0.0.128/30", gateway: "10.0.0.1",
			steps: []step{
				{want: "10.0.0.128"}, {want: "10.0.0.129"}, {want: "10.0.0.130"}, {want: "10.0.0.131"},
				{wantErr: errdefs.IsUnavailable},
			},
		},
		{
			name: "ip-range ending at the broadcast address", subnet: "10.0.0.0/24", ipRange: "10.0.0.252/30", gateway: "10.0.0.1",
			steps: []step{{want: "10.0.0.252"}, {want: "10.0.0.253"}, {want: "10.0.0.254"}, {wantErr: errdefs.IsUnavailable}},
		},
		{
			name: "release of gateway and reserved addresses does nothing", subnet: "10.0.0.0/30",
			steps: []step{
				{release: "10.0.0.1"}, {release: "10.0.0.0"}, {release: "10.0.0.3"},
				{want: "10.0.0.2"}, {wantErr: errdefs.IsUnavailable},
			},
		},
		{
			name: "release outside the subnet", subnet: "10.0.0.0/30",
			steps: []step{{release: "10.9.0.1", wantErr: errdefs.IsInvalidArgument}},
		},
		{
			name: "release twice", subnet: "10.0.0.0/24",
			steps: []step{{want: "10.0.0.2"}, {release: "10.0.0.2"}, {release: "10.0.0.2"}, {want: "10.0.0.2"}},
		},
		{
			name: "/32 holds only its gateway", subnet: "10.0.0.7/32",
			steps: []step{{wantErr: errdefs.IsUnavailable}},
		},
		{
			name: "IPv6 has no broadcast", subnet: "fd00::/126",
			steps: []step{{want: "fd00::2"}, {want: "fd00::3"}, {wantErr: errdefs.IsUnavailable}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var opts []Option
			if tt.serial {
				opts = append(opts, WithSerial())
			}
			p, err := NewPool(prefix(tt.subnet), prefix(tt.ipRange), addr(tt.gateway), opts...)
			if err != nil {
				t.Fatal(err)
			}
			for i, s := range tt.steps {
				var got netip.Addr
				var err error
				if s.release != "" {
					err = p.Release(addr(s.release))
				} else {
					got, err = p.Allocate(addr(s.preferred))
				}
				if s.wantErr != nil {
					if !s.wantErr(err) {
						t.Fatalf("step %d: err = %v (got %s), wrong category", i, err, got)
					}
					if s.wantMsg != "" && err.Error() != s.wantMsg {
						t.Errorf("step %d: message %q, want %q", i, err, s.wantMsg)
					}
					continue
				}
				if err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				if s.release == "" && got.String() != s.want {
					t.Fatalf("step %d: Allocate = %s, want %s", i, got, s.want)
				}
			}
		})
	}
}

func TestPoolJSONRoundTrip(t *testing.T) {
	tests := []struct {
		name    string
		subnet  string
		ipRange string
		gateway string
		serial  bool
	}{
		{name: "plain", subnet: "172.18.0.0/16"},
		{name: "ip-range and gateway", subnet: "10.0.0.0/16", ipRange: "10.0.5.0/24", gateway: "10.0.0.254"},
		{name: "serial", subnet: "10.1.0.0/24", serial: true},
		{name: "IPv6", subnet: "fd00:2::/64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var opts []Option
			if tt.serial {
				opts = append(opts, WithSerial())
			}
			p, err := NewPool(prefix(tt.subnet), prefix(tt.ipRange), addr(tt.gateway), opts...)
			if err != nil {
				t.Fatal(err)
			}
			for range 4 {
				if _, err := p.Allocate(netip.Addr{}); err != nil {
					t.Fatal(err)
				}
			}
			first := p.Allocated()[0]
			if err := p.Release(first); err != nil {
				t.Fatal(err)
			}
			data, err := json.Marshal(p)
			if err != nil {
				t.Fatal(err)
			}
			var q Pool
			if err := json.Unmarshal(data, &q); err != nil {
				t.Fatalf("unmarshal %s: %v", data, err)
			}
			if q.Subnet() != p.Subnet() || q.IPRange() != p.IPRange() || q.Gateway() != p.Gateway() {
				t.Errorf("restored %s/%s/%s, want %s/%s/%s", q.Subnet(), q.IPRange(), q.Gateway(), p.Subnet(), p.IPRange(), p.Gateway())
			}
			if !slices.Equal(q.Allocated(), p.Allocated()) {
				t.Errorf("restored allocations %v, want %v", q.Allocated(), p.Allocated())
			}
			// The restored pool continues exactly where the original was.
			a, errA := p.Allocate(netip.Addr{})
			b, errB := q.Allocate(netip.Addr{})
			if errA != nil || errB != nil || a != b {
				t.Errorf("next allocation: original %s (%v), restored %s (%v)", a, errA, b, errB)
			}
			again, err := json.Marshal(&q)
			if err != nil {
				t.Fatal(err)
			}
			if orig, _ := json.Marshal(p); string(orig) != string(again) {
				t.Errorf("second round trip differs:\n%s\n%s", orig, again)
			}
		})
	}
}

func TestPoolJSONFormat(t *testing.T) {
	p, err := NewPool(prefix("172.18.0.0/16"), netip.Prefix{}, netip.Addr{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Allocate(netip.Addr{}); err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"Subnet":"172.18.0.0/16","Gateway":"172.18.0.1","Allocated":["172.18.0.2"]}`
	if string(data) != want {
		t.Errorf("JSON %s, want %s", data, want)
	}
}

func TestPoolUnmarshalRejectsBadState(t *testing.T) {
	tests := []struct {
		name string
		json string
	}{
		{name: "not JSON", json: `{`},
		{name: "bad subnet", json: `{"Subnet":"172.18.0.1/16","Gateway":"172.18.0.1"}`},
		{name: "address outside", json: `{"Subnet":"172.18.0.0/16","Gateway":"172.18.0.1","Allocated":["10.0.0.1"]}`},
		{name: "address twice", json: `{"Subnet":"172.18.0.0/16","Gateway":"172.18.0.1","Allocated":["172.18.0.2","172.18.0.2"]}`},
		{name: "gateway listed as allocated", json: `{"Subnet":"172.18.0.0/16","Gateway":"172.18.0.1","Allocated":["172.18.0.1"]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p Pool
			err := json.Unmarshal([]byte(tt.json), &p)
			var syntax *json.SyntaxError
			if !errdefs.IsInvalidArgument(err) && !errors.As(err, &syntax) {
				t.Fatalf("err = %v, want an invalid argument", err)
			}
		})
	}
}

// FuzzAllocate drives a pool with a random script and checks that Allocate never hands out the network, broadcast or
// gateway address, an address outside the subnet (or outside the ip-range when none was asked for), or an address
// that is still allocated; and that a dynamic allocation only fails when the allocation range is really full.
func FuzzAllocate(f *testing.F) {
	f.Add(uint8(24), uint8(0), uint8(0), false, []byte{0, 0, 0, 0x81, 0})
	f.Add(uint8(29), uint8(30), uint8(3), true, []byte{0, 0, 0, 0, 0, 0, 0x82, 0, 0})
	f.Add(uint8(30), uint8(0), uint8(2), false, []byte{0, 0, 0x80, 0, 0})
	f.Add(uint8(28), uint8(29), uint8(9), true, []byte{0x40 | 5, 0x40 | 5, 0, 0x83, 0x40 | 1, 0})
	f.Fuzz(func(t *testing.T, bits, rangeBits, gwOffset uint8, serial bool, script []byte) {
		bits = 22 + bits%11 // /22 .. /32
		subnet := netip.PrefixFrom(netip.MustParseAddr("10.20.0.0"), int(bits)).Masked()
		size := uint32(1) << (32 - int(bits))
		var ipRange netip.Prefix
		if rangeBits%2 == 1 && bits < 32 {
			rb := int(bits) + 1 + int(rangeBits/2)%(32-int(bits))
			off := (uint32(rangeBits) * 2654435761) % size
			ipRange = netip.PrefixFrom(offset(subnet, off), rb).Masked()
		}
		var gateway netip.Addr
		if gwOffset%3 == 0 {
			gateway = offset(subnet, uint32(gwOffset)%size)
		}
		var opts []Option
		if serial {
			opts = append(opts, WithSerial())
		}
		p, err := NewPool(subnet, ipRange, gateway, opts...)
		if err != nil {
			if gateway.IsValid() && errdefs.IsInvalidArgument(err) {
				return // gateway on the network or broadcast address
			}
			if errdefs.IsUnavailable(err) {
				return // no room for a gateway in the allocation range
			}
			t.Fatalf("NewPool(%s, %s, %s): %v", subnet, ipRange, gateway, err)
		}
		gw := p.Gateway()
		network, broadcast := subnet.Addr(), lastAddr(subnet)
		dynamic := subnet
		if ipRange.IsValid() {
			dynamic = ipRange
		}
		held := map[netip.Addr]bool{}
		for i, op := range script {
			switch {
			case op&0x80 != 0: // release the n-th held address
				if len(held) == 0 {
					continue
				}
				keys := sortedKeys(held)
				a := keys[int(op&0x7f)%len(keys)]
				if err := p.Release(a); err != nil {
					t.Fatalf("op %d: Release(%s): %v", i, a, err)
				}
				delete(held, a)
			case op&0x40 != 0: // a preferred address
				want := offset(subnet, uint32(op&0x3f)%size)
				a, err := p.Allocate(want)
				switch {
				case held[want] || want == gw || (bits <= 30 && (want == network || want == broadcast)):
					if !errdefs.IsConflict(err) {
						t.Fatalf("op %d: Allocate(%s) of an address in use = %s, %v", i, want, a, err)
					}
				case err != nil || a != want:
					t.Fatalf("op %d: Allocate(%s) = %s, %v", i, want, a, err)
				default:
					held[a] = true
				}
			default:
				a, err := p.Allocate(netip.Addr{})
				if err != nil {
					if !errdefs.IsUnavailable(err) {
						t.Fatalf("op %d: Allocate: %v", i, err)
					}
					for c := dynamic.Addr(); c.IsValid() && dynamic.Contains(c); c = c.Next() {
						if !held[c] && c != gw && (bits > 30 || (c != network && c != broadcast)) {
							t.Fatalf("op %d: pool full but %s is free", i, c)
						}
					}
					continue
				}
				if !dynamic.Contains(a) {
					t.Fatalf("op %d: Allocate = %s, outside %s", i, a, dynamic)
				}
				if a == gw || (bits <= 30 && (a == network || a == broadcast)) {
					t.Fatalf("op %d: Allocate = %s: gateway %s, network %s, broadcast %s", i, a, gw, network, broadcast)
				}
				if held[a] {
					t.Fatalf("op %d: Allocate = %s twice", i, a)
				}
				held[a] = true
			}
		}
		if got, want := p.Allocated(), sortedKeys(held); !slices.Equal(got, want) {
			t.Fatalf("Allocated = %v, want %v", got, want)
		}
		data, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		var q Pool
		if err := json.Unmarshal(data, &q); err != nil {
			t.Fatalf("restore %s: %v", data, err)
		}
		if !slices.Equal(q.Allocated(), p.Allocated()) || q.Gateway() != gw {
			t.Fatalf("restored %s differs", data)
		}
	})
}

func offset(p netip.Prefix, n uint32) netip.Addr {
	b := p.Addr().As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v += n
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

func sortedKeys(m map[netip.Addr]bool) []netip.Addr {
	out := make([]netip.Addr, 0, len(m))
	for a := range m {
		out = append(out, a)
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}
