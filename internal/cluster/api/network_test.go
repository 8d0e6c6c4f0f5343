package api

import (
	"strings"
	"testing"

	"github.com/containerd/errdefs"
)

func TestValidateNetworkSpec(t *testing.T) {
	tests := []struct {
		name string
		spec NetworkSpec
		want string // "" for valid
		is   func(error) bool
	}{
		{name: "overlay", spec: NetworkSpec{Annotations: Annotations{Name: "ovl"}, Driver: &Driver{Name: "overlay"}}},
		{name: "no driver is overlay", spec: NetworkSpec{Annotations: Annotations{Name: "ovl"}}},
		{name: "subnet, range, gateway", spec: NetworkSpec{Annotations: Annotations{Name: "ovl"}, IPAM: []IPAMConfig{{Subnet: "10.9.0.0/16", Range: "10.9.1.0/24", Gateway: "10.9.0.254"}}}},
		{name: "no name", spec: NetworkSpec{}, want: "rpc error: code = InvalidArgument desc = meta: name must be provided", is: errdefs.IsInvalidArgument},
		{name: "bad name", spec: NetworkSpec{Annotations: Annotations{Name: "a b"}}, want: `invalid network name "a b"`, is: errdefs.IsInvalidArgument},
		{name: "local driver", spec: NetworkSpec{Annotations: Annotations{Name: "x"}, Driver: &Driver{Name: "bridge"}}, want: `network driver "bridge" is not a cluster network driver`, is: errdefs.IsInvalidArgument},
		{name: "ingress", spec: NetworkSpec{Annotations: Annotations{Name: "my-ingress"}, Driver: &Driver{Name: "overlay"}, Ingress: true}},
		{name: "ingress on a local driver", spec: NetworkSpec{Annotations: Annotations{Name: "x"}, Driver: &Driver{Name: "bridge"}, Ingress: true},
			want: "rpc error: code = Unimplemented desc = only overlay driver is currently supported for ingress network", is: errdefs.IsNotImplemented},
		{name: "attachable ingress", spec: NetworkSpec{Annotations: Annotations{Name: "x"}, Ingress: true, Attachable: true},
			want: "rpc error: code = InvalidArgument desc = ingress network cannot be attachable", is: errdefs.IsInvalidArgument},
		{name: "ipv6", spec: NetworkSpec{Annotations: Annotations{Name: "x"}, IPv6: true}, want: "IPv6 networks are not supported", is: errdefs.IsNotImplemented},
		{name: "ipv6 subnet", spec: NetworkSpec{Annotations: Annotations{Name: "x"}, IPAM: []IPAMConfig{{Subnet: "fd00::/64"}}}, want: "IPv6 networks are not supported", is: errdefs.IsNotImplemented},
		{name: "two subnets", spec: NetworkSpec{Annotations: Annotations{Name: "x"}, IPAM: []IPAMConfig{{Subnet: "10.1.0.0/24"}, {Subnet: "10.2.0.0/24"}}}, want: "a cluster network takes one IPv4 subnet", is: errdefs.IsNotImplemented},
		{name: "bad subnet", spec: NetworkSpec{Annotations: Annotations{Name: "x"}, IPAM: []IPAMConfig{{Subnet: "10.1.0.0"}}}, want: "invalid network config:\ninvalid subnet 10.1.0.0: invalid CIDR block notation", is: errdefs.IsInvalidArgument},
		{name: "gateway without subnet", spec: NetworkSpec{Annotations: Annotations{Name: "x"}, IPAM: []IPAMConfig{{Gateway: "10.1.0.1"}}}, want: "ip-range and gateway need a subnet", is: errdefs.IsInvalidArgument},
		{name: "bad gateway", spec: NetworkSpec{Annotations: Annotations{Name: "x"}, IPAM: []IPAMConfig{{Subnet: "10.1.0.0/24", Gateway: "ten"}}}, want: "invalid gateway ten", is: errdefs.IsInvalidArgument},
		{name: "bad mtu", spec: NetworkSpec{Annotations: Annotations{Name: "x"}, Driver: &Driver{Options: map[string]string{OptMTU: "70000"}}}, want: "invalid MTU number: 70000 (between 68 and 65535)", is: errdefs.IsInvalidArgument},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateNetworkSpec(tc.spec)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !tc.is(err) {
				t.Fatalf("error %v, want one containing %q of the right category", err, tc.want)
			}
		})
	}
}

func TestNetworkAccessors(t *testing.T) {
	n := &Network{Spec: NetworkSpec{Driver: &Driver{Options: map[string]string{OptEncrypted: ""}}}, DriverState: map[string]string{OptVXLANIDs: "4097"}}
	if n.VNI() != 4097 || !n.Encrypted() || n.DriverName() != "overlay" {
		t.Fatalf("vni %d encrypted %t driver %q", n.VNI(), n.Encrypted(), n.DriverName())
	}
	if plain := (&Network{}); plain.VNI() != 0 || plain.Encrypted() || plain.DriverName() != "overlay" {
		t.Fatalf("a network without driver state: vni %d encrypted %t", plain.VNI(), plain.Encrypted())
	}
}
