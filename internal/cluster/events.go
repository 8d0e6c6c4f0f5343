package cluster

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/berth/berth/internal/cluster/api"
	"github.com/berth/berth/internal/cluster/store"
)

// clusterEvents turns the store's changes into docker's cluster events on this manager (as moby's
// daemon/events.go does with swarmkit's watch): service, node, secret and config create/update/remove, an
// update naming what changed (image, replicas, update state; availability, role, state).
func (c *Cluster) clusterEvents(ctx context.Context, s *store.Store) {
	emit := c.cfg.Events
	if emit == nil {
		return
	}
	services := map[string]*api.Service{}
	nodes := map[string]*api.Node{}
	for ctx.Err() == nil {
		v, err := s.View(ctx)
		if err != nil {
			sleepCtx(ctx, time.Second)
			continue
		}
		svcs, err1 := store.List[api.Service](ctx, v)
		ns, err2 := store.List[api.Node](ctx, v)
		if err := errors.Join(err1, err2); err != nil {
			sleepCtx(ctx, time.Second)
			continue
		}
		clear(services)
		clear(nodes)
		for _, x := range svcs {
			services[x.ID] = x
		}
		for _, x := range ns {
			nodes[x.ID] = x
		}
		w := s.Watch(ctx, v.Rev(), api.KindService, api.KindNode, api.KindSecret, api.KindConfig)
		for ev := range w.Events() {
			action := string(ev.Action)
			switch o := ev.Object.(type) {
			case *api.Service:
				attrs := map[string]string{"name": o.Spec.Name}
				if old := services[o.ID]; old != nil && ev.Action == store.ActionUpdate {
					serviceChanges(old, o, attrs)
				}
				if ev.Action == store.ActionRemove {
					delete(services, o.ID)
				} else {
					services[o.ID] = o
				}
				emit("service", action, o.ID, attrs)
			case *api.Node:
				attrs := map[string]string{"name": nodeName(o)}
				if old := nodes[o.ID]; old != nil && ev.Action == store.ActionUpdate {
					nodeChanges(old, o, attrs)
				}
				if ev.Action == store.ActionRemove {
					delete(nodes, o.ID)
				} else {
					nodes[o.ID] = o
				}
				emit("node", action, o.ID, attrs)
			case *api.Secret:
				emit("secret", action, o.ID, map[string]string{"name": o.Spec.Name})
			case *api.Config:
				emit("config", action, o.ID, map[string]string{"name": o.Spec.Name})
			}
		}
	}
}

func serviceChanges(old, cur *api.Service, attrs map[string]string) {
	if oc, nc := old.Spec.Task.Container, cur.Spec.Task.Container; oc != nil && nc != nil && oc.Image != nc.Image {
		attrs["image.old"], attrs["image.new"] = oc.Image, nc.Image
	}
	if old.Spec.Replicas != nil && cur.Spec.Replicas != nil && *old.Spec.Replicas != *cur.Spec.Replicas {
		attrs["replicas.old"] = strconv.FormatUint(*old.Spec.Replicas, 10)
		attrs["replicas.new"] = strconv.FormatUint(*cur.Spec.Replicas, 10)
	}
	if cur.UpdateStatus != nil {
		if old.UpdateStatus == nil {
			attrs["updatestate.new"] = cur.UpdateStatus.State
		} else if old.UpdateStatus.State != cur.UpdateStatus.State {
			attrs["updatestate.old"], attrs["updatestate.new"] = old.UpdateStatus.State, cur.UpdateStatus.State
		}
	}
}

func nodeChanges(old, cur *api.Node, attrs map[string]string) {
	if old.Spec.Availability != cur.Spec.Availability {
		attrs["availability.old"], attrs["availability.new"] = string(old.Spec.Availability), string(cur.Spec.Availability)
	}
	if old.Role != cur.Role {
		attrs["role.old"], attrs["role.new"] = string(old.Role), string(cur.Role)
	}
	if old.Status.State != cur.Status.State {
		attrs["state.old"], attrs["state.new"] = string(old.Status.State), string(cur.Status.State)
	}
}
