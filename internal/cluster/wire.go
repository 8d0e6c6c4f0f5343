package cluster

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/containerd/errdefs"

	"github.com/berth/berth/internal/cluster/api"
)

// The wire between nodes: JSON over HTTP/2 on the managers' cluster listener (port 2377), always TLS. A joining
// node is anonymous (it has no certificate yet) and may only call join; every other call authenticates the node
// by its certificate, and the calls under /berth/v1/control/ need a manager's. HTTP/2 rather than gRPC: Berth's
// other servers are net/http, the messages are few and small, and one TLS connection carries a node's session
// (heartbeats now, the dispatcher's assignment stream later) multiplexed.

const (
	pathJoin      = "/berth/v1/join"
	pathHeartbeat = "/berth/v1/session/heartbeat"
	pathCert      = "/berth/v1/certificate"
	pathLeave     = "/berth/v1/leave"
	pathControl   = "/berth/v1/control/"
)

// Peer is a manager as nodes know it.
type Peer struct {
	NodeID string `json:"nodeID"`
	Addr   string `json:"addr"`
	Leader bool   `json:"leader,omitempty"`
	// ClientURL is the manager's store client URL (embedded store).
	ClientURL string `json:"clientURL,omitempty"`
}

// joinRequest is what a joining node sends with its token.
type joinRequest struct {
	Token        string               `json:"token"`
	CSR          []byte               `json:"csr"`
	Description  api.NodeDescription  `json:"description"`
	Addr         string               `json:"addr"` // the node's advertise address, host:port
	Availability api.NodeAvailability `json:"availability,omitempty"`
	// DataPathAddr is the node's address for overlay traffic (--data-path-addr, resolved), "" for Addr's host.
	DataPathAddr string `json:"dataPathAddr,omitempty"`
}

// storeJoin is what a node becoming a manager needs to join the store.
type storeJoin struct {
	InitialCluster string         `json:"initialCluster,omitempty"`
	Voters         []string       `json:"voters,omitempty"`
	DataKey        []byte         `json:"dataKey"`
	Raft           api.RaftConfig `json:"raft"`
	MemberID       uint64         `json:"memberID,omitempty"`
	External       bool           `json:"external,omitempty"`
}

// joinResponse is a joined node's identity.
type joinResponse struct {
	NodeID    string        `json:"nodeID"`
	ClusterID string        `json:"clusterID"`
	Role      api.NodeRole  `json:"role"`
	Cert      []byte        `json:"cert"`
	RootCA    []byte        `json:"rootCA"`
	Managers  []Peer        `json:"managers"`
	Period    time.Duration `json:"period"`
	Store     *storeJoin    `json:"store,omitempty"`
}

// heartbeatRequest is a node's periodic "I am here".
type heartbeatRequest struct {
	Description api.NodeDescription `json:"description"`
	// CertSerial and RootDigest say which certificate and root the node holds.
	CertSerial string `json:"certSerial"`
}

// heartbeatResponse tells the node the cluster's view of it.
type heartbeatResponse struct {
	// NotLeader: heartbeats go to the leader, at Managers' Leader.
	NotLeader   bool          `json:"notLeader,omitempty"`
	Period      time.Duration `json:"period"`
	Managers    []Peer        `json:"managers"`
	DesiredRole api.NodeRole  `json:"desiredRole"`
	// Role is the role the cluster has recorded (a demotion is recorded once the store member is gone).
	Role api.NodeRole `json:"role"`
	// Renew asks the node to renew its certificate (a role change, a root rotation).
	Renew bool `json:"renew,omitempty"`
	// RootCA is the bundle the node should trust.
	RootCA []byte `json:"rootCA"`
	// AutoLock is the cluster's autolock setting, for managers to seal their keys.
	AutoLock bool `json:"autoLock,omitempty"`
	// UnlockKeyID names the current unlock key, so that managers re-seal after a rotation.
	UnlockKey string `json:"unlockKey,omitempty"`
}

// certRequest renews a node's certificate.
type certRequest struct {
	CSR []byte `json:"csr"`
	// Addr is the node's advertise address (a manager's certificate names its IP).
	Addr string `json:"addr"`
}

// certResponse is a renewed certificate, and for a new manager how to join the store.
type certResponse struct {
	Role   api.NodeRole `json:"role"`
	Cert   []byte       `json:"cert"`
	RootCA []byte       `json:"rootCA"`
	Store  *storeJoin   `json:"store,omitempty"`
}

// wireError is the body of a failed call.
type wireError struct {
	Message  string `json:"message"`
	Category string `json:"category"`
}

func categoryName(err error) string {
	switch {
	case errdefs.IsNotFound(err):
		return "notfound"
	case errdefs.IsInvalidArgument(err):
		return "invalid"
	case errdefs.IsPermissionDenied(err):
		return "denied"
	case errdefs.IsUnauthorized(err):
		return "unauthenticated"
	case errdefs.IsUnavailable(err):
		return "unavailable"
	case errdefs.IsFailedPrecondition(err):
		return "precondition"
	case errdefs.IsConflict(err):
		return "conflict"
	}
	return "internal"
}

func categoryError(cat, msg string) error {
	switch cat {
	case "notfound":
		return errdefs.ErrNotFound.WithMessage(msg)
	case "invalid":
		return errdefs.ErrInvalidArgument.WithMessage(msg)
	case "denied":
		return errdefs.ErrPermissionDenied.WithMessage(msg)
	case "unauthenticated":
		return errdefs.ErrUnauthenticated.WithMessage(msg)
	case "unavailable":
		return errdefs.ErrUnavailable.WithMessage(msg)
	case "precondition":
		return errdefs.ErrFailedPrecondition.WithMessage(msg)
	case "conflict":
		return errdefs.ErrConflict.WithMessage(msg)
	}
	return fmt.Errorf("%s", msg)
}

func writeWire(w http.ResponseWriter, v any, err error) {
	w.Header().Set("Content-Type", "application/json")
	if err != nil {
		code := http.StatusInternalServerError
		switch categoryName(err) {
		case "notfound":
			code = 404
		case "invalid":
			code = 400
		case "denied":
			code = 403
		case "unauthenticated":
			code = 401
		case "unavailable":
			code = 503
		case "precondition":
			code = 412
		case "conflict":
			code = 409
		}
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(wireError{Message: err.Error(), Category: categoryName(err)})
		return
	}
	json.NewEncoder(w).Encode(v)
}

// peerClient calls managers over TLS.
type peerClient struct {
	hc *http.Client
}

func newPeerClient(cfg *tls.Config) *peerClient {
	tr := &http.Transport{
		TLSClientConfig:     cfg,
		ForceAttemptHTTP2:   true,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 15 * time.Second}).DialContext,
		TLSHandshakeTimeout: 5 * time.Second,
		IdleConnTimeout:     time.Minute,
	}
	return &peerClient{hc: &http.Client{Transport: tr}}
}

func (p *peerClient) close() { p.hc.CloseIdleConnections() }

// call POSTs in to https://addr+path and decodes the answer into out.
func (p *peerClient) call(ctx context.Context, addr, path string, in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+addr+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := p.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var we wireError
		if json.Unmarshal(body, &we) == nil && we.Message != "" {
			return categoryError(we.Category, we.Message)
		}
		return fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(body))
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(body, out)
}
