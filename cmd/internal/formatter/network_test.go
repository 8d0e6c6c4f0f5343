package formatter

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/moby/moby/api/types/network"
)

func sampleNetworks() []network.Summary {
	created := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	return []network.Summary{
		{Network: network.Network{Name: "backend", ID: "aa3e871235c677f196c4e1ecebb9dc733b9b2d2ab589e30c539efeda84a24215",
			Driver: "bridge", Scope: "local", EnableIPv4: true, Internal: true, Created: created,
			Labels: map[string]string{"c": "d", "a": "b"}}},
		{Network: network.Network{Name: "host", ID: "13e871235c677f196c4e1ecebb9dc733b9b2d2ab589e30c539efeda84a24215e",
			Driver: "host", Scope: "local"}},
	}
}

// The expected outputs are what docker 28 prints for the same networks.
func TestNetworkFormats(t *testing.T) {
	tests := []struct {
		name   string
		format Format
		trunc  bool
		want   string
	}{
		{name: "default table", format: NewNetworkFormat("", false), trunc: true, want: "" +
			"NETWORK ID     NAME      DRIVER    SCOPE\n" +
			"aa3e871235c6   backend   bridge    local\n" +
			"13e871235c67   host      host      local\n"},
		{name: "table keyword", format: NewNetworkFormat("table", false), trunc: true, want: "" +
			"NETWORK ID     NAME      DRIVER    SCOPE\n" +
			"aa3e871235c6   backend   bridge    local\n" +
			"13e871235c67   host      host      local\n"},
		{name: "no-trunc", format: NewNetworkFormat("", false), want: "" +
			"NETWORK ID                                                         NAME      DRIVER    SCOPE\n" +
			"aa3e871235c677f196c4e1ecebb9dc733b9b2d2ab589e30c539efeda84a24215   backend   bridge    local\n" +
			"13e871235c677f196c4e1ecebb9dc733b9b2d2ab589e30c539efeda84a24215e   host      host      local\n"},
		{name: "quiet", format: NewNetworkFormat("", true), trunc: true, want: "aa3e871235c6\n13e871235c67\n"},
		{name: "quiet loses to a template", format: NewNetworkFormat("{{.Name}}", true), trunc: true, want: "backend\nhost\n"},
		{name: "custom table", format: NewNetworkFormat(`table {{.Name}}\t{{.Labels}}\t{{.Internal}}\t{{.IPv4}}\t{{.Label "a"}}`, false), trunc: true, want: "" +
			"NAME      LABELS    INTERNAL   IPV4      a\n" +
			"backend   a=b,c=d   true       true      b\n" +
			"host                false      false     \n"},
		{name: "created at", format: "{{.Name}} {{.CreatedAt}} {{.IPv6}}", want: "" +
			"backend 2024-01-01 00:00:00 +0000 UTC false\n" +
			"host 0001-01-01 00:00:00 +0000 UTC false\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			ctx := Context{Output: &out, Format: tt.format}
			if err := ctx.Write(NetworkHeader, NetworkRows(sampleNetworks(), tt.trunc)); err != nil {
				t.Fatal(err)
			}
			if out.String() != tt.want {
				t.Errorf("got:\n%q\nwant:\n%q", out.String(), tt.want)
			}
		})
	}
}

func TestNetworkJSON(t *testing.T) {
	var out bytes.Buffer
	ctx := Context{Output: &out, Format: NewNetworkFormat("json", false)}
	if err := ctx.Write(NetworkHeader, NetworkRows(sampleNetworks()[:1], true)); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("%q: %v", out.String(), err)
	}
	want := map[string]any{
		"CreatedAt": "2024-01-01 00:00:00 +0000 UTC", "Driver": "bridge", "ID": "aa3e871235c6", "IPv4": "true",
		"IPv6": "false", "Internal": "true", "Labels": "a=b,c=d", "Name": "backend", "Scope": "local",
	}
	if len(got) != len(want) {
		t.Errorf("fields %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}
