package cluster

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/berth/berth/internal/cluster/api"
	"github.com/berth/berth/internal/cluster/store"
)

// gracePeriods is how many heartbeat periods a node may miss before it is down (swarmkit's
// GracePeriodMultiplier).
const gracePeriods = 3

// heartbeats are the leader's deadlines of the nodes' heartbeats, in memory: a heartbeat is not a store write,
// only a node's change of state is.
type heartbeats struct {
	mu       sync.Mutex
	leading  bool
	deadline map[string]time.Time
	period   time.Duration
}

func newHeartbeats() *heartbeats {
	return &heartbeats{deadline: map[string]time.Time{}, period: api.DefaultHeartbeatPeriod}
}

// lead starts tracking as the new leader: every node the store says is ready gets a full grace period to
// reach it.
func (h *heartbeats) lead(ctx context.Context, s *store.Store, now time.Time) {
	period := api.DefaultHeartbeatPeriod
	if cl, err := clusterObject(ctx, s); err == nil && cl.Spec.Dispatcher.HeartbeatPeriod > 0 {
		period = cl.Spec.Dispatcher.HeartbeatPeriod
	}
	nodes, _ := store.List[api.Node](ctx, s)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.leading, h.period = true, period
	h.deadline = map[string]time.Time{}
	for _, n := range nodes {
		if n.Status.State == api.NodeStateReady {
			h.deadline[n.ID] = now.Add(gracePeriods * period)
		}
	}
}

func (h *heartbeats) follow() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.leading = false
	h.deadline = map[string]time.Time{}
}

func (h *heartbeats) setPeriod(p time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if p > 0 {
		h.period = p
	}
}

// beat records a heartbeat of node.
func (h *heartbeats) beat(node string, now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.deadline[node] = now.Add(gracePeriods * h.period)
}

func (h *heartbeats) forget(node string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.deadline, node)
}

// expired returns (and forgets) the nodes whose deadline passed.
func (h *heartbeats) expired(now time.Time) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for id, d := range h.deadline {
		if now.After(d) {
			out = append(out, id)
			delete(h.deadline, id)
		}
	}
	sort.Strings(out)
	return out
}

// clusterObject reads the one cluster object.
func clusterObject(ctx context.Context, r store.Reader) (*api.Cluster, error) {
	cls, err := store.List[api.Cluster](ctx, r)
	if err != nil {
		return nil, err
	}
	if len(cls) == 0 {
		return nil, ErrNoSwarm
	}
	return cls[0], nil
}
