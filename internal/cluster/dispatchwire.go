package cluster

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/containerd/errdefs"

	"github.com/berth/berth/internal/cluster/agent"
	"github.com/berth/berth/internal/cluster/api"
	"github.com/berth/berth/internal/cluster/dispatcher"
)

// The dispatcher's wire, beside the session's heartbeats on the managers' listener: a node's session is one
// long POST whose response streams newline-delimited JSON assignment messages (one HTTP/2 stream on the
// node's connection; an empty message every keepAlive so that a node notices a silent leader), status reports
// are POSTs of batches, and a node publishes a log subscription's lines in the body of one streaming POST. Every
// call is the leader's: another manager answers "not the leader", and the node tries the next manager it
// knows, the leader first.

const (
	pathDispatchSession = "/berth/v1/dispatcher/session"
	pathDispatchStatus  = "/berth/v1/dispatcher/status"
	pathDispatchLogs    = "/berth/v1/dispatcher/logs"
	pathControlLogs     = pathControl + "logs"
)

// keepAlive is how often an idle session carries an empty message; a node gives up on a session silent for
// sessionTimeout.
const (
	keepAlive      = 5 * time.Second
	sessionTimeout = 20 * time.Second
)

// errNotLeader answers a dispatcher call on a manager that does not lead.
var errNotLeader = errdefs.ErrUnavailable.WithMessage("this manager is not the leader")

func (c *Cluster) dispatcherFor(w http.ResponseWriter, r *http.Request) (string, *dispatcher.Dispatcher, bool) {
	id, err := c.peerIdentity(r)
	if err != nil {
		writeWire(w, nil, err)
		return "", nil, false
	}
	d := c.leaderDispatcher()
	if d == nil {
		writeWire(w, nil, errNotLeader)
		return "", nil, false
	}
	return id.NodeID, d, true
}

func (c *Cluster) handleDispatchSession(w http.ResponseWriter, r *http.Request) {
	node, d, ok := c.dispatcherFor(w, r)
	if !ok {
		return
	}
	s, err := d.Open(r.Context(), node)
	if err != nil {
		writeWire(w, nil, err)
		return
	}
	defer s.Close()
	fl, _ := w.(http.Flusher)
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	for {
		ctx, cancel := context.WithTimeout(r.Context(), keepAlive)
		msg, err := s.Next(ctx)
		cancel()
		switch {
		case err == nil:
		case errors.Is(err, context.DeadlineExceeded) && r.Context().Err() == nil:
			msg = &api.Assignments{}
		default:
			return
		}
		if err := enc.Encode(msg); err != nil {
			return
		}
		if fl != nil {
			fl.Flush()
		}
	}
}

func (c *Cluster) handleDispatchStatus(w http.ResponseWriter, r *http.Request) {
	node, d, ok := c.dispatcherFor(w, r)
	if !ok {
		return
	}
	var req api.StatusUpdates
	if err := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 64<<20)).Decode(&req); err != nil {
		writeWire(w, nil, invalid("invalid request: %v", err))
		return
	}
	writeWire(w, struct{}{}, d.UpdateStatus(r.Context(), node, req.SessionID, req.Updates))
}

func (c *Cluster) handleDispatchLogs(w http.ResponseWriter, r *http.Request) {
	node, d, ok := c.dispatcherFor(w, r)
	if !ok {
		return
	}
	dec := json.NewDecoder(bufio.NewReader(r.Body))
	next := func() (api.LogMessage, bool, error) {
		var m api.LogMessage
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return m, false, nil
			}
			return m, false, err
		}
		return m, true, nil
	}
	writeWire(w, struct{}{}, d.PublishLogs(r.Context(), node, r.URL.Query().Get("subscription"), next))
}

// handleControlLogs streams the log messages of a subscription to a manager that serves an API call (the
// leader brokers logs; other managers ask it).
func (c *Cluster) handleControlLogs(w http.ResponseWriter, r *http.Request) {
	d := c.leaderDispatcher()
	if d == nil {
		writeWire(w, nil, errNotLeader)
		return
	}
	var sub api.LogSubscription
	if err := decodeWire(r, &sub); err != nil {
		writeWire(w, nil, err)
		return
	}
	msgs, err := d.SubscribeLogs(r.Context(), sub)
	if err != nil {
		writeWire(w, nil, err)
		return
	}
	streamLogs(w, msgs)
}

func streamLogs(w http.ResponseWriter, msgs <-chan api.LogMessage) {
	fl, _ := w.(http.Flusher)
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	for m := range msgs {
		if enc.Encode(m) != nil {
			return
		}
		if fl != nil && len(msgs) == 0 {
			fl.Flush()
		}
	}
}

// dispatchClient is the node's way to the leader's dispatcher, for its agent.
type dispatchClient struct{ c *Cluster }

var _ agent.Dispatcher = dispatchClient{}

// post POSTs body to the leader (trying the managers the node knows, the leader first) and returns the
// response of the first manager that takes it.
func (dc dispatchClient) post(ctx context.Context, path string, body func() io.Reader, stream bool) (*http.Response, error) {
	pc := dc.c.client.Load()
	if pc == nil {
		return nil, errors.New("no credentials")
	}
	st := dc.c.nodeState()
	targets := orderManagers(st.Managers, 0)
	if len(targets) == 0 && st.Role == api.RoleManager {
		targets = []string{st.Addr}
	}
	var lastErr error = errors.New("no manager known")
	for _, addr := range targets {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+addr+path, body())
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := pc.hc.Do(req)
		if err != nil {
			lastErr = err
			continue
		}
		if resp.StatusCode == http.StatusOK {
			return resp, nil
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		var we wireError
		if json.Unmarshal(b, &we) == nil && we.Message != "" {
			lastErr = categoryError(we.Category, we.Message)
		} else {
			lastErr = fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(b))
		}
		if errdefs.IsUnavailable(lastErr) {
			continue // not the leader (or a leader still loading): the next
		}
		return nil, lastErr
	}
	return nil, lastErr
}

// Session implements agent.Dispatcher.
func (dc dispatchClient) Session(ctx context.Context) (agent.Session, error) {
	sctx, cancel := context.WithCancel(ctx)
	resp, err := dc.post(sctx, pathDispatchSession, func() io.Reader { return bytes.NewReader([]byte("{}")) }, true)
	if err != nil {
		cancel()
		return nil, err
	}
	return &wireSession{resp: resp, dec: json.NewDecoder(bufio.NewReader(resp.Body)), cancel: cancel}, nil
}

type wireSession struct {
	resp   *http.Response
	dec    *json.Decoder
	cancel context.CancelFunc
}

func (s *wireSession) Recv(ctx context.Context) (*api.Assignments, error) {
	// A session silent for too long (a leader gone without a word) is given up.
	t := time.AfterFunc(sessionTimeout, s.cancel)
	defer t.Stop()
	stop := context.AfterFunc(ctx, s.cancel)
	defer stop()
	var msg api.Assignments
	if err := s.dec.Decode(&msg); err != nil {
		return nil, err
	}
	return &msg, nil
}

func (s *wireSession) Close() {
	s.cancel()
	s.resp.Body.Close()
}

// UpdateStatus implements agent.Dispatcher.
func (dc dispatchClient) UpdateStatus(ctx context.Context, sessionID string, updates []api.StatusUpdate) error {
	return dc.call(ctx, pathDispatchStatus, api.StatusUpdates{SessionID: sessionID, Updates: updates}, nil)
}

// PublishLogs implements agent.Dispatcher: the messages go in the body of one streaming request.
func (dc dispatchClient) PublishLogs(ctx context.Context, subID string, msgs <-chan api.LogMessage) error {
	pr, pw := io.Pipe()
	go func() {
		enc := json.NewEncoder(pw)
		for m := range msgs {
			if err := enc.Encode(m); err != nil {
				pw.CloseWithError(err)
				for range msgs {
				}
				return
			}
		}
		pw.Close()
	}()
	first := true
	resp, err := dc.post(ctx, pathDispatchLogs+"?subscription="+subID, func() io.Reader {
		if !first {
			return bytes.NewReader(nil) // the stream cannot be sent twice
		}
		first = false
		return pr
	}, true)
	if err != nil {
		pr.CloseWithError(err)
		return err
	}
	io.Copy(io.Discard, resp.Body)
	return resp.Body.Close()
}

// subscribeLogs asks the leader's log broker for logs: its dispatcher when this manager leads, else the leader
// over the control API.
func (c *Cluster) subscribeLogs(ctx context.Context, sub api.LogSubscription) (<-chan api.LogMessage, error) {
	if d := c.leaderDispatcher(); d != nil {
		return d.SubscribeLogs(ctx, sub)
	}
	b, err := json.Marshal(sub)
	if err != nil {
		return nil, err
	}
	resp, err := dispatchClient{c}.post(ctx, pathControlLogs, func() io.Reader { return bytes.NewReader(b) }, true)
	if err != nil {
		return nil, err
	}
	out := make(chan api.LogMessage, 64)
	go func() {
		defer close(out)
		defer resp.Body.Close()
		dec := json.NewDecoder(bufio.NewReader(resp.Body))
		for {
			var m api.LogMessage
			if err := dec.Decode(&m); err != nil {
				if !errors.Is(err, io.EOF) && ctx.Err() == nil {
					out <- api.LogMessage{Err: err.Error()}
				}
				return
			}
			select {
			case out <- m:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}
