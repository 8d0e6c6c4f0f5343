package e2e

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
)

// apiClient is an HTTP client for the daemon's socket, for requests no CLI sends as such.
func (d *Daemon) apiClient() *http.Client {
	return &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var dl net.Dialer
		return dl.DialContext(ctx, "unix", d.Sock)
	}}}
}

// api sends one request to the daemon and returns the status and body.
func (d *Daemon) api(t *testing.T, method, path, contentType string, body io.Reader) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, "http://berth"+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := d.apiClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// tarOf builds a tar of the given entries, in order.
func tarOf(t *testing.T, entries ...tar.Header) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range entries {
		h := h
		var data []byte
		if h.Typeflag == tar.TypeReg {
			data = []byte(h.Linkname) // a regular entry's content is carried in Linkname here, for brevity
			h.Linkname = ""
			h.Size = int64(len(data))
		}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		h.ModTime = time.Now()
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		tw.Write(data)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// compress runs data through a compressor binary (gzip, bzip2, xz, zstd), as a user's tool would make the file.
func compress(t *testing.T, tool string, data []byte) []byte {
	t.Helper()
	cmd := exec.Command(tool, "-c")
	cmd.Stdin = bytes.NewReader(data)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v", tool, err)
	}
	return out
}

// TestArchiveCompressed copies compressed tars into containers, as testcontainers-go and the Docker Go SDK send
// them, and builds from compressed contexts: docker detects gzip, bzip2 and xz by their magic bytes.
func TestArchiveCompressed(t *testing.T) {
	d := startDaemon(t)
	d.importBusybox(t)
	ctx := context.Background()

	t.Run("testcontainers-go", func(t *testing.T) {
		// testcontainers reads its configuration and the docker host once per process.
		t.Setenv("DOCKER_HOST", d.Host)
		t.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
		c, err := testcontainers.GenericContainer(ctx, testcontainers.GenericContainerRequest{
			ContainerRequest: testcontainers.ContainerRequest{
				Image: "busybox:latest",
				Cmd:   []string{"sleep", "1000"},
				Files: []testcontainers.ContainerFile{
					{Reader: strings.NewReader("from Files\n"), ContainerFilePath: "/tmp/files.txt", FileMode: 0o640},
				},
			},
			Started: true,
		})
		if err != nil {
			t.Fatalf("GenericContainer with Files: %v", err)
		}
		defer c.Terminate(context.Background())
		if err := c.CopyToContainer(ctx, []byte("copied\n"), "/etc/copied.txt", 0o600); err != nil {
			t.Fatalf("CopyToContainer: %v", err)
		}
		dir := t.TempDir()
		writeTree(t, dir, map[string]string{"a.txt": "A\n", "sub/b.txt": "B\n"})
		if err := c.CopyDirToContainer(ctx, dir, "/tmp/tree", 0o644); err != nil {
			t.Fatalf("CopyDirToContainer: %v", err)
		}
		out := d.docker(t, "exec", c.GetContainerID(), "sh", "-c",
			"cat /tmp/files.txt /etc/copied.txt; stat -c '%a %n' /tmp/files.txt /etc/copied.txt; find /tmp/"+filepath.Base(dir)+" -type f | sort")
		want := "from Files\ncopied\n640 /tmp/files.txt\n600 /etc/copied.txt\n/tmp/" + filepath.Base(dir) + "/a.txt\n/tmp/" + filepath.Base(dir) + "/sub/b.txt\n"
		if out != want {
			t.Fatalf("container files:\n%s\nwant:\n%s", out, want)
		}
		rc, err := c.CopyFileFromContainer(ctx, "/etc/copied.txt")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		if string(b) != "copied\n" {
			t.Fatalf("CopyFileFromContainer: %q", b)
		}
	})

	t.Run("go sdk", func(t *testing.T) {
		d.docker(t, "run", "-d", "--name", "sdk", "busybox", "sleep", "1000")
		defer d.docker(t, "rm", "-f", "sdk")
		cli, err := client.New(client.WithHost(d.Host))
		if err != nil {
			t.Fatal(err)
		}
		defer cli.Close()
		for _, tool := range []string{"gzip", "bzip2", "xz", "cat"} {
			body := tarOf(t, tar.Header{Typeflag: tar.TypeDir, Name: tool + "/", Mode: 0o755},
				tar.Header{Typeflag: tar.TypeReg, Name: tool + "/f.txt", Linkname: "packed by " + tool + "\n"})
			if tool != "cat" {
				body = compress(t, tool, body)
			}
			if _, err := cli.CopyToContainer(ctx, "sdk", client.CopyToContainerOptions{DestinationPath: "/tmp", Content: bytes.NewReader(body)}); err != nil {
				t.Fatalf("CopyToContainer (%s): %v", tool, err)
			}
			if out := d.docker(t, "exec", "sdk", "cat", "/tmp/"+tool+"/f.txt"); out != "packed by "+tool+"\n" {
				t.Fatalf("%s: %q", tool, out)
			}
		}
		// A stopped container takes them too (its filesystem is reached through the snapshot).
		d.docker(t, "stop", "-t", "0", "sdk")
		body := compress(t, "xz", tarOf(t, tar.Header{Typeflag: tar.TypeReg, Name: "stopped.txt", Linkname: "xz while stopped\n"}))
		if _, err := cli.CopyToContainer(ctx, "sdk", client.CopyToContainerOptions{DestinationPath: "/", Content: bytes.NewReader(body)}); err != nil {
			t.Fatalf("CopyToContainer (stopped): %v", err)
		}
		d.docker(t, "start", "sdk")
		if out := d.docker(t, "exec", "sdk", "cat", "/stopped.txt"); out != "xz while stopped\n" {
			t.Fatalf("stopped: %q", out)
		}
		// A body that says it is xz but is not: the client's mistake, answered 400 with nothing written.
		bad := append([]byte{0xfd, '7', 'z', 'X', 'Z', 0x00}, bytes.Repeat([]byte("garbage"), 100)...)
		code, msg := d.api(t, "PUT", "/containers/sdk/archive?path=/tmp", "application/x-tar", bytes.NewReader(bad))
		if code != http.StatusBadRequest {
			t.Fatalf("corrupt xz: %d %s", code, msg)
		}
	})

	t.Run("build contexts", func(t *testing.T) {
		ctxTar := tarOf(t,
			tar.Header{Typeflag: tar.TypeReg, Name: "Dockerfile", Linkname: "FROM busybox:latest\nCOPY msg.txt /msg.txt\n"},
			tar.Header{Typeflag: tar.TypeReg, Name: "msg.txt", Linkname: "context ok\n"})
		for _, tool := range []string{"gzip", "bzip2", "xz"} {
			tag := "ctx-" + tool
			r := d.dockerR(bytes.NewReader(compress(t, tool, ctxTar)), "build", "-q", "-t", tag, "-")
			if r.Code != 0 {
				t.Fatalf("build from a %s context: %s", tool, r)
			}
			if out := d.docker(t, "run", "--rm", tag, "cat", "/msg.txt"); out != "context ok\n" {
				t.Fatalf("%s: %q", tool, out)
			}
		}
	})
}

// TestArchiveMaliciousTars sends tars that try to leave the container to PUT /containers/{id}/archive: docker
// answers 400 without naming a host path, and nothing appears outside the container.
func TestArchiveMaliciousTars(t *testing.T) {
	d := startDaemon(t)
	d.importBusybox(t)
	hostDir := t.TempDir() // a host directory every tar aims at
	d.docker(t, "run", "-d", "--name", "victim", "busybox", "sleep", "1000")
	d.docker(t, "create", "--name", "stopped", "busybox", "true")
	rel := strings.Repeat("../", 20) + strings.TrimPrefix(hostDir, "/")
	cases := []struct {
		name    string
		entries []tar.Header
	}{
		{"dot-dot name", []tar.Header{{Typeflag: tar.TypeReg, Name: rel + "/pwned", Linkname: "x"}}},
		{"dot-dot name inside", []tar.Header{{Typeflag: tar.TypeReg, Name: "tmp/" + rel + "/pwned", Linkname: "x"}}},
		{"absolute symlink then write", []tar.Header{
			{Typeflag: tar.TypeSymlink, Name: "esc", Linkname: hostDir},
			{Typeflag: tar.TypeReg, Name: "esc/pwned", Linkname: "x"}}},
		{"relative symlink then write", []tar.Header{
			{Typeflag: tar.TypeSymlink, Name: "esc2", Linkname: rel},
			{Typeflag: tar.TypeReg, Name: "esc2/pwned", Linkname: "x"}}},
		{"hard link outside", []tar.Header{{Typeflag: tar.TypeLink, Name: "hl", Linkname: rel + "/target"}}},
		{"hard link through symlink", []tar.Header{
			{Typeflag: tar.TypeSymlink, Name: "esc3", Linkname: hostDir},
			{Typeflag: tar.TypeLink, Name: "hl2", Linkname: "esc3/target"}}},
	}
	if err := os.WriteFile(filepath.Join(hostDir, "target"), []byte("host secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, ctr := range []string{"victim", "stopped"} {
		for _, tc := range cases {
			t.Run(ctr+"/"+tc.name, func(t *testing.T) {
				for _, dest := range []string{"/", "/tmp"} {
					code, body := d.api(t, "PUT", "/containers/"+ctr+"/archive?path="+url.QueryEscape(dest), "application/x-tar",
						bytes.NewReader(tarOf(t, tc.entries...)))
					var msg struct{ Message string }
					json.Unmarshal(body, &msg)
					if code != http.StatusOK && code != http.StatusBadRequest {
						t.Errorf("dest %s: status %d (%s), want 400 (or 200 with the entry kept inside)", dest, code, body)
					}
					if code == http.StatusBadRequest && msg.Message == "" {
						t.Errorf("dest %s: 400 without a message: %s", dest, body)
					}
					// Host paths only: an entry's own name (which may spell a host path) may be quoted back.
					for _, leak := range []string{d.Root, "/proc/"} {
						if strings.Contains(msg.Message, leak) {
							t.Errorf("dest %s: the message names a host path (%s): %s", dest, leak, msg.Message)
						}
					}
				}
				entries, _ := os.ReadDir(hostDir)
				if len(entries) != 1 {
					t.Fatalf("the host directory changed: %v", entries)
				}
				if b, _ := os.ReadFile(filepath.Join(hostDir, "target")); string(b) != "host secret\n" {
					t.Fatalf("host file changed: %q", b)
				}
			})
		}
	}
	// The traversal and the hard links are refused outright, as docker's breakout checks refuse them.
	for _, tc := range []int{0, 4} {
		code, body := d.api(t, "PUT", "/containers/victim/archive?path=/", "application/x-tar", bytes.NewReader(tarOf(t, cases[tc].entries...)))
		if code != http.StatusBadRequest {
			t.Errorf("%s: %d %s, want 400", cases[tc].name, code, body)
		}
	}
	// A symlink is kept as a symlink, and what is written through it lands inside the container, where the
	// link leads there: /etc is the container's.
	probe := "berth-e2e-" + filepath.Base(d.Root)
	code, body := d.api(t, "PUT", "/containers/victim/archive?path=/", "application/x-tar", bytes.NewReader(tarOf(t,
		tar.Header{Typeflag: tar.TypeSymlink, Name: "toetc", Linkname: "/etc"},
		tar.Header{Typeflag: tar.TypeReg, Name: "toetc/" + probe, Linkname: "inside\n"})))
	if code != http.StatusOK {
		t.Fatalf("write through a symlink to /etc: %d %s", code, body)
	}
	if out := d.docker(t, "exec", "victim", "sh", "-c", "readlink /toetc; cat /etc/"+probe); out != "/etc\ninside\n" {
		t.Fatalf("inside the container: %q", out)
	}
	if _, err := os.Stat("/etc/" + probe); !os.IsNotExist(err) {
		os.Remove("/etc/" + probe)
		t.Fatalf("the write reached the host's /etc: %v", err)
	}
	// The message of a refused entry names the entry and the reason, not the container's host paths.
	code, body = d.api(t, "PUT", "/containers/victim/archive?path=/", "application/x-tar", bytes.NewReader(tarOf(t, cases[2].entries...)))
	if code != http.StatusBadRequest || !strings.Contains(string(body), `esc/pwned`) || !strings.Contains(string(body), "not a directory") {
		t.Fatalf("absolute symlink then write: %d %s", code, body)
	}
}
