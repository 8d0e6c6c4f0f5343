package agent

import (
	"context"
	"sync"

	"github.com/berth/berth/internal/cluster/api"
)

// serveLogs publishes the logs of the subscription's tasks that run here, or ends a following subscription.
func (a *Agent) serveLogs(ctx context.Context, sub *api.LogSubscription) {
	a.mu.Lock()
	if sub.Close {
		if cancel := a.logSubs[sub.ID]; cancel != nil {
			cancel()
			delete(a.logSubs, sub.ID)
		}
		a.mu.Unlock()
		return
	}
	sctx, cancel := context.WithCancel(ctx)
	a.logSubs[sub.ID] = cancel
	a.mu.Unlock()
	msgs := make(chan api.LogMessage, 64)
	a.wg.Add(2)
	go func() {
		defer a.wg.Done()
		defer cancel()
		if err := a.cfg.Dispatcher.PublishLogs(sctx, sub.ID, msgs); err != nil && sctx.Err() == nil {
			a.log.Debug("publishing task logs", "subscription", sub.ID, "error", err)
		}
		a.mu.Lock()
		delete(a.logSubs, sub.ID)
		a.mu.Unlock()
	}()
	go func() {
		defer a.wg.Done()
		defer close(msgs)
		var wg sync.WaitGroup
		for _, id := range sub.TaskIDs {
			r := a.runner(id)
			if r == nil {
				continue
			}
			t := r.current()
			ctr := r.containerID()
			if ctr == "" {
				cs, err := a.cfg.Backend.List(sctx, map[string]string{LabelTaskID: id})
				if err != nil || len(cs) == 0 {
					continue
				}
				ctr = cs[0].ID
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				opts := LogsOptions{Follow: sub.Follow, Tail: sub.Tail, Since: sub.Since, Stdout: sub.Stdout, Stderr: sub.Stderr}
				err := a.cfg.Backend.Logs(sctx, ctr, opts, func(l LogLine) error {
					m := api.LogMessage{NodeID: a.cfg.NodeID, ServiceID: t.ServiceID, TaskID: t.ID, Timestamp: l.Timestamp,
						Stream: l.Stream, Data: l.Data, Attrs: l.Attrs}
					select {
					case msgs <- m:
						return nil
					case <-sctx.Done():
						return sctx.Err()
					}
				})
				if err != nil && sctx.Err() == nil {
					a.log.Debug("reading a task's log", "task", t.ID, "error", err)
				}
			}()
		}
		wg.Wait()
	}()
}
