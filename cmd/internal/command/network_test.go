package command

import (
	"encoding/json"
	"io"
	"net/http"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
)

// Expected outputs in these tests are what docker 28 prints against the same API answers.

func sampleNetworkList() []network.Summary {
	return []network.Summary{
		{Network: network.Network{Name: "bridge", ID: "f2de39df4171b0dc801e8002d1d999b77256983dfc63041c0f34030aa3977566", Driver: "bridge", Scope: "local", EnableIPv4: true}},
		{Network: network.Network{Name: "host", ID: "13e871235c677f196c4e1ecebb9dc733b9b2d2ab589e30c539efeda84a24215e", Driver: "host", Scope: "local"}},
		{Network: network.Network{Name: "backend10", ID: "aa3e871235c677f196c4e1ecebb9dc733b9b2d2ab589e30c539efeda84a24215", Driver: "bridge", Scope: "local",
			Internal: true, Labels: map[string]string{"tier": "db"}, Created: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}},
		{Network: network.Network{Name: "backend2", ID: "bb3e871235c677f196c4e1ecebb9dc733b9b2d2ab589e30c539efeda84a24215", Driver: "bridge", Scope: "local"}},
	}
}

func TestNetworkLs(t *testing.T) {
	d := newFakeDaemon(t)
	var filters []string
	d.handle("GET /networks", func(w http.ResponseWriter, r *http.Request) {
		filters = append(filters, r.URL.Query().Get("filters"))
		writeJSON(w, 200, sampleNetworkList())
	})
	tests := []struct {
		name   string
		args   []string
		want   string
		filter string
	}{
		{name: "table", args: []string{"network", "ls"}, want: "" +
			"NETWORK ID     NAME        DRIVER    SCOPE\n" +
			"bb3e871235c6   backend2    bridge    local\n" +
			"aa3e871235c6   backend10   bridge    local\n" +
			"f2de39df4171   bridge      bridge    local\n" +
			"13e871235c67   host        host      local\n"},
		{name: "list alias and no-trunc", args: []string{"network", "list", "--no-trunc", "--filter", "driver=bridge"},
			filter: `{"driver":["bridge"]}`, want: "" +
				"NETWORK ID                                                         NAME        DRIVER    SCOPE\n" +
				"bb3e871235c677f196c4e1ecebb9dc733b9b2d2ab589e30c539efeda84a24215   backend2    bridge    local\n" +
				"aa3e871235c677f196c4e1ecebb9dc733b9b2d2ab589e30c539efeda84a24215   backend10   bridge    local\n" +
				"f2de39df4171b0dc801e8002d1d999b77256983dfc63041c0f34030aa3977566   bridge      bridge    local\n" +
				"13e871235c677f196c4e1ecebb9dc733b9b2d2ab589e30c539efeda84a24215e   host        host      local\n"},
		{name: "quiet", args: []string{"network", "ls", "-q", "-f", "type=custom", "-f", "name=backend"},
			filter: `{"name":["backend"],"type":["custom"]}`, want: "bb3e871235c6\naa3e871235c6\nf2de39df4171\n13e871235c67\n"},
		{name: "template", args: []string{"network", "ls", "--format", "{{.Name}} {{.Internal}} {{.Label \"tier\"}}"},
			want: "backend2 false \nbackend10 true db\nbridge false \nhost false \n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			filters = nil
			out, errOut, code := runBerth(t, d, "", tt.args...)
			if code != 0 || out != tt.want {
				t.Errorf("exit %d err %q\ngot:\n%s\nwant:\n%s", code, errOut, out, tt.want)
			}
			if len(filters) != 1 || filters[0] != tt.filter {
				t.Errorf("filters sent %q, want %q", filters, tt.filter)
			}
		})
	}

	out, _, _ := runBerth(t, d, "", "network", "ls", "--format", "json")
	first, _, _ := strings.Cut(out, "\n")
	var row map[string]string
	if err := json.Unmarshal([]byte(first), &row); err != nil || row["Name"] != "backend2" || row["ID"] != "bb3e871235c6" || row["IPv4"] != "false" {
		t.Errorf("json: %q (%v)", out, err)
	}
	_, errOut, code := runBerth(t, d, "", "network", "ls", "x")
	if code != 1 || errOut != "berth: 'berth network ls' accepts no arguments\n\nUsage:  berth network ls [OPTIONS]\n\nRun 'berth network ls --help' for more information\n" {
		t.Errorf("extra argument: exit %d err %q", code, errOut)
	}
}

func TestNetworkInspect(t *testing.T) {
	d := newFakeDaemon(t)
	d.handle("GET /networks/bridge", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"Name":"bridge","Id":"f2de39df4171","Driver":"bridge","IPAM":{"Driver":"default","Config":[{"Subnet":"172.17.0.0/16","Gateway":"172.17.0.1"}]},"Containers":{}}`)
	})
	d.handle("GET /networks/host", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"Name":"host","Id":"13e871235c67","Driver":"host","IPAM":{"Driver":"default","Config":null},"Containers":{}}`)
	})
	d.handle("GET /networks/nope", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 404, map[string]string{"message": "network nope not found"})
	})

	out, errOut, code := runBerth(t, d, "", "network", "inspect", "-f", "{{.Name}} {{.Driver}} {{range .IPAM.Config}}{{.Subnet}}{{end}}", "bridge", "host")
	if code != 0 || out != "bridge bridge 172.17.0.0/16\nhost host \n" {
		t.Errorf("template: exit %d out %q err %q", code, out, errOut)
	}
	out, _, code = runBerth(t, d, "", "network", "inspect", "host")
	want := "[\n    {\n        \"Name\": \"host\",\n        \"Id\": \"13e871235c67\",\n        \"Driver\": \"host\",\n        \"IPAM\": {\n" +
		"            \"Driver\": \"default\",\n            \"Config\": null\n        },\n        \"Containers\": {}\n    }\n]\n"
	if code != 0 || out != want {
		t.Errorf("indented:\n%s\nwant:\n%s", out, want)
	}
	out, errOut, code = runBerth(t, d, "", "network", "inspect", "--format", "{{.Name}}", "nope", "host")
	if code != 1 || out != "host\n" || errOut != "Error response from daemon: network nope not found\n" {
		t.Errorf("missing: exit %d out %q err %q", code, out, errOut)
	}
	_, errOut, code = runBerth(t, d, "", "network", "inspect", "-f", "{{.Name", "host")
	if code != 64 || errOut != "template parsing error: template: :1: unclosed action\n" {
		t.Errorf("bad template: exit %d err %q", code, errOut)
	}
}

func TestNetworkCreate(t *testing.T) {
	const id = "c0ffeec0ffeec0ffeec0ffeec0ffeec0ffeec0ffeec0ffeec0ffeec0ffeeabcd"
	tests := []struct {
		name string
		args []string
		want map[string]any // the request body, as JSON
		err  string         // stderr, when the command fails before asking the daemon
	}{
		{name: "defaults", args: []string{"n1"}, want: map[string]any{
			"Name": "n1", "Driver": "bridge", "Scope": "", "Internal": false, "Attachable": false, "Ingress": false,
			"ConfigOnly": false, "ConfigFrom": nil, "Options": map[string]any{}, "Labels": map[string]any{},
			"IPAM": map[string]any{"Driver": "default", "Options": map[string]any{}, "Config": []any{}},
		}},
		{name: "all flags", args: []string{"-d", "bridge", "--subnet", "10.5.0.0/16", "--gateway", "10.5.0.1", "--ip-range", "10.5.1.0/24",
			"--internal", "--label", "a=b", "--label", "c", "-o", "com.docker.network.bridge.name=br5", "--attachable", "--ipv6=false", "n2"},
			want: map[string]any{
				"Name": "n2", "Driver": "bridge", "Scope": "", "Internal": true, "Attachable": true, "Ingress": false, "EnableIPv6": false,
				"ConfigOnly": false, "ConfigFrom": nil,
				"Options": map[string]any{"com.docker.network.bridge.name": "br5"}, "Labels": map[string]any{"a": "b", "c": ""},
				"IPAM": map[string]any{"Driver": "default", "Options": map[string]any{}, "Config": []any{
					map[string]any{"Subnet": "10.5.0.0/16", "IPRange": "10.5.1.0/24", "Gateway": "10.5.0.1"},
				}},
			}},
		{name: "two subnets, gateways matched by containment", args: []string{"--driver", "macvlan", "--subnet", "10.1.0.0/16,10.2.0.0/16",
			"--gateway", "10.2.0.254", "--gateway", "10.1.0.254", "n3"},
			want: map[string]any{
				"Name": "n3", "Driver": "macvlan", "Scope": "", "Internal": false, "Attachable": false, "Ingress": false,
				"ConfigOnly": false, "ConfigFrom": nil, "Options": map[string]any{}, "Labels": map[string]any{},
				"IPAM": map[string]any{"Driver": "default", "Options": map[string]any{}, "Config": []any{
					map[string]any{"Subnet": "10.1.0.0/16", "Gateway": "10.1.0.254"},
					map[string]any{"Subnet": "10.2.0.0/16", "Gateway": "10.2.0.254"},
				}},
			}},
		{name: "ipv6 refused", args: []string{"--ipv6", "n"}, err: "IPv6 networks are not supported\n"},
		{name: "gateway without subnet", args: []string{"--gateway", "10.0.0.1", "n"}, err: "every ip-range or gateway must have a corresponding subnet\n"},
		{name: "gateway outside subnet", args: []string{"--subnet", "10.0.0.0/8", "--gateway", "11.0.0.1", "n"}, err: "no matching subnet for gateway 11.0.0.1\n"},
		{name: "bad gateway", args: []string{"--subnet", "10.0.0.0/8", "--gateway", "bad", "n"}, err: "no matching subnet for gateway bad\n"},
		{name: "range outside subnet", args: []string{"--subnet", "10.0.0.0/8", "--ip-range", "11.0.0.0/24", "n"}, err: "no matching subnet for range 11.0.0.0/24\n"},
		{name: "bad range", args: []string{"--subnet", "10.0.0.0/8", "--ip-range", "bad", "n"}, err: "invalid CIDR address: bad\n"},
		{name: "bad subnet", args: []string{"--subnet", "bad", "n"}, err: "invalid subnet: invalid CIDR address: bad\n"},
		{name: "overlapping subnets", args: []string{"--subnet", "10.0.0.0/8", "--subnet", "10.1.0.0/16", "n"}, err: "multiple overlapping subnet configuration is not supported\n"},
		{name: "more gateways than subnets", args: []string{"--subnet", "10.0.0.0/8", "--gateway", "10.0.0.1", "--gateway", "10.0.0.2", "n"},
			err: "every ip-range or gateway must have a corresponding subnet\n"},
		{name: "two gateways in one subnet", args: []string{"--subnet", "10.0.0.0/8", "--subnet", "11.0.0.0/8", "--gateway", "10.0.0.1", "--gateway", "10.0.0.2", "n"},
			err: "cannot configure multiple gateways (10.0.0.2, 10.0.0.1) for the same subnet (10.0.0.0/8)\n"},
		{name: "two ranges in one subnet", args: []string{"--subnet", "10.0.0.0/8", "--subnet", "11.0.0.0/8", "--ip-range", "10.1.0.0/16", "--ip-range", "10.2.0.0/16", "n"},
			err: "cannot configure multiple ranges (10.2.0.0/16, 10.1.0.0/16) on the same subnet (10.0.0.0/8)\n"},
		{name: "no name", args: []string{}, err: "berth: 'berth network create' requires 1 argument\n\nUsage:  berth network create [OPTIONS] NETWORK\n\nRun 'berth network create --help' for more information\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newFakeDaemon(t)
			var body map[string]any
			d.handle("POST /networks/create", func(w http.ResponseWriter, r *http.Request) {
				if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
					t.Error(err)
				}
				writeJSON(w, 201, network.CreateResponse{ID: id})
			})
			out, errOut, code := runBerth(t, d, "", append([]string{"network", "create"}, tt.args...)...)
			if tt.err != "" {
				if code != 1 || errOut != tt.err || d.called("POST /networks/create") {
					t.Errorf("exit %d err %q (want %q), daemon called %v", code, errOut, tt.err, d.called("POST /networks/create"))
				}
				return
			}
			if code != 0 || out != id+"\n" {
				t.Fatalf("exit %d out %q err %q", code, out, errOut)
			}
			if !reflect.DeepEqual(body, tt.want) {
				got, _ := json.Marshal(body)
				want, _ := json.Marshal(tt.want)
				t.Errorf("body\n got %s\nwant %s", got, want)
			}
		})
	}

	d := newFakeDaemon(t)
	d.handle("POST /networks/create", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 409, map[string]string{"message": "network with name backend already exists"})
	})
	_, errOut, code := runBerth(t, d, "", "network", "create", "backend")
	if code != 1 || errOut != "Error response from daemon: network with name backend already exists\n" {
		t.Errorf("duplicate: exit %d err %q", code, errOut)
	}
}

func TestNetworkRm(t *testing.T) {
	d := newFakeDaemon(t)
	removed := func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }
	d.handle("DELETE /networks/backend2", removed)
	d.handle("DELETE /networks/backend10", removed)
	d.handle("DELETE /networks/bridge", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 403, map[string]string{"message": "bridge is a pre-defined network and cannot be removed"})
	})
	d.handle("DELETE /networks/nope", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 404, map[string]string{"message": "network nope not found"})
	})
	tests := []struct {
		name      string
		args      []string
		code      int
		out, err  string
		wantCalls []string
	}{
		{name: "partial failure", args: []string{"rm", "backend2", "bridge", "nope", "backend10"}, code: 1, out: "backend2\nbackend10\n",
			err: "Error response from daemon: bridge is a pre-defined network and cannot be removed\nError response from daemon: network nope not found\nexit status 1\n"},
		{name: "force ignores missing", args: []string{"remove", "-f", "nope", "backend2"}, out: "backend2\n"},
		{name: "force keeps other errors", args: []string{"rm", "-f", "bridge"}, code: 1,
			err: "Error response from daemon: bridge is a pre-defined network and cannot be removed\nexit status 1\n"},
		{name: "no arguments", args: []string{"rm"}, code: 1,
			err: "berth: 'berth network rm' requires at least 1 argument\n\nUsage:  berth network rm NETWORK [NETWORK...]\n\nSee 'berth network rm --help' for more information\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := runBerth(t, d, "", append([]string{"network"}, tt.args...)...)
			if code != tt.code || out != tt.out || errOut != tt.err {
				t.Errorf("exit %d (want %d)\nout %q (want %q)\nerr %q (want %q)", code, tt.code, out, tt.out, errOut, tt.err)
			}
		})
	}
}

func TestNetworkPrune(t *testing.T) {
	d := newFakeDaemon(t)
	var filters string
	deleted := []string{"n1", "n2"}
	d.handle("POST /networks/prune", func(w http.ResponseWriter, r *http.Request) {
		filters = r.URL.Query().Get("filters")
		writeJSON(w, 200, network.PruneReport{NetworksDeleted: deleted})
	})
	const prompt = "WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue? [y/N] "

	out, _, code := runBerth(t, d, "n\n", "network", "prune")
	if code != 0 || out != prompt || d.called("POST /networks/prune") {
		t.Errorf("declined: exit %d out %q", code, out)
	}
	out, _, code = runBerth(t, d, "y\n", "network", "prune")
	if code != 0 || out != prompt+"Deleted Networks:\nn1\nn2\n\n" || filters != "" {
		t.Errorf("confirmed: exit %d out %q filters %q", code, out, filters)
	}
	out, _, code = runBerth(t, d, "", "network", "prune", "-f", "--filter", "until=24h", "--filter", "label=tier")
	if code != 0 || out != "Deleted Networks:\nn1\nn2\n\n" || filters != `{"label":["tier"],"until":["24h"]}` {
		t.Errorf("forced: exit %d out %q filters %q", code, out, filters)
	}
	deleted = nil
	out, _, code = runBerth(t, d, "", "network", "prune", "-f")
	if code != 0 || out != "" {
		t.Errorf("nothing pruned: exit %d out %q", code, out)
	}
}

func TestNetworkConnectDisconnect(t *testing.T) {
	d := newFakeDaemon(t)
	var connect network.ConnectRequest
	var disconnect network.DisconnectRequest
	d.handle("POST /networks/backend/connect", func(w http.ResponseWriter, r *http.Request) {
		connect = network.ConnectRequest{}
		_ = json.NewDecoder(r.Body).Decode(&connect)
		w.WriteHeader(http.StatusOK)
	})
	d.handle("POST /networks/backend/disconnect", func(w http.ResponseWriter, r *http.Request) {
		disconnect = network.DisconnectRequest{}
		_ = json.NewDecoder(r.Body).Decode(&disconnect)
		w.WriteHeader(http.StatusOK)
	})
	d.handle("POST /networks/nope/connect", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 404, map[string]string{"message": "network nope not found"})
	})

	out, errOut, code := runBerth(t, d, "", "network", "connect", "--ip", "10.5.0.9", "--alias", "api", "--alias", "www,web", "backend", "c1")
	ep := connect.EndpointConfig
	if code != 0 || out != "" || errOut != "" || connect.Container != "c1" || ep == nil || ep.IPAMConfig == nil ||
		ep.IPAMConfig.IPv4Address != netip.MustParseAddr("10.5.0.9") || !reflect.DeepEqual(ep.Aliases, []string{"api", "www", "web"}) {
		t.Errorf("connect: exit %d out %q err %q request %+v", code, out, errOut, connect)
	}
	_, _, code = runBerth(t, d, "", "network", "connect", "backend", "c2")
	if ep := connect.EndpointConfig; code != 0 || connect.Container != "c2" || ep == nil || ep.IPAMConfig == nil || ep.IPAMConfig.IPv4Address.IsValid() {
		t.Errorf("plain connect: exit %d request %+v", code, connect)
	}
	_, errOut, code = runBerth(t, d, "", "network", "connect", "nope", "c1")
	if code != 1 || errOut != "Error response from daemon: network nope not found\n" {
		t.Errorf("missing network: exit %d err %q", code, errOut)
	}

	failures := []struct {
		args []string
		err  string
	}{
		{args: []string{"--link", "db:db", "backend", "c1"}, err: "--link is not supported: use --alias to give the container another name on the network\n"},
		{args: []string{"--ip", "10.5.0.300", "backend", "c1"}, err: "invalid IPv4 address: 10.5.0.300\n"},
		{args: []string{"backend"}, err: "berth: 'berth network connect' requires 2 arguments\n\nUsage:  berth network connect [OPTIONS] NETWORK CONTAINER\n\nRun 'berth network connect --help' for more information\n"},
	}
	for _, f := range failures {
		connect = network.ConnectRequest{}
		_, errOut, code := runBerth(t, d, "", append([]string{"network", "connect"}, f.args...)...)
		if code != 1 || errOut != f.err || connect.Container != "" {
			t.Errorf("%v: exit %d err %q (want %q), request %+v", f.args, code, errOut, f.err, connect)
		}
	}

	_, _, code = runBerth(t, d, "", "network", "disconnect", "-f", "backend", "c1")
	if code != 0 || disconnect != (network.DisconnectRequest{Container: "c1", Force: true}) {
		t.Errorf("disconnect -f: exit %d request %+v", code, disconnect)
	}
	_, _, code = runBerth(t, d, "", "network", "disconnect", "backend", "c2")
	if code != 0 || disconnect != (network.DisconnectRequest{Container: "c2"}) {
		t.Errorf("disconnect: exit %d request %+v", code, disconnect)
	}
}

func TestNetworkHelp(t *testing.T) {
	out, _, code := runBerth(t, nil, "", "network")
	want := "Usage:  berth network COMMAND\n\nManage networks\n\nCommands:\n" +
		"  connect     Connect a container to a network\n" +
		"  create      Create a network\n" +
		"  disconnect  Disconnect a container from a network\n" +
		"  inspect     Display detailed information on one or more networks\n" +
		"  ls          List networks\n" +
		"  prune       Remove all unused networks\n" +
		"  rm          Remove one or more networks\n\n" +
		"Run 'berth network COMMAND --help' for more information on a command.\n"
	if code != 0 || out != want {
		t.Errorf("group help:\n%s\nwant:\n%s", out, want)
	}
	out, _, _ = runBerth(t, nil, "", "--help")
	if !strings.Contains(out, "  network     Manage networks\n") {
		t.Errorf("root help lacks network:\n%s", out)
	}
}

// TestRunNetworkEndpoint checks that --network, --ip and --network-alias reach the daemon as docker sends them:
// the first network carries the endpoint settings in NetworkingConfig.EndpointsConfig.
func TestRunNetworkEndpoint(t *testing.T) {
	tests := []struct {
		name string
		args []string
		mode container.NetworkMode
		want map[string]*network.EndpointSettings
	}{
		{name: "ip and aliases", args: []string{"--network", "backend", "--ip", "10.5.0.5", "--network-alias", "api", "--network-alias", "www"},
			mode: "backend", want: map[string]*network.EndpointSettings{"backend": {
				IPAMConfig: &network.EndpointIPAMConfig{IPv4Address: netip.MustParseAddr("10.5.0.5")}, Aliases: []string{"api", "www"}}}},
		{name: "second network gets an empty endpoint", args: []string{"--net", "backend", "--network", "frontend", "--ip", "10.5.0.5"},
			mode: "backend", want: map[string]*network.EndpointSettings{
				"backend":  {IPAMConfig: &network.EndpointIPAMConfig{IPv4Address: netip.MustParseAddr("10.5.0.5")}},
				"frontend": {}}},
		{name: "alias only", args: []string{"--network", "backend", "--net-alias", "db"},
			mode: "backend", want: map[string]*network.EndpointSettings{"backend": {Aliases: []string{"db"}}}},
		{name: "ip on the default bridge", args: []string{"--network", "bridge", "--ip", "172.17.0.9"},
			mode: "bridge", want: map[string]*network.EndpointSettings{"bridge": {
				IPAMConfig: &network.EndpointIPAMConfig{IPv4Address: netip.MustParseAddr("172.17.0.9")}}}},
		{name: "network without settings", args: []string{"--network", "backend"}, mode: "backend"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newFakeDaemon(t)
			var req container.CreateRequest
			d.handle("POST /containers/create", func(w http.ResponseWriter, r *http.Request) {
				_ = json.NewDecoder(r.Body).Decode(&req)
				writeJSON(w, 201, container.CreateResponse{ID: "c0ffee"})
			})
			_, errOut, code := runBerth(t, d, "", append(append([]string{"create"}, tt.args...), "alpine")...)
			if code != 0 {
				t.Fatalf("exit %d err %q", code, errOut)
			}
			if req.HostConfig == nil || req.HostConfig.NetworkMode != tt.mode {
				t.Errorf("NetworkMode = %+v", req.HostConfig)
			}
			var got map[string]*network.EndpointSettings
			if req.NetworkingConfig != nil {
				got = req.NetworkingConfig.EndpointsConfig
			}
			if !reflect.DeepEqual(got, tt.want) {
				b, _ := json.Marshal(req.NetworkingConfig)
				t.Errorf("NetworkingConfig %s", b)
			}
		})
	}

	_, errOut, code := runBerth(t, nil, "", "create", "--network-alias", "x", "alpine")
	if code != 125 || errOut != "berth: network-scoped aliases are only supported for user-defined networks\n\nRun 'berth create --help' for more information\n" {
		t.Errorf("alias on the default network: exit %d err %q", code, errOut)
	}
}

// TestPublishedPorts checks the PORTS column of ps and the port command against docker's rendering of the same
// answers: IPv6 hosts bracketed, an unset host IP left empty.
func TestPublishedPorts(t *testing.T) {
	d := newFakeDaemon(t)
	d.handle("GET /containers/json", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `[{"Id":"9b2f1e3c4d5a6b7c","Names":["/web"],"Image":"alpine","Command":"sh","State":"running","Status":"Up",
			"Ports":[{"IP":"0.0.0.0","PrivatePort":80,"PublicPort":8080,"Type":"tcp"},{"IP":"::","PrivatePort":80,"PublicPort":8080,"Type":"tcp"},
			{"IP":"0.0.0.0","PrivatePort":443,"PublicPort":443,"Type":"tcp"},{"IP":"::","PrivatePort":443,"PublicPort":443,"Type":"tcp"},
			{"PrivatePort":53,"Type":"udp"}]}]`)
	})
	d.handle("GET /containers/web/json", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"Id":"abc","Name":"/web","NetworkSettings":{"Ports":{
			"80/tcp":[{"HostIp":"0.0.0.0","HostPort":"8080"},{"HostIp":"::","HostPort":"8080"}],"53/udp":null,"443/tcp":[{"HostIp":"","HostPort":"8443"}]}}}`)
	})
	out, _, code := runBerth(t, d, "", "ps", "--format", "{{.Ports}}")
	if want := "53/udp, 0.0.0.0:443->443/tcp, [::]:443->443/tcp, 0.0.0.0:8080->80/tcp, [::]:8080->80/tcp\n"; code != 0 || out != want {
		t.Errorf("ps ports:\n%q\nwant\n%q", out, want)
	}
	tests := []struct {
		args []string
		want string
	}{
		{args: []string{"port", "web"}, want: "80/tcp -> 0.0.0.0:8080\n80/tcp -> [::]:8080\n443/tcp -> :8443\n"},
		{args: []string{"port", "web", "80/tcp"}, want: "0.0.0.0:8080\n[::]:8080\n"},
		{args: []string{"container", "port", "web", "443"}, want: ":8443\n"},
	}
	for _, tt := range tests {
		out, errOut, code := runBerth(t, d, "", tt.args...)
		if code != 0 || out != tt.want {
			t.Errorf("%v: exit %d err %q\n%q\nwant\n%q", tt.args, code, errOut, out, tt.want)
		}
	}
}
