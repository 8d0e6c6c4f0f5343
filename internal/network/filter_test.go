package network

import (
	"slices"
	"testing"
	"time"

	"github.com/containerd/errdefs"

	"github.com/berth/berth/internal/filters"
)

// filterNetworks are the networks the filter tests list: the predefined three, two user-defined ones (one with
// a container attached) and an old one.
func filterNetworks() []Network {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	return []Network{
		{ID: "b1d9", Name: Bridge, Driver: "bridge", Scope: "local", Created: t0},
		{ID: "h057", Name: Host, Driver: "host", Scope: "local", Created: t0},
		{ID: "n0ne", Name: None, Driver: "null", Scope: "local", Created: t0},
		{ID: "f00d01", Name: "shop_web", Driver: "bridge", Scope: "local", Created: t0.Add(48 * time.Hour), Labels: map[string]string{"com.docker.compose.project": "shop", "tier": "front"},
			Endpoints: map[string]Endpoint{"c1": {}}},
		{ID: "f00d02", Name: "shop-db", Driver: "bridge", Scope: "local", Created: t0.Add(48 * time.Hour), Labels: map[string]string{"com.docker.compose.project": "shop"}},
		{ID: "0ld", Name: "old", Driver: "bridge", Scope: "local", Created: t0.Add(time.Hour)},
	}
}

func TestFilter(t *testing.T) {
	now := time.Date(2026, 1, 4, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		prune   bool   // POST /networks/prune's filter, else GET /networks'
		filters string // the query parameter
		want    []string
		wantErr string
	}{
		{name: "none", want: []string{"bridge", "host", "none", "shop_web", "shop-db", "old"}},
		{name: "name is a regular expression", filters: `{"name":{"shop.d":true}}`, want: []string{"shop-db"}},
		{name: "name substring", filters: `{"name":["shop"]}`, want: []string{"shop_web", "shop-db"}},
		{name: "name anchored", filters: `{"name":["^o"]}`, want: []string{"old"}},
		{name: "id prefix", filters: `{"id":["f00d"]}`, want: []string{"shop_web", "shop-db"}},
		{name: "id is a regular expression too", filters: `{"id":["d02$"]}`, want: []string{"shop-db"}},
		{name: "driver exact", filters: `{"driver":["null"]}`, want: []string{"none"}},
		{name: "driver is not a pattern", filters: `{"driver":["bri"]}`, want: nil},
		{name: "label", filters: `{"label":["com.docker.compose.project=shop"]}`, want: []string{"shop_web", "shop-db"}},
		{name: "labels all match", filters: `{"label":["com.docker.compose.project=shop","tier"]}`, want: []string{"shop_web"}},
		{name: "scope local", filters: `{"scope":["local"]}`, want: []string{"bridge", "host", "none", "shop_web", "shop-db", "old"}},
		{name: "scope swarm", filters: `{"scope":["swarm"]}`, want: nil},
		{name: "type builtin", filters: `{"type":["builtin"]}`, want: []string{"bridge", "host", "none"}},
		{name: "type custom", filters: `{"type":["custom"]}`, want: []string{"shop_web", "shop-db", "old"}},
		{name: "dangling", filters: `{"dangling":["true"]}`, want: []string{"shop-db", "old"}},
		{name: "not dangling: used or predefined", filters: `{"dangling":["0"]}`, want: []string{"bridge", "host", "none", "shop_web"}},
		{name: "bad type", filters: `{"type":["mine"]}`, wantErr: "invalid filter: 'type'='mine'"},
		{name: "bad dangling", filters: `{"dangling":["maybe"]}`, wantErr: `invalid value for filter 'dangling', must be "true" (or "1"), or "false" (or "0")`},
		{name: "two dangling values", filters: `{"dangling":["1","true"]}`, wantErr: `got more than one value for filter key "dangling"`},
		{name: "until is for prune", filters: `{"until":["1h"]}`, wantErr: "invalid filter 'until'"},
		{name: "label! is for prune", filters: `{"label!":["tier"]}`, wantErr: "invalid filter 'label!'"},

		{name: "prune: unused user-defined networks", prune: true, want: []string{"shop-db", "old"}},
		{name: "prune: label", prune: true, filters: `{"label":["com.docker.compose.project=shop"]}`, want: []string{"shop-db"}},
		{name: "prune: label!", prune: true, filters: `{"label!":["com.docker.compose.project"]}`, want: []string{"old"}},
		{name: "prune: until a duration ago", prune: true, filters: `{"until":["48h"]}`, want: []string{"old"}},
		{name: "prune: until a local date-time", prune: true, filters: `{"until":["2026-01-02T00:00:00"]}`, want: []string{"old"}},
		{name: "prune: two until values", prune: true, filters: `{"until":["1h","2h"]}`, wantErr: "more than one until filter specified"},
		{name: "prune: name is for list", prune: true, filters: `{"name":["old"]}`, wantErr: "invalid filter 'name'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := filters.FromJSON(tt.filters)
			if err != nil {
				t.Fatal(err)
			}
			var nf filter
			if tt.prune {
				nf, err = newPruneFilter(f, now)
			} else {
				nf, err = newListFilter(f)
			}
			if tt.wantErr != "" {
				if !errdefs.IsInvalidArgument(err) || err.Error() != tt.wantErr {
					t.Fatalf("err = %v, want ErrInvalidArgument %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, n := range filterNetworks() {
				if nf.matches(n) {
					got = append(got, n.Name)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
