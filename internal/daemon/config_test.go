package daemon

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// daemon.json's cloud keys fill what the flags left unset; a key given both ways is refused, as dockerd does.
func TestLoadConfigFileCloud(t *testing.T) {
	tests := []struct {
		name    string
		json    string
		flags   Config
		changed []string // daemon.json keys whose flags were given
		want    Config
		wantErr string
	}{
		{name: "cloud endpoint from the file",
			json: `{"cloud-addr": "127.0.0.1:9000", "cloud-tlscert": "/c.pem", "cloud-tlskey": "/k.pem", "cloud-region": "eu-west-1", "cloud-domains": ["s3.example.test"]}`,
			want: Config{CloudAddr: "127.0.0.1:9000", CloudTLSCert: "/c.pem", CloudTLSKey: "/k.pem", CloudRegion: "eu-west-1", CloudDomains: []string{"s3.example.test"}}},
		{name: "flags and file together", json: `{"cloud-region": "eu-west-1"}`, flags: Config{CloudAddr: ":9000"},
			want: Config{CloudAddr: ":9000", CloudRegion: "eu-west-1"}},
		{name: "both ways", json: `{"cloud-addr": ":9001"}`, flags: Config{CloudAddr: ":9000"}, changed: []string{"cloud-addr"},
			wantErr: "the following directives are specified both as a flag and in the configuration file: cloud-addr"},
		{name: "no secrets in daemon.json", json: `{"CloudRootSecretAccessKey": "x", "cloud-addr": ":9000"}`, want: Config{CloudAddr: ":9000"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "daemon.json")
			if err := os.WriteFile(p, []byte(tt.json), 0o644); err != nil {
				t.Fatal(err)
			}
			got := tt.flags
			err := LoadConfigFile(p, &got, func(key string) bool {
				for _, k := range tt.changed {
					if k == key {
						return true
					}
				}
				return false
			})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}
