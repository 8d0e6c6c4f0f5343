package containers

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestParseBind(t *testing.T) {
	tests := []struct {
		name, spec     string
		src, dst, mode string
		wantErr        bool
	}{
		{name: "named volume", spec: "data:/data", src: "data", dst: "/data"},
		{name: "bind ro", spec: "/host:/ctr:ro", src: "/host", dst: "/ctr", mode: "ro"},
		{name: "anonymous", spec: "/data", dst: "/data"},
		{name: "anonymous with mode", spec: "/data:ro", dst: "/data", mode: "ro"},
		{name: "cleaned destination", spec: "v:/a/../b/", src: "v", dst: "/b"},
		{name: "relative destination", spec: "v:data", wantErr: true},
		{name: "root destination", spec: "/x:/", wantErr: true},
		{name: "bad mode", spec: "v:/d:bogus", wantErr: true},
		{name: "too many parts", spec: "a:/b:ro:extra", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, dst, mode, err := parseBind(tt.spec)
			if tt.wantErr {
				if !errdefs.IsInvalidArgument(err) {
					t.Fatalf("parseBind(%q) error = %v, want invalid argument", tt.spec, err)
				}
				return
			}
			if err != nil || src != tt.src || dst != tt.dst || mode != tt.mode {
				t.Fatalf("parseBind(%q) = %q %q %q %v", tt.spec, src, dst, mode, err)
			}
		})
	}
}

func TestParseDetachKeys(t *testing.T) {
	tests := []struct {
		name, in string
		want     []byte
		wantErr  bool
	}{
		{name: "default", in: "", want: []byte{16, 17}},
		{name: "letters and ctrl", in: "a,ctrl-b", want: []byte{'a', 2}},
		{name: "ctrl-@", in: "ctrl-@", want: []byte{0}},
		{name: "bad", in: "ctrl-xx", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseDetachKeys(tt.in)
			if (err != nil) != tt.wantErr || !bytes.Equal(got, tt.want) {
				t.Fatalf("parseDetachKeys(%q) = %v, %v", tt.in, got, err)
			}
		})
	}
}

func TestCopyDetach(t *testing.T) {
	keys := []byte{16, 17}
	tests := []struct {
		name, in, out string
		detached      bool
	}{
		{name: "plain", in: "hello", out: "hello"},
		{name: "detach", in: "ab\x10\x11cd", out: "ab", detached: true},
		{name: "partial sequence passes through", in: "a\x10b", out: "a\x10b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			err := copyDetach(&out, strings.NewReader(tt.in), keys)
			if errors.Is(err, ErrDetached) != tt.detached || out.String() != tt.out {
				t.Fatalf("copyDetach(%q) wrote %q, err %v", tt.in, out.String(), err)
			}
		})
	}
}

func TestCopyFramesUnwrapsTTY(t *testing.T) {
	var src bytes.Buffer
	fw := &frameWriter{w: &src, stream: 1}
	fw.Write([]byte("hello "))
	fw.Write([]byte("world"))
	framed := append([]byte{}, src.Bytes()...)
	var raw bytes.Buffer
	if err := copyFrames(&raw, bytes.NewReader(framed), true); err != nil || raw.String() != "hello world" {
		t.Fatalf("tty: %q, %v", raw.String(), err)
	}
	var mux bytes.Buffer
	if err := copyFrames(&mux, bytes.NewReader(framed), false); err != nil || !bytes.Equal(mux.Bytes(), framed) {
		t.Fatalf("non-tty frames changed")
	}
	if framed[0] != 1 || framed[7] != 6 {
		t.Fatalf("frame header % x", framed[:8])
	}
}

func TestStatusString(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name string
		st   State
		want string
	}{
		{name: "running", st: State{Status: container.StateRunning, StartedAt: now.Add(-3 * time.Second)}, want: "Up 3 seconds"},
		{name: "paused", st: State{Status: container.StatePaused, StartedAt: now.Add(-time.Minute)}, want: "Up About a minute (Paused)"},
		{name: "exited", st: State{Status: container.StateExited, ExitCode: 2, FinishedAt: now.Add(-5 * time.Second)}, want: "Exited (2) 5 seconds ago"},
		{name: "created", st: State{Status: container.StateCreated}, want: "Created"},
		{name: "restarting", st: State{Status: container.StateRestarting, ExitCode: 1, FinishedAt: now.Add(-time.Second)}, want: "Restarting (1) 1 second ago"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := statusString(tt.st, now); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParsePS(t *testing.T) {
	out := "UID PID PPID C STIME TTY TIME CMD\nroot 10 1 0 12:00 ? 00:00:00 sh -c sleep 1\nroot 11 10 0 12:00 ? 00:00:00 sleep 1\nroot 99 1 0 12:00 ? 00:00:00 other\n"
	resp, err := parsePS(out, []int{10, 11})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Processes) != 2 || resp.Processes[0][7] != "sh -c sleep 1" || resp.Titles[1] != "PID" {
		t.Fatalf("parsePS: %+v", resp)
	}
	if _, err := parsePS("USER COMMAND\nroot x\n", nil); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("no PID column: %v", err)
	}
}

func TestMergeImageConfig(t *testing.T) {
	img := &ocispec.Image{Config: ocispec.ImageConfig{
		Env: []string{"PATH=/bin", "A=image"}, Cmd: []string{"sh"}, WorkingDir: "/w", User: "nobody",
		Labels: map[string]string{"l": "image"}, Volumes: map[string]struct{}{"/data": {}},
	}}
	t.Run("image defaults", func(t *testing.T) {
		c := mergeImageConfig(&container.Config{Env: []string{"A=user", "B=2"}}, img)
		if strings.Join(c.Cmd, " ") != "sh" || c.WorkingDir != "/w" || c.User != "nobody" {
			t.Fatalf("merged: %+v", c)
		}
		if strings.Join(c.Env, ",") != "PATH=/bin,A=user,B=2" {
			t.Fatalf("env: %v", c.Env)
		}
		if _, ok := c.Volumes["/data"]; !ok || c.Labels["l"] != "image" {
			t.Fatalf("volumes/labels: %+v", c)
		}
	})
	t.Run("entrypoint resets the image cmd", func(t *testing.T) {
		c := mergeImageConfig(&container.Config{Entrypoint: []string{"echo"}}, img)
		if len(c.Cmd) != 0 || strings.Join(c.Entrypoint, " ") != "echo" {
			t.Fatalf("merged: %+v", c)
		}
	})
}

func TestRestartPolicy(t *testing.T) {
	tests := []struct {
		name     string
		policy   container.RestartPolicy
		code     int
		count    int
		manually bool
		want     bool
	}{
		{name: "no", policy: container.RestartPolicy{Name: "no"}, code: 1},
		{name: "always", policy: container.RestartPolicy{Name: "always"}, want: true},
		{name: "always but stopped", policy: container.RestartPolicy{Name: "always"}, manually: true},
		{name: "on-failure success", policy: container.RestartPolicy{Name: "on-failure"}},
		{name: "on-failure failure", policy: container.RestartPolicy{Name: "on-failure"}, code: 3, want: true},
		{name: "on-failure limit", policy: container.RestartPolicy{Name: "on-failure", MaximumRetryCount: 2}, code: 3, count: 2},
		{name: "unless-stopped", policy: container.RestartPolicy{Name: "unless-stopped"}, want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &Container{HostConfig: &container.HostConfig{RestartPolicy: tt.policy}, RestartCount: tt.count, ManuallyStopped: tt.manually}
			c.State.ExitCode = tt.code
			if got := c.shouldRestart(); got != tt.want {
				t.Fatalf("shouldRestart = %v", got)
			}
		})
	}
	if d := restartDelay(0, time.Second); d != 100*time.Millisecond {
		t.Fatalf("first delay %v", d)
	}
	if d := restartDelay(3, time.Second); d != 800*time.Millisecond {
		t.Fatalf("backoff %v", d)
	}
	if d := restartDelay(30, time.Second); d > 2*time.Minute {
		t.Fatalf("unbounded backoff %v", d)
	}
}

func TestValidateHostConfig(t *testing.T) {
	d := &Service{}
	tests := []struct {
		name string
		hc   container.HostConfig
		ok   bool
	}{
		{name: "empty", ok: true},
		{name: "bad policy", hc: container.HostConfig{RestartPolicy: container.RestartPolicy{Name: "sometimes"}}},
		{name: "retries without on-failure", hc: container.HostConfig{RestartPolicy: container.RestartPolicy{Name: "always", MaximumRetryCount: 2}}},
		{name: "autoremove with restart", hc: container.HostConfig{AutoRemove: true, RestartPolicy: container.RestartPolicy{Name: "always"}}},
		{name: "unknown network", hc: container.HostConfig{NetworkMode: "nosuchnet"}},
		{name: "tiny memory", hc: container.HostConfig{Resources: container.Resources{Memory: 1024}}},
		{name: "host network", hc: container.HostConfig{NetworkMode: "host"}, ok: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := d.validateHostConfig(&tt.hc)
			if (err == nil) != tt.ok {
				t.Fatalf("validateHostConfig: %v", err)
			}
		})
	}
}

func TestParseUnixTime(t *testing.T) {
	ts, err := parseUnixTime("1700000000.5")
	if err != nil || ts.Unix() != 1700000000 || ts.Nanosecond() != 500000000 {
		t.Fatalf("got %v %v", ts, err)
	}
	if _, err := parseUnixTime("yesterday"); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("bad timestamp: %v", err)
	}
}

func TestContainerStoreLookup(t *testing.T) {
	s := newContainerStore()
	a := &Container{ID: "abc123" + strings.Repeat("0", 58), Name: "/web"}
	b := &Container{ID: "abd456" + strings.Repeat("0", 58), Name: "/db"}
	s.add(a)
	s.add(b)
	for _, ref := range []string{"web", "/web", "abc", a.ID} {
		if c, err := s.get(ref); err != nil || c != a {
			t.Fatalf("get(%q) = %v, %v", ref, c, err)
		}
	}
	if _, err := s.get("ab"); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("ambiguous prefix: %v", err)
	}
	if _, err := s.get("nope"); !errdefs.IsNotFound(err) || err.Error() != "No such container: nope" {
		t.Fatalf("missing: %v", err)
	}
	if err := s.reserve("/web", "other"); !errdefs.IsConflict(err) || !strings.Contains(err.Error(), `The container name "/web" is already in use`) {
		t.Fatalf("conflict: %v", err)
	}
}
