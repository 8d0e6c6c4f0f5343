package ipam

import (
	"testing"
)

// TestHostPrefixes reads the real host: whatever it has, the result is masked IPv4 prefixes without default
// routes, and ChooseSubnet avoids all of them.
func TestHostPrefixes(t *testing.T) {
	got, err := HostPrefixes()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("host prefixes: %v", got)
	for _, p := range got {
		if !p.Addr().Is4() || p.Bits() == 0 || p != p.Masked() || p.Addr().IsLoopback() {
			t.Errorf("unexpected prefix %s", p)
		}
	}
	subnet, err := ChooseSubnet(DefaultPools(), got)
	if err != nil {
		t.Skipf("host uses every default pool: %v", err)
	}
	for _, p := range got {
		if p.Overlaps(subnet) {
			t.Errorf("chosen subnet %s overlaps host prefix %s", subnet, p)
		}
	}
}
