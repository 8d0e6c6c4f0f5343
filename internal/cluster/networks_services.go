package cluster

import (
	"context"
	"slices"
	"sort"

	"github.com/berth/berth/internal/cluster/api"
	"github.com/berth/berth/internal/cluster/store"
)

// Services in the networks watch: what a node needs to answer a service's name in its embedded DNS and to
// balance connections to its VIP — the service's name, mode, VIPs and aliases (ServiceEndpoint), and which of
// its tasks run (TaskRun). The task attachments already in the watch give the tasks' addresses. A task is a
// backend while it is RUNNING, not reported unhealthy, and wanted running: when the orchestrator decides to
// stop it (scale-down, update, drain, service rm), or its agent reports it unhealthy, it leaves the nodes' DNS
// answers and balancers from that change on, while its agent is only beginning to stop it.

// ServiceEndpoint is a service as the nodes' DNS and balancers see it.
type ServiceEndpoint struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Mode is vip or dnsrr.
	Mode string          `json:"mode"`
	VIPs []api.VirtualIP `json:"vips,omitempty"`
	// Aliases are the service's names beside Name, by network ID (--network name=N,alias=A).
	Aliases map[string][]string `json:"aliases,omitempty"`
	// Ports are the service's ports published in ingress mode, as allocated (the routing mesh, ingress.go).
	Ports []api.PortSpec `json:"ports,omitempty"`
}

// TaskRun says whether a task is one of its service's backends.
type TaskRun struct {
	ID        string `json:"id"`
	ServiceID string `json:"serviceID"`
	Running   bool   `json:"running"`
}

func serviceEndpointOf(s *api.Service) ServiceEndpoint {
	out := ServiceEndpoint{ID: s.ID, Name: s.Spec.Name, Mode: s.Spec.EndpointMode()}
	if s.Endpoint != nil {
		out.VIPs = slices.Clone(s.Endpoint.VirtualIPs)
		out.Ports = ingressPorts(s.Endpoint.Ports)
	}
	for _, na := range s.Spec.Task.Networks {
		if len(na.Aliases) == 0 {
			continue
		}
		if out.Aliases == nil {
			out.Aliases = map[string][]string{}
		}
		out.Aliases[na.Target] = append(out.Aliases[na.Target], na.Aliases...)
	}
	return out
}

// taskRunOf is whether t is a backend: running, healthy (or without a health check: a task with one reports
// RUNNING only once healthy, and Unhealthy when it fails later), and not asked to stop.
func taskRunOf(t *api.Task) TaskRun {
	return TaskRun{ID: t.ID, ServiceID: t.ServiceID,
		Running: t.Status.State == api.TaskRunning && !t.Status.Unhealthy && t.DesiredState <= api.TaskRunning}
}

// serviceState reads the services and running tasks at v's revision into st.
func serviceState(ctx context.Context, v *store.View, st *NetworkState) error {
	svcs, err := store.List[api.Service](ctx, v)
	if err != nil {
		return err
	}
	for _, s := range svcs {
		st.Services = append(st.Services, serviceEndpointOf(s))
	}
	tasks, err := store.List[api.Task](ctx, v)
	if err != nil {
		return err
	}
	for _, t := range tasks {
		if r := taskRunOf(t); r.Running {
			st.Running = append(st.Running, r)
		}
	}
	return nil
}

// runningFilter passes a task's event on to a node only when the task's being a backend changes (tasks change
// state often; most changes are nothing to a balancer).
type runningFilter map[string]bool

func newRunningFilter(st *NetworkState) runningFilter {
	f := runningFilter{}
	for _, r := range st.Running {
		f[r.ID] = true
	}
	return f
}

// event is the event to send for a task's change, nil for none.
func (f runningFilter) event(t *api.Task, removed bool) *TaskRun {
	r := taskRunOf(t)
	if removed {
		r.Running = false
	}
	if f[t.ID] == r.Running {
		return nil
	}
	if r.Running {
		f[t.ID] = true
	} else {
		delete(f, t.ID)
	}
	return &r
}

// applyService and applyTask keep a node's mirror current.
func (m *mirror) applyService(s *ServiceEndpoint, removed bool) {
	if removed {
		delete(m.services, s.ID)
		return
	}
	m.services[s.ID] = *s
}

func (m *mirror) applyTask(r *TaskRun) {
	if r.Running {
		m.running[r.ID] = *r
	} else {
		delete(m.running, r.ID)
	}
}

// serviceLists fills st's services and running tasks from the mirror, in ID order.
func (m *mirror) serviceLists(st *NetworkState) {
	for _, s := range m.services {
		st.Services = append(st.Services, s)
	}
	for _, r := range m.running {
		st.Running = append(st.Running, r)
	}
	sort.Slice(st.Services, func(i, j int) bool { return st.Services[i].ID < st.Services[j].ID })
	sort.Slice(st.Running, func(i, j int) bool { return st.Running[i].ID < st.Running[j].ID })
}
