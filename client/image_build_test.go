package client

import (
	"context"
	"errors"
	"io"
	"net/url"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
)

func TestImageBuild(t *testing.T) {
	c, rec := recordingServer(t, 200, `{"stream":"Step 1/1"}`+"\n", "application/json")
	v := "1"
	resp, err := c.ImageBuild(context.Background(), strings.NewReader("CONTEXT"), ImageBuildOptions{
		Tags: []string{"demo-app", "demo-app:v1"}, Dockerfile: "Dockerfile.dev", Target: "prod",
		BuildArgs: map[string]*string{"A": &v}, Labels: map[string]string{"l": "x"}, NoCache: true, ExtraHosts: []string{"db:10.0.0.2"},
	})
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(resp)
	resp.Close()
	if rec.method != "POST" || rec.path != "/v1.47/build" || rec.body != "CONTEXT" || rec.header.Get("Content-Type") != "application/x-tar" {
		t.Errorf("request %s %s body %q type %q", rec.method, rec.path, rec.body, rec.header.Get("Content-Type"))
	}
	q, _ := url.ParseQuery(rec.query)
	for k, want := range map[string]string{"t": "demo-app", "dockerfile": "Dockerfile.dev", "target": "prod",
		"buildargs": `{"A":"1"}`, "labels": `{"l":"x"}`, "rm": "1", "nocache": "1", "extrahosts": "db:10.0.0.2"} {
		if q.Get(k) != want {
			t.Errorf("%s=%q, want %q (query %s)", k, q.Get(k), want, rec.query)
		}
	}
	if len(q["t"]) != 2 {
		t.Errorf("tags %v", q["t"])
	}
	if !strings.Contains(string(out), "Step 1/1") {
		t.Errorf("body %q", out)
	}
}

func TestImageBuildNotImplemented(t *testing.T) {
	c, _ := recordingServer(t, 501, `{"message":"build is not implemented"}`, "application/json")
	_, err := c.ImageBuild(context.Background(), strings.NewReader(""), ImageBuildOptions{})
	if !errors.Is(err, errdefs.ErrNotImplemented) || !strings.Contains(err.Error(), "build is not implemented") {
		t.Fatalf("err %v", err)
	}
}

func TestImagePush(t *testing.T) {
	c, rec := recordingServer(t, 200, `{"status":"Pushed"}`+"\n", "application/json")
	rc, err := c.ImagePush(context.Background(), "localhost:5000/team/app:v2", ImagePushOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rc.Close()
	if rec.method != "POST" || rec.path != "/v1.47/images/localhost:5000/team/app/push" || rec.query != "tag=v2" {
		t.Errorf("request %s %s?%s", rec.method, rec.path, rec.query)
	}
	if rec.header.Get("X-Registry-Auth") != "e30=" { // base64url("{}")
		t.Errorf("X-Registry-Auth %q", rec.header.Get("X-Registry-Auth"))
	}
}

// Image references keep their slashes in paths, as docker's client sends them (url.URL escapes what needs it).
func TestImagePathsKeepSlashes(t *testing.T) {
	c, rec := recordingServer(t, 200, `{"Id":"sha256:1"}`, "application/json")
	if _, err := c.ImageInspect(context.Background(), "localhost:5000/team/app:v1"); err != nil {
		t.Fatal(err)
	}
	if rec.path != "/v1.47/images/localhost:5000/team/app:v1/json" {
		t.Errorf("inspect path %q", rec.path)
	}
	c.ImageRemove(context.Background(), "example.org/a/b", ImageRemoveOptions{})
	if rec.path != "/v1.47/images/example.org/a/b" {
		t.Errorf("remove path %q", rec.path)
	}
}
