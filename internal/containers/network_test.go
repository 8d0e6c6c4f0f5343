package containers

import (
	"encoding/json"
	"net/netip"
	"testing"

	"github.com/moby/moby/api/types/network"
)

// TestEndpointSettingsRoundTrip: what network connect records is what was asked, in docker's shape, and reads
// back as the same options for the next start.
func TestEndpointSettingsRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		in   *network.EndpointSettings
		want string // the recorded settings' JSON
	}{
		{name: "nothing asked", in: &network.EndpointSettings{},
			want: `{"IPAMConfig":null,"Links":null,"Aliases":null,"DriverOpts":null,"GwPriority":0,"NetworkID":"","EndpointID":"","Gateway":"","IPAddress":"","MacAddress":"","IPPrefixLen":0,"IPv6Gateway":"","GlobalIPv6Address":"","GlobalIPv6PrefixLen":0,"DNSNames":null}`},
		{name: "docker's CLI sends an empty IPAMConfig", in: &network.EndpointSettings{IPAMConfig: &network.EndpointIPAMConfig{}, Aliases: []string{"api"}},
			want: `{"IPAMConfig":null,"Links":null,"Aliases":["api"],"DriverOpts":null,"GwPriority":0,"NetworkID":"","EndpointID":"","Gateway":"","IPAddress":"","MacAddress":"","IPPrefixLen":0,"IPv6Gateway":"","GlobalIPv6Address":"","GlobalIPv6PrefixLen":0,"DNSNames":null}`},
		{name: "everything", in: &network.EndpointSettings{
			IPAMConfig: &network.EndpointIPAMConfig{IPv4Address: netip.MustParseAddr("10.5.0.9"), IPv6Address: netip.MustParseAddr("fd00::9"), LinkLocalIPs: []netip.Addr{netip.MustParseAddr("169.254.0.9")}},
			Links:      []string{"db:database"}, Aliases: []string{"api", "www"}, DriverOpts: map[string]string{"k": "v"}, GwPriority: 10,
			MacAddress: network.HardwareAddr{2, 0x42, 0, 0, 0, 9}},
			want: `{"IPAMConfig":{"IPv4Address":"10.5.0.9","IPv6Address":"fd00::9","LinkLocalIPs":["169.254.0.9"]},"Links":["db:database"],"Aliases":["api","www"],"DriverOpts":{"k":"v"},"GwPriority":10,"NetworkID":"","EndpointID":"","Gateway":"","IPAddress":"","MacAddress":"02:42:00:00:00:09","IPPrefixLen":0,"IPv6Gateway":"","GlobalIPv6Address":"","GlobalIPv6PrefixLen":0,"DNSNames":null}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := EndpointOptionsFrom(tt.in)
			got, _ := json.Marshal(endpointSettingsOf(opts))
			if string(got) != tt.want {
				t.Fatalf("recorded\n%s\nwant\n%s", got, tt.want)
			}
			again, _ := json.Marshal(endpointSettingsOf(EndpointOptionsFrom(endpointSettingsOf(opts))))
			if string(again) != string(got) {
				t.Fatalf("a second round trip changed it:\n%s\n%s", again, got)
			}
		})
	}
	if o := EndpointOptionsFrom(nil); o.IPv4Address.IsValid() || o.Aliases != nil {
		t.Fatalf("nil settings give %+v", o)
	}
}
