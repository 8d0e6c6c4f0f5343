package server

import (
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth/berth/internal/image"
)

// The image routes turn the image service's records into the JSON the docker CLI reads. These tests pin that
// JSON for records a fake returns: field names, Docker's conventions (-1 for "not computed", [] rather than
// null, "<missing>" history IDs) and the values carried over.

var (
	idA     = digest.Digest("sha256:" + strings.Repeat("a", 64))
	idB     = digest.Digest("sha256:" + strings.Repeat("b", 64))
	layer1  = digest.Digest("sha256:" + strings.Repeat("1", 64))
	layer2  = digest.Digest("sha256:" + strings.Repeat("2", 64))
	created = time.Date(2024, 5, 1, 12, 0, 0, 123456789, time.UTC)
	tagged  = time.Date(2024, 5, 2, 8, 30, 0, 0, time.UTC)
)

// getJSON fetches path and decodes the body generically, as a client without Berth's types sees it.
func getJSON(t *testing.T, method, url string) (int, any) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s %s: %v: %s", method, url, err, b)
	}
	return resp.StatusCode, v
}

// sameJSON compares got with the JSON text want, ignoring key order.
func sameJSON(t *testing.T, got any, want string) {
	t.Helper()
	var w any
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad expectation: %v", err)
	}
	if !reflect.DeepEqual(got, w) {
		g, _ := json.Marshal(got)
		t.Errorf("JSON:\n got %s\nwant %s", g, want)
	}
}

func TestImageListJSON(t *testing.T) {
	tests := []struct {
		name    string
		summary image.Summary
		want    string
	}{
		{name: "tagged and pulled",
			summary: image.Summary{ID: idA, RepoTags: []string{"app:1", "r.example/app:1"}, RepoDigests: []string{"r.example/app@" + layer1.String()},
				Created: created, Size: 2048, Labels: map[string]string{"tier": "web"}},
			want: `{"Containers":-1,"Created":1714564800,"Id":"` + idA.String() + `","Labels":{"tier":"web"},"ParentId":"",
				"RepoDigests":["r.example/app@` + layer1.String() + `"],"RepoTags":["app:1","r.example/app:1"],"SharedSize":-1,"Size":2048}`},
		{name: "dangling: empty lists, not null; no labels: null",
			summary: image.Summary{ID: idA, Created: created, Size: 10},
			want:    `{"Containers":-1,"Created":1714564800,"Id":"` + idA.String() + `","Labels":null,"ParentId":"","RepoDigests":[],"RepoTags":[],"SharedSize":-1,"Size":10}`},
		{name: "built on a parent",
			summary: image.Summary{ID: idB, ParentID: idA, RepoTags: []string{}, RepoDigests: []string{}, Created: created},
			want:    `{"Containers":-1,"Created":1714564800,"Id":"` + idB.String() + `","Labels":null,"ParentId":"` + idA.String() + `","RepoDigests":[],"RepoTags":[],"SharedSize":-1,"Size":0}`},
		{name: "no creation time is 0, not year 1",
			summary: image.Summary{ID: idA},
			want:    `{"Containers":-1,"Created":0,"Id":"` + idA.String() + `","Labels":null,"ParentId":"","RepoDigests":[],"RepoTags":[],"SharedSize":-1,"Size":0}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newFakeEngine()
			e.images.summaries = []image.Summary{tc.summary}
			srv, _ := e.serve(t)
			status, got := getJSON(t, "GET", srv.URL+"/v1.47/images/json")
			if status != 200 {
				t.Fatalf("status %d", status)
			}
			list, ok := got.([]any)
			if !ok || len(list) != 1 {
				t.Fatalf("list %v", got)
			}
			sameJSON(t, list[0], tc.want)
		})
	}
}

func TestImageInspectJSON(t *testing.T) {
	full := image.ConfigFile{Comment: "from a commit"}
	full.Created = &created
	full.Author = "me <me@example.com>"
	full.Platform = ocispec.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}
	full.Config = dockerspec.DockerOCIImageConfig{
		ImageConfig: ocispec.ImageConfig{
			Env: []string{"PATH=/bin"}, Cmd: []string{"serve"}, WorkingDir: "/srv", User: "nobody",
			ExposedPorts: map[string]struct{}{"80/tcp": {}}, Volumes: map[string]struct{}{"/data": {}}, Labels: map[string]string{"a": "b"},
		},
		DockerOCIImageConfigExt: dockerspec.DockerOCIImageConfigExt{
			Healthcheck: &dockerspec.HealthcheckConfig{Test: []string{"CMD", "true"}, Interval: 5 * time.Second},
		},
	}
	full.RootFS = ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{layer1, layer2}}
	full.History = []ocispec.History{{Created: &created, Comment: "not this one"}}

	historyComment := image.ConfigFile{}
	historyComment.Created = &created
	historyComment.Platform = ocispec.Platform{OS: "linux", Architecture: "amd64"}
	historyComment.RootFS = ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{layer1}}
	historyComment.History = []ocispec.History{{Comment: "first"}, {Comment: "Imported from -"}}

	bare := image.ConfigFile{}
	bare.Platform = ocispec.Platform{OS: "linux", Architecture: "amd64"}
	bare.RootFS = ocispec.RootFS{Type: "layers"}

	tests := []struct {
		name string
		img  image.Image
		want string
	}{
		{name: "built and pulled",
			img: image.Image{ID: idA, Config: full, RepoTags: []string{"app:1"}, RepoDigests: []string{"r.example/app@" + layer2.String()},
				LastTagTime: tagged, Size: 4096},
			want: `{"Id":"` + idA.String() + `","RepoTags":["app:1"],"RepoDigests":["r.example/app@` + layer2.String() + `"],
				"Comment":"from a commit","Created":"2024-05-01T12:00:00.123456789Z","Author":"me <me@example.com>",
				"Config":{"User":"nobody","ExposedPorts":{"80/tcp":{}},"Env":["PATH=/bin"],"Cmd":["serve"],"Volumes":{"/data":{}},
					"WorkingDir":"/srv","Labels":{"a":"b"},"Healthcheck":{"Test":["CMD","true"],"Interval":5000000000}},
				"Architecture":"arm64","Variant":"v8","Os":"linux","Size":4096,
				"GraphDriver":{"Data":{},"Name":"overlay2"},
				"RootFS":{"Type":"layers","Layers":["` + layer1.String() + `","` + layer2.String() + `"]},
				"Metadata":{"LastTagTime":"2024-05-02T08:30:00Z"}}`},
		{name: "imported: the comment is the last history entry's",
			img: image.Image{ID: idB, Config: historyComment, RepoTags: []string{}, RepoDigests: []string{}, Size: 10},
			want: `{"Id":"` + idB.String() + `","RepoTags":[],"RepoDigests":[],"Comment":"Imported from -","Created":"2024-05-01T12:00:00.123456789Z",
				"Config":{},"Architecture":"amd64","Os":"linux","Size":10,"GraphDriver":{"Data":{},"Name":"overlay2"},
				"RootFS":{"Type":"layers","Layers":["` + layer1.String() + `"]},"Metadata":{"LastTagTime":"0001-01-01T00:00:00Z"}}`},
		{name: "no layers, no dates, no references",
			img: image.Image{ID: idB, Config: bare},
			want: `{"Id":"` + idB.String() + `","RepoTags":[],"RepoDigests":[],"Config":{},"Architecture":"amd64","Os":"linux","Size":0,
				"GraphDriver":{"Data":{},"Name":"overlay2"},"RootFS":{"Type":"layers"},"Metadata":{"LastTagTime":"0001-01-01T00:00:00Z"}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newFakeEngine()
			img := tc.img
			e.images.records[tc.img.ID.String()] = &img
			srv, _ := e.serve(t)
			status, got := getJSON(t, "GET", srv.URL+"/v1.47/images/"+tc.img.ID.String()+"/json")
			if status != 200 {
				t.Fatalf("status %d: %v", status, got)
			}
			sameJSON(t, got, tc.want)
		})
	}
}

func TestImageHistoryJSON(t *testing.T) {
	tests := []struct {
		name    string
		entries []image.HistoryEntry
		want    string
	}{
		{name: "own steps carry IDs and tags, foreign ones <missing>",
			entries: []image.HistoryEntry{
				{ID: idB, Created: created, CreatedBy: "/bin/sh -c #(nop)  CMD [\"sh\"]", Tags: []string{"app:1"}},
				{ID: idA, Created: created, CreatedBy: "/bin/sh -c echo hi > /f", Size: 2048},
				{Created: created, Comment: "Imported from -", Size: 4096},
			},
			want: `[{"Id":"` + idB.String() + `","Created":1714564800,"CreatedBy":"/bin/sh -c #(nop)  CMD [\"sh\"]","Tags":["app:1"],"Size":0,"Comment":""},
				{"Id":"` + idA.String() + `","Created":1714564800,"CreatedBy":"/bin/sh -c echo hi > /f","Tags":null,"Size":2048,"Comment":""},
				{"Id":"<missing>","Created":1714564800,"CreatedBy":"","Tags":null,"Size":4096,"Comment":"Imported from -"}]`},
		{name: "a step without a date is 0",
			entries: []image.HistoryEntry{{ID: idA, Comment: "loaded"}},
			want:    `[{"Id":"` + idA.String() + `","Created":0,"CreatedBy":"","Tags":null,"Size":0,"Comment":"loaded"}]`},
		{name: "no history is an empty list",
			entries: nil,
			want:    `[]`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newFakeEngine()
			e.images.history = tc.entries
			srv, _ := e.serve(t)
			status, got := getJSON(t, "GET", srv.URL+"/v1.47/images/busybox:latest/history")
			if status != 200 {
				t.Fatalf("status %d: %v", status, got)
			}
			sameJSON(t, got, tc.want)
		})
	}
}

func TestImageDeleteAndPruneJSON(t *testing.T) {
	items := []image.DeleteItem{{Untagged: "app:1"}, {Untagged: "r.example/app@" + layer1.String()}, {Deleted: idA}, {Deleted: layer1}}
	itemsJSON := `[{"Untagged":"app:1"},{"Untagged":"r.example/app@` + layer1.String() + `"},{"Deleted":"` + idA.String() + `"},{"Deleted":"` + layer1.String() + `"}]`
	tests := []struct {
		name   string
		method string
		path   string
		setup  func(f *fakeImages)
		status int
		want   string
		call   string
	}{
		{name: "rmi: untagged then deleted", method: "DELETE", path: "/images/busybox:latest?force=1&noprune=1",
			setup: func(f *fakeImages) { f.deleted = items }, status: 200, want: itemsJSON,
			call: "delete busybox:latest force=true noprune=true"},
		{name: "rmi of a missing image", method: "DELETE", path: "/images/nope",
			status: 404, want: `{"message":"No such image: nope"}`, call: "delete nope force=false noprune=false"},
		{name: "prune: what went and the bytes freed", method: "POST", path: `/images/prune?filters={"dangling":["false"]}`,
			setup:  func(f *fakeImages) { f.pruned = image.PruneResult{Deleted: items, Reclaimed: 4243} },
			status: 200, want: `{"ImagesDeleted":` + itemsJSON + `,"SpaceReclaimed":4243}`,
			call: "prune all=false filters=map[dangling:[false]]"},
		{name: "prune of nothing: an empty list, not null", method: "POST", path: "/images/prune",
			status: 200, want: `{"ImagesDeleted":[],"SpaceReclaimed":0}`, call: "prune all=false filters=map[]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newFakeEngine()
			if tc.setup != nil {
				tc.setup(e.images)
			}
			srv, _ := e.serve(t)
			status, got := getJSON(t, tc.method, srv.URL+"/v1.47"+tc.path)
			if status != tc.status {
				t.Fatalf("status %d, want %d: %v", status, tc.status, got)
			}
			sameJSON(t, got, tc.want)
			if last := e.images.calls[len(e.images.calls)-1]; last != tc.call {
				t.Errorf("the service got %q, want %q", last, tc.call)
			}
		})
	}
}
