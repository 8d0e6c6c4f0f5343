package client

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/volume"
)

// recorder is a fake daemon answering one route and remembering the request it saw.
type recorder struct {
	method, path, query, body string
	header                    http.Header
}

func recordingServer(t *testing.T, status int, answer string, contentType string) (*Client, *recorder) {
	rec := &recorder{}
	h := pingHandler("1.47", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rec.method, rec.path, rec.query, rec.body, rec.header = r.Method, r.URL.Path, r.URL.RawQuery, string(b), r.Header
		if contentType != "" {
			w.Header().Set("Content-Type", contentType)
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, answer)
	}))
	return newTCPServer(t, h), rec
}

func TestImageImport(t *testing.T) {
	c, rec := recordingServer(t, 200, `{"status":"sha256:abc"}`+"\n", "application/json")
	rc, err := c.ImageImport(context.Background(), strings.NewReader("TARBALL"), "", "busybox:latest",
		ImageImportOptions{Message: "imported", Changes: []string{`CMD ["sh"]`, "ENV A=1"}})
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(rc)
	rc.Close()
	if rec.method != "POST" || rec.path != "/v1.47/images/create" || rec.body != "TARBALL" {
		t.Errorf("request %s %s body %q", rec.method, rec.path, rec.body)
	}
	want := "changes=CMD+%5B%22sh%22%5D&changes=ENV+A%3D1&fromSrc=-&message=imported&repo=busybox&tag=latest"
	if rec.query != want {
		t.Errorf("query %s\nwant  %s", rec.query, want)
	}
	if !strings.Contains(string(out), "sha256:abc") {
		t.Errorf("body %q", out)
	}
}

func TestImageSaveLoad(t *testing.T) {
	c, rec := recordingServer(t, 200, "TAR", "application/x-tar")
	rc, err := c.ImageSave(context.Background(), []string{"a:1", "b"})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if rec.path != "/v1.47/images/get" || rec.query != "names=a%3A1&names=b" || string(b) != "TAR" {
		t.Errorf("save: %s?%s -> %q", rec.path, rec.query, b)
	}

	c, rec = recordingServer(t, 200, `{"stream":"Loaded image: a:1\n"}`, "application/json")
	resp, err := c.ImageLoad(context.Background(), strings.NewReader("TAR"), true)
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if rec.path != "/v1.47/images/load" || rec.query != "quiet=1" || rec.body != "TAR" || !resp.JSON || !strings.Contains(string(b), "Loaded image") {
		t.Errorf("load: %s?%s body %q json %v", rec.path, rec.query, rec.body, resp.JSON)
	}
}

func TestImageRemoveAndTag(t *testing.T) {
	c, rec := recordingServer(t, 200, `[{"Untagged":"a:1"},{"Deleted":"sha256:x"}]`, "application/json")
	resp, err := c.ImageRemove(context.Background(), "a:1", ImageRemoveOptions{Force: true})
	if err != nil || len(resp) != 2 || resp[0].Untagged != "a:1" {
		t.Fatalf("remove: %+v %v", resp, err)
	}
	if rec.method != "DELETE" || rec.path != "/v1.47/images/a:1" || rec.query != "force=1&noprune=1" {
		t.Errorf("remove request %s %s?%s", rec.method, rec.path, rec.query)
	}
	c, rec = recordingServer(t, 201, "", "")
	if err := c.ImageTag(context.Background(), "sha256:x", "localhost:5000/app:v2"); err != nil {
		t.Fatal(err)
	}
	if rec.path != "/v1.47/images/sha256:x/tag" || rec.query != "repo=localhost%3A5000%2Fapp&tag=v2" {
		t.Errorf("tag request %s?%s", rec.path, rec.query)
	}
}

func TestImagesPruneAndList(t *testing.T) {
	c, rec := recordingServer(t, 200, `{"ImagesDeleted":[{"Deleted":"sha256:x"}],"SpaceReclaimed":10}`, "application/json")
	report, err := c.ImagesPrune(context.Background(), Filters{"dangling": {"false"}})
	if err != nil || report.SpaceReclaimed != 10 || len(report.ImagesDeleted) != 1 {
		t.Fatalf("prune %+v %v", report, err)
	}
	if rec.query != "filters=%7B%22dangling%22%3A%5B%22false%22%5D%7D" {
		t.Errorf("prune query %s", rec.query)
	}
	list, _ := json.Marshal([]image.Summary{{ID: "sha256:x", RepoTags: []string{"a:1"}}})
	c, rec = recordingServer(t, 200, string(list), "application/json")
	imgs, err := c.ImageList(context.Background(), ImageListOptions{All: true, Digests: true})
	if err != nil || len(imgs) != 1 || rec.query != "all=1&digests=1" {
		t.Errorf("list %+v %v %s", imgs, err, rec.query)
	}
}

func TestVolumeCalls(t *testing.T) {
	c, rec := recordingServer(t, 201, `{"Name":"data","Driver":"local","Scope":"local"}`, "application/json")
	v, err := c.VolumeCreate(context.Background(), volume.CreateRequest{Name: "data", Driver: "local", Labels: map[string]string{"a": "b"}})
	if err != nil || v.Name != "data" {
		t.Fatalf("create %+v %v", v, err)
	}
	if rec.path != "/v1.47/volumes/create" || !strings.Contains(rec.body, `"Labels":{"a":"b"}`) {
		t.Errorf("create request %s %s", rec.path, rec.body)
	}
	c, rec = recordingServer(t, 204, "", "")
	if err := c.VolumeRemove(context.Background(), "data", true); err != nil || rec.method != "DELETE" || rec.query != "force=1" {
		t.Errorf("remove %v %s %s", err, rec.method, rec.query)
	}
	c, _ = recordingServer(t, 404, `{"message":"get nope: no such volume"}`, "application/json")
	if _, _, err := c.VolumeInspectWithRaw(context.Background(), "nope"); err == nil || err.Error() != "get nope: no such volume" {
		t.Errorf("inspect missing: %v", err)
	}
}

func TestContainerCalls(t *testing.T) {
	tests := []struct {
		name      string
		call      func(c *Client) error
		method    string
		path      string
		query     string
		bodyCheck string
	}{
		{name: "stop", call: func(c *Client) error {
			n := 3
			return c.ContainerStop(context.Background(), "web", ContainerStopOptions{Signal: "SIGINT", Timeout: &n})
		}, method: "POST", path: "/containers/web/stop", query: "signal=SIGINT&t=3"},
		{name: "kill", call: func(c *Client) error { return c.ContainerKill(context.Background(), "web", "HUP") },
			method: "POST", path: "/containers/web/kill", query: "signal=HUP"},
		{name: "remove", call: func(c *Client) error {
			return c.ContainerRemove(context.Background(), "web", ContainerRemoveOptions{Force: true, RemoveVolumes: true})
		}, method: "DELETE", path: "/containers/web", query: "force=1&v=1"},
		{name: "rename", call: func(c *Client) error { return c.ContainerRename(context.Background(), "web", "api") },
			method: "POST", path: "/containers/web/rename", query: "name=api"},
		{name: "resize", call: func(c *Client) error { return c.ContainerResize(context.Background(), "web", 30, 90) },
			method: "POST", path: "/containers/web/resize", query: "h=30&w=90"},
		{name: "exec resize", call: func(c *Client) error { return c.ExecResize(context.Background(), "e1", 30, 90) },
			method: "POST", path: "/exec/e1/resize", query: "h=30&w=90"},
		{name: "commit", call: func(c *Client) error {
			_, err := c.ContainerCommit(context.Background(), "web", ContainerCommitOptions{Reference: "img:v1", Comment: "m", Author: "me", Changes: []string{"ENV A=1"}, Pause: false})
			return err
		}, method: "POST", path: "/commit", query: "author=me&changes=ENV+A%3D1&comment=m&container=web&pause=0&repo=img&tag=v1"},
		{name: "top", call: func(c *Client) error {
			_, err := c.ContainerTop(context.Background(), "web", []string{"aux"})
			return err
		}, method: "GET", path: "/containers/web/top", query: "ps_args=aux"},
		{name: "stats one-shot", call: func(c *Client) error {
			r, err := c.ContainerStats(context.Background(), "web", false, true)
			if err == nil {
				r.Body.Close()
			}
			return err
		}, method: "GET", path: "/containers/web/stats", query: "one-shot=1&stream=0"},
		{name: "logs", call: func(c *Client) error {
			rc, err := c.ContainerLogs(context.Background(), "web", ContainerLogsOptions{ShowStdout: true, Follow: true, Tail: "10", Since: "1700000000"})
			if err == nil {
				rc.Close()
			}
			return err
		}, method: "GET", path: "/containers/web/logs", query: "follow=1&since=1700000000&stdout=1&tail=10"},
		{name: "update", call: func(c *Client) error {
			_, err := c.ContainerUpdate(context.Background(), "web", container.UpdateConfig{Resources: container.Resources{Memory: 1024}})
			return err
		}, method: "POST", path: "/containers/web/update", bodyCheck: `"Memory":1024`},
		{name: "exec create", call: func(c *Client) error {
			_, err := c.ExecCreate(context.Background(), "web", container.ExecCreateRequest{Cmd: []string{"ls"}, AttachStdout: true})
			return err
		}, method: "POST", path: "/containers/web/exec", bodyCheck: `"Cmd":["ls"]`},
		{name: "exec start detached", call: func(c *Client) error { return c.ExecStart(context.Background(), "e1", ExecStartOptions{}) },
			method: "POST", path: "/exec/e1/start", bodyCheck: `"Detach":true`},
		{name: "copy to", call: func(c *Client) error {
			return c.CopyToContainer(context.Background(), "web", "/tmp", strings.NewReader("TAR"), CopyToContainerOptions{})
		}, method: "PUT", path: "/containers/web/archive", query: "noOverwriteDirNonDir=true&path=%2Ftmp", bodyCheck: "TAR"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, rec := recordingServer(t, 200, "{}", "application/json")
			if err := tt.call(c); err != nil {
				t.Fatal(err)
			}
			if rec.method != tt.method || rec.path != "/v1.47"+tt.path || rec.query != tt.query {
				t.Errorf("got %s %s?%s, want %s %s?%s", rec.method, rec.path, rec.query, tt.method, tt.path, tt.query)
			}
			if tt.bodyCheck != "" && !strings.Contains(rec.body, tt.bodyCheck) {
				t.Errorf("body %q lacks %q", rec.body, tt.bodyCheck)
			}
		})
	}
}
