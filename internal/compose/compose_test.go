package compose

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
)

// writeFiles creates files (name -> content) in a fresh directory named dirName and returns it.
func writeFiles(t *testing.T, dirName string, files map[string]string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), dirName)
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func load(t *testing.T, dir string, o LoadOptions) *types.Project {
	t.Helper()
	if o.WorkDir == "" && len(o.Files) == 0 {
		o.WorkDir = dir
	}
	p, err := Load(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

const seed = `
services:
  web:
    image: busybox:${TAG:-latest}
    ports: ["8080:80"]
    depends_on:
      db: {condition: service_healthy}
      api: {condition: service_started}
    secrets: [token]
    configs: [site]
  api:
    image: busybox
    environment:
      MODE: ${MODE}
    networks:
      default:
        aliases: [backend]
  db:
    image: busybox
    volumes: ["data:/data", "./init:/init:ro", {type: tmpfs, target: /tmp}]
    healthcheck:
      test: ["CMD", "true"]
      interval: 2s
      retries: 5
    restart: unless-stopped
  debug:
    image: busybox
    profiles: [debug]
volumes:
  data: {}
secrets:
  token: {file: ./token.txt}
configs:
  site: {file: ./site.conf}
`

func TestLoad(t *testing.T) {
	dir := writeFiles(t, "My_App", map[string]string{
		"compose.yaml":          seed,
		"compose.override.yaml": "services:\n  api:\n    command: [\"httpd\", \"-f\"]\n",
		".env":                  "MODE=fast\nTAG=1.36\n",
		"token.txt":             "secret",
		"site.conf":             "conf",
	})
	p := load(t, dir, LoadOptions{})
	if p.Name != "my_app" {
		t.Errorf("project name = %q, want the directory's, normalized", p.Name)
	}
	if got := strings.Join(sortedNames(p), ","); got != "api,db,web" {
		t.Errorf("services = %s (debug is behind a profile)", got)
	}
	if got := p.Services["api"].Command; !slices.Equal(got, []string{"httpd", "-f"}) {
		t.Errorf("override file not merged: command %v", got)
	}
	if got := *p.Services["api"].Environment["MODE"]; got != "fast" {
		t.Errorf(".env interpolation: MODE=%q", got)
	}
	if got := p.Services["web"].Image; got != "busybox:1.36" {
		t.Errorf("image = %q", got)
	}
	if p.Volumes["data"].Name != "my_app_data" || p.Networks["default"].Name != "my_app_default" {
		t.Errorf("resource names: volume %q network %q", p.Volumes["data"].Name, p.Networks["default"].Name)
	}

	withProfile := load(t, dir, LoadOptions{Profiles: []string{"debug"}, ProjectName: "other"})
	if _, ok := withProfile.Services["debug"]; !ok || withProfile.Name != "other" {
		t.Errorf("--profile debug -p other: services %v, name %q", sortedNames(withProfile), withProfile.Name)
	}

	t.Setenv("COMPOSE_FILE", filepath.Join(dir, "compose.yaml"))
	if p := load(t, dir, LoadOptions{}); p.Services["api"].Command != nil {
		t.Errorf("COMPOSE_FILE naming only compose.yaml still merged the override: %v", p.Services["api"].Command)
	}

	t.Setenv("COMPOSE_PROJECT_NAME", "fromenv")
	if p := load(t, dir, LoadOptions{}); p.Name != "fromenv" {
		t.Errorf("COMPOSE_PROJECT_NAME: name %q", p.Name)
	}
}

func TestLoadFilesAndExtends(t *testing.T) {
	dir := writeFiles(t, "proj", map[string]string{
		"base.yml":  "services:\n  common:\n    image: busybox\n    environment: {A: \"1\"}\n",
		"a.yml":     "services:\n  app:\n    extends: {file: base.yml, service: common}\n    command: [\"a\"]\n",
		"b.yml":     "services:\n  app:\n    command: [\"b\"]\n    environment: {B: \"2\"}\n",
		"token.txt": "x",
	})
	p := load(t, dir, LoadOptions{Files: []string{filepath.Join(dir, "a.yml"), filepath.Join(dir, "b.yml")}})
	app := p.Services["app"]
	if !slices.Equal(app.Command, []string{"b"}) || app.Image != "busybox" || *app.Environment["A"] != "1" || *app.Environment["B"] != "2" {
		t.Errorf("-f a.yml -f b.yml with extends: %+v", app)
	}
	if p.Name != "proj" {
		t.Errorf("name = %q", p.Name)
	}
}

func sortedNames(p *types.Project) []string {
	n := p.ServiceNames()
	sort.Strings(n)
	return n
}

func seedProject(t *testing.T) *types.Project {
	dir := writeFiles(t, "demo", map[string]string{"compose.yaml": seed, "token.txt": "s", "site.conf": "c", ".env": "MODE=a\n"})
	return load(t, dir, LoadOptions{})
}

func TestContainerSpec(t *testing.T) {
	p := seedProject(t)
	hash, err := ServiceHash(p.Services["db"])
	if err != nil {
		t.Fatal(err)
	}
	spec, err := ContainerSpec(p, p.Services["db"], 2, hash, false)
	if err != nil {
		t.Fatal(err)
	}
	if spec.Name != "demo-db-2" {
		t.Errorf("name %q", spec.Name)
	}
	l := spec.Config.Labels
	for k, want := range map[string]string{LabelProject: "demo", LabelService: "db", LabelNumber: "2", LabelOneoff: "False",
		LabelConfigHash: hash, LabelWorkingDir: p.WorkingDir, LabelImage: "busybox", LabelVersion: Version,
		LabelConfigFiles: filepath.Join(p.WorkingDir, "compose.yaml")} {
		if l[k] != want {
			t.Errorf("label %s = %q, want %q", k, l[k], want)
		}
	}
	if got := spec.HostConfig.NetworkMode; got != "demo_default" {
		t.Errorf("network mode %q", got)
	}
	if ep := spec.Networking.EndpointsConfig["demo_default"]; ep == nil || !slices.Equal(ep.Aliases, []string{"db"}) {
		t.Errorf("endpoint %+v: the service name must be an alias", ep)
	}
	hc := spec.Config.Healthcheck
	if hc == nil || !slices.Equal(hc.Test, []string{"CMD", "true"}) || hc.Interval != 2*time.Second || hc.Retries != 5 {
		t.Errorf("healthcheck %+v", hc)
	}
	if spec.HostConfig.RestartPolicy.Name != container.RestartPolicyUnlessStopped {
		t.Errorf("restart %+v", spec.HostConfig.RestartPolicy)
	}
	wantMounts := []mount.Mount{
		{Type: mount.TypeVolume, Source: "demo_data", Target: "/data"},
		{Type: mount.TypeBind, Source: filepath.Join(p.WorkingDir, "init"), Target: "/init", ReadOnly: true},
		{Type: mount.TypeTmpfs, Target: "/tmp"},
	}
	if len(spec.HostConfig.Mounts) != len(wantMounts) {
		t.Fatalf("mounts %+v", spec.HostConfig.Mounts)
	}
	for i, w := range wantMounts {
		m := spec.HostConfig.Mounts[i]
		if m.Type != w.Type || m.Source != w.Source || m.Target != w.Target || m.ReadOnly != w.ReadOnly {
			t.Errorf("mount %d = %+v, want %+v", i, m, w)
		}
	}

	api, err := ContainerSpec(p, p.Services["api"], 1, "h", false)
	if err != nil {
		t.Fatal(err)
	}
	if ep := api.Networking.EndpointsConfig["demo_default"]; !slices.Equal(ep.Aliases, []string{"api", "backend"}) {
		t.Errorf("api aliases %v", ep.Aliases)
	}
	if !slices.Contains(api.Config.Env, "MODE=a") {
		t.Errorf("env %v", api.Config.Env)
	}

	web, err := ContainerSpec(p, p.Services["web"], 1, "h", false)
	if err != nil {
		t.Fatal(err)
	}
	var targets []string
	for _, m := range web.HostConfig.Mounts {
		if !m.ReadOnly || m.Type != mount.TypeBind {
			t.Errorf("secret/config mount %+v is not a read-only bind", m)
		}
		targets = append(targets, m.Source+"->"+m.Target)
	}
	want := []string{filepath.Join(p.WorkingDir, "token.txt") + "->/run/secrets/token", filepath.Join(p.WorkingDir, "site.conf") + "->/site"}
	if !slices.Equal(targets, want) {
		t.Errorf("secret and config mounts %v, want %v", targets, want)
	}
	if got := fmt.Sprint(web.HostConfig.PortBindings); !strings.Contains(got, "80/tcp") || !strings.Contains(got, "8080") {
		t.Errorf("port bindings %s", got)
	}
	if got := web.Config.Labels[LabelDependsOn]; got != "api:service_started:false,db:service_healthy:false" {
		t.Errorf("depends_on label %q", got)
	}

	run, err := ContainerSpec(p, p.Services["web"], 1, "h", true)
	if err != nil {
		t.Fatal(err)
	}
	if run.Config.Labels[LabelOneoff] != "True" || run.Name != "" {
		t.Errorf("oneoff spec: labels %v name %q", run.Config.Labels, run.Name)
	}
}

func TestServiceHash(t *testing.T) {
	p := seedProject(t)
	api := p.Services["api"]
	h1, _ := ServiceHash(api)
	h2, _ := ServiceHash(api)
	if h1 != h2 || len(h1) != 64 {
		t.Fatalf("hash not stable: %s %s", h1, h2)
	}
	scaled := api
	scaled.SetScale(5)
	scaled.DependsOn = types.DependsOnConfig{"db": {Condition: "service_started"}}
	scaled.Build = &types.BuildConfig{Context: "."}
	if h, _ := ServiceHash(scaled); h != h1 {
		t.Errorf("scale, depends_on or build changed the hash")
	}
	if api.Scale != nil {
		t.Errorf("ServiceHash changed its argument's scale")
	}
	changed := api
	v := "b"
	changed.Environment = types.MappingWithEquals{"MODE": &v}
	if h, _ := ServiceHash(changed); h == h1 {
		t.Errorf("environment change kept the hash")
	}
}

func TestPlan(t *testing.T) {
	p := seedProject(t)
	hashes := map[string]string{"web": "hw", "api": "ha", "db": "hd"}
	images := map[string]string{"web": "sha256:img", "api": "sha256:img", "db": "sha256:img"}
	obs := func(service string, n int, hash, state string) Observed {
		return Observed{ID: fmt.Sprintf("%s%d", service, n), Name: fmt.Sprintf("demo-%s-%d", service, n), Service: service,
			Number: n, Hash: hash, ImageID: "sha256:img", State: state}
	}
	kinds := func(actions []Action) string {
		var s []string
		for _, a := range actions {
			s = append(s, fmt.Sprintf("%s:%d", a.Kind, a.Number))
		}
		return strings.Join(s, ",")
	}
	tests := []struct {
		name     string
		observed []Observed
		scale    map[string]int
		opts     PlanOptions
		images   map[string]string
		want     map[string]string
	}{
		{name: "fresh project creates one replica each", want: map[string]string{"web": "create:1", "api": "create:1", "db": "create:1"}},
		{name: "up to date keeps, stopped starts",
			observed: []Observed{obs("web", 1, "hw", "running"), obs("api", 1, "ha", "exited"), obs("db", 1, "hd", "running")},
			want:     map[string]string{"web": "keep:1", "api": "start:1", "db": "keep:1"}},
		{name: "changed configuration recreates only that service",
			observed: []Observed{obs("web", 1, "hw", "running"), obs("api", 1, "old", "running"), obs("db", 1, "hd", "running")},
			want:     map[string]string{"web": "keep:1", "api": "recreate:1", "db": "keep:1"}},
		{name: "changed image recreates",
			observed: []Observed{obs("web", 1, "hw", "running"), obs("api", 1, "ha", "running"), obs("db", 1, "hd", "running")},
			images:   map[string]string{"web": "sha256:img", "api": "sha256:new", "db": "sha256:img"},
			want:     map[string]string{"web": "keep:1", "api": "recreate:1", "db": "keep:1"}},
		{name: "scale up fills gaps in numbering",
			observed: []Observed{obs("api", 2, "ha", "running")}, scale: map[string]int{"api": 3},
			want: map[string]string{"api": "keep:2,create:1,create:3"}},
		{name: "scale down removes the highest numbers",
			observed: []Observed{obs("api", 1, "ha", "running"), obs("api", 3, "ha", "running"), obs("api", 2, "ha", "running")},
			want:     map[string]string{"api": "keep:1,remove:2,remove:3"}},
		{name: "scale to zero", observed: []Observed{obs("api", 1, "ha", "running")}, scale: map[string]int{"api": 0},
			want: map[string]string{"api": "remove:1"}},
		{name: "force recreate", observed: []Observed{obs("db", 1, "hd", "running")}, opts: PlanOptions{ForceRecreate: true},
			want: map[string]string{"db": "recreate:1"}},
		{name: "no recreate keeps diverged", observed: []Observed{obs("db", 1, "old", "exited")}, opts: PlanOptions{NoRecreate: true},
			want: map[string]string{"db": "start:1"}},
		{name: "one-off containers are ignored", observed: []Observed{{Service: "db", Number: 1, Oneoff: true, State: "running"}},
			want: map[string]string{"db": "create:1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pp := *p
			pp.Services = types.Services{}
			for n, s := range p.Services {
				if sc, ok := tc.scale[n]; ok {
					s.SetScale(sc)
				}
				pp.Services[n] = s
			}
			imgs := images
			if tc.images != nil {
				imgs = tc.images
			}
			plan := Plan(&pp, tc.observed, hashes, imgs, tc.opts)
			for svc, want := range tc.want {
				if got := kinds(plan[svc]); got != want {
					t.Errorf("%s: %s, want %s", svc, got, want)
				}
			}
		})
	}
}

func TestOrderAndOrphans(t *testing.T) {
	p := seedProject(t)
	levels, err := Order(p)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(levels); got != "[[api db] [web]]" {
		t.Errorf("levels %s", got)
	}
	cyc := *p
	cyc.Services = types.Services{}
	for n, s := range p.Services {
		if n == "db" {
			s.DependsOn = types.DependsOnConfig{"web": {Condition: "service_started"}}
		}
		cyc.Services[n] = s
	}
	if _, err := Order(&cyc); err == nil || !strings.Contains(err.Error(), "dependency cycle detected") {
		t.Errorf("cycle: %v", err)
	}
	orphans := Orphans(p, []Observed{{Name: "demo-old-1", Service: "old"}, {Name: "demo-web-1", Service: "web"},
		{Name: "demo-x-run-1", Service: "x", Oneoff: true}})
	if len(orphans) != 1 || orphans[0].Name != "demo-old-1" {
		t.Errorf("orphans %+v", orphans)
	}
}

func TestApplyScale(t *testing.T) {
	p := seedProject(t)
	if err := ApplyScale(p, []string{"api=3"}); err != nil {
		t.Fatal(err)
	}
	if s := p.Services["api"]; s.GetScale() != 3 {
		t.Errorf("scale %d", s.GetScale())
	}
	for _, bad := range []string{"api", "api=x", "nope=1"} {
		if err := ApplyScale(p, []string{bad}); err == nil {
			t.Errorf("--scale %s accepted", bad)
		}
	}
}

func TestProgress(t *testing.T) {
	var plain strings.Builder
	p := NewProgress(&plain, false, "Running")
	p.Event("Container demo-web-1", "Creating", false)
	p.Event("Container demo-web-1", "Started", true)
	p.Close()
	if plain.String() != " Container demo-web-1  Creating\n Container demo-web-1  Started\n" {
		t.Errorf("plain output %q", plain.String())
	}
	var tty strings.Builder
	p = NewProgress(&tty, true, "Running")
	p.Event("Network demo_default", "Created", true)
	p.Event("Container demo-web-1", "Starting", false)
	p.Close()
	// The last frame (after the last cursor-up) is what the terminal shows.
	out := tty.String()
	frame := out[strings.LastIndex(out, "\x1b[3A")+len("\x1b[3A"):]
	frame = strings.ReplaceAll(frame, "\x1b[2K", "")
	lines := strings.Split(strings.TrimSpace(frame), "\n")
	if len(lines) != 3 || lines[0] != "[+] Running 1/2" || !strings.HasPrefix(lines[1], " ✔ Network demo_default  Created  ") ||
		!strings.HasPrefix(lines[2], " ✘ Container demo-web-1  Starting  ") {
		t.Errorf("terminal frame %q", frame)
	}
	if strings.Count(out, "[+] Running") != 3 {
		t.Errorf("want a frame per event and a final one: %q", out)
	}
}
