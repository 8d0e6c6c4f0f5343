package containers

import (
	"context"
	"fmt"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/containerd/errdefs"
	"github.com/jonboulle/clockwork"
	"github.com/moby/moby/api/types/container"

	"log/slog"

	"github.com/berth/berth/internal/events"
	"github.com/berth/berth/internal/oci"
)

// defaultStopTimeout is docker's grace period between the stop signal and SIGKILL.
const defaultStopTimeout = 10

// Stop sends the container's stop signal, waits up to timeout seconds (nil: the container's StopTimeout or 10;
// negative: forever), then kills it. Stopping a stopped container is not an error (304).
func (d *Service) Stop(ctx context.Context, ref string, signal string, timeout *int) error {
	c, err := d.containers.get(ref)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.ManuallyStopped = true
	if c.restartCancel != nil {
		c.restartCancel()
	}
	running := c.running()
	if !running {
		d.save(c)
		c.mu.Unlock()
		return errdefs.ErrNotModified.WithMessage("container already stopped")
	}
	d.save(c)
	c.mu.Unlock()
	if err := d.stop(ctx, c, signal, timeout); err != nil {
		return err
	}
	d.containerEvent(c, events.ActionStop, nil)
	return nil
}

func (d *Service) stop(ctx context.Context, c *Container, signal string, timeout *int) error {
	c.mu.Lock()
	if signal == "" {
		signal = c.Config.StopSignal
	}
	t := defaultStopTimeout
	if c.Config.StopTimeout != nil {
		t = *c.Config.StopTimeout
	}
	if timeout != nil {
		t = *timeout
	}
	paused := c.State.Status == container.StatePaused
	c.mu.Unlock()
	sig := syscall.SIGTERM
	if signal != "" {
		s, err := oci.ParseSignal(signal)
		if err != nil {
			return err
		}
		sig = s
	}
	d.containerEvent(c, events.ActionKill, map[string]string{"signal": fmt.Sprint(int(sig))})
	if err := d.signal(ctx, c, sig); err != nil && !errdefs.IsNotFound(err) {
		return err
	}
	if paused {
		// A frozen process cannot act on the signal; thaw it so it can.
		d.resume(ctx, c)
	}
	if t >= 0 {
		wctx, cancel := clockwork.WithTimeout(ctx, d.clock, time.Duration(t)*time.Second)
		defer cancel()
		if d.waitStopped(wctx, c) == nil {
			return nil
		}
		d.containerEvent(c, events.ActionKill, map[string]string{"signal": "9"})
		if err := d.signal(ctx, c, syscall.SIGKILL); err != nil && !errdefs.IsNotFound(err) {
			return err
		}
	}
	return d.waitStopped(ctx, c)
}

// waitStopped blocks until c is not running.
func (d *Service) waitStopped(ctx context.Context, c *Container) error {
	for {
		c.mu.Lock()
		if !c.running() {
			c.mu.Unlock()
			return nil
		}
		ch := c.watch()
		c.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (d *Service) signal(ctx context.Context, c *Container, sig syscall.Signal) error {
	c.mu.Lock()
	t := c.task
	c.mu.Unlock()
	if t == nil {
		return errdefs.ErrNotFound.WithMessage(fmt.Sprintf("container %s is not running", c.ID))
	}
	err := t.Kill(ctx, sig, false)
	if err != nil {
		// The container may have exited (and its shim deleted it) between our check and the signal.
		c.mu.Lock()
		gone := !c.running()
		c.mu.Unlock()
		if gone || errdefs.IsNotFound(err) {
			return errdefs.ErrNotFound.WithMessage(fmt.Sprintf("container %s is not running", c.ID))
		}
	}
	return err
}

// Kill sends a signal (default SIGKILL) to a running container.
func (d *Service) Kill(ctx context.Context, ref, signal string) error {
	c, err := d.containers.get(ref)
	if err != nil {
		return err
	}
	sig := syscall.SIGKILL
	if signal != "" {
		if sig, err = oci.ParseSignal(signal); err != nil {
			return err
		}
	}
	c.mu.Lock()
	if !c.running() {
		c.mu.Unlock()
		return errdefs.ErrConflict.WithMessage(fmt.Sprintf("cannot kill container: %s: container %s is not running", strings.TrimPrefix(ref, "/"), c.ID))
	}
	paused := c.State.Status == container.StatePaused
	c.mu.Unlock()
	d.containerEvent(c, events.ActionKill, map[string]string{"signal": fmt.Sprint(int(sig))})
	if err := d.signal(ctx, c, sig); err != nil {
		if errdefs.IsNotFound(err) {
			return errdefs.ErrConflict.WithMessage(fmt.Sprintf("cannot kill container: %s: container %s is not running", strings.TrimPrefix(ref, "/"), c.ID))
		}
		return err
	}
	if sig != syscall.SIGKILL {
		return nil
	}
	if paused {
		d.resume(ctx, c)
	}
	// As docker's: a SIGKILL returns once the exit is observed, so a remove right after it finds the container
	// stopped (a restart policy may already be restarting it).
	wctx, cancel := clockwork.WithTimeout(ctx, d.clock, killWait)
	defer cancel()
	if err := d.waitStopped(wctx, c); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("tried to kill container %s, but did not receive an exit event: %w", c.ID, errdefs.ErrUnknown)
	}
	return nil
}

// killWait is how long a SIGKILL waits for the exit, docker's bound.
const killWait = 10 * time.Second

// Restart stops (if running) and starts the container.
func (d *Service) Restart(ctx context.Context, ref, signal string, timeout *int) error {
	c, err := d.containers.get(ref)
	if err != nil {
		return err
	}
	c.mu.Lock()
	running := c.running()
	if c.restartCancel != nil {
		c.restartCancel()
	}
	c.ManuallyStopped = false
	c.mu.Unlock()
	if running {
		// Keep the restart policy from racing this restart.
		c.mu.Lock()
		c.ManuallyStopped = true
		c.mu.Unlock()
		if err := d.stop(ctx, c, signal, timeout); err != nil {
			return err
		}
		c.mu.Lock()
		c.ManuallyStopped = false
		c.mu.Unlock()
	}
	if err := d.start(ctx, c, false); err != nil && !errdefs.IsNotModified(err) {
		return err
	}
	d.containerEvent(c, events.ActionRestart, nil)
	return nil
}

// Remove deletes a container, its snapshot and logs, and with Volumes its anonymous volumes.
func (d *Service) Remove(ctx context.Context, ref string, opts RemoveOptions) error {
	c, err := d.containers.get(ref)
	if err != nil {
		return err
	}
	if opts.Link {
		return errdefs.ErrNotImplemented.WithMessage("links are not supported")
	}
	c.mu.Lock()
	if c.removing && c.State.Status != container.StateRemoving {
		c.mu.Unlock()
		return errdefs.ErrConflict.WithMessage(fmt.Sprintf("removal of container %s is already in progress", strings.TrimPrefix(ref, "/")))
	}
	running := c.running() || c.State.Status == container.StateRestarting
	if running && !opts.Force {
		c.mu.Unlock()
		if c.State.Status == container.StatePaused {
			return errdefs.ErrConflict.WithMessage(fmt.Sprintf("cannot remove container %q: container is paused and must be unpaused first", c.Name))
		}
		return errdefs.ErrConflict.WithMessage(fmt.Sprintf("cannot remove container %q: container is running: stop the container before removing or force remove", c.Name))
	}
	c.removing = true
	if c.restartCancel != nil {
		c.restartCancel()
	}
	c.mu.Unlock()

	if running {
		zero := 0
		if err := d.stop(ctx, c, "SIGKILL", &zero); err != nil {
			c.mu.Lock()
			c.removing = false
			c.mu.Unlock()
			return err
		}
	}
	c.mu.Lock()
	c.State.Status = container.StateRemoving
	c.mu.Unlock()

	// One rename makes the removal durable: a restarted daemon finds no record and deletes what is left. The
	// files themselves (the snapshot, logs, the shim's state) go in the background, off the path of `run --rm`.
	trash := d.containerDir(c.ID) + trashSuffix
	if err := os.Rename(d.containerDir(c.ID), trash); err != nil {
		return fmt.Errorf("removing container %s: %w", c.ID, err)
	}
	d.containers.remove(c)
	d.views.Delete(c.ID)
	d.execs.removeContainer(c.ID)
	stateDir := d.stateDir(c.ID)
	d.cleanups.Add(1)
	go func() {
		defer d.cleanups.Done()
		ctx := context.WithoutCancel(d.ctx)
		if err := d.snapshots.Remove(ctx, c.ID); err != nil {
			slog.Warn("removing a container's filesystem", "container", c.ID, "error", err)
		}
		os.RemoveAll(trash)
		// The task's shim may still be finishing (it reports the exit first); one that died left a record.
		if tasks, err := d.taskRuntime(c.Runtime); err == nil {
			tasks.Delete(ctx, c.ID, stateDir)
		}
		os.RemoveAll(stateDir)
	}()
	if opts.Volumes {
		for _, m := range c.MountPoints {
			if m.Anonymous && len(d.containersUsingVolume(m.Name)) == 0 {
				if err := d.volumes.Remove(ctx, m.Name, false, d.containersUsingVolume); err == nil {
					d.events.Publish(events.VolumeEventType, events.ActionDestroy, m.Name, map[string]string{"driver": "local"})
				}
			}
		}
	}
	c.mu.Lock()
	c.State.Status = container.StateRemoving
	c.removed = true
	d.failPending(c)
	d.notifyChange(c)
	c.mu.Unlock()
	d.containerEvent(c, events.ActionDestroy, nil)
	return nil
}

// Pause freezes every process of a running container.
func (d *Service) Pause(ctx context.Context, ref string) error {
	c, err := d.containers.get(ref)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch c.State.Status {
	case container.StatePaused:
		return errdefs.ErrConflict.WithMessage(fmt.Sprintf("container %s is already paused", c.ID))
	case container.StateRunning:
	default:
		return errdefs.ErrConflict.WithMessage(fmt.Sprintf("container %s is not running", c.ID))
	}
	if c.task == nil {
		return errdefs.ErrConflict.WithMessage(fmt.Sprintf("container %s is not running", c.ID))
	}
	if err := c.task.Pause(ctx); err != nil {
		return err
	}
	c.State.Status = container.StatePaused
	d.stopHealth(c)
	d.save(c)
	d.notifyChange(c)
	d.containerEvent(c, events.ActionPause, nil)
	return nil
}

// Unpause thaws a paused container.
func (d *Service) Unpause(ctx context.Context, ref string) error {
	c, err := d.containers.get(ref)
	if err != nil {
		return err
	}
	c.mu.Lock()
	if c.State.Status != container.StatePaused {
		c.mu.Unlock()
		return errdefs.ErrConflict.WithMessage(fmt.Sprintf("container %s is not paused", c.ID))
	}
	c.mu.Unlock()
	if err := d.resume(ctx, c); err != nil {
		return err
	}
	d.containerEvent(c, events.ActionUnPause, nil)
	return nil
}

func (d *Service) resume(ctx context.Context, c *Container) error {
	c.mu.Lock()
	t := c.task
	c.mu.Unlock()
	if t == nil {
		return errdefs.ErrConflict.WithMessage(fmt.Sprintf("container %s is not running", c.ID))
	}
	if err := t.Resume(ctx); err != nil {
		return err
	}
	c.mu.Lock()
	if c.State.Status == container.StatePaused {
		c.State.Status = container.StateRunning
		d.resumeHealth(c)
		d.save(c)
		d.notifyChange(c)
	}
	c.mu.Unlock()
	return nil
}

// Rename gives a container a new name.
func (d *Service) Rename(ctx context.Context, ref, newName string) error {
	c, err := d.containers.get(ref)
	if err != nil {
		return err
	}
	if newName == "" || !validName.MatchString(newName) {
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("Invalid container name (%s), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", newName))
	}
	if !strings.HasPrefix(newName, "/") {
		newName = "/" + newName
	}
	c.mu.Lock()
	old := c.Name
	c.mu.Unlock()
	if old == newName {
		return errdefs.ErrInvalidArgument.WithMessage("Renaming a container with the same name as its current name")
	}
	if err := d.containers.reserve(newName, c.ID); err != nil {
		return err
	}
	c.mu.Lock()
	c.Name = newName
	err = d.saveDurable(c)
	c.mu.Unlock()
	if err != nil {
		d.containers.release(newName)
		c.mu.Lock()
		c.Name = old
		d.publish(c)
		c.mu.Unlock()
		return err
	}
	d.containers.release(old)
	d.networks.Rename(c.ID, strings.TrimPrefix(newName, "/"))
	d.containerEvent(c, events.ActionRename, map[string]string{"oldName": old})
	return nil
}

// Wait blocks until the container meets condition ("not-running" default, "next-exit", "removed") and returns
// its exit code. ready is called once the wait is registered, so the API can flush headers before a start.
func (d *Service) Wait(ctx context.Context, ref string, condition container.WaitCondition, ready func()) (int, error) {
	c, err := d.containers.get(ref)
	if err != nil {
		return -1, err
	}
	c.mu.Lock()
	startedAt := c.State.StartedAt
	wasRunning := c.running()
	c.mu.Unlock()
	if ready != nil {
		ready()
	}
	for {
		c.mu.Lock()
		st := c.State
		removed := c.removed
		ch := c.watch()
		c.mu.Unlock()
		switch condition {
		case container.WaitConditionRemoved:
			if removed {
				return st.ExitCode, nil
			}
		case container.WaitConditionNextExit:
			if st.Status == container.StateExited || st.Status == container.StateRestarting || removed {
				if !st.StartedAt.Equal(startedAt) || wasRunning {
					return st.ExitCode, nil
				}
			}
		default:
			if st.Status != container.StateRunning && st.Status != container.StatePaused && st.Status != container.StateRestarting {
				return st.ExitCode, nil
			}
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return -1, ctx.Err()
		}
	}
}
