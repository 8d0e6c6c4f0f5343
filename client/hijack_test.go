package client

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
)

// frame encodes one stdcopy frame.
func frame(stream byte, data string) []byte {
	b := make([]byte, 8, 8+len(data))
	b[0] = stream
	binary.BigEndian.PutUint32(b[4:], uint32(len(data)))
	return append(b, data...)
}

// echoAttach is a fake attach endpoint: it upgrades, sends a greeting together with the response headers,
// upper-cases stdin back on stdout until the client half-closes, then says goodbye on stderr.
func echoAttach(t *testing.T) http.Handler {
	return pingHandler("1.47", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Connection") != "Upgrade" || r.Header.Get("Upgrade") != "tcp" {
			t.Errorf("missing upgrade headers: %v", r.Header)
		}
		if !strings.HasSuffix(r.URL.Path, "/attach") && !strings.HasSuffix(r.URL.Path, "/start") {
			http.NotFound(w, r)
			return
		}
		if strings.HasSuffix(r.URL.Path, "/start") {
			var body container.ExecStartRequest
			if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Detach {
				t.Errorf("exec start body = %+v, %v", body, err)
			}
		}
		conn, rw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		// Headers and the first frame go out in one write, so the client's buffered reader holds both.
		var out bytes.Buffer
		out.WriteString("HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.multiplexed-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n")
		out.Write(frame(1, "hello\n"))
		if _, err := conn.Write(out.Bytes()); err != nil {
			t.Error(err)
			return
		}
		in, _ := io.ReadAll(rw.Reader) // until the client's CloseWrite
		_, _ = conn.Write(frame(1, strings.ToUpper(string(in))))
		_, _ = conn.Write(frame(2, "bye\n"))
	}))
}

func TestAttachHijack(t *testing.T) {
	for name, newClient := range map[string]func(*testing.T, http.Handler, ...Opt) *Client{
		"tcp":  newTCPServer,
		"unix": newUnixServer,
	} {
		t.Run(name, func(t *testing.T) {
			c := newClient(t, echoAttach(t))
			hr, err := c.ContainerAttach(context.Background(), "abc", ContainerAttachOptions{Stream: true, Stdin: true, Stdout: true, Stderr: true})
			if err != nil {
				t.Fatal(err)
			}
			defer hr.Close()
			if !hr.Multiplexed() {
				t.Errorf("media type = %q", hr.mediaType)
			}
			if _, err := hr.Conn.Write([]byte("ping\n")); err != nil {
				t.Fatal(err)
			}
			if err := hr.CloseWrite(); err != nil {
				t.Fatal(err)
			}
			var stdout, stderr bytes.Buffer
			done := make(chan error, 1)
			go func() { _, err := stdcopy.StdCopy(&stdout, &stderr, hr.Reader); done <- err }()
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("timeout reading the hijacked stream")
			}
			if stdout.String() != "hello\nPING\n" || stderr.String() != "bye\n" {
				t.Errorf("stdout %q stderr %q", stdout.String(), stderr.String())
			}
		})
	}
}

func TestExecAttachHijack(t *testing.T) {
	c := newTCPServer(t, echoAttach(t))
	hr, err := c.ExecAttach(context.Background(), "exec1", ExecStartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer hr.Close()
	_ = hr.CloseWrite()
	var stdout, stderr bytes.Buffer
	if _, err := stdcopy.StdCopy(&stdout, &stderr, hr.Reader); err != nil {
		t.Fatal(err)
	}
	if stdout.String() != "hello\n" || stderr.String() != "bye\n" {
		t.Errorf("stdout %q stderr %q", stdout.String(), stderr.String())
	}
}

func TestHijackError(t *testing.T) {
	h := pingHandler("1.47", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusConflict, map[string]string{"message": "You cannot attach to a stopped container, start it first"})
	}))
	c := newTCPServer(t, h)
	_, err := c.ContainerAttach(context.Background(), "abc", ContainerAttachOptions{Stream: true, Stdout: true})
	if err == nil || err.Error() != "You cannot attach to a stopped container, start it first" || !errdefs.IsConflict(err) {
		t.Fatalf("err = %v", err)
	}
}

func TestHijackCanceledContext(t *testing.T) {
	block := make(chan struct{})
	defer close(block)
	h := pingHandler("1.47", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-block // never answer the handshake
	}))
	c := newTCPServer(t, h)
	if err := c.NegotiateAPIVersion(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := c.ContainerAttach(ctx, "abc", ContainerAttachOptions{Stream: true})
	if err != context.DeadlineExceeded {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
}
