package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/berth/berth/internal/cluster/agent"
)

// The balancers' acknowledgements (the leader's side is dispatcher/applied.go): every node tells the leader the
// store revision its load balancers were last written from, and an agent about to stop a task that was a backend
// asks the leader to wait until every node's are at the revision where its own node dropped the task.
//
//	dispatcher/applied       {rev}                 a node: my balancers are written from rev
//	dispatcher/applied/wait  {rev, waitMillis}     an agent: wait up to waitMillis; answers {behind: [node…]}
const (
	pathDispatchApplied     = "/berth/v1/dispatcher/applied"
	pathDispatchWaitApplied = "/berth/v1/dispatcher/applied/wait"
)

type appliedRequest struct {
	Rev int64 `json:"rev"`
}

type waitAppliedRequest struct {
	Rev        int64 `json:"rev"`
	WaitMillis int64 `json:"waitMillis"`
}

type waitAppliedResponse struct {
	Behind []string `json:"behind,omitempty"`
}

// maxAppliedWait bounds a wait the leader holds open for one call.
const maxAppliedWait = 30 * time.Second

// appliedRefresh is how often a node repeats an unchanged report: a leader that took over since the last one
// knows nothing of the node's balancers until it hears from it (a change of leader the node noticed is answered
// at once).
const appliedRefresh = 10 * time.Second

func (c *Cluster) handleDispatchApplied(w http.ResponseWriter, r *http.Request) {
	node, d, ok := c.dispatcherFor(w, r)
	if !ok {
		return
	}
	var req appliedRequest
	if err := decodeWire(r, &req); err != nil {
		writeWire(w, nil, err)
		return
	}
	d.NoteApplied(node, req.Rev)
	writeWire(w, struct{}{}, nil)
}

func (c *Cluster) handleDispatchWaitApplied(w http.ResponseWriter, r *http.Request) {
	_, d, ok := c.dispatcherFor(w, r)
	if !ok {
		return
	}
	var req waitAppliedRequest
	if err := decodeWire(r, &req); err != nil {
		writeWire(w, nil, err)
		return
	}
	if req.WaitMillis < 0 {
		writeWire(w, nil, invalid("invalid request: negative wait"))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), time.Duration(min(req.WaitMillis, maxAppliedWait.Milliseconds()))*time.Millisecond)
	defer cancel()
	behind, err := d.WaitApplied(ctx, req.Rev)
	if errors.Is(err, context.DeadlineExceeded) && r.Context().Err() == nil {
		err = nil // the wait's own bound: the answer is who is behind
	}
	writeWire(w, waitAppliedResponse{Behind: behind}, err)
}

// noteApplied records that the node's balancers were written from the state at rev, for reportApplied.
func (c *Cluster) noteApplied(rev int64) {
	for {
		old := c.appliedRev.Load()
		if rev <= old {
			break
		}
		if c.appliedRev.CompareAndSwap(old, rev) {
			break
		}
	}
	select {
	case c.appliedPoke <- struct{}{}:
	default:
	}
}

// reportApplied tells the leader, until ctx ends, the revision the node's balancers were written from: each
// time it advances (reports coalesce: while one is under way, later revisions wait for it and go as one), when
// the node sees another leader, and every appliedRefresh.
func (c *Cluster) reportApplied(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var sentRev int64
	var sentTo string
	var sentAt time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.appliedPoke:
		case <-tick.C:
		}
		rev := c.appliedRev.Load()
		leader := leaderAddr(c.nodeState().Managers)
		if rev == 0 || (rev == sentRev && leader == sentTo && time.Since(sentAt) < appliedRefresh) {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := dispatchClient{c}.call(cctx, pathDispatchApplied, appliedRequest{Rev: rev}, nil)
		cancel()
		if err != nil {
			c.log.Debug("reporting the node's balancers to the leader", "rev", rev, "error", err)
			continue
		}
		sentRev, sentTo, sentAt = rev, leader, time.Now()
	}
}

// forgetApplied is called when the node is in no swarm and before each snapshot of the networks watch is
// applied: another swarm's revisions are another store's.
func (c *Cluster) forgetApplied() { c.appliedRev.Store(0) }

// call POSTs in to the leader's dispatcher and decodes its answer into out (when not nil).
func (dc dispatchClient) call(ctx context.Context, path string, in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	resp, err := dc.post(ctx, path, func() io.Reader { return bytes.NewReader(b) }, false)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		return err
	}
	return json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(out)
}

var _ agent.BalancerAcks = dispatchClient{}

// WaitApplied implements agent.BalancerAcks.
func (dc dispatchClient) WaitApplied(ctx context.Context, rev int64, wait time.Duration) ([]string, error) {
	cctx, cancel := context.WithTimeout(ctx, wait+5*time.Second)
	defer cancel()
	var resp waitAppliedResponse
	err := dc.call(cctx, pathDispatchWaitApplied, waitAppliedRequest{Rev: rev, WaitMillis: wait.Milliseconds()}, &resp)
	return resp.Behind, err
}
