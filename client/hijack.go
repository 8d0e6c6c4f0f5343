package client

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"time"
)

// HijackedResponse is a raw, bidirectional connection taken over from an HTTP request (attach, exec start).
// Read output from Reader (it may hold bytes that arrived with the response headers), write input to
// Conn, and call CloseWrite to signal end of input while still reading output.
type HijackedResponse struct {
	Conn      net.Conn
	Reader    *bufio.Reader
	mediaType string
}

// Close closes the connection.
func (h *HijackedResponse) Close() error {
	if h == nil || h.Conn == nil {
		return nil
	}
	return h.Conn.Close()
}

// CloseWrite half-closes the connection so the daemon sees EOF on stdin.
func (h *HijackedResponse) CloseWrite() error {
	if cw, ok := h.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// MediaType returns the stream's content type and whether the daemon sent one: application/vnd.docker.raw-stream
// (tty) or application/vnd.docker.multiplexed-stream (stdcopy frames).
func (h *HijackedResponse) MediaType() (string, bool) {
	return h.mediaType, h.mediaType != ""
}

// Multiplexed reports whether the stream carries stdcopy frames.
func (h *HijackedResponse) Multiplexed() bool {
	return h.mediaType == "application/vnd.docker.multiplexed-stream"
}

// hijack sends r on a fresh connection with "Connection: Upgrade, Upgrade: tcp" and returns the connection
// once the daemon answers 101 (or 200, which older daemons send). Any other status is read as an error.
func (c *Client) hijack(ctx context.Context, r *request) (*HijackedResponse, error) {
	if err := c.NegotiateAPIVersion(ctx); err != nil {
		return nil, err
	}
	req, err := c.newHTTPRequest(ctx, r)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "tcp")

	conn, err := c.dial(ctx, "", "")
	if err != nil {
		return nil, c.transportError(ctx, err)
	}
	if tcp, ok := conn.(*net.TCPConn); ok {
		_ = tcp.SetKeepAlive(true)
		_ = tcp.SetKeepAlivePeriod(30 * time.Second)
	}

	// The context bounds only the handshake; afterwards the caller owns the connection.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	resp, br, err := handshake(conn, req)
	if !stop() {
		_ = conn.Close()
		return nil, ctx.Err()
	}
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols && resp.StatusCode != http.StatusOK {
		defer conn.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return nil, newError(resp.StatusCode, body)
	}
	return &HijackedResponse{Conn: conn, Reader: br, mediaType: resp.Header.Get("Content-Type")}, nil
}

func handshake(conn net.Conn, req *http.Request) (*http.Response, *bufio.Reader, error) {
	if err := req.Write(conn); err != nil {
		return nil, nil, err
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, nil, errors.New("daemon closed the connection during the attach handshake")
		}
		return nil, nil, err
	}
	return resp, br, nil
}
