package server

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/volume"

	"github.com/berth/berth/client"
)

// Container lifecycle through Berth's own client: what the server passes on, and the statuses it answers.
func TestContainerLifecycleRoutes(t *testing.T) {
	e := newFakeEngine()
	_, c := e.serve(t)
	ctx := context.Background()

	created, err := c.ContainerCreate(ctx, &container.Config{Image: "busybox", Cmd: []string{"true"}}, &container.HostConfig{AutoRemove: true}, nil, client.ContainerCreateOptions{Name: "web"})
	if err != nil {
		t.Fatal(err)
	}
	insp, err := c.ContainerInspect(ctx, "web")
	if err != nil || insp.ID != created.ID || !insp.HostConfig.AutoRemove || insp.Config.Cmd[0] != "true" {
		t.Fatalf("inspect after create: %+v, %v", insp, err)
	}
	if err := c.ContainerStart(ctx, "web", client.ContainerStartOptions{}); err != nil {
		t.Fatal(err)
	}
	// A second start is 304 Not Modified, which clients treat as success.
	if err := c.ContainerStart(ctx, "web", client.ContainerStartOptions{}); err != nil {
		t.Fatalf("start of a running container: %v", err)
	}
	if err := c.ContainerRemove(ctx, "web", client.ContainerRemoveOptions{}); !errdefs.IsConflict(err) {
		t.Fatalf("remove of a running container: %v, want a conflict", err)
	}
	timeout := 3
	if err := c.ContainerStop(ctx, "web", client.ContainerStopOptions{Signal: "SIGINT", Timeout: &timeout}); err != nil {
		t.Fatal(err)
	}
	if got := e.containers.lastCall(); got != "stop web signal=SIGINT timeout=3" {
		t.Errorf("stop passed %q", got)
	}
	if err := c.ContainerKill(ctx, "web", "HUP"); err != nil || e.containers.lastCall() != "kill web signal=HUP" {
		t.Errorf("kill: %v, passed %q", err, e.containers.lastCall())
	}
	list, err := c.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: client.Filters{"name": {"^/web$"}}})
	if err != nil || len(list) != 1 || list[0].Names[0] != "/web" {
		t.Fatalf("list: %+v, %v", list, err)
	}
	if got := e.containers.lastCall(); got != "list all=true filters=map[name:[^/web$]]" {
		t.Errorf("list passed %q", got)
	}
	waitC, errC := c.ContainerWait(ctx, "web", container.WaitConditionNextExit)
	select {
	case w := <-waitC:
		if w.StatusCode != 0 || w.Error != nil {
			t.Errorf("wait: %+v", w)
		}
	case err := <-errC:
		t.Fatal(err)
	}
	if err := c.ContainerRemove(ctx, "web", client.ContainerRemoveOptions{Force: true, RemoveVolumes: true}); err != nil {
		t.Fatal(err)
	}
	if got := e.containers.lastCall(); got != "remove web force=true volumes=true" {
		t.Errorf("remove passed %q", got)
	}
	if _, err := c.ContainerInspect(ctx, "web"); !errdefs.IsNotFound(err) {
		t.Fatalf("inspect after remove: %v", err)
	}
}

// Logs: the stream's content type follows the container's tty, and asking for no stream is docker's 400.
func TestLogsRoute(t *testing.T) {
	e := newFakeEngine()
	srv, c := e.serve(t)
	ctx := context.Background()
	for _, tty := range []bool{false, true} {
		created, err := c.ContainerCreate(ctx, &container.Config{Image: "busybox", Tty: tty}, nil, nil, client.ContainerCreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ctr, _ := e.containers.get(created.ID)
		ctr.logs = "line one\n"
		resp, err := http.Get(srv.URL + "/v1.47/containers/" + created.ID + "/logs?stdout=1&tail=5&timestamps=1")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		want := "application/vnd.docker.multiplexed-stream"
		if tty {
			want = "application/vnd.docker.raw-stream"
		}
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != want || string(body) != "line one\n" {
			t.Errorf("tty=%v: %d %q %q", tty, resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
		if got := e.containers.lastCall(); got != "logs "+created.ID+" stdout=true stderr=false tail=5 timestamps=true" {
			t.Errorf("logs passed %q", got)
		}
		resp, err = http.Get(srv.URL + "/containers/" + created.ID + "/logs")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Errorf("logs without a stream: %d, want 400", resp.StatusCode)
		}
		// A log that cannot be read (--log-driver none) is the response's status, not a body after a 200.
		ctr.logs = "\x00unreadable"
		resp, err = http.Get(srv.URL + "/containers/" + created.ID + "/logs?stdout=1")
		if err != nil {
			t.Fatal(err)
		}
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 501 || !strings.Contains(string(body), `"message":"configured logging driver does not support reading"`) {
			t.Errorf("unreadable log: %d %s", resp.StatusCode, body)
		}
	}
}

// Attach and exec hijack the connection (101 UPGRADED, docker's stream types) and carry bytes both ways.
func TestHijackedStreams(t *testing.T) {
	e := newFakeEngine()
	_, c := e.serve(t)
	ctx := context.Background()
	created, err := c.ContainerCreate(ctx, &container.Config{Image: "busybox", OpenStdin: true}, nil, nil, client.ContainerCreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	hr, err := c.ContainerAttach(ctx, created.ID, client.ContainerAttachOptions{Stream: true, Stdin: true, Stdout: true})
	if err != nil {
		t.Fatal(err)
	}
	defer hr.Close()
	if !hr.Multiplexed() {
		mt, _ := hr.MediaType()
		t.Errorf("attach media type: %q", mt)
	}
	if _, err := hr.Conn.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 12)
	if _, err := io.ReadFull(hr.Reader, got); err != nil {
		t.Fatal(err)
	}
	if string(got) != string(frame(1, []byte("ping"))) {
		t.Errorf("attach echoed %q", got)
	}

	if err := c.ContainerStart(ctx, created.ID, client.ContainerStartOptions{}); err != nil {
		t.Fatal(err)
	}
	ex, err := c.ExecCreate(ctx, created.ID, container.ExecCreateRequest{Cmd: []string{"echo"}, AttachStderr: true})
	if err != nil {
		t.Fatal(err)
	}
	xr, err := c.ExecAttach(ctx, ex.ID, client.ExecStartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer xr.Close()
	out, _ := io.ReadAll(xr.Reader)
	if string(out) != string(frame(2, []byte("from exec\n"))) {
		t.Errorf("exec output %q", out)
	}
	if err := c.ExecStart(ctx, ex.ID, client.ExecStartOptions{}); err != nil || e.containers.lastCall() != "exec-start exec1 detach=true" {
		t.Errorf("detached exec: %v, passed %q", err, e.containers.lastCall())
	}
}

// A client that does not ask to upgrade gets 200 and the raw stream, as from dockerd.
func TestAttachWithoutUpgrade(t *testing.T) {
	e := newFakeEngine()
	srv, c := e.serve(t)
	created, err := c.ContainerCreate(context.Background(), &container.Config{Image: "busybox", Tty: true, OpenStdin: true}, nil, nil, client.ContainerCreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "POST /v1.47/containers/"+created.ID+"/attach?stream=1&stdin=1&stdout=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/vnd.docker.raw-stream" || resp.Header.Get("Api-Version") != APIVersion {
		t.Fatalf("status %d, headers %v", resp.StatusCode, resp.Header)
	}
	io.WriteString(conn, "hi")
	got := make([]byte, 2)
	if _, err := io.ReadFull(br, got); err != nil || string(got) != "hi" {
		t.Fatalf("tty echo %q, %v", got, err)
	}
}

func TestImageRoutes(t *testing.T) {
	e := newFakeEngine()
	srv, c := e.serve(t)
	ctx := context.Background()
	if err := c.ImageTag(ctx, "busybox:latest", "registry.example/team/busybox:1"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ImageInspect(ctx, "registry.example/team/busybox:1"); err != nil {
		t.Fatal(err)
	}
	if err := c.ImageTag(ctx, "nope:latest", "x:1"); !errdefs.IsNotFound(err) {
		t.Fatalf("tag of a missing image: %v", err)
	}
	// The legacy ?filter= parameter becomes a reference filter.
	resp, err := http.Get(srv.URL + "/v1.24/images/json?filter=busy*")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if last := e.images.calls[len(e.images.calls)-1]; last != "list all=false filters=map[reference:[busy*]]" {
		t.Errorf("list passed %q", last)
	}
}

// Copying from a container: the stat travels base64-encoded in X-Docker-Container-Path-Stat; an error before
// the archive starts is a JSON error without the header.
func TestArchiveRoutes(t *testing.T) {
	e := newFakeEngine()
	srv, c := e.serve(t)
	created, err := c.ContainerCreate(context.Background(), &container.Config{Image: "busybox"}, nil, nil, client.ContainerCreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, method := range []string{"HEAD", "GET"} {
		req, _ := http.NewRequest(method, srv.URL+"/containers/"+created.ID+"/archive?path=/etc/hostname", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		raw, err := base64.StdEncoding.DecodeString(resp.Header.Get("X-Docker-Container-Path-Stat"))
		var st container.PathStat
		if err != nil || json.Unmarshal(raw, &st) != nil || st.Name != "hostname" || st.Size != 13 {
			t.Errorf("%s stat header %q: %+v", method, resp.Header.Get("X-Docker-Container-Path-Stat"), st)
		}
		if method == "GET" && string(body) != "tar bytes" {
			t.Errorf("archive body %q", body)
		}
	}
	resp, err := http.Get(srv.URL + "/containers/" + created.ID + "/archive?path=/missing")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 404 || resp.Header.Get("X-Docker-Container-Path-Stat") != "" || !strings.Contains(string(body), "Could not find the file /missing") {
		t.Errorf("missing path: %d %v %s", resp.StatusCode, resp.Header, body)
	}
}

// A build error before any output is a plain API error; after output, it is the stream's errorDetail message.
func TestBuildRoute(t *testing.T) {
	tests := []struct {
		name   string
		build  fakeBuild
		status int
		want   []string
	}{
		{name: "success", build: fakeBuild{output: "Step 1/1 : FROM busybox\n"}, status: 200,
			want: []string{`{"stream":"Step 1/1 : FROM busybox\n"}`, `{"aux":{"ID":"sha256:built"}}`}},
		{name: "early error", build: fakeBuild{err: errdefs.ErrInvalidArgument.WithMessage("Dockerfile parse error line 1: unknown instruction: FOO")}, status: 400,
			want: []string{`{"message":"Dockerfile parse error line 1: unknown instruction: FOO"}`}},
		{name: "late error", build: fakeBuild{output: "Step 1/2 : RUN false\n", err: errors.New("The command '/bin/sh -c false' returned a non-zero code: 1")}, status: 200,
			want: []string{`{"stream":"Step 1/2 : RUN false\n"}`, `{"error":"The command '/bin/sh -c false' returned a non-zero code: 1","errorDetail":{"message":"The command '/bin/sh -c false' returned a non-zero code: 1"}}`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newFakeEngine()
			e.build = tt.build
			srv, _ := e.serve(t)
			resp, err := http.Post(srv.URL+"/v1.47/build?t=app:1", "application/x-tar", strings.NewReader(""))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			got := strings.Split(strings.TrimSpace(string(body)), "\n")
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("body:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

// /system/df assembles images, containers and volumes, counting each image's containers and volume usage.
func TestSystemDiskUsage(t *testing.T) {
	e := newFakeEngine()
	_, c := e.serve(t)
	ctx := context.Background()
	if _, err := c.ContainerCreate(ctx, &container.Config{Image: "busybox"}, nil, nil, client.ContainerCreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.VolumeCreate(ctx, volume.CreateRequest{Name: "data"}); err != nil {
		t.Fatal(err)
	}
	du, err := c.DiskUsage(ctx, client.DiskUsageOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if iu := du.ImageUsage; iu == nil || len(iu.Items) != 1 || iu.Items[0].Containers != 1 || iu.TotalSize != 100 || iu.ActiveCount != 1 {
		t.Errorf("images: %+v", iu)
	}
	if vu := du.VolumeUsage; vu == nil || len(vu.Items) != 1 || vu.Items[0].UsageData == nil || vu.Items[0].UsageData.Size != 42 {
		t.Errorf("volumes: %+v", vu)
	}
	v, err := c.ServerVersion(ctx)
	if err != nil || v.APIVersion != APIVersion || v.MinAPIVersion != MinAPIVersion || v.KernelVersion != "6.0.0-fake" {
		t.Errorf("version: %+v, %v", v, err)
	}
}

// A JSON body past the limit is refused with a 400 that says so, and nothing is created.
func TestJSONBodyLimit(t *testing.T) {
	e := newFakeEngine()
	srv, c := e.serve(t)
	huge := `{"Image":"busybox","Labels":{"big":"` + strings.Repeat("x", maxJSONBody) + `"}}`
	resp, err := http.Post(srv.URL+"/v1.47/containers/create", "application/json", strings.NewReader(huge))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(string(body), "request body too large") {
		t.Errorf("status %d: %s", resp.StatusCode, body)
	}
	if list, _ := c.ContainerList(context.Background(), client.ContainerListOptions{All: true}); len(list) != 0 {
		t.Errorf("a container was created: %+v", list)
	}
	// A big but reasonable configuration passes.
	fine := `{"Image":"busybox","Labels":{"big":"` + strings.Repeat("x", 1<<20) + `"}}`
	resp, err = http.Post(srv.URL+"/v1.47/containers/create", "application/json", strings.NewReader(fine))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Errorf("a 1 MiB label: status %d", resp.StatusCode)
	}
}

// Inspect carries the default bridge endpoint's legacy top-level NetworkSettings fields (API < 1.52).
func TestInspectLegacyNetworkFields(t *testing.T) {
	ep := &network.EndpointSettings{NetworkID: "n1", EndpointID: "e1", Gateway: netip.MustParseAddr("10.88.0.1"),
		IPAddress: netip.MustParseAddr("10.88.0.2"), IPPrefixLen: 16}
	mac, _ := net.ParseMAC("02:42:0a:58:00:02")
	ep.MacAddress = network.HardwareAddr(mac)
	resp := container.InspectResponse{ID: "c1", NetworkSettings: &container.NetworkSettings{SandboxKey: "/run/netns/c1",
		Networks: map[string]*network.EndpointSettings{"bridge": ep}}}
	b, err := json.Marshal(inspectJSON(resp))
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		ID              string `json:"Id"`
		NetworkSettings map[string]any
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	ns := got.NetworkSettings
	for k, want := range map[string]any{"IPAddress": "10.88.0.2", "IPPrefixLen": 16.0, "Gateway": "10.88.0.1",
		"MacAddress": "02:42:0a:58:00:02", "EndpointID": "e1", "SandboxKey": "/run/netns/c1", "Bridge": "", "GlobalIPv6Address": ""} {
		if ns[k] != want {
			t.Errorf("%s = %v, want %v", k, ns[k], want)
		}
	}
	if got.ID != "c1" || ns["Networks"] == nil {
		t.Errorf("the rest of the document: %s", b)
	}
}
