package cluster

import (
	"slices"
	"testing"

	"github.com/berth/berth/internal/cluster/api"
)

func TestRunningFilter(t *testing.T) {
	task := func(state, desired api.TaskState) *api.Task {
		return &api.Task{ID: "t1", ServiceID: "s1", Status: api.TaskStatus{State: state}, DesiredState: desired}
	}
	unhealthy := func(t *api.Task) *api.Task { t.Status.Unhealthy = true; return t }
	f := runningFilter{}
	for _, tc := range []struct {
		name    string
		task    *api.Task
		removed bool
		want    *bool // nil: no event
	}{
		{name: "pending is nothing new", task: task(api.TaskPending, api.TaskRunning)},
		{name: "starting neither", task: task(api.TaskStarting, api.TaskRunning)},
		{name: "running becomes a backend", task: task(api.TaskRunning, api.TaskRunning), want: ptr(true)},
		{name: "running again says nothing", task: task(api.TaskRunning, api.TaskRunning)},
		{name: "asked to shut down leaves at once", task: task(api.TaskRunning, api.TaskShutdown), want: ptr(false)},
		{name: "its shutdown then says nothing", task: task(api.TaskShutdown, api.TaskShutdown)},
		{name: "removed while not a backend: nothing", task: task(api.TaskShutdown, api.TaskShutdown), removed: true},
		{name: "running again is a backend again", task: task(api.TaskRunning, api.TaskRunning), want: ptr(true)},
		{name: "reported unhealthy leaves while still running", task: unhealthy(task(api.TaskRunning, api.TaskRunning)), want: ptr(false)},
		{name: "its failure then says nothing", task: unhealthy(task(api.TaskFailed, api.TaskRunning))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := f.event(tc.task, tc.removed)
			if (got == nil) != (tc.want == nil) || got != nil && got.Running != *tc.want {
				t.Fatalf("event %+v, want running=%v", got, tc.want)
			}
		})
	}
	// A running task deleted outright (its service removed) leaves too.
	f.event(task(api.TaskRunning, api.TaskRunning), false)
	if got := f.event(task(api.TaskRunning, api.TaskRunning), true); got == nil || got.Running {
		t.Fatalf("removal of a running task: %+v", got)
	}
}

func ptr[T any](v T) *T { return &v }

func TestMirrorServices(t *testing.T) {
	st := &NetworkState{Rev: 10, Services: []ServiceEndpoint{{ID: "s1", Name: "web", Mode: "vip"}},
		Running: []TaskRun{{ID: "t1", ServiceID: "s1", Running: true}}}
	m := newMirror(st)
	for _, e := range []*watchEvent{
		{Rev: 11, Task: &TaskRun{ID: "t2", ServiceID: "s1", Running: true}},
		{Rev: 12, Task: &TaskRun{ID: "t1", ServiceID: "s1"}},
		{Rev: 13, Service: &ServiceEndpoint{ID: "s2", Name: "db", Mode: "dnsrr"}},
		{Rev: 14, Service: &ServiceEndpoint{ID: "s1", Name: "web", Mode: "dnsrr"}},
		{Rev: 15, Removed: true, Service: &ServiceEndpoint{ID: "s2"}},
	} {
		m.apply(e)
	}
	got := m.state()
	var svcs, running []string
	for _, s := range got.Services {
		svcs = append(svcs, s.ID+"="+s.Name+"/"+s.Mode)
	}
	for _, r := range got.Running {
		running = append(running, r.ID)
	}
	if !slices.Equal(svcs, []string{"s1=web/dnsrr"}) || !slices.Equal(running, []string{"t2"}) {
		t.Fatalf("services %v, running %v", svcs, running)
	}
}
