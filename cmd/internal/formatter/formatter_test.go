package formatter

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/volume"
)

var testNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func withClock(t *testing.T) {
	t.Helper()
	old := Now
	Now = func() time.Time { return testNow }
	t.Cleanup(func() { Now = old })
}

func sampleContainers() []container.Summary {
	return []container.Summary{
		{
			ID:      "3f4e8a9b1c2d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f",
			Names:   []string{"/web"},
			Image:   "nginx:latest",
			ImageID: "sha256:aaaaaaaaaaaabbbbbbbbbbbbccccccccccccddddddddddddeeeeeeeeeeeeffff",
			Command: "sh -c 'sleep 1000 && echo done'",
			Created: testNow.Add(-2 * time.Minute).Unix(),
			Ports: []container.PortSummary{
				{IP: netip.MustParseAddr("0.0.0.0"), PrivatePort: 80, PublicPort: 8080, Type: "tcp"},
				{PrivatePort: 443, Type: "tcp"},
			},
			Labels: map[string]string{"com.example.tier": "front", "a": "b"},
			State:  container.StateRunning,
			Status: "Up 2 minutes",
		},
		{
			ID:      "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
			Names:   []string{"/db"},
			Image:   "sha256:aaaaaaaaaaaabbbbbbbbbbbbccccccccccccddddddddddddeeeeeeeeeeeeffff",
			ImageID: "sha256:aaaaaaaaaaaabbbbbbbbbbbbccccccccccccddddddddddddeeeeeeeeeeeeffff",
			Command: "true",
			Created: testNow.Add(-3 * time.Hour).Unix(),
			State:   container.StateExited,
			Status:  "Exited (0) 5 seconds ago",
			SizeRw:  4_260_000,
		},
	}
}

func TestContainerTable(t *testing.T) {
	withClock(t)
	var out bytes.Buffer
	ctx := Context{Output: &out, Format: NewContainerFormat("", false, false), Trunc: true}
	if err := ctx.Write(ContainerHeader, ContainerRows(sampleContainers(), true)); err != nil {
		t.Fatal(err)
	}
	want := "" +
		"CONTAINER ID   IMAGE          COMMAND                  CREATED         STATUS                     PORTS                           NAMES\n" +
		"3f4e8a9b1c2d   nginx:latest   \"sh -c 'sleep 1000 &…\"   2 minutes ago   Up 2 minutes               443/tcp, 0.0.0.0:8080->80/tcp   web\n" +
		"0123456789ab   aaaaaaaaaaaa   \"true\"                   3 hours ago     Exited (0) 5 seconds ago                                   db\n"
	if got := out.String(); got != want {
		t.Errorf("table mismatch\ngot:\n%s\nwant:\n%s", got, want)
	}
}

func TestContainerFormats(t *testing.T) {
	withClock(t)
	tests := []struct {
		name   string
		format Format
		trunc  bool
		want   string
	}{
		{name: "quiet", format: NewContainerFormat("", true, false), trunc: true, want: "3f4e8a9b1c2d\n0123456789ab\n"},
		{name: "quiet no-trunc", format: NewContainerFormat("", true, false), want: sampleContainers()[0].ID + "\n" + sampleContainers()[1].ID + "\n"},
		{name: "template", format: "{{.Names}}: {{.State}} {{.Label \"com.example.tier\"}}", trunc: true, want: "web: running front\ndb: exited \n"},
		{name: "custom table", format: `table {{.Names}}\t{{.Label "com.example.tier"}}\t{{.Size}}`, trunc: true,
			want: "NAMES     tier      SIZE\nweb       front     0B\ndb                  4.26MB\n"},
		{name: "template funcs", format: `{{upper .Names}} {{json .Names}} {{join (split .Labels ",") ";"}} {{truncate .ID 4}}{{pad .State 1 1}}|`, trunc: true,
			want: "WEB \"web\" a=b;com.example.tier=front 3f4e running |\nDB \"db\"  0123 exited |\n"},
		{name: "size", format: NewContainerFormat("", false, true), trunc: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			ctx := Context{Output: &out, Format: tt.format, Trunc: tt.trunc}
			if err := ctx.Write(ContainerHeader, ContainerRows(sampleContainers(), tt.trunc)); err != nil {
				t.Fatal(err)
			}
			if tt.name == "size" {
				if !strings.Contains(out.String(), "SIZE") || !strings.Contains(out.String(), "4.26MB") {
					t.Errorf("no size column:\n%s", out.String())
				}
				return
			}
			if out.String() != tt.want {
				t.Errorf("got:\n%q\nwant:\n%q", out.String(), tt.want)
			}
		})
	}
}

func TestContainerJSON(t *testing.T) {
	withClock(t)
	var out bytes.Buffer
	ctx := Context{Output: &out, Format: "json", Trunc: true}
	if err := ctx.Write(ContainerHeader, ContainerRows(sampleContainers()[:1], true)); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("want one JSON object per line, got %q", out.String())
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &m); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"ID": "3f4e8a9b1c2d", "Names": "web", "Image": "nginx:latest", "State": "running",
		"Status": "Up 2 minutes", "RunningFor": "2 minutes ago", "Ports": "443/tcp, 0.0.0.0:8080->80/tcp",
		"Labels": "a=b,com.example.tier=front", "LocalVolumes": "0", "Size": "0B",
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %v, want %v", k, m[k], v)
		}
	}
	if _, ok := m["Label"]; ok {
		t.Error("Label (a method with an argument) must not be a JSON field")
	}
}

func TestTemplateErrors(t *testing.T) {
	var out bytes.Buffer
	ctx := Context{Output: &out, Format: "{{.Nope}}"}
	err := ctx.Write(ContainerHeader, ContainerRows(sampleContainers(), true))
	if err == nil || !strings.Contains(err.Error(), "template parsing error") {
		t.Fatalf("err = %v", err)
	}
	ctx.Format = "{{.ID"
	if err := ctx.Write(ContainerHeader, nil); err == nil {
		t.Fatal("unterminated template parsed")
	}
}

func TestEmptyTablePrintsHeader(t *testing.T) {
	var out bytes.Buffer
	ctx := Context{Output: &out, Format: Format(defaultVolumeTableFormat)}
	if err := ctx.Write(VolumeHeader, nil); err != nil {
		t.Fatal(err)
	}
	if out.String() != "DRIVER    VOLUME NAME\n" {
		t.Errorf("got %q", out.String())
	}
	out.Reset()
	ctx.Format = "{{.Name}}"
	_ = ctx.Write(VolumeHeader, nil)
	if out.Len() != 0 {
		t.Errorf("non-table output of nothing = %q", out.String())
	}
}

func TestDisplayablePorts(t *testing.T) {
	ip := netip.MustParseAddr("0.0.0.0")
	tests := []struct {
		name  string
		ports []container.PortSummary
		want  string
	}{
		{name: "none", want: ""},
		{name: "exposed", ports: []container.PortSummary{{PrivatePort: 6379, Type: "tcp"}}, want: "6379/tcp"},
		{name: "range", ports: []container.PortSummary{
			{PrivatePort: 8000, Type: "tcp"}, {PrivatePort: 8001, Type: "tcp"}, {PrivatePort: 8002, Type: "tcp"}, {PrivatePort: 9000, Type: "udp"},
		}, want: "8000-8002/tcp, 9000/udp"},
		{name: "same published", ports: []container.PortSummary{{IP: ip, PrivatePort: 80, PublicPort: 80, Type: "tcp"}}, want: "0.0.0.0:80->80/tcp"},
		{name: "mapped", ports: []container.PortSummary{{IP: ip, PrivatePort: 80, PublicPort: 8080, Type: "udp"}}, want: "0.0.0.0:8080->80/udp"},
		{name: "ipv6", ports: []container.PortSummary{{IP: netip.MustParseAddr("::"), PrivatePort: 80, PublicPort: 8080, Type: "tcp"}}, want: "[::]:8080->80/tcp"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := DisplayablePorts(tt.ports); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestEllipsisAndTruncateID(t *testing.T) {
	if got := Ellipsis("sh -c 'sleep 1000 && echo'", 20); got != "sh -c 'sleep 1000 &…" || len([]rune(got)) != 20 {
		t.Errorf("Ellipsis = %q", got)
	}
	if Ellipsis("short", 20) != "short" {
		t.Error("short string changed")
	}
	if TruncateID("sha256:0123456789abcdef0123") != "0123456789ab" || TruncateID("<missing>") != "<missing>" {
		t.Error("TruncateID")
	}
}

func TestImageRows(t *testing.T) {
	withClock(t)
	images := []image.Summary{
		{ID: "sha256:1111111111112222222222223333333333334444444444445555555555556666", RepoTags: []string{"alpine:3.20", "alpine:latest"},
			RepoDigests: []string{"alpine@sha256:abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789"}, Created: testNow.Add(-48 * time.Hour).Unix(), Size: 7_800_000},
		{ID: "sha256:9999999999998888888888887777777777776666666666665555555555554444", Created: testNow.Add(-time.Hour).Unix(), Size: 100},
	}
	var out bytes.Buffer
	ctx := Context{Output: &out, Format: NewImageFormat("", false, false), Trunc: true}
	if err := ctx.Write(ImageHeader, ImageRows(images, true, false)); err != nil {
		t.Fatal(err)
	}
	want := "" +
		"REPOSITORY   TAG       IMAGE ID       CREATED       SIZE\n" +
		"alpine       3.20      111111111111   2 days ago    7.8MB\n" +
		"alpine       latest    111111111111   2 days ago    7.8MB\n" +
		"<none>       <none>    999999999999   2 hours ago   100B\n"
	// 1 hour is rendered "About an hour ago" by go-units.
	want = strings.Replace(want, "2 hours ago", "About an hour ago", 1)
	want = strings.NewReplacer(
		"CREATED       SIZE", "CREATED             SIZE",
		"2 days ago    7.8MB", "2 days ago          7.8MB",
		"About an hour ago   100B", "About an hour ago   100B",
	).Replace(want)
	if out.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", out.String(), want)
	}

	out.Reset()
	ctx.Format = NewImageFormat("", false, true)
	_ = ctx.Write(ImageHeader, ImageRows(images[:1], true, true))
	if !strings.Contains(out.String(), "DIGEST") || !strings.Contains(out.String(), "sha256:abcdef0123456789") {
		t.Errorf("digests:\n%s", out.String())
	}
}

func TestVolumeAndDiffRows(t *testing.T) {
	var out bytes.Buffer
	ctx := Context{Output: &out, Format: NewVolumeFormat("", false)}
	_ = ctx.Write(VolumeHeader, VolumeRows([]volume.Volume{{Name: "data", Driver: "local"}}))
	if out.String() != "DRIVER    VOLUME NAME\nlocal     data\n" {
		t.Errorf("volumes: %q", out.String())
	}
	out.Reset()
	ctx = Context{Output: &out, Format: "{{.Type}} {{.Path}}"}
	_ = ctx.Write(DiffHeader, DiffRows([]container.FilesystemChange{{Kind: container.ChangeAdd, Path: "/new"}, {Kind: container.ChangeModify, Path: "/etc"}}))
	if out.String() != "A /new\nC /etc\n" {
		t.Errorf("diff: %q", out.String())
	}
}

func TestStatsRow(t *testing.T) {
	s := container.StatsResponse{
		ID: "abcdefabcdefabcdef", Name: "/web",
		CPUStats:    container.CPUStats{CPUUsage: container.CPUUsage{TotalUsage: 2_000_000}, SystemUsage: 100_000_000, OnlineCPUs: 2},
		PreCPUStats: container.CPUStats{CPUUsage: container.CPUUsage{TotalUsage: 1_000_000}, SystemUsage: 0},
		MemoryStats: container.MemoryStats{Usage: 10 << 20, Limit: 100 << 20, Stats: map[string]uint64{"inactive_file": 2 << 20}},
		PidsStats:   container.PidsStats{Current: 3},
		Networks:    map[string]container.NetworkStats{"eth0": {RxBytes: 1000, TxBytes: 2000}},
	}
	var out bytes.Buffer
	ctx := Context{Output: &out, Format: NewStatsFormat("")}
	if err := ctx.Write(StatsHeader, StatsRows([]StatsEntry{NewStatsEntry("web", s)}, true)); err != nil {
		t.Fatal(err)
	}
	want := "" +
		"CONTAINER ID   NAME      CPU %     MEM USAGE / LIMIT   MEM %     NET I/O     BLOCK I/O   PIDS\n" +
		"abcdefabcdef   web       2.00%     8MiB / 100MiB       8.00%     1kB / 2kB   0B / 0B     3\n"
	if out.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", out.String(), want)
	}
}

func TestInspect(t *testing.T) {
	objects := map[string][]byte{
		"web": []byte(`{"Id":"abc","Name":"/web","State":{"Status":"running","Running":true},"Extra":{"Only":"raw"}}`),
		"db":  []byte(`{"Id":"def","Name":"/db","State":{"Status":"exited"}}`),
	}
	get := func(ref string) (any, []byte, error) {
		raw, ok := objects[ref]
		if !ok {
			return nil, nil, errors.New("No such object: " + ref)
		}
		var v container.InspectResponse
		_ = json.Unmarshal(raw, &v)
		return v, raw, nil
	}

	var out bytes.Buffer
	if err := Inspect(&out, []string{"web"}, "", get); err != nil {
		t.Fatal(err)
	}
	want := "[\n    {\n        \"Id\": \"abc\",\n        \"Name\": \"/web\",\n        \"State\": {\n            \"Status\": \"running\",\n            \"Running\": true\n        },\n        \"Extra\": {\n            \"Only\": \"raw\"\n        }\n    }\n]\n"
	if out.String() != want {
		t.Errorf("indented:\n%s\nwant:\n%s", out.String(), want)
	}

	out.Reset()
	if err := Inspect(&out, []string{"web", "db"}, "{{.State.Status}} {{.Name}}", get); err != nil {
		t.Fatal(err)
	}
	if out.String() != "running /web\nexited /db\n" {
		t.Errorf("template: %q", out.String())
	}

	// A field the typed value lacks is read from the raw JSON.
	out.Reset()
	if err := Inspect(&out, []string{"web"}, "{{.Extra.Only}}", get); err != nil {
		t.Fatal(err)
	}
	if out.String() != "raw\n" {
		t.Errorf("raw fallback: %q", out.String())
	}

	// Missing objects are reported after the others are printed.
	out.Reset()
	err := Inspect(&out, []string{"nope", "db"}, "{{json .Id}}", get)
	if err == nil || err.Error() != "No such object: nope" || out.String() != "\"def\"\n" {
		t.Errorf("out %q err %v", out.String(), err)
	}
	out.Reset()
	_ = Inspect(&out, []string{"nope"}, "", get)
	if out.String() != "[]\n" {
		t.Errorf("empty: %q", out.String())
	}

	var te *TemplateError
	if err := Inspect(&out, []string{"web"}, "{{.Id", get); !errors.As(err, &te) {
		t.Errorf("bad template: %v", err)
	}
}
