package agent

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"

	"github.com/berth/berth/internal/cluster/api"
)

// A task's life on the node, as swarmkit's exec.Do run over and over: each step moves the observed state one
// state on, toward the desired state, and reports it. The states a task may pass its desired state in are
// PREPARING (it becomes READY), STARTING (RUNNING) and RUNNING (it ends); the others wait for the desired state
// to move on. A desired state past RUNNING stops the container and ends the task SHUTDOWN.

// Errors that end a task, in docker's words.
var (
	// ErrContainerUnhealthy is the cause of a task whose container failed its health check.
	ErrContainerUnhealthy = errors.New("dockerexec: unhealthy container")
	// errImageRequired: a task without an image.
	errImageRequired = errors.New("dockerexec: image required")
)

// exitError is a container's non-zero exit, as moby's executor words it, or an exit of 0 that still failed the
// task: a container stopped because it turned unhealthy may exit 0 on its stop signal (moby then reports the
// task complete, hiding why it ended; Berth keeps it failed, with its cause, and does not say "non-zero").
type exitError struct {
	code  int
	cause error
}

func (e *exitError) Error() string {
	switch {
	case e.cause != nil && e.code == 0:
		return fmt.Sprintf("task: exit (0): %v", e.cause)
	case e.cause != nil:
		return fmt.Sprintf("task: non-zero exit (%v): %v", e.code, e.cause)
	}
	return fmt.Sprintf("task: non-zero exit (%v)", e.code)
}

// errStepAgain asks the runner to take its next step at once (the desired state moved on while it waited).
var errStepAgain = errors.New("step again")

// healthPoll is how often a task's container health is read while it has a health check.
const healthPoll = 500 * time.Millisecond

// runner runs one task.
type runner struct {
	a       *Agent
	id      string
	wake    chan struct{}
	ctx     context.Context
	stopRun context.CancelFunc
	done    chan struct{}

	mu   sync.Mutex
	task *api.Task

	// Owned by the runner's goroutine.
	status api.TaskStatus
	ctr    string     // the container's ID, once there is one
	found  *Container // the container found when the agent started
}

func newRunner(a *Agent, t *api.Task, found *Container) *runner {
	ctx, cancel := context.WithCancel(a.runCtx)
	return &runner{a: a, id: t.ID, wake: make(chan struct{}, 1), ctx: ctx, stopRun: cancel, done: make(chan struct{}),
		task: t, status: t.Status, found: found}
}

// update takes a newer assignment of the task.
func (r *runner) update(t *api.Task) {
	r.mu.Lock()
	if t.Version >= r.task.Version {
		r.task = t
	}
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *runner) current() *api.Task {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.task
}

// containerID is the task's container, if the runner made or found one.
func (r *runner) containerID() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ctr
}

func (r *runner) setContainer(id string) {
	r.mu.Lock()
	r.ctr = id
	r.mu.Unlock()
}

// stop ends the runner; the container is left as it is.
func (r *runner) stop() {
	r.stopRun()
	<-r.done
}

// remove ends the runner and removes the task's container (the task is no longer the node's).
func (r *runner) remove(ctx context.Context) {
	r.stop()
	id := r.containerID()
	if id == "" {
		// It may have been made by an agent before this one.
		cs, err := r.a.cfg.Backend.List(ctx, map[string]string{LabelTaskID: r.id})
		if err == nil && len(cs) > 0 {
			id = cs[0].ID
		}
	}
	if id == "" {
		return
	}
	// A container that still runs is stopped with its grace period first, as moby's executor removes.
	if c, err := r.a.cfg.Backend.Inspect(ctx, id); err == nil && c.State == "running" {
		r.drain(ctx, r.current(), r.status.State) // the runner has ended: its status is ours to read
		r.shutdown(ctx, r.current())
	}
	if err := r.a.cfg.Backend.Remove(ctx, id); err != nil && !errdefs.IsNotFound(err) {
		r.a.log.Warn("removing a task's container", "task", r.id, "error", err)
	}
}

func (r *runner) run() {
	defer close(r.done)
	r.adopt()
	for r.ctx.Err() == nil {
		next, err := r.step(r.current())
		if r.ctx.Err() != nil {
			return
		}
		if err == errStepAgain {
			continue
		}
		if err != nil {
			// A passing failure (the engine busy, a context cut): try again shortly.
			r.a.log.Debug("task step failed; retrying", "task", r.id, "error", err)
			sleep(r.ctx, 500*time.Millisecond)
			continue
		}
		if next != nil {
			r.report(*next)
			continue
		}
		select {
		case <-r.wake:
		case <-r.ctx.Done():
		}
	}
}

// report makes st the task's observed status and sends it.
func (r *runner) report(st api.TaskStatus) {
	st.Timestamp = r.a.cfg.Now().UTC()
	if st.ContainerID == "" {
		st.ContainerID = r.ctr
	}
	r.status = st
	r.a.rep.report(r.id, st)
}

func (r *runner) transition(state api.TaskState, msg string) *api.TaskStatus {
	st := r.status
	st.State, st.Message, st.Err = state, msg, ""
	return &st
}

// fatal ends the task on err: REJECTED before it started, FAILED after, as swarmkit's.
func (r *runner) fatal(err error) *api.TaskStatus {
	st := r.status
	st.Err = err.Error()
	if st.State < api.TaskStarting {
		st.State = api.TaskRejected
	} else {
		st.State = api.TaskFailed
	}
	var ee *exitError
	if errors.As(err, &ee) {
		st.ExitCode = ee.code
	}
	return &st
}

// adopt takes over the container an earlier agent made for the task: one running is reported running (not
// restarted), one that ended while no agent watched is reported ended.
func (r *runner) adopt() {
	c := r.found
	r.found = nil
	if c == nil {
		if r.status.State >= api.TaskStarting && r.status.State <= api.TaskRunning && r.current().DesiredState <= api.TaskComplete {
			// Reported started, but its container is gone.
			r.report(*r.fatal(fmt.Errorf("No such container: %s", containerName(r.current()))))
		}
		return
	}
	r.setContainer(c.ID)
	if r.status.State > api.TaskRunning {
		return
	}
	switch c.State {
	case "running", "paused", "restarting":
		if r.status.State < api.TaskRunning {
			st := r.transition(api.TaskRunning, "started")
			st.ContainerID, st.PID = c.ID, c.Pid
			st.Ports = c.Ports
			r.report(*st)
		}
	case "exited", "dead":
		if r.status.State >= api.TaskStarting {
			r.report(*r.exited(c.ExitCode, nil))
		}
	}
}

// exited is the status of a task whose container exited with code.
func (r *runner) exited(code int, cause error) *api.TaskStatus {
	if code == 0 && cause == nil {
		st := r.transition(api.TaskComplete, "finished")
		st.ExitCode = 0
		return st
	}
	return r.fatal(&exitError{code: code, cause: cause})
}

// step moves the task on by one state; nil when it must wait for a newer assignment.
func (r *runner) step(t *api.Task) (*api.TaskStatus, error) {
	st := r.status
	if t.DesiredState >= api.TaskShutdown {
		if st.State >= api.TaskComplete {
			return nil, nil
		}
		r.drain(r.ctx, t, st.State)
		if err := r.shutdown(r.ctx, t); err != nil {
			return r.fatal(err), nil
		}
		return r.transition(api.TaskShutdown, "shutdown"), nil
	}
	if st.State > t.DesiredState {
		return nil, nil
	}
	switch st.State {
	case api.TaskPreparing:
		if err := r.prepare(t); err != nil {
			if r.ctx.Err() != nil {
				return nil, err
			}
			return r.fatal(err), nil
		}
		return r.transition(api.TaskReady, "prepared"), nil
	case api.TaskStarting:
		c, err := r.start(t)
		if err != nil {
			if r.ctx.Err() != nil || err == errStepAgain {
				return nil, err
			}
			var ee *exitError
			if errors.As(err, &ee) {
				return r.fatal(err), nil
			}
			return r.fatal(fmt.Errorf("starting container failed: %w", err)), nil
		}
		next := r.transition(api.TaskRunning, "started")
		next.ContainerID, next.PID, next.Ports = c.ID, c.Pid, c.Ports
		return next, nil
	case api.TaskRunning:
		return r.wait(t)
	}
	if st.State >= t.DesiredState {
		return nil, nil
	}
	switch st.State {
	case api.TaskNew, api.TaskPending, api.TaskAssigned:
		return r.transition(api.TaskAccepted, "accepted"), nil
	case api.TaskAccepted:
		return r.transition(api.TaskPreparing, "preparing"), nil
	case api.TaskReady:
		return r.transition(api.TaskStarting, "starting"), nil
	}
	return nil, nil
}

func containerName(t *api.Task) string { return api.TaskName(t) }

// config is the task's container.
func (r *runner) config(t *api.Task) (ContainerConfig, error) {
	c := t.Spec.Container
	if c == nil || c.Image == "" {
		return ContainerConfig{}, errImageRequired
	}
	spec, err := api.ExpandContainerSpec(c, api.NewTemplateContext(t, r.a.cfg.Describe()))
	if err != nil {
		return ContainerConfig{}, err
	}
	labels := maps.Clone(spec.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	name := containerName(t)
	maps.Copy(labels, map[string]string{
		LabelTask: "", LabelTaskID: t.ID, LabelTaskName: name, LabelNodeID: t.NodeID,
		LabelServiceID: t.ServiceID, LabelServiceName: t.ServiceAnnotations.Name,
	})
	cfg := ContainerConfig{Name: name, Spec: *spec, Labels: labels, Resources: t.Spec.Resources, LogDriver: t.Spec.LogDriver}
	for _, n := range t.Networks {
		ep := NetworkEndpoint{NetworkID: n.NetworkID, Attachment: n.AttachmentID, Aliases: n.Aliases}
		if len(n.Addresses) > 0 {
			ep.Address = n.Addresses[0]
		}
		cfg.Networks = append(cfg.Networks, ep)
	}
	if ep := t.Endpoint; ep != nil {
		for _, p := range ep.Ports {
			if p.PublishMode == "host" {
				cfg.Ports = append(cfg.Ports, p)
			}
		}
	}
	for _, ref := range spec.Secrets {
		if ref.File == nil {
			continue
		}
		s, ok := r.a.secret(ref.SecretID)
		if !ok {
			return ContainerConfig{}, fmt.Errorf("secret %s not found", ref.SecretID)
		}
		target := ref.File.Name
		if !path.IsAbs(target) {
			target = path.Join("/run/secrets", target)
		}
		cfg.Files = append(cfg.Files, File{Target: target, Data: s.Data, UID: ref.File.UID, GID: ref.File.GID, Mode: ref.File.Mode, Secret: true})
	}
	for _, ref := range spec.Configs {
		if ref.File == nil {
			continue
		}
		cf, ok := r.a.config(ref.ConfigID)
		if !ok {
			return ContainerConfig{}, fmt.Errorf("config %s not found", ref.ConfigID)
		}
		target := ref.File.Name
		if !path.IsAbs(target) {
			target = "/" + target
		}
		cfg.Files = append(cfg.Files, File{Target: target, Data: cf.Spec.Data, UID: ref.File.UID, GID: ref.File.GID, Mode: ref.File.Mode})
	}
	return cfg, nil
}

// prepare pulls the image if the node lacks it and creates the container (once).
func (r *runner) prepare(t *api.Task) error {
	cfg, err := r.config(t)
	if err != nil {
		return err
	}
	b := r.a.cfg.Backend
	if r.containerID() != "" {
		if _, err := b.Inspect(r.ctx, r.containerID()); err == nil {
			return nil
		}
		r.setContainer("")
	}
	// The image is pulled when the node lacks it; a tag the node has is used as it is (a digest the CLI
	// pinned is checked by ImageExists).
	if !b.ImageExists(r.ctx, cfg.Spec.Image) {
		auth := ""
		if po := cfg.Spec.PullOptions; po != nil {
			auth = po.RegistryAuth
		}
		if err := b.PullImage(r.ctx, cfg.Spec.Image, auth); err != nil {
			return err
		}
	}
	id, err := b.Create(r.ctx, cfg)
	if errdefs.IsAlreadyExists(err) || errdefs.IsConflict(err) {
		// Made before (by an agent that did not live to report it).
		cs, lerr := b.List(r.ctx, map[string]string{LabelTaskID: t.ID})
		if lerr != nil || len(cs) == 0 {
			return err
		}
		id, err = cs[0].ID, nil
	}
	if err != nil {
		return err
	}
	r.setContainer(id)
	return nil
}

// start starts the container and, if it has a health check, waits for it to be healthy.
func (r *runner) start(t *api.Task) (Container, error) {
	b := r.a.cfg.Backend
	id := r.containerID()
	if id == "" {
		if err := r.prepare(t); err != nil {
			return Container{}, err
		}
		id = r.containerID()
	}
	c, err := b.Inspect(r.ctx, id)
	if err != nil {
		return Container{}, err
	}
	if c.State == "created" {
		if err := b.Start(r.ctx, id); err != nil {
			return Container{}, err
		}
	}
	for {
		if c, err = b.Inspect(r.ctx, id); err != nil {
			return Container{}, err
		}
		switch {
		case c.State != "running":
			if c.ExitCode != 0 {
				return c, &exitError{code: c.ExitCode}
			}
			return c, nil
		case c.Health == "" || c.Health == "healthy":
			return c, nil
		case c.Health == "unhealthy":
			r.shutdown(r.ctx, t)
			if c, err := b.Inspect(r.ctx, id); err == nil {
				return c, &exitError{code: c.ExitCode, cause: ErrContainerUnhealthy}
			}
			return c, &exitError{code: 137, cause: ErrContainerUnhealthy}
		}
		select {
		case <-r.ctx.Done():
			return c, r.ctx.Err()
		case <-r.wake:
			if r.current().DesiredState >= api.TaskShutdown {
				return c, errStepAgain // the next step shuts it down
			}
		case <-time.After(healthPoll):
		}
	}
}

// wait waits for the running container to end (or for the task to be asked to stop: nil, nil then, and the
// next step shuts it down).
func (r *runner) wait(t *api.Task) (*api.TaskStatus, error) {
	b := r.a.cfg.Backend
	id := r.containerID()
	if id == "" {
		return r.fatal(fmt.Errorf("No such container: %s", containerName(t))), nil
	}
	wctx, cancel := context.WithCancel(r.ctx)
	defer cancel()
	type result struct {
		code int
		err  error
	}
	done := make(chan result, 1)
	go func() {
		code, err := b.Wait(wctx, id)
		done <- result{code, err}
	}()
	health := t.Spec.Container != nil && t.Spec.Container.Healthcheck != nil && len(t.Spec.Container.Healthcheck.Test) > 0 &&
		t.Spec.Container.Healthcheck.Test[0] != "NONE"
	var tick <-chan time.Time
	if health {
		tk := time.NewTicker(healthPoll)
		defer tk.Stop()
		tick = tk.C
	}
	var cause error
	for {
		select {
		case res := <-done:
			if res.err != nil {
				if r.ctx.Err() != nil {
					return nil, res.err
				}
				if errdefs.IsNotFound(res.err) {
					return r.fatal(fmt.Errorf("No such container: %s", containerName(t))), nil
				}
				return nil, res.err
			}
			return r.exited(res.code, cause), nil
		case <-r.wake:
			if r.current().DesiredState >= api.TaskShutdown {
				return nil, errStepAgain
			}
		case <-tick:
			if c, err := b.Inspect(r.ctx, id); err == nil && c.Health == "unhealthy" && cause == nil {
				// Out of the balancers first, then stopped, as a task the orchestrator stops (drain.go): the
				// status takes it out of every node's VIPs, mesh and DNS; the stop follows once they applied it.
				cause = ErrContainerUnhealthy
				st := r.status
				st.Unhealthy = true // the message stays "started", as the FAILED status after it says in moby
				r.report(st)
				go func() {
					r.drain(r.ctx, t, api.TaskRunning)
					r.shutdown(r.ctx, t)
				}()
			}
		case <-r.ctx.Done():
			return nil, r.ctx.Err()
		}
	}
}

// shutdown stops the task's container, if it has one.
func (r *runner) shutdown(ctx context.Context, t *api.Task) error {
	id := r.containerID()
	if id == "" {
		return nil
	}
	grace := DefaultStopGracePeriod
	if c := t.Spec.Container; c != nil && c.StopGracePeriod != nil {
		grace = *c.StopGracePeriod
	}
	err := r.a.cfg.Backend.Stop(ctx, id, grace)
	if err != nil && (errdefs.IsNotFound(err) || errdefs.IsNotModified(err) || strings.Contains(err.Error(), "is not running")) {
		return nil
	}
	return err
}
