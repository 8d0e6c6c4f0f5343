package depcheck

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"sort"
	"strings"
	"testing"
)

const module = "github.com/berth/berth"

// layers are Berth's packages in rows, top to bottom: a package imports only packages of the rows below its
// own, never one of its row or above. "p/..." is p and everything under it; a longer pattern wins, so a tree's
// parts can sit in a lower row than the tree's root. A new package goes into the row of the packages it sits
// among; a package in no row fails the test.
var layers = []struct {
	name     string
	packages []string
}{
	{"binaries, end-to-end tests and benchmark tools", []string{"cmd/berth", "cmd/berthd", "cmd/berth-compose", "cmd/berth-shim", "cmd/berth-vm", "cmd/berth-vm-init", "test/...", "bench/...", "internal/depcheck"}},
	{"the CLI's commands: clients of the API", []string{"cmd/internal/command", "internal/compose"}},
	{"the CLI's parts and the API client", []string{"cmd/internal/cli", "cmd/internal/formatter", "cmd/internal/archive", "cmd/internal/clientgc", "client/..."}},
	{"front ends: the servers of an API", []string{"internal/server/...", "internal/registry/...", "internal/objectstore/s3api/...", "internal/ec2api/...", "internal/ingress/..."}},
	{"wiring: config, services, lifecycle", []string{"internal/daemon/..."}},
	{"engine services", []string{"internal/builder/...", "internal/containers/...", "internal/cluster/...", "internal/cloud/iam/...", "internal/vm/instance/..."}},
	{"implementations of the engine's seams: task runtimes, network drivers", []string{"internal/runtime/...", "internal/vm/...", "internal/network/bridge", "internal/network/overlay"}},
	{"engine parts", []string{"internal/content/testsuite", "internal/cluster/store/storetest", "internal/cluster/manager", "internal/cluster/dispatcher", "internal/cluster/agent", "internal/network/ipam/ipamtest", "internal/image/...", "internal/distribution/...", "internal/snapshot/...", "internal/shim/...", "internal/volume/...", "internal/network", "internal/oci/...", "internal/cgroups/...", "internal/objectstore/...", "internal/vm/qemu/...", "internal/vm/boot/...", "internal/vm/vnet/...", "internal/vm/guest/...", "internal/vm/disk/...", "internal/vm/secgroup/..."}},
	{"stores, formats and the seams' types", []string{"internal/content/...", "internal/cluster/store", "internal/cluster/ca", "internal/state/...", "internal/task/...", "internal/cloud", "internal/cloud/policy/...", "internal/objectstore/lifecycle", "internal/archive/...", "internal/buildcontext/...", "internal/logger/...", "internal/events/...", "internal/network/dns", "internal/network/ipam", "internal/network/link", "internal/cluster/scheduler", "internal/cluster/orchestrator", "internal/vm/agent/..."}},
	// The firewall writes every nftables table of Berth's, the embedded DNS's among them: dns imports it.
	{"netfilter tables, written for the network packages above", []string{"internal/network/firewall"}},
	{"leaves: import nothing of Berth's", []string{"api/...", "internal/atomicfile", "internal/filters", "internal/mount", "internal/version", "internal/errdefs", "internal/testutil", "internal/sysinfo", "internal/cluster/api", "internal/logger/logfile", "internal/cluster/placement"}},
}

// binaries say what each binary may link: the Berth packages (nil: any, but those in notBerth), the other
// modules (nil: any) and the standard library's packages, its internal ones aside (nil: any).
var binaries = []binary{
	{
		// The CLI is a client of the API: the client, its commands and output, and the build context it sends.
		pkg:   "cmd/berth",
		berth: []string{"client", "client/iam", "cmd/internal/cli", "cmd/internal/command", "cmd/internal/formatter", "cmd/internal/archive", "cmd/internal/clientgc", "internal/buildcontext", "internal/atomicfile", "internal/filters", "api/vm"},
		// aws-sdk-go-v2 and smithy-go: the SigV4 signer of client/iam (`berth s3 user`), not an AWS service client.
		modules: []string{"github.com/containerd/errdefs", "github.com/aws/aws-sdk-go-v2", "github.com/aws/smithy-go", "github.com/distribution/reference", "github.com/docker/cli",
			"github.com/docker/docker-credential-helpers", "github.com/docker/go-units", "github.com/moby/docker-image-spec",
			"github.com/moby/moby/api", "github.com/moby/patternmatcher", "github.com/moby/term", "github.com/opencontainers/go-digest",
			"github.com/opencontainers/image-spec", "github.com/sirupsen/logrus", "github.com/spf13/cobra", "github.com/spf13/pflag",
			"golang.org/x/sys", "github.com/Azure/go-ansiterm", "github.com/inconshreveable/mousetrap"},
	},
	{
		// Compose is a client too: the CLI's packages and compose's loader and planner, none of the engine.
		pkg:   "cmd/berth-compose",
		berth: []string{"client", "client/iam", "cmd/internal/cli", "cmd/internal/command", "cmd/internal/formatter", "cmd/internal/archive", "cmd/internal/clientgc", "internal/buildcontext", "internal/atomicfile", "internal/filters", "internal/compose", "api/vm"},
	},
	{
		// The servers link the engine, not the CLI.
		pkg:      "cmd/berthd",
		notBerth: []string{"client", "client/iam", "cmd/internal/command", "cmd/internal/formatter", "cmd/internal/archive", "cmd/internal/clientgc", "internal/compose"},
	},
	{
		// One shim runs per container: what it links is its memory. It links what it needs today, no more.
		pkg:     "cmd/berth-shim",
		berth:   []string{"internal/shim", "internal/logger/logfile", "internal/logger/jsonfile", "internal/logger/local", "internal/atomicfile"},
		modules: []string{"github.com/containerd/errdefs", "golang.org/x/sys"},
		std: []string{"bufio", "bytes", "cmp", "context", "encoding", "encoding/base64", "encoding/binary", "encoding/json",
			"errors", "fmt", "io", "io/fs", "iter", "math", "math/bits", "net", "net/netip", "os", "os/exec", "os/signal",
			"path", "path/filepath", "reflect", "runtime", "runtime/cgo", "runtime/debug", "slices", "sort", "strconv",
			"strings", "sync", "sync/atomic", "syscall", "time", "unicode", "unicode/utf16", "unicode/utf8", "unique",
			"unsafe", "weak"},
	},
	{
		// The init of every virtual machine, in its initramfs: what it links is the guest's boot time.
		pkg:   "cmd/berth-vm-init",
		berth: []string{"internal/vm/guest", "internal/vm/agent"},
		modules: []string{"golang.org/x/sys", "github.com/creack/pty", "github.com/vishvananda/netlink",
			"github.com/vishvananda/netns"},
	},
	{
		// One sandbox runs per VM-isolated container: it links the machine's parts, not the engine's.
		pkg:      "cmd/berth-vm",
		notBerth: []string{"internal/daemon", "internal/containers", "internal/server", "internal/image", "internal/network", "client"},
	},
}

// dockerAPI is where the Docker Engine API's wire types live. They are the vocabulary of the Docker front end:
// the API server (and its client), Docker's container model (the containers service and its translation to
// an OCI spec) and the tools that speak the API. Every other engine package speaks Berth's own types, which the
// server converts at its edge (as containerd's API types stop at its services).
const dockerAPI = "github.com/moby/moby/api"

// dockerAPIUsers are the packages that may import dockerAPI ("p/..." as in layers).
var dockerAPIUsers = []string{"internal/server/...", "internal/containers/...", "internal/oci/...", "client/...",
	"cmd/...", "internal/compose/...", "test/...", "bench/..."}

// dockerAPIConverting are engine packages whose conversion to Berth's own types is in progress on other
// branches; each goes from this list when its conversion lands.
var dockerAPIConverting = []string{"internal/daemon"}

type binary struct {
	pkg      string
	berth    []string
	notBerth []string
	modules  []string
	std      []string
}

// pkg is what `go list -json` says of a package.
type pkg struct {
	ImportPath string
	Standard   bool
	Imports    []string
	Deps       []string
	Module     *struct{ Path string }
}

type graph map[string]*pkg

func TestLayers(t *testing.T) {
	for _, v := range layerViolations(loadGraph(t)) {
		t.Error(v)
	}
}

// Docker's API types stop at the Docker front end (see dockerAPI).
func TestDockerTypesStayAtTheFrontEnd(t *testing.T) {
	for _, v := range dockerAPIViolations(loadGraph(t)) {
		t.Error(v)
	}
}

func dockerAPIViolations(g graph) []string {
	var out []string
	for path, p := range g {
		rel, ok := strings.CutPrefix(path, module+"/")
		if !ok || matchesAny(rel, dockerAPIUsers) || matchesAny(rel, dockerAPIConverting) {
			continue
		}
		for _, imp := range p.Imports {
			if imp == dockerAPI || strings.HasPrefix(imp, dockerAPI+"/") {
				out = append(out, fmt.Sprintf("%s imports %s: Docker's API types stay in the Docker front end (server, containers, oci, client, cmd); use Berth's types and convert in internal/server", rel, imp))
				break
			}
		}
	}
	sort.Strings(out)
	return out
}

// matchesAny reports whether rel is one of patterns ("p/..." matches p and everything under it).
func matchesAny(rel string, patterns []string) bool {
	for _, pat := range patterns {
		if root, ok := strings.CutSuffix(pat, "/..."); ok {
			if rel == root || strings.HasPrefix(rel, root+"/") {
				return true
			}
		} else if rel == pat {
			return true
		}
	}
	return false
}

func TestBinaries(t *testing.T) {
	g := loadGraph(t)
	for _, b := range binaries {
		t.Run(b.pkg, func(t *testing.T) {
			for _, v := range b.violations(g) {
				t.Error(v)
			}
		})
	}
}

// The checks themselves, on small graphs: each breach of a rule is reported, with the import chain behind it.
func TestChecksCatchBreaches(t *testing.T) {
	tests := []struct {
		name  string
		graph graph
		bin   *binary
		want  []string
	}{
		{
			name:  "a lower package importing a higher one",
			graph: fakeGraph("internal/image: internal/daemon", "internal/daemon:"),
			want:  []string{`internal/image (engine parts) imports internal/daemon (wiring: config, services, lifecycle): a package imports only from the rows below its own`},
		},
		{
			name:  "a store importing a package of its own row",
			graph: fakeGraph("internal/content: internal/archive", "internal/archive:"),
			want:  []string{`internal/content (stores, formats and the seams' types) imports internal/archive (stores, formats and the seams' types): a package imports only from the rows below its own`},
		},
		{
			name:  "a leaf importing Berth",
			graph: fakeGraph("internal/atomicfile: internal/archive", "internal/archive:"),
			want:  []string{`internal/atomicfile (leaves: import nothing of Berth's) imports internal/archive (stores, formats and the seams' types): a package imports only from the rows below its own`},
		},
		{
			name:  "a package in no row",
			graph: fakeGraph("internal/newthing:"),
			want:  []string{`internal/newthing is in no row of the layer table: add it to the row of the packages it sits among`},
		},
		{
			name:  "the CLI linking the daemon",
			graph: fakeGraph("cmd/berth: cmd/internal/command", "cmd/internal/command: internal/buildcontext", "internal/buildcontext: internal/daemon", "internal/daemon:"),
			bin:   &binaries[0],
			want:  []string{"cmd/berth links internal/daemon, which it may not: cmd/berth -> cmd/internal/command -> internal/buildcontext -> internal/daemon"},
		},
		{
			name:  "the CLI linking a module it may not",
			graph: fakeGraph("cmd/berth: client", "client: github.com/compose-spec/compose-go/v2/loader", "github.com/compose-spec/compose-go/v2/loader@github.com/compose-spec/compose-go/v2:"),
			bin:   &binaries[0],
			want:  []string{"cmd/berth links github.com/compose-spec/compose-go/v2/loader (module github.com/compose-spec/compose-go/v2), which it may not: cmd/berth -> client -> github.com/compose-spec/compose-go/v2/loader"},
		},
		{
			name:  "the shim linking a standard package it does not need",
			graph: fakeGraph("cmd/berth-shim: internal/shim", "internal/shim: net/http", "std net/http: internal/nettrace", "std internal/nettrace:"),
			bin:   &binaries[3],
			want:  []string{"cmd/berth-shim links net/http, which it may not: cmd/berth-shim -> internal/shim -> net/http"},
		},
		{
			name:  "the servers linking the CLI",
			graph: fakeGraph("cmd/berthd: cmd/internal/command", "cmd/internal/command:"),
			bin:   &binaries[2],
			want:  []string{"cmd/berthd links cmd/internal/command, which it may not: cmd/berthd -> cmd/internal/command"},
		},
		{
			name:  "allowed links",
			graph: fakeGraph("cmd/berth: cmd/internal/command", "cmd/internal/command: client internal/buildcontext", "client: github.com/moby/moby/api/types", "github.com/moby/moby/api/types@github.com/moby/moby/api:", "internal/buildcontext:"),
			bin:   &binaries[0],
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			if tt.bin != nil {
				got = tt.bin.violations(tt.graph)
			} else {
				got = layerViolations(tt.graph)
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

// layerViolations reports every import of a Berth package that does not point to a lower row.
func layerViolations(g graph) []string {
	var out []string
	for _, p := range g.sorted() {
		rel, ok := berthPath(p.ImportPath)
		if !ok {
			continue
		}
		row := rowOf(rel)
		if row < 0 {
			out = append(out, rel+" is in no row of the layer table: add it to the row of the packages it sits among")
			continue
		}
		for _, imp := range p.Imports {
			irel, ok := berthPath(imp)
			if !ok {
				continue
			}
			if irow := rowOf(irel); irow >= 0 && irow <= row {
				out = append(out, fmt.Sprintf("%s (%s) imports %s (%s): a package imports only from the rows below its own",
					rel, layers[row].name, irel, layers[irow].name))
			}
		}
	}
	return out
}

// rowOf returns the index of the row holding rel (the longest matching pattern), or -1.
func rowOf(rel string) int {
	best, bestLen := -1, -1
	for i, l := range layers {
		for _, pat := range l.packages {
			n := len(pat)
			if tree, ok := strings.CutSuffix(pat, "/..."); ok {
				if rel != tree && !strings.HasPrefix(rel, tree+"/") {
					continue
				}
				n = len(tree)
			} else if rel != pat {
				continue
			} else {
				n++ // an exact name beats the tree of the same path
			}
			if n > bestLen {
				best, bestLen = i, n
			}
		}
	}
	return best
}

// violations reports every package b links that its rule does not allow, with the chain of imports to it.
func (b binary) violations(g graph) []string {
	root := g[module+"/"+b.pkg]
	if root == nil {
		return []string{b.pkg + " is not in the module"}
	}
	var out []string
	for _, dep := range sorted(root.Deps) {
		p := g[dep]
		if p == nil {
			continue
		}
		var bad string
		switch rel, isBerth := berthPath(dep); {
		case isBerth:
			if (b.berth != nil && !contains(b.berth, rel)) || contains(b.notBerth, rel) {
				bad = rel
			}
		case p.Standard:
			if b.std != nil && !stdInternal(dep) && !contains(b.std, dep) {
				bad = dep
			}
		case p.Module != nil && b.modules != nil && !contains(b.modules, p.Module.Path):
			bad = fmt.Sprintf("%s (module %s)", dep, p.Module.Path)
		}
		if bad != "" {
			out = append(out, fmt.Sprintf("%s links %s, which it may not: %s", b.pkg, bad, strings.Join(g.chain(root.ImportPath, dep), " -> ")))
		}
	}
	return out
}

// chain is a shortest import path from one package to another, in module-relative names.
func (g graph) chain(from, to string) []string {
	prev := map[string]string{from: ""}
	queue := []string{from}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		if cur == to {
			break
		}
		if p := g[cur]; p != nil {
			for _, imp := range p.Imports {
				if _, seen := prev[imp]; !seen {
					prev[imp] = cur
					queue = append(queue, imp)
				}
			}
		}
	}
	var path []string
	for cur := to; cur != ""; cur = prev[cur] {
		name := cur
		if rel, ok := berthPath(cur); ok {
			name = rel
		}
		path = append([]string{name}, path...)
	}
	return path
}

func (g graph) sorted() []*pkg {
	var out []*pkg
	for _, p := range g {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ImportPath < out[j].ImportPath })
	return out
}

func berthPath(importPath string) (string, bool) {
	return strings.CutPrefix(importPath, module+"/")
}

// stdInternal reports a standard package that is an implementation detail of others (internal/..., vendor/...).
func stdInternal(p string) bool {
	return strings.HasPrefix(p, "internal/") || strings.HasPrefix(p, "vendor/") || strings.Contains(p, "/internal/")
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func sorted(s []string) []string {
	s = append([]string(nil), s...)
	sort.Strings(s)
	return s
}

// loadGraph lists every package of the module and all they link (`go list -deps -json`, test files aside).
func loadGraph(t *testing.T) graph {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", "-json=ImportPath,Standard,Imports,Deps,Module", module+"/...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	g := graph{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		g[p.ImportPath] = &p
	}
	if g[module+"/cmd/berth"] == nil {
		t.Fatalf("go list found no %s/cmd/berth: %d packages listed", module, len(g))
	}
	return g
}

// fakeGraph builds a graph from lines "name: import import...": Berth's packages by module-relative name,
// another module's as "path@module", a standard package as "std path". Deps are computed from the imports.
func fakeGraph(lines ...string) graph {
	g := graph{}
	paths := map[string]string{} // names as imports spell them -> import paths
	for _, l := range lines {
		name, _, _ := strings.Cut(l, ":")
		name, _ = strings.CutPrefix(name, "std ")
		path, _, _ := strings.Cut(name, "@")
		if !strings.HasPrefix(l, "std ") && !strings.Contains(name, "@") {
			path = module + "/" + path
		}
		paths[strings.Split(name, "@")[0]] = path
	}
	for _, l := range lines {
		name, imports, _ := strings.Cut(l, ":")
		std := strings.HasPrefix(name, "std ")
		name = strings.TrimPrefix(name, "std ")
		name, mod, third := strings.Cut(name, "@")
		p := &pkg{ImportPath: paths[name], Standard: std}
		switch {
		case third:
			p.Module = &struct{ Path string }{mod}
		case !std:
			p.Module = &struct{ Path string }{module}
		}
		for _, imp := range strings.Fields(imports) {
			p.Imports = append(p.Imports, paths[imp])
		}
		g[p.ImportPath] = p
	}
	for _, p := range g {
		seen := map[string]bool{}
		var walk func(string)
		walk = func(ip string) {
			for _, imp := range g[ip].Imports {
				if !seen[imp] && g[imp] != nil {
					seen[imp] = true
					p.Deps = append(p.Deps, imp)
					walk(imp)
				}
			}
		}
		walk(p.ImportPath)
	}
	return g
}

// The Docker-types rule on small graphs: an engine package importing the API's types is reported; the server
// and the containers service may.
func TestDockerTypesRuleCatchesBreaches(t *testing.T) {
	api := "github.com/moby/moby/api/types/volume@github.com/moby/moby/api"
	g := fakeGraph("internal/snapshot: github.com/moby/moby/api/types/volume", "internal/server: github.com/moby/moby/api/types/volume",
		"internal/containers: github.com/moby/moby/api/types/volume", api+":")
	got := dockerAPIViolations(g)
	want := "internal/snapshot imports github.com/moby/moby/api/types/volume: Docker's API types stay in the Docker front end (server, containers, oci, client, cmd); use Berth's types and convert in internal/server"
	if len(got) != 1 || got[0] != want {
		t.Errorf("violations %q, want [%q]", got, want)
	}
}
