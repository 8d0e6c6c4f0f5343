package containers

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"

	"github.com/berth/berth/internal/filters"
)

// psRows are the containers the list filter tests look at, newest first.
func psRows() []psRow {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	return []psRow{
		{ID: "aaa111", Name: "/shop-web-1", ImageID: "sha256:img1", State: container.StateRunning, Started: true,
			Created: t0.Add(3 * time.Hour), Labels: map[string]string{"com.docker.compose.project": "shop", "tier": "front"},
			Health: container.Healthy, Mounts: []container.MountPoint{{Type: "volume", Name: "data", Destination: "/data"}}},
		{ID: "aaa222", Name: "/shop_db_1", ImageID: "sha256:img2", State: container.StateExited, Started: true, ExitCode: 0,
			Created: t0.Add(2 * time.Hour), Labels: map[string]string{"com.docker.compose.project": "shop"},
			Health: container.NoHealthcheck, Mounts: []container.MountPoint{{Type: "bind", Source: "/srv/db", Destination: "/var/lib/db"}}},
		{ID: "bbb333", Name: "/x", ImageID: "sha256:img3", State: container.StateCreated, Created: t0.Add(time.Hour), Health: container.NoHealthcheck},
		{ID: "ccc444", Name: "/x2", ImageID: "sha256:img3", State: container.StateExited, Started: true, ExitCode: 137, Created: t0,
			Health: container.NoHealthcheck},
	}
}

func psTestLookup() psLookup {
	rows := psRows()
	var ids []string
	for _, r := range rows {
		ids = append(ids, r.ID)
	}
	return psLookup{
		ids: ids,
		created: func(ref string) (time.Time, error) {
			for _, r := range rows {
				if r.ID == ref || strings.TrimPrefix(r.Name, "/") == strings.TrimPrefix(ref, "/") {
					return r.Created, nil
				}
			}
			return time.Time{}, errdefs.ErrNotFound.WithMessage("No such container: " + ref)
		},
		lineage: func(ref string) ([]string, error) {
			switch ref {
			case "img1", "app:latest":
				return []string{"sha256:img1", "sha256:img2"}, nil // img2 was built FROM img1
			case "img2":
				return []string{"sha256:img2"}, nil
			}
			return nil, errdefs.ErrNotFound.WithMessage("No such image: " + ref)
		},
	}
}

func TestPsFilter(t *testing.T) {
	tests := []struct {
		name    string
		filters string // the query parameter
		all     bool
		limit   int
		want    []string // names without the slash
		wantErr string
		isErr   func(error) bool
	}{
		{name: "running only by default", want: []string{"shop-web-1"}},
		{name: "all", all: true, want: []string{"shop-web-1", "shop_db_1", "x", "x2"}},
		{name: "a limit shows stopped ones too", limit: 2, want: []string{"shop-web-1", "shop_db_1", "x", "x2"}},
		{name: "name is a regular expression", filters: `{"name":{"shop.web":true}}`, all: true, want: []string{"shop-web-1"}},
		{name: "name anchored with the slash", filters: `{"name":["^/x$"]}`, all: true, want: []string{"x"}},
		{name: "name anchored without the slash", filters: `{"name":["^x"]}`, all: true, want: []string{"x", "x2"}},
		{name: "name substring", filters: `{"name":["db"]}`, all: true, want: []string{"shop_db_1"}},
		{name: "names are alternatives", filters: `{"name":["db","web"]}`, all: true, want: []string{"shop-web-1", "shop_db_1"}},
		{name: "id prefix", filters: `{"id":["aaa1"]}`, all: true, want: []string{"shop-web-1"}},
		{name: "ambiguous id prefix names none", filters: `{"id":["aaa"]}`, all: true, want: nil},
		{name: "id is not a substring", filters: `{"id":["111"]}`, all: true, want: nil},
		{name: "id and name both apply", filters: `{"id":["aaa1"],"name":["db"]}`, all: true, want: nil},
		{name: "status shows stopped ones", filters: `{"status":["exited"]}`, want: []string{"shop_db_1", "x2"}},
		{name: "status created", filters: `{"status":["created"]}`, want: []string{"x"}},
		{name: "bad status", filters: `{"status":["bogus"]}`, wantErr: "invalid filter 'status=bogus'"},
		{name: "exited needs --all", filters: `{"exited":["0"]}`, want: nil},
		{name: "exited counts containers that ran", filters: `{"exited":["0"]}`, all: true, want: []string{"shop_db_1"}},
		{name: "exited code", filters: `{"exited":["137"]}`, all: true, want: []string{"x2"}},
		{name: "bad exited", filters: `{"exited":["x"]}`, wantErr: "invalid filter 'exited=x'"},
		{name: "label", filters: `{"label":["com.docker.compose.project=shop"]}`, all: true, want: []string{"shop-web-1", "shop_db_1"}},
		{name: "labels all match", filters: `{"label":["com.docker.compose.project=shop","tier"]}`, all: true, want: []string{"shop-web-1"}},
		{name: "health", filters: `{"health":["healthy"]}`, all: true, want: []string{"shop-web-1"}},
		{name: "health none", filters: `{"health":["none"]}`, all: true, want: []string{"shop_db_1", "x", "x2"}},
		{name: "bad health", filters: `{"health":["sick"]}`, wantErr: "invalid filter 'health=sick'"},
		{name: "ancestor and its descendants", filters: `{"ancestor":["img1"]}`, all: true, want: []string{"shop-web-1", "shop_db_1"}},
		{name: "ancestor by name:tag", filters: `{"ancestor":["app:latest"]}`, all: true, want: []string{"shop-web-1", "shop_db_1"}},
		{name: "ancestor child only", filters: `{"ancestor":["img2"]}`, all: true, want: []string{"shop_db_1"}},
		{name: "unknown ancestor matches nothing", filters: `{"ancestor":["nothere"]}`, all: true, want: nil},
		{name: "before", filters: `{"before":["shop_db_1"]}`, all: true, want: []string{"x", "x2"}},
		{name: "since", filters: `{"since":["/x"]}`, all: true, want: []string{"shop-web-1", "shop_db_1"}},
		{name: "before unknown", filters: `{"before":["nothere"]}`, isErr: errdefs.IsNotFound},
		{name: "volume by name", filters: `{"volume":["data"]}`, all: true, want: []string{"shop-web-1"}},
		{name: "volume by destination", filters: `{"volume":["/var/lib/db"]}`, all: true, want: []string{"shop_db_1"}},
		{name: "bind by source", filters: `{"volume":["/srv/db"]}`, all: true, want: []string{"shop_db_1"}},
		{name: "is-task true: no tasks here", filters: `{"is-task":["true"]}`, all: true, want: nil},
		{name: "is-task false", filters: `{"is-task":["false"]}`, want: []string{"shop-web-1"}},
		{name: "bad is-task", filters: `{"is-task":["maybe"]}`, wantErr: "invalid filter 'is-task=[maybe]'"},
		{name: "isolation is accepted", filters: `{"isolation":["default"]}`, want: []string{"shop-web-1"}},
		{name: "unknown key", filters: `{"colour":["red"]}`, wantErr: "invalid filter 'colour'"},
		{name: "publish with a host part", filters: `{"publish":["80:80"]}`, wantErr: "filter for 'publish' should not contain ':': 80:80"},
		{name: "bad port", filters: `{"expose":["http"]}`, wantErr: "error while looking up for expose http"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := filters.FromJSON(tt.filters)
			if err != nil {
				t.Fatal(err)
			}
			p, err := newPsFilter(f, tt.all, tt.limit, psTestLookup())
			switch {
			case tt.isErr != nil:
				if !tt.isErr(err) {
					t.Fatalf("err = %v", err)
				}
				return
			case tt.wantErr != "":
				if !errdefs.IsInvalidArgument(err) || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want ErrInvalidArgument %q", err, tt.wantErr)
				}
				return
			case err != nil:
				t.Fatal(err)
			}
			var got []string
			for _, r := range psRows() {
				if p.include(r) {
					got = append(got, strings.TrimPrefix(r.Name, "/"))
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestPsFilterSummary(t *testing.T) {
	s := container.Summary{
		Ports: []container.PortSummary{{PrivatePort: 80, PublicPort: 8080, Type: "tcp"}, {PrivatePort: 53, Type: "udp"}},
		NetworkSettings: &container.NetworkSettingsSummary{Networks: map[string]*network.EndpointSettings{
			"shop_default": {NetworkID: "f00d01"},
		}},
	}
	tests := []struct {
		filters string
		want    bool
	}{
		{filters: `{}`, want: true},
		{filters: `{"network":["shop_default"]}`, want: true},
		{filters: `{"network":["f00d"]}`, want: true},
		{filters: `{"network":["shop"]}`, want: false},
		{filters: `{"network":["bridge","shop_default"]}`, want: true},
		{filters: `{"publish":["8080"]}`, want: true},
		{filters: `{"publish":["8080/tcp"]}`, want: true},
		{filters: `{"publish":["8080/udp"]}`, want: false},
		{filters: `{"publish":["8000-8100"]}`, want: true},
		{filters: `{"publish":["80"]}`, want: false},
		{filters: `{"expose":["80"]}`, want: true},
		{filters: `{"expose":["53/udp"]}`, want: true},
		{filters: `{"expose":["53"]}`, want: false}, // tcp by default
		{filters: `{"publish":["9000"],"expose":["80"]}`, want: true},
	}
	for _, tt := range tests {
		t.Run(tt.filters, func(t *testing.T) {
			f, err := filters.FromJSON(tt.filters)
			if err != nil {
				t.Fatal(err)
			}
			p, err := newPsFilter(f, true, 0, psTestLookup())
			if err != nil {
				t.Fatal(err)
			}
			if got := p.includeSummary(s); got != tt.want {
				t.Errorf("includeSummary = %v, want %v (%s)", got, tt.want, fmt.Sprint(s.Ports))
			}
		})
	}
}
