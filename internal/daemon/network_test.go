package daemon

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
)

// TestDefaultAddressPools: daemon.json's default-address-pools, as docker writes it, reaches the IPAM as
// subnets; a malformed one is refused with the key named.
func TestDefaultAddressPools(t *testing.T) {
	tests := []struct {
		name      string
		json      string
		want      []string // first subnets
		count     int
		wantErr   string
		wantLoad  string // an error loading the file
		keepsDflt bool
	}{
		{name: "docker's example", json: `{"default-address-pools":[{"base":"10.10.0.0/16","size":24}]}`, want: []string{"10.10.0.0/24", "10.10.1.0/24"}, count: 256},
		{name: "two pools in order", json: `{"default-address-pools":[{"base":"172.30.0.0/16","size":24},{"base":"172.31.0.0/16","size":24}]}`, want: []string{"172.30.0.0/24"}, count: 512},
		{name: "absent: docker's defaults", json: `{}`, keepsDflt: true},
		{name: "empty list: docker's defaults", json: `{"default-address-pools":[]}`, keepsDflt: true},
		{name: "base without a length", json: `{"default-address-pools":[{"base":"10.123.0.0","size":24}]}`, wantErr: `invalid default-address-pools: pool 1: invalid base pool "10.123.0.0"`},
		{name: "size smaller than the base", json: `{"default-address-pools":[{"base":"10.10.0.0/16","size":8}]}`, wantErr: "invalid default-address-pools: pool 1: invalid address pool 10.10.0.0/16: size /8 must be between /16 and /32"},
		{name: "size missing", json: `{"default-address-pools":[{"base":"10.10.0.0/16"}]}`, wantErr: "size /0 must be between /16 and /32"},
		{name: "size not a number", json: `{"default-address-pools":[{"base":"10.10.0.0/16","size":"24"}]}`, wantLoad: "default-address-pools"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "daemon.json")
			os.WriteFile(path, []byte(tt.json), 0o600)
			var c Config
			err := LoadConfigFile(path, &c, func(string) bool { return false })
			if tt.wantLoad != "" {
				if !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), tt.wantLoad) {
					t.Fatalf("load: %v, want an invalid argument naming %q", err, tt.wantLoad)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := defaultPools(c.DefaultAddressPools)
			if tt.wantErr != "" {
				if !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want an invalid argument with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.keepsDflt {
				if got != nil {
					t.Fatalf("pools = %v, want nil (docker's defaults)", got)
				}
				return
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
