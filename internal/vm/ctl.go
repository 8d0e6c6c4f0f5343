package vm

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"time"

	"github.com/containerd/errdefs"

	"github.com/berth/berth/internal/vm/agent"
)

// The sandbox's control socket (ctlSocket in its state directory) takes one request per connection: a JSON
// line, answered by a JSON line.
//
//	{"op":"kill","signal":15,"all":false}   → {}            signal the container's process (all: every process)
//	{"op":"pause"} / {"op":"resume"}         → {}            freeze or thaw the whole machine (qemu stop/cont)
//	{"op":"pids"}                            → {"pids":[..]} the host processes that make the container
//	{"op":"exec","process":{...}}            → {}            then the connection carries agent frames: Stdin
//	                                                         and control frames (signal, resize) from the
//	                                                         caller; Stdout, Stderr, started and exit to it.
//
// An error is answered as {"error":"..."}; the connection closes after the answer (after the exit, for exec).

type ctlRequest struct {
	Op      string         `json:"op"`
	Signal  int            `json:"signal,omitempty"`
	All     bool           `json:"all,omitempty"`
	Process *agent.Process `json:"process,omitempty"`
}

type ctlResponse struct {
	Error string `json:"error,omitempty"`
	Pids  []int  `json:"pids,omitempty"`
}

// ctlClient talks to one sandbox.
type ctlClient struct {
	path string
}

func newCtlClient(stateDir string) *ctlClient {
	return &ctlClient{path: filepath.Join(stateDir, ctlSocket)}
}

// call sends req and reads the answer; for exec it returns the connection, positioned after the answer.
func (c *ctlClient) call(ctx context.Context, req ctlRequest) (ctlResponse, net.Conn, *bufio.Reader, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", c.path)
	if err != nil {
		return ctlResponse{}, nil, nil, fmt.Errorf("virtual machine sandbox: %w: %w", err, errdefs.ErrUnavailable)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	b, _ := json.Marshal(req)
	if _, err := conn.Write(append(b, '\n')); err != nil {
		conn.Close()
		return ctlResponse{}, nil, nil, fmt.Errorf("virtual machine sandbox: %w: %w", err, errdefs.ErrUnavailable)
	}
	r := bufio.NewReader(conn)
	line, err := r.ReadBytes('\n')
	if err != nil {
		conn.Close()
		return ctlResponse{}, nil, nil, fmt.Errorf("virtual machine sandbox: %w: %w", err, errdefs.ErrUnavailable)
	}
	var resp ctlResponse
	if err := json.Unmarshal(line, &resp); err != nil {
		conn.Close()
		return resp, nil, nil, err
	}
	if resp.Error != "" {
		conn.Close()
		return resp, nil, nil, ctlError(resp.Error)
	}
	return resp, conn, r, nil
}

// do runs a request that is answered by one line.
func (c *ctlClient) do(ctx context.Context, req ctlRequest) (ctlResponse, error) {
	resp, conn, _, err := c.call(ctx, req)
	if conn != nil {
		conn.Close()
	}
	return resp, err
}

// errNotRunning is the sandbox's answer when the container's process has exited.
const errNotRunning = "container not running"

func ctlError(msg string) error {
	if msg == errNotRunning {
		return fmt.Errorf("%s: %w", msg, errdefs.ErrNotFound)
	}
	return errors.New(msg)
}
