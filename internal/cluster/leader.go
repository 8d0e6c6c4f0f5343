package cluster

import (
	"context"
	"sync"

	"github.com/jonboulle/clockwork"

	"github.com/berth/berth/internal/cluster/ca"
	"github.com/berth/berth/internal/cluster/dispatcher"
	"github.com/berth/berth/internal/cluster/manager"
)

// The leading manager's singleton duties beside the foundation's (nodes going down, demotions, root
// rotation): the dispatcher, the orchestrator and the scheduler. They start when this manager becomes the
// leader and stop when it no longer is; each builds its state from the store, so the next leader carries on.

// leaderDuties are the loops of one term of leadership.
type leaderDuties struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// startLeading starts the leader's loops over the manager's store.
func (c *Cluster) startLeading(ctx context.Context, m *manager.Manager) *leaderDuties {
	lctx, cancel := context.WithCancel(ctx)
	ld := &leaderDuties{cancel: cancel}
	s := m.Store()
	clock := c.cfg.Clock
	if clock == nil {
		clock = clockwork.NewRealClock()
	}
	d := dispatcher.New(s, dispatcher.WithLogger(c.log), dispatcher.WithUnseal(c.unseal), dispatcher.WithClock(clock.Now))
	c.disp.Store(d)
	orch := newOrchestrate(s, clock, c.log)
	sched := newSchedule(s, clock, c.log)
	orch.known, sched.known = d.Task, d.Task
	ld.wg.Add(3)
	go func() { defer ld.wg.Done(); d.Run(lctx) }()
	go func() { defer ld.wg.Done(); orch.run(lctx) }()
	go func() { defer ld.wg.Done(); sched.run(lctx) }()
	return ld
}

// stopLeading stops a term's loops.
func (c *Cluster) stopLeading(ld *leaderDuties) {
	if ld == nil {
		return
	}
	c.disp.Store(nil)
	ld.cancel()
	ld.wg.Wait()
}

// unseal opens data sealed with the cluster's data key (secrets).
func (c *Cluster) unseal(b []byte) ([]byte, error) {
	c.mu.Lock()
	dk := c.dataKey
	c.mu.Unlock()
	return ca.Open(dk, b)
}

// leaderDispatcher is the dispatcher while this manager leads, else nil.
func (c *Cluster) leaderDispatcher() *dispatcher.Dispatcher { return c.disp.Load() }
