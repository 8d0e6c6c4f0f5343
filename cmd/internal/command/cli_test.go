package command

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth/berth/cmd/internal/formatter"
	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/volume"
)

// fakeDaemon is an in-process stand-in for berthd: routes are "METHOD /path" without the version prefix.
type fakeDaemon struct {
	t      *testing.T
	mu     sync.Mutex
	routes map[string]http.HandlerFunc
	calls  []string
	srv    *httptest.Server
}

func newFakeDaemon(t *testing.T) *fakeDaemon {
	d := &fakeDaemon{t: t, routes: map[string]http.HandlerFunc{}}
	d.srv = httptest.NewServer(http.HandlerFunc(d.serve))
	t.Cleanup(d.srv.Close)
	return d
}

func (d *fakeDaemon) handle(route string, h http.HandlerFunc) { d.routes[route] = h }

func (d *fakeDaemon) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/_ping" {
		w.Header().Set("Api-Version", "1.47")
		_, _ = io.WriteString(w, "OK")
		return
	}
	p := r.URL.Path
	if strings.HasPrefix(p, "/v1.") {
		if i := strings.Index(p[1:], "/"); i >= 0 {
			p = p[i+1:]
		}
	}
	key := r.Method + " " + p
	d.mu.Lock()
	d.calls = append(d.calls, key)
	d.mu.Unlock()
	if h, ok := d.routes[key]; ok {
		h(w, r)
		return
	}
	writeJSON(w, http.StatusNotFound, map[string]string{"message": "page not found"})
}

func (d *fakeDaemon) called(key string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, c := range d.calls {
		if c == key {
			return true
		}
	}
	return false
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func stdFrame(stream byte, data string) []byte {
	b := make([]byte, 8, 8+len(data))
	b[0] = stream
	binary.BigEndian.PutUint32(b[4:], uint32(len(data)))
	return append(b, data...)
}

// runBerth runs the CLI in-process against d and returns stdout, stderr and the exit status.
func runBerth(t *testing.T, d *fakeDaemon, stdin string, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	c := NewCLI(strings.NewReader(stdin), &out, &errOut)
	host := "tcp://127.0.0.1:1"
	if d != nil {
		host = "tcp://" + d.srv.Listener.Addr().String()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	code := execute(ctx, c, append([]string{"-H", host}, args...))
	return out.String(), errOut.String(), code
}

func fixedClock(t *testing.T) time.Time {
	now := time.Now()
	old := formatter.Now
	formatter.Now = func() time.Time { return now }
	t.Cleanup(func() { formatter.Now = old })
	return now
}

func TestPsTable(t *testing.T) {
	now := fixedClock(t)
	d := newFakeDaemon(t)
	d.handle("GET /containers/json", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("all") != "1" {
			t.Errorf("all not sent: %s", r.URL.RawQuery)
		}
		if f := r.URL.Query().Get("filters"); f != `{"status":["running"]}` {
			t.Errorf("filters = %q", f)
		}
		writeJSON(w, 200, []container.Summary{{
			ID: "9b2f1e3c4d5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c", Names: []string{"/web"}, Image: "alpine",
			Command: "sleep 300", Created: now.Add(-2 * time.Minute).Unix(), State: "running", Status: "Up 2 minutes",
		}})
	})
	out, errOut, code := runBerth(t, d, "", "ps", "-a", "--filter", "status=running")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	want := "" +
		"CONTAINER ID   IMAGE     COMMAND       CREATED         STATUS         PORTS     NAMES\n" +
		"9b2f1e3c4d5a   alpine    \"sleep 300\"   2 minutes ago   Up 2 minutes             web\n"
	if out != want {
		t.Errorf("got:\n%s\nwant:\n%s", out, want)
	}

	out, _, _ = runBerth(t, d, "", "container", "ls", "-a", "-f", "status=running", "--format", "{{.Names}}\t{{.Status}}")
	if out != "web\tUp 2 minutes\n" {
		t.Errorf("template: %q", out)
	}
	out, _, _ = runBerth(t, d, "", "ps", "-aq", "--filter", "status=running")
	if out != "9b2f1e3c4d5a\n" {
		t.Errorf("quiet: %q", out)
	}
	out, _, _ = runBerth(t, d, "", "ps", "-a", "--filter", "status=running", "--format", "json")
	var m map[string]string
	if err := json.Unmarshal([]byte(out), &m); err != nil || m["Names"] != "web" || m["Command"] != `"sleep 300"` {
		t.Errorf("json: %q (%v)", out, err)
	}
}

func TestInspectFormat(t *testing.T) {
	d := newFakeDaemon(t)
	d.handle("GET /containers/web/json", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"Id":"abc123","Name":"/web","State":{"Status":"running","Running":true,"ExitCode":0},"Config":{"Image":"alpine"}}`)
	})
	d.handle("GET /containers/alpine/json", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 404, map[string]string{"message": "No such container: alpine"})
	})
	d.handle("GET /images/alpine/json", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, image.InspectResponse{ID: "sha256:img", RepoTags: []string{"alpine:latest"}})
	})
	d.handle("GET /containers/nope/json", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 404, map[string]string{"message": "No such container: nope"})
	})

	out, errOut, code := runBerth(t, d, "", "inspect", "-f", "{{.State.Status}} {{.Config.Image}}", "web")
	if code != 0 || out != "running alpine\n" {
		t.Errorf("exit %d out %q err %q", code, out, errOut)
	}
	out, _, code = runBerth(t, d, "", "inspect", "web")
	if code != 0 || !strings.HasPrefix(out, "[\n    {\n        \"Id\": \"abc123\",") {
		t.Errorf("indented inspect: %q", out)
	}
	// Falls through to images when no container has that name.
	out, _, code = runBerth(t, d, "", "inspect", "--format", "{{index .RepoTags 0}}", "alpine")
	if code != 0 || out != "alpine:latest\n" {
		t.Errorf("image inspect via inspect: exit %d out %q", code, out)
	}
	out, errOut, code = runBerth(t, d, "", "inspect", "nope")
	if code != 1 || out != "[]\n" || errOut != "Error: No such object: nope\n" {
		t.Errorf("missing object: exit %d out %q err %q", code, out, errOut)
	}
	_, errOut, code = runBerth(t, d, "", "container", "inspect", "nope")
	if code != 1 || errOut != "Error response from daemon: No such container: nope\n" {
		t.Errorf("container inspect: exit %d err %q", code, errOut)
	}
	_, errOut, code = runBerth(t, d, "", "inspect", "-f", "{{.State", "web")
	if code != 64 || !strings.HasPrefix(errOut, "template parsing error") {
		t.Errorf("bad template: exit %d err %q", code, errOut)
	}
}

func TestDaemonErrorPrinted(t *testing.T) {
	d := newFakeDaemon(t)
	msg := `cannot remove container "/x": container is running: stop the container before removing or force remove`
	d.handle("DELETE /containers/x", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusConflict, map[string]string{"message": msg})
	})
	d.handle("DELETE /containers/y", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	out, errOut, code := runBerth(t, d, "", "rm", "y", "x")
	if code != 1 || out != "y\n" || errOut != "Error response from daemon: "+msg+"\n" {
		t.Errorf("exit %d out %q err %q", code, out, errOut)
	}
	// -f ignores containers that are already gone.
	d.handle("DELETE /containers/gone", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "No such container: gone"})
	})
	_, errOut, code = runBerth(t, d, "", "rm", "-f", "gone")
	if code != 0 || errOut != "" {
		t.Errorf("rm -f missing: exit %d err %q", code, errOut)
	}
}

func TestConnectionFailure(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "nope.sock")
	var out, errOut bytes.Buffer
	code := execute(context.Background(), NewCLI(strings.NewReader(""), &out, &errOut), []string{"-H", "unix://" + sock, "ps"})
	if code != 1 || errOut.String() != "Cannot connect to the Berth daemon at unix://"+sock+". Is the daemon running?\n" {
		t.Errorf("exit %d err %q", code, errOut.String())
	}
	t.Setenv("BERTH_HOST", "unix://"+sock)
	errOut.Reset()
	code = execute(context.Background(), NewCLI(strings.NewReader(""), &out, &errOut), []string{"run", "alpine"})
	want := "berth: Cannot connect to the Berth daemon at unix://" + sock + ". Is the daemon running?\n\nRun 'berth run --help' for more information\n"
	if code != 125 || errOut.String() != want {
		t.Errorf("run: exit %d err %q", code, errOut.String())
	}
}

func TestFlagErrors(t *testing.T) {
	tests := []struct {
		args []string
		code int
		err  string
	}{
		{args: []string{"run", "--foo", "x"}, code: 125, err: "unknown flag: --foo\n\nUsage:  berth run [OPTIONS] IMAGE [COMMAND] [ARG...]\n\nRun 'berth run --help' for more information\n"},
		{args: []string{"ps", "--foo"}, code: 125, err: "unknown flag: --foo\n\nUsage:  berth ps [OPTIONS]\n\nRun 'berth ps --help' for more information\n"},
		{args: []string{"rm"}, code: 1, err: "berth: 'berth rm' requires at least 1 argument\n\nUsage:  berth rm [OPTIONS] CONTAINER [CONTAINER...]\n\nSee 'berth rm --help' for more information\n"},
		{args: []string{"ps", "x"}, code: 1, err: "berth: 'berth ps' accepts no arguments\n\nUsage:  berth ps [OPTIONS]\n\nRun 'berth ps --help' for more information\n"},
		{args: []string{"nosuch"}, code: 1, err: "berth: unknown command: berth nosuch\n\nRun 'berth --help' for more information\n"},
		{args: []string{"run", "--rm", "--restart", "always", "alpine"}, code: 125, err: "berth: conflicting options: cannot specify both --restart and --rm\n\nRun 'berth run --help' for more information\n"},
		{args: []string{"run", "-it", "alpine"}, code: 1, err: "the input device is not a TTY\n"},
		{args: []string{"run", "-d", "-a", "stdout", "alpine"}, code: 1, err: "conflicting options: cannot specify both --attach and --detach\n"},
		{args: []string{"run", "--pull", "bad", "alpine"}, code: 125, err: "berth: invalid pull option: 'bad': must be one of \"always\", \"missing\" or \"never\"\n\nRun 'berth run --help' for more information\n"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			_, errOut, code := runBerth(t, nil, "", tt.args...)
			if code != tt.code || errOut != tt.err {
				t.Errorf("exit %d (want %d)\nerr %q\nwant %q", code, tt.code, errOut, tt.err)
			}
		})
	}
}

func TestVersionFlag(t *testing.T) {
	out, _, code := runBerth(t, nil, "", "-v")
	if code != 0 || !strings.HasPrefix(out, "Berth version dev, build ") {
		t.Errorf("exit %d out %q", code, out)
	}
}

// fakeRunDaemon fakes the create/attach/wait/start sequence of `run`: the attached output is sent only after
// start, and wait answers with the exit status afterwards.
type fakeRunDaemon struct {
	*fakeDaemon
	created   chan container.CreateRequest
	started   chan struct{}
	exitCode  int
	output    []byte
	startErr  string
	createErr int
}

func newFakeRunDaemon(t *testing.T) *fakeRunDaemon {
	d := &fakeRunDaemon{fakeDaemon: newFakeDaemon(t), created: make(chan container.CreateRequest, 1), started: make(chan struct{})}
	d.handle("POST /containers/create", func(w http.ResponseWriter, r *http.Request) {
		if d.createErr != 0 {
			writeJSON(w, d.createErr, map[string]string{"message": "No such image: nope:latest"})
			return
		}
		var req container.CreateRequest
		_ = json.NewDecoder(r.Body).Decode(&req)
		d.created <- req
		writeJSON(w, 201, container.CreateResponse{ID: "c0ffee0000000000000000000000000000000000000000000000000000000001"})
	})
	d.handle("POST /containers/c0ffee0000000000000000000000000000000000000000000000000000000001/attach", func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		_, _ = io.WriteString(conn, "HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.multiplexed-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n")
		select {
		case <-d.started:
		case <-time.After(5 * time.Second):
			return
		}
		_, _ = conn.Write(d.output)
	})
	d.handle("POST /containers/c0ffee0000000000000000000000000000000000000000000000000000000001/wait", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
		select {
		case <-d.started:
		case <-r.Context().Done():
			return
		}
		time.Sleep(20 * time.Millisecond)
		_ = json.NewEncoder(w).Encode(container.WaitResponse{StatusCode: int64(d.exitCode)})
	})
	d.handle("POST /containers/c0ffee0000000000000000000000000000000000000000000000000000000001/start", func(w http.ResponseWriter, r *http.Request) {
		if !d.called("POST /containers/c0ffee0000000000000000000000000000000000000000000000000000000001/wait") {
			t.Error("start before wait")
		}
		if d.startErr != "" {
			writeJSON(w, 400, map[string]string{"message": d.startErr})
			return
		}
		close(d.started)
		w.WriteHeader(http.StatusNoContent)
	})
	return d
}

func TestRunAttached(t *testing.T) {
	d := newFakeRunDaemon(t)
	d.exitCode = 3
	d.output = append(stdFrame(1, "hello\n"), stdFrame(2, "oops\n")...)
	out, errOut, code := runBerth(t, d.fakeDaemon, "", "run", "--name", "web", "-e", "A=1", "alpine", "sh", "-c", "echo hello")
	if code != 3 || out != "hello\n" || errOut != "oops\n" {
		t.Errorf("exit %d out %q err %q", code, out, errOut)
	}
	req := <-d.created
	if req.Image != "alpine" || strings.Join(req.Cmd, " ") != "sh -c echo hello" || req.Env[0] != "A=1" || !req.AttachStdout {
		t.Errorf("create request %+v", req.Config)
	}
}

func TestRunDetached(t *testing.T) {
	d := newFakeRunDaemon(t)
	out, errOut, code := runBerth(t, d.fakeDaemon, "", "run", "-d", "-p", "8080:80", "alpine")
	if code != 0 || out != "c0ffee0000000000000000000000000000000000000000000000000000000001\n" || errOut != "" {
		t.Errorf("exit %d out %q err %q", code, out, errOut)
	}
	req := <-d.created
	if req.AttachStdout || req.AttachStderr || len(req.HostConfig.PortBindings) != 1 {
		t.Errorf("create request %+v %+v", req.Config, req.HostConfig)
	}
}

func TestRunStartFailureExitCodes(t *testing.T) {
	tests := []struct {
		msg  string
		code int
	}{
		{msg: `failed to create task: exec: "nope": executable file not found in $PATH`, code: 127},
		{msg: `exec /bin/x: permission denied`, code: 126},
		{msg: `something else went wrong`, code: 125},
	}
	for _, tt := range tests {
		d := newFakeRunDaemon(t)
		d.startErr = tt.msg
		_, errOut, code := runBerth(t, d.fakeDaemon, "", "run", "alpine", "nope")
		want := "berth: Error response from daemon: " + tt.msg + "\n\nRun 'berth run --help' for more information\n"
		if code != tt.code || errOut != want {
			t.Errorf("exit %d (want %d) err %q", code, tt.code, errOut)
		}
	}
}

func TestRunMissingImage(t *testing.T) {
	d := newFakeRunDaemon(t)
	d.createErr = http.StatusNotFound
	d.handle("POST /images/create", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("fromImage") != "nope" || r.URL.Query().Get("tag") != "latest" {
			t.Errorf("pull query %s", r.URL.RawQuery)
		}
		writeJSON(w, http.StatusNotImplemented, map[string]string{"message": "pulling images is not supported yet"})
	})
	_, errOut, code := runBerth(t, d.fakeDaemon, "", "run", "nope")
	want := "Unable to find image 'nope:latest' locally\nberth: Error response from daemon: pulling images is not supported yet\n\nRun 'berth run --help' for more information\n"
	if code != 125 || errOut != want {
		t.Errorf("exit %d err %q", code, errOut)
	}
	// --pull=never reports the missing image without trying to fetch it.
	_, errOut, code = runBerth(t, d.fakeDaemon, "", "run", "--pull", "never", "nope")
	if code != 125 || errOut != "berth: Error response from daemon: No such image: nope:latest\n\nRun 'berth run --help' for more information\n" {
		t.Errorf("never: exit %d err %q", code, errOut)
	}
}

func TestExecExitCode(t *testing.T) {
	d := newFakeDaemon(t)
	d.handle("GET /containers/web/json", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"Id": "abc", "State": map[string]any{"Running": true}})
	})
	d.handle("POST /containers/web/exec", func(w http.ResponseWriter, r *http.Request) {
		var req container.ExecCreateRequest
		_ = json.NewDecoder(r.Body).Decode(&req)
		if strings.Join(req.Cmd, " ") != "ls /nope" || !req.AttachStdout || req.AttachStdin {
			t.Errorf("exec request %+v", req)
		}
		writeJSON(w, 201, container.ExecCreateResponse{ID: "exec1"})
	})
	d.handle("POST /exec/exec1/start", func(w http.ResponseWriter, r *http.Request) {
		conn, _, _ := w.(http.Hijacker).Hijack()
		defer conn.Close()
		_, _ = io.WriteString(conn, "HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.multiplexed-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n")
		_, _ = conn.Write(stdFrame(2, "ls: /nope: No such file or directory\n"))
	})
	d.handle("GET /exec/exec1/json", func(w http.ResponseWriter, r *http.Request) {
		code := 2
		writeJSON(w, 200, container.ExecInspectResponse{ID: "exec1", ExitCode: &code})
	})
	out, errOut, code := runBerth(t, d, "", "exec", "web", "ls", "/nope")
	if code != 2 || out != "" || errOut != "ls: /nope: No such file or directory\n" {
		t.Errorf("exit %d out %q err %q", code, out, errOut)
	}
}

func TestLogsDemux(t *testing.T) {
	d := newFakeDaemon(t)
	d.handle("GET /containers/web/json", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"Id": "abc", "Config": map[string]any{"Tty": false}})
	})
	d.handle("GET /containers/abc/logs", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("tail") != "5" || q.Get("timestamps") != "1" || q.Get("stdout") != "1" || q.Get("stderr") != "1" {
			t.Errorf("logs query %s", r.URL.RawQuery)
		}
		_, _ = w.Write(append(stdFrame(1, "out\n"), stdFrame(2, "err\n")...))
	})
	out, errOut, code := runBerth(t, d, "", "logs", "-n", "5", "-t", "web")
	if code != 0 || out != "out\n" || errOut != "err\n" {
		t.Errorf("exit %d out %q err %q", code, out, errOut)
	}
}

func TestImagesAndVolumes(t *testing.T) {
	now := fixedClock(t)
	d := newFakeDaemon(t)
	d.handle("GET /images/json", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, []image.Summary{{ID: "sha256:5d0da3dc976460b72c77d94c8a1ad043720b0416bfc16c52c45d4847e53fadb6", RepoTags: []string{"busybox:latest"},
			Created: now.Add(-72 * time.Hour).Unix(), Size: 4_261_000, Containers: -1}})
	})
	d.handle("GET /volumes", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, volume.ListResponse{Volumes: []volume.Volume{{Name: "web-data", Driver: "local"}, {Name: "db", Driver: "local"}}})
	})
	out, _, code := runBerth(t, d, "", "images")
	want := "REPOSITORY   TAG       IMAGE ID       CREATED      SIZE\nbusybox      latest    5d0da3dc9764   3 days ago   4.26MB\n"
	if code != 0 || out != want {
		t.Errorf("images:\n%s\nwant:\n%s", out, want)
	}
	out, _, _ = runBerth(t, d, "", "volume", "ls")
	if out != "DRIVER    VOLUME NAME\nlocal     db\nlocal     web-data\n" {
		t.Errorf("volume ls: %q", out)
	}
	out, _, _ = runBerth(t, d, "", "volume", "ls", "-q")
	if out != "db\nweb-data\n" {
		t.Errorf("volume ls -q: %q", out)
	}
}

func TestWaitAndEvents(t *testing.T) {
	d := newFakeDaemon(t)
	d.handle("POST /containers/a/wait", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, container.WaitResponse{StatusCode: 0})
	})
	d.handle("POST /containers/b/wait", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, container.WaitResponse{StatusCode: 137})
	})
	out, _, code := runBerth(t, d, "", "wait", "a", "b")
	if code != 0 || out != "0\n137\n" {
		t.Errorf("wait: exit %d out %q", code, out)
	}

	d.handle("GET /events", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("until") == "" {
			t.Error("until not sent")
		}
		_ = json.NewEncoder(w).Encode(events.Message{Type: "container", Action: "start", Actor: events.Actor{ID: "abc", Attributes: map[string]string{"name": "web", "image": "alpine"}}, TimeNano: time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC).UnixNano()})
	})
	out, _, code = runBerth(t, d, "", "events", "--until", "0s", "--format", "{{.Action}} {{.Actor.Attributes.name}}")
	if code != 0 || out != "start web\n" {
		t.Errorf("events: exit %d out %q", code, out)
	}
	out, _, _ = runBerth(t, d, "", "system", "events", "--until", "0s")
	if !strings.HasSuffix(out, " container start abc (image=alpine, name=web)\n") {
		t.Errorf("events default: %q", out)
	}
}

func TestPruneConfirmation(t *testing.T) {
	d := newFakeDaemon(t)
	d.handle("POST /containers/prune", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, container.PruneReport{ContainersDeleted: []string{"abc"}, SpaceReclaimed: 2048})
	})
	d.handle("POST /networks/prune", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string][]string{"NetworksDeleted": {"oldnet"}})
	})
	d.handle("POST /images/prune", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("filters") != `{"dangling":["true"]}` {
			t.Errorf("image prune filters %q", r.URL.Query().Get("filters"))
		}
		writeJSON(w, 200, image.PruneReport{})
	})
	out, _, code := runBerth(t, d, "n\n", "system", "prune")
	wantPrompt := "WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n  - all dangling images\n\nAre you sure you want to continue? [y/N] "
	if code != 0 || out != wantPrompt || d.called("POST /containers/prune") {
		t.Errorf("declined: exit %d out %q", code, out)
	}
	out, _, code = runBerth(t, d, "y\n", "system", "prune")
	if code != 0 || out != wantPrompt+"Deleted Containers:\nabc\n\nDeleted Networks:\noldnet\n\nTotal reclaimed space: 2.048kB\n" {
		t.Errorf("confirmed: exit %d out %q", code, out)
	}
	out, _, _ = runBerth(t, d, "", "container", "prune", "-f")
	if out != "Deleted Containers:\nabc\n\nTotal reclaimed space: 2.048kB\n" {
		t.Errorf("container prune -f: %q", out)
	}
}

func TestCopyFromAndToContainer(t *testing.T) {
	d := newFakeDaemon(t)
	var uploaded bytes.Buffer
	var uploadPath string
	d.handle("GET /containers/web/archive", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("path") != "/etc/motd" {
			writeJSON(w, 404, map[string]string{"message": "Could not find the file " + r.URL.Query().Get("path") + " in container web"})
			return
		}
		stat, _ := json.Marshal(container.PathStat{Name: "motd", Size: 6, Mode: 0o644})
		w.Header().Set("X-Docker-Container-Path-Stat", base64.StdEncoding.EncodeToString(stat))
		tw := tar.NewWriter(w)
		_ = tw.WriteHeader(&tar.Header{Name: "motd", Mode: 0o644, Size: 6, Typeflag: tar.TypeReg})
		_, _ = tw.Write([]byte("hello\n"))
		_ = tw.Close()
	})
	d.handle("HEAD /containers/web/archive", func(w http.ResponseWriter, r *http.Request) {
		stat, _ := json.Marshal(container.PathStat{Name: "tmp", Mode: os.ModeDir | 0o777})
		w.Header().Set("X-Docker-Container-Path-Stat", base64.StdEncoding.EncodeToString(stat))
	})
	d.handle("PUT /containers/web/archive", func(w http.ResponseWriter, r *http.Request) {
		uploadPath = r.URL.Query().Get("path")
		_, _ = io.Copy(&uploaded, r.Body)
	})

	dir := t.TempDir()
	_, errOut, code := runBerth(t, d, "", "cp", "web:/etc/motd", dir)
	if code != 0 {
		t.Fatalf("cp from: exit %d err %q", code, errOut)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "motd")); err != nil || string(b) != "hello\n" {
		t.Errorf("copied file = %q, %v", b, err)
	}
	_, _, code = runBerth(t, d, "", "cp", "web:/etc/motd", filepath.Join(dir, "renamed"))
	if b, _ := os.ReadFile(filepath.Join(dir, "renamed")); code != 0 || string(b) != "hello\n" {
		t.Errorf("cp to new name: exit %d content %q", code, b)
	}
	_, errOut, code = runBerth(t, d, "", "cp", "web:/nope", dir)
	if code != 1 || errOut != "Error response from daemon: Could not find the file /nope in container web\n" {
		t.Errorf("cp missing: exit %d err %q", code, errOut)
	}

	src := filepath.Join(dir, "upload.txt")
	if err := os.WriteFile(src, []byte("data"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, errOut, code = runBerth(t, d, "", "cp", src, "web:/tmp")
	if code != 0 || uploadPath != "/tmp" {
		t.Fatalf("cp to: exit %d path %q err %q", code, uploadPath, errOut)
	}
	hdr, err := tar.NewReader(&uploaded).Next()
	if err != nil || hdr.Name != "upload.txt" || hdr.Size != 4 {
		t.Errorf("uploaded entry %+v, %v", hdr, err)
	}

	_, errOut, code = runBerth(t, d, "", "cp", "a:/x", "b:/y")
	if code != 1 || errOut != "copying between containers is not supported\n" {
		t.Errorf("exit %d err %q", code, errOut)
	}
}

func TestTopAndPort(t *testing.T) {
	d := newFakeDaemon(t)
	d.handle("GET /containers/web/top", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("ps_args") != "aux" {
			t.Errorf("ps_args %q", r.URL.Query().Get("ps_args"))
		}
		writeJSON(w, 200, container.TopResponse{Titles: []string{"UID", "PID", "CMD"}, Processes: [][]string{{"root", "4242", "sleep 300"}}})
	})
	d.handle("GET /containers/web/json", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"Id":"abc","NetworkSettings":{"Ports":{"80/tcp":[{"HostIp":"0.0.0.0","HostPort":"8080"}],"53/udp":[{"HostIp":"127.0.0.1","HostPort":"5353"}]}}}`)
	})
	out, _, code := runBerth(t, d, "", "top", "web", "aux")
	want := "UID                 PID                 CMD\nroot                4242                sleep 300\n"
	if code != 0 || out != want {
		t.Errorf("top:\n%q\nwant\n%q", out, want)
	}
	out, _, _ = runBerth(t, d, "", "port", "web")
	if out != "53/udp -> 127.0.0.1:5353\n80/tcp -> 0.0.0.0:8080\n" {
		t.Errorf("port: %q", out)
	}
	out, _, _ = runBerth(t, d, "", "port", "web", "80")
	if out != "0.0.0.0:8080\n" {
		t.Errorf("port 80: %q", out)
	}
	_, errOut, code := runBerth(t, d, "", "port", "web", "443")
	if code != 1 || errOut != "Error: No public port '443' published for web\n" {
		t.Errorf("port 443: exit %d err %q", code, errOut)
	}
}

// execute runs args through berth's whole command tree.
func execute(ctx context.Context, c *CLI, args []string) int {
	return c.Execute(ctx, newRootCommand(c), args)
}

// The commands other binaries implement exec them with berth's whole command line, global options included.
func TestPluginCommands(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		binary string
	}{
		{name: "compose", args: []string{"-H", "unix:///x.sock", "compose", "-f", "a.yml", "up", "-d"}, binary: "berth-compose"},
		{name: "compose help flag", args: []string{"compose", "--help"}, binary: "berth-compose"},
		{name: "help compose", args: []string{"help", "compose", "up"}, binary: "berth-compose"},
		{name: "daemon", args: []string{"daemon", "--data-root", "/d", "-H", "unix:///d.sock", "-D"}, binary: "berthd"},
		{name: "daemon after globals", args: []string{"-D", "-l", "warn", "daemon", "--bridge", "none"}, binary: "berthd"},
		{name: "registry serve", args: []string{"registry", "serve", "--addr", ":5001"}, binary: "berthd"},
		{name: "registry alone", args: []string{"registry"}, binary: "berthd"},
		{name: "s3 serve, a stub in a group of berth's", args: []string{"-D", "s3", "serve", "--addr", ":9001", "--data-dir", "/d"}, binary: "berthd"},
		{name: "s3 serve help", args: []string{"s3", "serve", "--help"}, binary: "berthd"},
		{name: "help s3 serve", args: []string{"help", "s3", "serve"}, binary: "berthd"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var errOut bytes.Buffer
			c := NewCLI(strings.NewReader(""), io.Discard, &errOut)
			var gotPath string
			var gotArgs []string
			c.findPlugin = func(binary string) (string, error) { return "/opt/berth/" + binary, nil }
			c.execPlugin = func(path string, args []string) error {
				gotPath, gotArgs = path, args
				return nil
			}
			code := execute(context.Background(), c, tt.args)
			if code != 0 || errOut.String() != "" {
				t.Fatalf("exit %d err %q", code, errOut.String())
			}
			if gotPath != "/opt/berth/"+tt.binary || strings.Join(gotArgs, " ") != strings.Join(tt.args, " ") {
				t.Errorf("exec %s %q, want /opt/berth/%s %q", gotPath, gotArgs, tt.binary, tt.args)
			}
		})
	}
}

// A plugin's binary that is missing is a clear error, and berth's own errors come first.
func TestPluginCommandErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		err  string
	}{
		{name: "missing binary", args: []string{"compose", "up"}, code: 1,
			err: "berth compose: berth-compose not found: looked next to /opt/berth/berth and in $PATH\n"},
		{name: "bad log level", args: []string{"-l", "bogus", "daemon"}, code: 1, err: "Unable to parse logging level: bogus\n"},
		{name: "missing binary of a nested stub", args: []string{"s3", "serve"}, code: 1,
			err: "berth s3 serve: berthd not found: looked next to /opt/berth/berth and in $PATH\n"},
		{name: "unknown command in the group", args: []string{"s3", "bogus"}, code: 1,
			err: "berth: unknown command: berth s3 bogus\n\nUsage:  berth s3\n\nRun 'berth s3 --help' for more information\n"},
		{name: "unknown command in another group, for comparison", args: []string{"volume", "bogus"}, code: 1,
			err: "berth: unknown command: berth volume bogus\n\nUsage:  berth volume\n\nRun 'berth volume --help' for more information\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var errOut bytes.Buffer
			c := NewCLI(strings.NewReader(""), io.Discard, &errOut)
			c.findPlugin = func(binary string) (string, error) {
				return "", fmt.Errorf("%s %w: looked next to /opt/berth/berth and in $PATH", binary, errdefs.ErrNotFound)
			}
			c.execPlugin = func(string, []string) error { t.Error("exec'd"); return nil }
			if code := execute(context.Background(), c, tt.args); code != tt.code || errOut.String() != tt.err {
				t.Errorf("exit %d err %q, want %d %q", code, errOut.String(), tt.code, tt.err)
			}
		})
	}
}

func TestHelpLayout(t *testing.T) {
	out, _, code := runBerth(t, nil, "", "--help")
	for _, want := range []string{"Usage:  berth [OPTIONS] COMMAND", "Common Commands:\n  run ", "Management Commands:\n  builder     Manage builds\n  compose     Define and run multi-container applications\n  container   Manage containers", "  registry    Run an OCI distribution registry\n  s3          Serve and manage S3-compatible object storage\n  system", "  create      Create a new container\n  daemon      Run the Berth engine (the daemon serving the Docker Engine API)\n  diff  ", "Global Options:\n", "-H, --host string", "-v, --version"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("root help lacks %q:\n%s", want, out)
		}
	}
	out, _, _ = runBerth(t, nil, "", "run", "--help")
	for _, want := range []string{"Usage:  berth run [OPTIONS] IMAGE [COMMAND] [ARG...]", "Aliases:\n  berth container run, berth run", "  -h, --hostname string", "      --help  ", "  -m, --memory bytes"} {
		if !strings.Contains(out, want) {
			t.Errorf("run help lacks %q", want)
		}
	}
	out, _, _ = runBerth(t, nil, "", "s3", "--help")
	for _, want := range []string{"Usage:  berth s3 COMMAND", "account     Manage the accounts of an S3 endpoint", "serve       Serve the S3 API (and IAM and STS) from a directory", "user        Manage the IAM users of an S3 endpoint"} {
		if !strings.Contains(out, want) {
			t.Errorf("s3 help lacks %q:\n%s", want, out)
		}
	}
	out, _, _ = runBerth(t, nil, "", "volume")
	if !strings.HasPrefix(out, "Usage:  berth volume COMMAND\n\nManage volumes\n\nCommands:\n  create") || strings.Contains(out, "Options:") {
		t.Errorf("group help:\n%s", out)
	}
}

// A 404 that is not about the image (an unknown network) is reported as is, without a pull.
func TestRunNotFoundOtherThanImage(t *testing.T) {
	d := newFakeRunDaemon(t)
	d.handle("POST /containers/create", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "network nosuchnet not found"})
	})
	d.handle("POST /images/create", func(w http.ResponseWriter, r *http.Request) {
		t.Error("pulled after a 404 about a network")
	})
	_, errOut, code := runBerth(t, d.fakeDaemon, "", "run", "--network", "nosuchnet", "alpine")
	if code != 125 || errOut != "berth: Error response from daemon: network nosuchnet not found\n\nRun 'berth run --help' for more information\n" {
		t.Errorf("exit %d err %q", code, errOut)
	}
}
