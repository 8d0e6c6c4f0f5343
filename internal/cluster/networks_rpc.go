package cluster

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"sort"
	"time"

	"github.com/containerd/errdefs"

	"github.com/berth/berth/internal/cluster/api"
	"github.com/berth/berth/internal/cluster/store"
)

// The networks' calls on the cluster listener (any node's certificate; a node acts on its own endpoints only):
//
//	networks/lookup    a network by name, ID or ID prefix (a worker running `docker run --network ovl`)
//	networks/attach    an endpoint for a container of the node (or the node's claim of a task's)
//	networks/detach    give one back
//	networks/sync      give back those the node no longer has (after a restart, or a lost detach)
//	networks/register  the node's tunnel key, for encrypted networks; answers its tunnel address
//	networks/watch     the cluster's networking, then its changes, as a stream of JSON lines (NetworkState,
//	                   then watchEvent), with a heartbeat line every watchHeartbeat so that the node notices a
//	                   dead stream
const (
	pathNetLookup   = "/berth/v1/networks/lookup"
	pathNetAttach   = "/berth/v1/networks/attach"
	pathNetDetach   = "/berth/v1/networks/detach"
	pathNetSync     = "/berth/v1/networks/sync"
	pathNetRegister = "/berth/v1/networks/register"
	pathNetWatch    = "/berth/v1/networks/watch"
)

// watchHeartbeat is how often a quiet watch stream says it is alive; a node gives up on one silent for three.
const watchHeartbeat = 5 * time.Second

type lookupRequest struct {
	Network string `json:"network"`
}

type attachResponse struct {
	Network    *api.Network    `json:"network"`
	Attachment *api.Attachment `json:"attachment"`
}

type detachRequest struct {
	Attachment string `json:"attachment"`
}

type syncRequest struct {
	Rev  int64    `json:"rev"`
	Keep []string `json:"keep"`
}

type syncResponse struct {
	Released []string `json:"released"`
}

type registerRequest struct {
	PublicKey string `json:"publicKey"`
}

// NetworkState is the cluster's networking as a node needs it: the networks, every endpoint and the node
// behind it, the nodes' tunnel keys and the preshared key of encrypted networks.
type NetworkState struct {
	// Rev is the store revision the state is at.
	Rev int64 `json:"rev"`
	// Self is the receiving node's ID.
	Self        string             `json:"self"`
	Networks    []*api.Network     `json:"networks"`
	Attachments []*api.Attachment  `json:"attachments"`
	Nodes       []NetworkPeer      `json:"nodes"`
	Keys        []*api.NetworkNode `json:"keys"`
	// PresharedKey is the cluster's WireGuard preshared key (sent only over the node's mutual-TLS session).
	PresharedKey []byte `json:"presharedKey,omitempty"`
	// DataPathPort is the swarm's VXLAN UDP port (swarm init --data-path-port; fixed for the swarm's life).
	DataPathPort uint32 `json:"dataPathPort,omitempty"`
	// Services and the tasks running (networks_services.go): service names, VIPs and backends.
	Services []ServiceEndpoint `json:"services,omitempty"`
	Running  []TaskRun         `json:"running,omitempty"`
}

// NetworkPeer is a node as the data path knows it: its ID, hostname and underlay address.
type NetworkPeer struct {
	ID       string     `json:"id"`
	Hostname string     `json:"hostname"`
	Addr     netip.Addr `json:"addr"`
}

// watchEvent is one change after the state: exactly one object is set (for a removal, the object as it was).
type watchEvent struct {
	Rev        int64            `json:"rev,omitempty"`
	Removed    bool             `json:"removed,omitempty"`
	Network    *api.Network     `json:"network,omitempty"`
	Attachment *api.Attachment  `json:"attachment,omitempty"`
	Node       *NetworkPeer     `json:"node,omitempty"`
	Key        *api.NetworkNode `json:"key,omitempty"`
	Service    *ServiceEndpoint `json:"service,omitempty"`
	Task       *TaskRun         `json:"task,omitempty"`
}

// watchLine is one line of the stream.
type watchLine struct {
	State *NetworkState `json:"state,omitempty"`
	Event *watchEvent   `json:"event,omitempty"`
}

// peerOf is a node as its peers on the data path see it: its data-path address, else its address.
func peerOf(n *api.Node) NetworkPeer {
	addr := n.Status.Addr
	if n.Status.DataPathAddr != "" {
		addr = n.Status.DataPathAddr
	}
	a, _ := netip.ParseAddr(addr)
	return NetworkPeer{ID: n.ID, Hostname: n.Description.Hostname, Addr: a}
}

// networkState reads the state at v's revision.
func networkState(ctx context.Context, v *store.View, self string) (*NetworkState, error) {
	st := &NetworkState{Rev: v.Rev(), Self: self}
	var err error
	if st.Networks, err = store.List[api.Network](ctx, v); err != nil {
		return nil, err
	}
	if cls, err := store.List[api.Cluster](ctx, v); err != nil {
		return nil, err
	} else if len(cls) > 0 {
		st.DataPathPort = cls[0].DataPathPort
	}
	if st.Attachments, err = store.List[api.Attachment](ctx, v); err != nil {
		return nil, err
	}
	if st.Keys, err = store.List[api.NetworkNode](ctx, v); err != nil {
		return nil, err
	}
	nodes, err := store.List[api.Node](ctx, v)
	if err != nil {
		return nil, err
	}
	for _, n := range nodes {
		st.Nodes = append(st.Nodes, peerOf(n))
	}
	if err := serviceState(ctx, v, st); err != nil {
		return nil, err
	}
	return st, nil
}

// networkHandlers are the networks' calls, added to the cluster listener.
func (c *Cluster) networkHandlers(mux *http.ServeMux) {
	mux.HandleFunc("POST "+pathNetLookup, c.nodeCall(func(ctx context.Context, s *store.Store, node string, body []byte) (any, error) {
		var req lookupRequest
		if err := json.Unmarshal(body, &req); err != nil {
			return nil, invalid("invalid request: %v", err)
		}
		return findNetwork(ctx, s, req.Network)
	}))
	mux.HandleFunc("POST "+pathNetAttach, c.nodeCall(func(ctx context.Context, s *store.Store, node string, body []byte) (any, error) {
		var req AttachRequest
		if err := json.Unmarshal(body, &req); err != nil {
			return nil, invalid("invalid request: %v", err)
		}
		a, n, err := attach(ctx, s, node, req)
		return attachResponse{Network: n, Attachment: a}, err
	}))
	mux.HandleFunc("POST "+pathNetDetach, c.nodeCall(func(ctx context.Context, s *store.Store, node string, body []byte) (any, error) {
		var req detachRequest
		if err := json.Unmarshal(body, &req); err != nil {
			return nil, invalid("invalid request: %v", err)
		}
		return struct{}{}, detach(ctx, s, node, req.Attachment)
	}))
	mux.HandleFunc("POST "+pathNetSync, c.nodeCall(func(ctx context.Context, s *store.Store, node string, body []byte) (any, error) {
		var req syncRequest
		if err := json.Unmarshal(body, &req); err != nil {
			return nil, invalid("invalid request: %v", err)
		}
		released, err := syncAttachments(ctx, s, node, req.Rev, req.Keep)
		if len(released) > 0 {
			c.log.Info("released endpoints a node no longer has", "node", node, "attachments", released)
		}
		return syncResponse{Released: released}, err
	}))
	mux.HandleFunc("POST "+pathNetRegister, c.nodeCall(func(ctx context.Context, s *store.Store, node string, body []byte) (any, error) {
		var req registerRequest
		if err := json.Unmarshal(body, &req); err != nil {
			return nil, invalid("invalid request: %v", err)
		}
		return registerNetworkNode(ctx, s, node, req.PublicKey)
	}))
	mux.HandleFunc("POST "+pathNetWatch, c.handleNetworkWatch)
}

// nodeCall serves a networks call of an authenticated node of this cluster, over this manager's store.
func (c *Cluster) nodeCall(fn func(ctx context.Context, s *store.Store, node string, body []byte) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, err := c.peerIdentity(r)
		if err != nil {
			writeWire(w, nil, err)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err != nil {
			writeWire(w, nil, invalid("invalid request: %v", err))
			return
		}
		m, err := c.managerStore()
		if err != nil {
			writeWire(w, nil, err)
			return
		}
		out, err := fn(r.Context(), m.Store(), id.NodeID, body)
		writeWire(w, out, err)
	}
}

// handleNetworkWatch streams the networking state and its changes to a node.
func (c *Cluster) handleNetworkWatch(w http.ResponseWriter, r *http.Request) {
	id, err := c.peerIdentity(r)
	if err != nil {
		writeWire(w, nil, err)
		return
	}
	m, err := c.managerStore()
	if err != nil {
		writeWire(w, nil, err)
		return
	}
	ctx := r.Context()
	s := m.Store()
	v, err := s.View(ctx)
	if err != nil {
		writeWire(w, nil, err)
		return
	}
	st, err := networkState(ctx, v, id.NodeID)
	if err != nil {
		writeWire(w, nil, err)
		return
	}
	c.mu.Lock()
	dk := c.dataKey
	c.mu.Unlock()
	if st.PresharedKey, err = presharedKey(ctx, s, dk); err != nil {
		c.log.Warn("the encrypted networks' preshared key", "error", err)
	}
	watcher := s.Watch(ctx, v.Rev(), api.KindNetwork, api.KindAttachment, api.KindNetworkNode, api.KindNode, api.KindService, api.KindTask)
	running := newRunningFilter(st)
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	fl, _ := w.(http.Flusher)
	enc := json.NewEncoder(w)
	send := func(l watchLine) bool {
		if err := enc.Encode(l); err != nil {
			return false
		}
		if fl != nil {
			fl.Flush()
		}
		return true
	}
	if !send(watchLine{State: st}) {
		return
	}
	tick := time.NewTicker(watchHeartbeat)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if !send(watchLine{}) {
				return
			}
		case ev, ok := <-watcher.Events():
			if !ok {
				c.log.Debug("networks watch ended", "node", id.NodeID, "error", watcher.Err())
				return
			}
			e := &watchEvent{Rev: ev.Rev, Removed: ev.Action == store.ActionRemove}
			switch o := ev.Object.(type) {
			case *api.Network:
				e.Network = o
			case *api.Attachment:
				e.Attachment = o
			case *api.NetworkNode:
				e.Key = o
			case *api.Node:
				p := peerOf(o)
				e.Node = &p
			case *api.Service:
				se := serviceEndpointOf(o)
				e.Service = &se
			case *api.Task:
				if e.Task = running.event(o, e.Removed); e.Task == nil {
					continue
				}
				e.Removed = false
			default:
				continue
			}
			if !send(watchLine{Event: e}) {
				return
			}
		}
	}
}

// mirror is a node's copy of the networking state, kept current from the watch stream's events.
type mirror struct {
	rev      int64
	self     string
	psk      []byte
	port     uint32
	networks map[string]*api.Network
	atts     map[string]*api.Attachment
	nodes    map[string]NetworkPeer
	keys     map[string]*api.NetworkNode
	services map[string]ServiceEndpoint
	running  map[string]TaskRun
}

func newMirror(st *NetworkState) *mirror {
	m := &mirror{rev: st.Rev, self: st.Self, psk: st.PresharedKey, port: st.DataPathPort, networks: map[string]*api.Network{},
		atts: map[string]*api.Attachment{}, nodes: map[string]NetworkPeer{}, keys: map[string]*api.NetworkNode{},
		services: map[string]ServiceEndpoint{}, running: map[string]TaskRun{}}
	for _, s := range st.Services {
		m.services[s.ID] = s
	}
	for _, r := range st.Running {
		m.running[r.ID] = r
	}
	for _, n := range st.Networks {
		m.networks[n.ID] = n
	}
	for _, a := range st.Attachments {
		m.atts[a.ID] = a
	}
	for _, n := range st.Nodes {
		m.nodes[n.ID] = n
	}
	for _, k := range st.Keys {
		m.keys[k.ID] = k
	}
	return m
}

func (m *mirror) apply(e *watchEvent) {
	if e.Rev > m.rev {
		m.rev = e.Rev
	}
	switch {
	case e.Network != nil:
		if e.Removed {
			delete(m.networks, e.Network.ID)
		} else {
			m.networks[e.Network.ID] = e.Network
		}
	case e.Attachment != nil:
		if e.Removed {
			delete(m.atts, e.Attachment.ID)
		} else {
			m.atts[e.Attachment.ID] = e.Attachment
		}
	case e.Node != nil:
		if e.Removed {
			delete(m.nodes, e.Node.ID)
		} else {
			m.nodes[e.Node.ID] = *e.Node
		}
	case e.Key != nil:
		if e.Removed {
			delete(m.keys, e.Key.ID)
		} else {
			m.keys[e.Key.ID] = e.Key
		}
	case e.Service != nil:
		m.applyService(e.Service, e.Removed)
	case e.Task != nil:
		m.applyTask(e.Task)
	}
}

// state is the mirror as a NetworkState, in ID order.
func (m *mirror) state() NetworkState {
	st := NetworkState{Rev: m.rev, Self: m.self, PresharedKey: m.psk, DataPathPort: m.port}
	for _, n := range m.networks {
		st.Networks = append(st.Networks, n)
	}
	for _, a := range m.atts {
		st.Attachments = append(st.Attachments, a)
	}
	for _, n := range m.nodes {
		st.Nodes = append(st.Nodes, n)
	}
	for _, k := range m.keys {
		st.Keys = append(st.Keys, k)
	}
	sort.Slice(st.Networks, func(i, j int) bool { return st.Networks[i].ID < st.Networks[j].ID })
	sort.Slice(st.Attachments, func(i, j int) bool { return st.Attachments[i].ID < st.Attachments[j].ID })
	sort.Slice(st.Nodes, func(i, j int) bool { return st.Nodes[i].ID < st.Nodes[j].ID })
	sort.Slice(st.Keys, func(i, j int) bool { return st.Keys[i].ID < st.Keys[j].ID })
	m.serviceLists(&st)
	return st
}

// openStream POSTs in to a manager and returns the response body to read as it comes.
func (p *peerClient) openStream(ctx context.Context, addr, path string, in any) (io.ReadCloser, error) {
	b, err := json.Marshal(in)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+addr+path, bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := p.hc.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		var we wireError
		if json.Unmarshal(body, &we) == nil && we.Message != "" {
			return nil, categoryError(we.Category, we.Message)
		}
		return nil, fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(body))
	}
	return resp.Body, nil
}

// readLines decodes the stream's lines into out until the body ends, fails, or stays silent for three
// heartbeats (then it is closed); the error says why.
func readLines(ctx context.Context, body io.ReadCloser, out chan<- watchLine) error {
	lines := make(chan []byte)
	errc := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(body)
		sc.Buffer(make([]byte, 64<<10), 64<<20)
		for sc.Scan() {
			b := append([]byte(nil), sc.Bytes()...)
			select {
			case lines <- b:
			case <-ctx.Done():
				errc <- ctx.Err()
				return
			}
		}
		err := sc.Err()
		if err == nil {
			err = io.EOF
		}
		errc <- err
	}()
	defer body.Close()
	silence := time.NewTimer(3 * watchHeartbeat)
	defer silence.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-errc:
			return err
		case <-silence.C:
			return errdefs.ErrUnavailable.WithMessage("the networks watch went silent")
		case b := <-lines:
			silence.Reset(3 * watchHeartbeat)
			var l watchLine
			if err := json.Unmarshal(b, &l); err != nil {
				return fmt.Errorf("networks watch: %w", err)
			}
			if l.State == nil && l.Event == nil {
				continue // a heartbeat
			}
			select {
			case out <- l:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
}
