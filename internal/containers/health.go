package containers

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"sync"
	"syscall"
	"time"

	"github.com/moby/moby/api/types/container"

	"github.com/berth/berth/internal/events"
)

// Docker's health-check defaults (daemon/health.go in moby).
const (
	defaultProbeInterval  = 30 * time.Second
	defaultProbeTimeout   = 30 * time.Second
	defaultStartInterval  = 5 * time.Second
	defaultProbeRetries   = 3
	maxHealthLogEntries   = 5
	maxHealthOutputLength = 4096
)

// healthProbeCmd returns the command a container's health check runs, or nil when it has none (no HEALTHCHECK,
// NONE, or an unknown test type).
func healthProbeCmd(cfg *container.Config) []string {
	hc := cfg.Healthcheck
	if hc == nil || len(hc.Test) == 0 {
		return nil
	}
	switch hc.Test[0] {
	case "CMD":
		if len(hc.Test) < 2 {
			return nil
		}
		return hc.Test[1:]
	case "CMD-SHELL":
		if len(hc.Test) < 2 {
			return nil
		}
		shell := cfg.Shell
		if len(shell) == 0 {
			shell = []string{"/bin/sh", "-c"}
		}
		return append(append([]string{}, shell...), hc.Test[1:]...)
	}
	return nil
}

func orDefault(v, def time.Duration) time.Duration {
	if v <= 0 {
		return def
	}
	return v
}

// recordProbe applies one probe result to h as docker does and reports whether the status changed: a success
// makes the container healthy; a failure counts towards the retries unless the container is still starting and
// within its start period.
func recordProbe(h *container.Health, hc *container.HealthConfig, startedAt time.Time, r *container.HealthcheckResult) bool {
	old := h.Status
	h.Log = append(h.Log, r)
	if len(h.Log) > maxHealthLogEntries {
		h.Log = append([]*container.HealthcheckResult{}, h.Log[len(h.Log)-maxHealthLogEntries:]...)
	}
	if r.ExitCode == 0 {
		h.FailingStreak = 0
		h.Status = container.Healthy
		return old != h.Status
	}
	if h.Status == container.Starting && r.Start.Sub(startedAt) < hc.StartPeriod {
		return false
	}
	h.FailingStreak++
	retries := hc.Retries
	if retries <= 0 {
		retries = defaultProbeRetries
	}
	if h.FailingStreak >= retries {
		h.Status = container.Unhealthy
	}
	return old != h.Status
}

// nextProbeIn is how long the monitor waits before the next probe, as docker's monitor decides it: the start
// interval while the container is starting within its start period, the interval otherwise.
func nextProbeIn(hc *container.HealthConfig, status container.HealthStatus, sinceStart time.Duration) time.Duration {
	if sinceStart >= hc.StartPeriod || status != container.Starting {
		return orDefault(hc.Interval, defaultProbeInterval)
	}
	return orDefault(hc.StartInterval, defaultStartInterval)
}

// startHealth (re)starts c's health monitor with status "starting"; the caller holds c.mu and has just made c
// running. A container without a health check gets none.
func (d *Service) startHealth(c *Container) {
	d.stopHealth(c)
	cmd := healthProbeCmd(c.Config)
	if cmd == nil {
		c.State.Health = nil
		return
	}
	if c.State.Health == nil {
		c.State.Health = &container.Health{}
	}
	c.State.Health.Status = container.Starting
	c.State.Health.FailingStreak = 0
	d.resumeHealth(c)
}

// resumeHealth runs c's monitor again after a pause or a daemon restart, keeping its status; the caller holds c.mu.
func (d *Service) resumeHealth(c *Container) {
	if c.State.Health == nil || healthProbeCmd(c.Config) == nil || c.healthStop != nil {
		return
	}
	stop := make(chan struct{})
	c.healthStop = stop
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		d.healthMonitor(c, stop)
	}()
}

// stopHealth stops c's monitor, if any; a probe in flight is killed. The caller holds c.mu.
func (d *Service) stopHealth(c *Container) {
	if c.healthStop != nil {
		close(c.healthStop)
		c.healthStop = nil
	}
}

func (d *Service) healthMonitor(c *Container, stop chan struct{}) {
	c.mu.Lock()
	hc := *c.Config.Healthcheck
	started := c.State.StartedAt
	status := c.State.Health.Status
	c.mu.Unlock()
	timer := d.clock.NewTimer(nextProbeIn(&hc, status, d.clock.Since(started)))
	defer timer.Stop()
	for {
		select {
		case <-stop:
			return
		case <-d.ctx.Done():
			return
		case <-timer.Chan():
		}
		ctx, cancel := context.WithCancel(d.ctx)
		done := make(chan struct{})
		go func() {
			select {
			case <-stop:
				cancel()
			case <-done:
			}
		}()
		r := d.probe(ctx, c, &hc)
		close(done)
		cancel()
		c.mu.Lock()
		select {
		case <-stop:
			c.mu.Unlock()
			return
		default:
		}
		changed := recordProbe(c.State.Health, &hc, c.State.StartedAt, r)
		status = c.State.Health.Status
		if changed {
			d.save(c)
			d.containerEvent(c, events.Action("health_status: "+string(status)), nil)
		}
		c.mu.Unlock()
		timer.Reset(nextProbeIn(&hc, status, d.clock.Since(started)))
	}
}

// probe runs the health command once as an exec in c and returns its result. The exec leaves no record behind.
func (d *Service) probe(ctx context.Context, c *Container, hc *container.HealthConfig) *container.HealthcheckResult {
	start := d.clock.Now()
	fail := func(msg string) *container.HealthcheckResult {
		return &container.HealthcheckResult{Start: start, End: d.clock.Now(), ExitCode: -1, Output: msg}
	}
	c.mu.Lock()
	cmd := healthProbeCmd(c.Config)
	user, wd := c.Config.User, c.Config.WorkingDir
	c.mu.Unlock()
	id, err := d.ExecCreate(ctx, c.ID, container.ExecCreateRequest{Cmd: cmd, User: user, WorkingDir: wd, AttachStdout: true, AttachStderr: true})
	if err != nil {
		return fail(err.Error())
	}
	defer d.execs.remove(id)
	out := &limitedBuffer{}
	started := make(chan error, 1)
	go func() {
		started <- d.ExecStart(ctx, id, ExecStartOptions{Detach: true, Stdout: out, Stderr: out})
	}()
	if err := <-started; err != nil {
		return fail(err.Error())
	}
	e, err := d.execs.get(id)
	if err != nil {
		return fail(err.Error())
	}
	timeout := orDefault(hc.Timeout, defaultProbeTimeout)
	tm := d.clock.NewTimer(timeout)
	defer tm.Stop()
	select {
	case <-e.done:
	case <-tm.Chan():
		e.kill()
		<-e.done
		msg := fmt.Sprintf("Health check exceeded timeout (%v)", timeout)
		if s := out.String(); s != "" {
			msg += ": " + s
		}
		return fail(msg)
	case <-ctx.Done():
		e.kill()
		<-e.done
		return fail("health check cancelled")
	}
	e.mu.Lock()
	code := -1
	if e.ExitCode != nil {
		code = *e.ExitCode
	}
	e.mu.Unlock()
	slog.Debug("health check", "container", c.ID, "exitCode", code, "took", d.clock.Since(start))
	return &container.HealthcheckResult{Start: start, End: d.clock.Now(), ExitCode: code, Output: out.String()}
}

// limitedBuffer keeps the first maxHealthOutputLength bytes written to it, and marks a truncation with "...".
type limitedBuffer struct {
	mu        sync.Mutex
	buf       bytes.Buffer
	truncated bool
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	keep := min(maxHealthOutputLength-b.buf.Len(), len(p))
	if keep > 0 {
		b.buf.Write(p[:keep])
	}
	if keep < len(p) {
		b.truncated = true
	}
	return len(p), nil
}

func (b *limitedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.truncated {
		return b.buf.String() + "..."
	}
	return b.buf.String()
}

// healthString is the health part of ps's status column: "health: starting", "healthy", "unhealthy".
func healthString(h *container.Health) string {
	if h.Status == container.Starting {
		return "health: starting"
	}
	return string(h.Status)
}

// kill ends a running exec process (a probe past its timeout).
func (e *execProcess) kill() {
	e.mu.Lock()
	p := e.proc
	e.mu.Unlock()
	if p != nil {
		p.Kill(context.Background(), syscall.SIGKILL)
	}
}
