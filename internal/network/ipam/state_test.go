package ipam

import (
	"encoding/json"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
)

// op is one request applied to a State in the scenario tests: pool (request a pool), release-pool, addr
// (request an address), release (an address).
type op struct {
	do      string
	req     PoolRequest
	pool    string // pool ID for the address operations and release-pool
	addr    string // preferred or released address
	want    string // the pool ID or the address handed out
	wantErr func(error) bool
	wantMsg string
}

func TestStateScenarios(t *testing.T) {
	defaults := []netip.Prefix{prefix("172.17.0.0/16"), prefix("172.18.0.0/16"), prefix("192.168.0.0/20")}
	tests := []struct {
		name string
		ops  []op
		// wantPools are the pools left, with their allocated addresses.
		wantPools map[string][]string
	}{
		{
			name: "default pools in order",
			ops: []op{
				{do: "pool", want: "172.17.0.0/16"},
				{do: "pool", want: "172.18.0.0/16"},
				{do: "pool", want: "192.168.0.0/20"},
				{do: "pool", wantErr: errdefs.IsUnavailable, wantMsg: "could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network"},
			},
			wantPools: map[string][]string{"172.17.0.0/16": nil, "172.18.0.0/16": nil, "192.168.0.0/20": nil},
		},
		{
			name: "a default subnet the host uses is skipped",
			ops: []op{
				{do: "pool", req: PoolRequest{Avoid: []netip.Prefix{prefix("172.17.0.0/16"), prefix("0.0.0.0/0")}}, want: "172.18.0.0/16"},
			},
			wantPools: map[string][]string{"172.18.0.0/16": nil},
		},
		{
			name: "a released pool is handed out again",
			ops: []op{
				{do: "pool", want: "172.17.0.0/16"},
				{do: "pool", want: "172.18.0.0/16"},
				{do: "release-pool", pool: "172.17.0.0/16"},
				{do: "pool", want: "172.17.0.0/16"},
			},
			wantPools: map[string][]string{"172.17.0.0/16": nil, "172.18.0.0/16": nil},
		},
		{
			name: "explicit subnet overlapping a pool is refused as docker does",
			ops: []op{
				{do: "pool", req: PoolRequest{Subnet: prefix("10.1.0.0/16")}, want: "10.1.0.0/16"},
				{do: "pool", req: PoolRequest{Subnet: prefix("10.1.2.0/24")}, wantErr: errdefs.IsPermissionDenied, wantMsg: "invalid pool request: Pool overlaps with other one on this address space"},
			},
			wantPools: map[string][]string{"10.1.0.0/16": nil},
		},
		{
			name: "an explicit subnet is not checked against the host's prefixes",
			ops: []op{
				{do: "pool", req: PoolRequest{Subnet: prefix("10.1.0.0/16"), Avoid: []netip.Prefix{prefix("10.0.0.0/8")}}, want: "10.1.0.0/16"},
			},
			wantPools: map[string][]string{"10.1.0.0/16": nil},
		},
		{
			name: "a default choice skips explicit pools",
			ops: []op{
				{do: "pool", req: PoolRequest{Subnet: prefix("172.17.5.0/24")}, want: "172.17.5.0/24"},
				{do: "pool", want: "172.18.0.0/16"},
			},
			wantPools: map[string][]string{"172.17.5.0/24": nil, "172.18.0.0/16": nil},
		},
		{
			name: "malformed request: docker's text, nothing reserved",
			ops: []op{
				{do: "pool", req: PoolRequest{Subnet: prefix("10.1.0.1/16")}, wantErr: errdefs.IsInvalidArgument, wantMsg: "invalid network config:\ninvalid subnet 10.1.0.1/16: it should be 10.1.0.0/16"},
			},
			wantPools: map[string][]string{},
		},
		{
			name: "addresses: lowest free, fixed, released and reused",
			ops: []op{
				{do: "pool", req: PoolRequest{Subnet: prefix("10.1.0.0/24")}, want: "10.1.0.0/24"},
				{do: "addr", pool: "10.1.0.0/24", want: "10.1.0.2"},
				{do: "addr", pool: "10.1.0.0/24", addr: "10.1.0.50", want: "10.1.0.50"},
				{do: "addr", pool: "10.1.0.0/24", want: "10.1.0.3"},
				{do: "release", pool: "10.1.0.0/24", addr: "10.1.0.2"},
				{do: "addr", pool: "10.1.0.0/24", want: "10.1.0.2"},
				{do: "addr", pool: "10.1.0.0/24", addr: "10.1.0.50", wantErr: errdefs.IsConflict, wantMsg: "Address already in use"},
				{do: "addr", pool: "10.1.0.0/24", addr: "10.1.0.1", wantErr: errdefs.IsConflict, wantMsg: "Address already in use"},
				{do: "addr", pool: "10.1.0.0/24", addr: "10.2.0.1", wantErr: errdefs.IsInvalidArgument, wantMsg: "requested address is out of range"},
			},
			wantPools: map[string][]string{"10.1.0.0/24": {"10.1.0.2", "10.1.0.3", "10.1.0.50"}},
		},
		{
			name: "ip-range and gateway",
			ops: []op{
				{do: "pool", req: PoolRequest{Subnet: prefix("10.1.0.0/24"), IPRange: prefix("10.1.0.128/25"), Gateway: addr("10.1.0.254")}, want: "10.1.0.0/24"},
				{do: "addr", pool: "10.1.0.0/24", want: "10.1.0.128"},
			},
			wantPools: map[string][]string{"10.1.0.0/24": {"10.1.0.128"}},
		},
		{
			name: "unknown pool",
			ops: []op{
				{do: "addr", pool: "10.9.0.0/16", wantErr: errdefs.IsNotFound, wantMsg: "address pool 10.9.0.0/16 not found"},
				{do: "release", pool: "10.9.0.0/16", addr: "10.9.0.2", wantErr: errdefs.IsNotFound},
				{do: "release-pool", pool: "10.9.0.0/16", wantErr: errdefs.IsNotFound},
			},
			wantPools: map[string][]string{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s State
			for i, o := range tt.ops {
				before, _ := json.Marshal(s)
				got, err := apply(&s, o, defaults)
				if o.wantErr != nil {
					if !o.wantErr(err) {
						t.Fatalf("op %d (%s): err = %v, want another category", i, o.do, err)
					}
					if o.wantMsg != "" && !strings.Contains(err.Error(), o.wantMsg) {
						t.Fatalf("op %d (%s): err = %q, want %q", i, o.do, err, o.wantMsg)
					}
					if after, _ := json.Marshal(s); string(after) != string(before) {
						t.Fatalf("op %d (%s) failed but changed the state:\n%s\n%s", i, o.do, before, after)
					}
					continue
				}
				if err != nil {
					t.Fatalf("op %d (%s): %v", i, o.do, err)
				}
				if got != o.want {
					t.Fatalf("op %d (%s) = %q, want %q", i, o.do, got, o.want)
				}
			}
			gotPools := map[string][]string{}
			for _, p := range s.ListPools() {
				addrs, _ := s.Allocated(p.ID)
				var as []string
				for _, a := range addrs {
					as = append(as, a.String())
				}
				gotPools[p.ID] = as
			}
			if len(gotPools) != len(tt.wantPools) {
				t.Fatalf("pools = %v, want %v", gotPools, tt.wantPools)
			}
			for id, want := range tt.wantPools {
				if got, ok := gotPools[id]; !ok || !slices.Equal(got, want) {
					t.Errorf("pool %s = %v (present %v), want %v", id, got, ok, want)
				}
			}
		})
	}
}

func apply(s *State, o op, defaults []netip.Prefix) (string, error) {
	switch o.do {
	case "pool":
		p, err := s.RequestPool(o.req, defaults)
		return p.ID, err
	case "release-pool":
		return "", s.ReleasePool(o.pool)
	case "addr":
		a, err := s.RequestAddress(o.pool, addr(o.addr))
		if err != nil {
			return "", err
		}
		return a.String(), nil
	case "release":
		return "", s.ReleaseAddress(o.pool, addr(o.addr))
	}
	panic("unknown op " + o.do)
}

func TestStateCloneIsIndependent(t *testing.T) {
	var s State
	p, err := s.RequestPool(PoolRequest{Subnet: prefix("10.1.0.0/24")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := s.Clone()
	if _, err := c.RequestAddress(p.ID, netip.Addr{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RequestPool(PoolRequest{Subnet: prefix("10.2.0.0/24")}, nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Allocated(p.ID); len(got) != 0 {
		t.Errorf("the original got the clone's address: %v", got)
	}
	if len(s.Pools) != 1 {
		t.Errorf("the original got the clone's pool: %v", s.ListPools())
	}
}

func TestStateJSON(t *testing.T) {
	var s State
	p, _ := s.RequestPool(PoolRequest{Subnet: prefix("10.1.0.0/24"), IPRange: prefix("10.1.0.128/25")}, nil)
	s.RequestAddress(p.ID, netip.Addr{})
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"Pools":{"10.1.0.0/24":{"Subnet":"10.1.0.0/24","IPRange":"10.1.0.128/25","Gateway":"10.1.0.128","Allocated":["10.1.0.129"]}}}`
	if string(b) != want {
		t.Fatalf("JSON = %s\nwant   %s", b, want)
	}
	var back State
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if got, _ := back.Allocated(p.ID); !slices.Equal(got, []netip.Addr{addr("10.1.0.129")}) {
		t.Errorf("restored addresses = %v", got)
	}

	for _, bad := range []struct{ name, json string }{
		{"pool under another subnet", `{"Pools":{"10.2.0.0/24":{"Subnet":"10.1.0.0/24","Gateway":"10.1.0.1"}}}`},
		{"overlapping pools", `{"Pools":{"10.1.0.0/24":{"Subnet":"10.1.0.0/24","Gateway":"10.1.0.1"},"10.1.0.0/16":{"Subnet":"10.1.0.0/16","Gateway":"10.1.0.1"}}}`},
		{"bad pool", `{"Pools":{"10.1.0.0/24":{"Subnet":"10.1.0.0/24","Gateway":"10.9.0.1"}}}`},
		{"not JSON", `{"Pools":`},
	} {
		t.Run(bad.name, func(t *testing.T) {
			var s State
			if err := json.Unmarshal([]byte(bad.json), &s); err == nil {
				t.Fatalf("%s loaded", bad.json)
			}
		})
	}
}
