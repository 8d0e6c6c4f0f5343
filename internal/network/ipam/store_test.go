package ipam_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/containerd/errdefs"

	"github.com/berth/berth/internal/network/ipam"
	"github.com/berth/berth/internal/network/ipam/ipamtest"
)

func TestMemoryStore(t *testing.T) {
	ipamtest.TestStore(t, func(t *testing.T) ipam.Store { return &ipam.MemoryStore{} })
}

func TestLocalStore(t *testing.T) {
	ipamtest.TestStore(t, func(t *testing.T) ipam.Store {
		s, err := ipam.OpenLocal(filepath.Join(t.TempDir(), "ipam", "local.json"))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestLocalStoreAddressesInMemoryConforms(t *testing.T) {
	ipamtest.TestStore(t, func(t *testing.T) ipam.Store {
		s, err := ipam.OpenLocal(filepath.Join(t.TempDir(), "local.json"), ipam.AddressesInMemory())
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestLocalStoreSurvivesReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ipam", "local.json")
	s, err := ipam.OpenLocal(path)
	if err != nil {
		t.Fatal(err)
	}
	a := ipam.NewAllocator(s)
	p, err := a.RequestPool(ctx, ipam.PoolRequest{Subnet: netip.MustParsePrefix("10.7.0.0/24")})
	if err != nil {
		t.Fatal(err)
	}
	ip, err := a.RequestAddress(ctx, p.ID, netip.Addr{})
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file: %v, %v", fi, err)
	}

	s2, err := ipam.OpenLocal(path)
	if err != nil {
		t.Fatal(err)
	}
	a2 := ipam.NewAllocator(s2)
	if got, _ := a2.Allocated(ctx, p.ID); !slices.Equal(got, []netip.Addr{ip}) {
		t.Fatalf("reopened store has %v, want [%s]", got, ip)
	}
	if next, _ := a2.RequestAddress(ctx, p.ID, netip.Addr{}); next == ip {
		t.Fatalf("reopened store handed out %s again", ip)
	}
}

func TestOpenLocalRejectsCorruptState(t *testing.T) {
	path := filepath.Join(t.TempDir(), "local.json")
	os.WriteFile(path, []byte(`{"Pools":{"10.2.0.0/24":{"Subnet":"10.1.0.0/24","Gateway":"10.1.0.1"}}}`), 0o600)
	_, err := ipam.OpenLocal(path)
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("err = %v, want an error naming %s", err, path)
	}
}

// racingStore lets another writer change the state between an Allocator's load and its swap, times times.
type racingStore struct {
	ipam.Store
	times int
	race  func()
	swaps int
}

func (r *racingStore) CompareAndSwap(ctx context.Context, rev uint64, s ipam.State) (uint64, error) {
	r.swaps++
	if r.times > 0 {
		r.times--
		r.race()
	}
	return r.Store.CompareAndSwap(ctx, rev, s)
}

func TestAllocatorRetriesAfterAConcurrentChange(t *testing.T) {
	ctx := context.Background()
	mem := &ipam.MemoryStore{}
	other := ipam.NewAllocator(mem)
	p, err := other.RequestPool(ctx, ipam.PoolRequest{Subnet: netip.MustParsePrefix("10.7.0.0/24")})
	if err != nil {
		t.Fatal(err)
	}
	var raced []netip.Addr
	store := &racingStore{Store: mem, times: 2, race: func() {
		ip, err := other.RequestAddress(ctx, p.ID, netip.Addr{})
		if err != nil {
			t.Error(err)
		}
		raced = append(raced, ip)
	}}
	ip, err := ipam.NewAllocator(store).RequestAddress(ctx, p.ID, netip.Addr{})
	if err != nil {
		t.Fatal(err)
	}
	if store.swaps != 3 {
		t.Errorf("%d swaps, want 3 (two lost races, then success)", store.swaps)
	}
	want := []netip.Addr{netip.MustParseAddr("10.7.0.2"), netip.MustParseAddr("10.7.0.3")}
	if !slices.Equal(raced, want) || ip != netip.MustParseAddr("10.7.0.4") {
		t.Fatalf("raced %v then got %s, want %v then 10.7.0.4", raced, ip, want)
	}
}

func TestAllocatorFailedRequestSwapsNothing(t *testing.T) {
	ctx := context.Background()
	store := &racingStore{Store: &ipam.MemoryStore{}}
	a := ipam.NewAllocator(store)
	if _, err := a.RequestPool(ctx, ipam.PoolRequest{Subnet: netip.MustParsePrefix("10.7.0.1/24")}); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("err = %v, want invalid argument", err)
	}
	if _, err := a.RequestAddress(ctx, "10.9.0.0/24", netip.Addr{}); !errdefs.IsNotFound(err) {
		t.Fatalf("err = %v, want not found", err)
	}
	if store.swaps != 0 {
		t.Fatalf("%d swaps after failed requests", store.swaps)
	}
}

func TestAllocatorStopsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	mem := &ipam.MemoryStore{}
	other := ipam.NewAllocator(mem)
	// Another writer wins every race; the request gives up when its context ends.
	store := &racingStore{Store: mem, times: 1 << 30, race: func() {
		other.RequestPool(context.Background(), ipam.PoolRequest{})
		other.ReleasePool(context.Background(), "172.17.0.0/16")
		cancel()
	}}
	_, err := ipam.NewAllocator(store).RequestPool(ctx, ipam.PoolRequest{Subnet: netip.MustParsePrefix("10.7.0.0/24")})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestAllocatorDefaultPools(t *testing.T) {
	ctx := context.Background()
	pools, err := ipam.SplitPools([]ipam.AddressPool{{Base: "10.10.0.0/16", Size: 24}})
	if err != nil {
		t.Fatal(err)
	}
	a := ipam.NewAllocator(&ipam.MemoryStore{}, ipam.WithDefaultPools(pools))
	var got []string
	for range 2 {
		p, err := a.RequestPool(ctx, ipam.PoolRequest{Avoid: []netip.Prefix{netip.MustParsePrefix("10.10.0.0/24")}})
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, p.Subnet.String()+" gw "+p.Gateway.String())
	}
	want := []string{"10.10.1.0/24 gw 10.10.1.1", "10.10.2.0/24 gw 10.10.2.1"}
	if !slices.Equal(got, want) {
		t.Fatalf("subnets = %v, want %v", got, want)
	}
	list, _ := a.ListPools(ctx)
	b, _ := json.Marshal(list)
	if len(list) != 2 || list[0].ID != "10.10.1.0/24" {
		t.Fatalf("ListPools = %s", b)
	}
}

func TestSplitPools(t *testing.T) {
	tests := []struct {
		name    string
		pools   []ipam.AddressPool
		want    []string // first subnets
		count   int
		wantErr string
	}{
		{name: "docker's example", pools: []ipam.AddressPool{{Base: "10.10.0.0/16", Size: 24}}, want: []string{"10.10.0.0/24", "10.10.1.0/24"}, count: 256},
		{name: "in order", pools: []ipam.AddressPool{{Base: "10.20.0.0/23", Size: 24}, {Base: "10.10.0.0/23", Size: 24}}, want: []string{"10.20.0.0/24", "10.20.1.0/24", "10.10.0.0/24", "10.10.1.0/24"}, count: 4},
		{name: "IPv6 entries are accepted and give no IPv4 subnets", pools: []ipam.AddressPool{{Base: "fd00:1::/48", Size: 64}, {Base: "10.10.0.0/24", Size: 24}}, want: []string{"10.10.0.0/24"}, count: 1},
		{name: "base without a prefix length", pools: []ipam.AddressPool{{Base: "10.123.0.0", Size: 24}}, wantErr: `pool 1: invalid base pool "10.123.0.0"`},
		{name: "base not an address", pools: []ipam.AddressPool{{Base: "ten/8", Size: 24}}, wantErr: `pool 1: invalid base pool "ten/8"`},
		{name: "size missing", pools: []ipam.AddressPool{{Base: "10.10.0.0/16", Size: 24}, {Base: "10.11.0.0/16"}}, wantErr: "pool 2: invalid address pool 10.11.0.0/16: size /0 must be between /16 and /32"},
		{name: "size past 32", pools: []ipam.AddressPool{{Base: "10.10.0.0/16", Size: 33}}, wantErr: "size /33 must be between /16 and /32"},
		{name: "base not masked", pools: []ipam.AddressPool{{Base: "10.10.0.1/16", Size: 24}}, wantErr: "invalid address pool 10.10.0.1/16: it should be 10.10.0.0/16"},
		{name: "too many subnets", pools: []ipam.AddressPool{{Base: "10.0.0.0/8", Size: 30}}, wantErr: "gives more than 65536 networks"},
		{name: "bad IPv6 size", pools: []ipam.AddressPool{{Base: "fd00:1::/48", Size: 40}}, wantErr: "pool 1: invalid address pool fd00:1::/48 with size /40"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ipam.SplitPools(tt.pools)
			if tt.wantErr != "" {
				if !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want an invalid argument with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tt.count {
				t.Fatalf("%d subnets, want %d", len(got), tt.count)
			}
			for i, w := range tt.want {
				if got[i].String() != w {
					t.Errorf("subnet %d = %s, want %s", i, got[i], w)
				}
			}
		})
	}
}

// TestLocalStoreAddressesInMemory: with AddressesInMemory, a change of addresses only leaves the file alone; the
// next change of pools writes everything.
func TestLocalStoreAddressesInMemory(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "local.json")
	s, err := ipam.OpenLocal(path, ipam.AddressesInMemory())
	if err != nil {
		t.Fatal(err)
	}
	a := ipam.NewAllocator(s)
	p, _ := a.RequestPool(ctx, ipam.PoolRequest{Subnet: netip.MustParsePrefix("10.7.0.0/24")})
	before, _ := os.ReadFile(path)
	ip, err := a.RequestAddress(ctx, p.ID, netip.Addr{})
	if err != nil {
		t.Fatal(err)
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Fatalf("an address change was written:\n%s\n%s", before, after)
	}
	if got, _ := a.Allocated(ctx, p.ID); !slices.Equal(got, []netip.Addr{ip}) {
		t.Fatalf("in memory: %v", got)
	}
	reopened, _ := ipam.OpenLocal(path)
	if got, _ := ipam.NewAllocator(reopened).Allocated(ctx, p.ID); len(got) != 0 {
		t.Fatalf("the file has addresses it was not given: %v", got)
	}
	if _, err := a.RequestPool(ctx, ipam.PoolRequest{Subnet: netip.MustParsePrefix("10.8.0.0/24")}); err != nil {
		t.Fatal(err)
	}
	reopened, _ = ipam.OpenLocal(path)
	if got, _ := ipam.NewAllocator(reopened).Allocated(ctx, p.ID); !slices.Equal(got, []netip.Addr{ip}) {
		t.Fatalf("after a pool change the file has %v, want [%s]", got, ip)
	}
}
