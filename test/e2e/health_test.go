package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestHealthcheck drives a container's health check through starting, unhealthy and healthy with both CLIs, and
// checks what users see: ps's status, the health filter, inspect's log, events and a probe's timeout.
func TestHealthcheck(t *testing.T) {
	d := startDaemon(t)
	d.importBusybox(t)

	// Failures during the start period don't count, so the container stays "starting" for its first 3s.
	d.berth(t, "run", "-d", "--name", "hc", "--health-cmd", "cat /tmp/ok", "--health-interval", "300ms",
		"--health-retries", "2", "--health-start-period", "3s", "busybox", "sleep", "600")
	status := func(name string) string {
		return strings.TrimSpace(d.berth(t, "inspect", "-f", "{{.State.Health.Status}}", name))
	}
	if s := status("hc"); s != "starting" {
		t.Fatalf("health right after start = %q, want starting", s)
	}
	if ps := d.berth(t, "ps", "--filter", "name=hc", "--format", "{{.Status}}"); !strings.Contains(ps, "(health: starting)") {
		t.Fatalf("ps status = %q", ps)
	}
	waitFor(t, 10*time.Second, "unhealthy after two failed probes", func() bool { return status("hc") == "unhealthy" })
	var h struct {
		Status        string
		FailingStreak int
		Log           []struct {
			ExitCode int
			Output   string
		}
	}
	if err := json.Unmarshal([]byte(d.berth(t, "inspect", "-f", "{{json .State.Health}}", "hc")), &h); err != nil {
		t.Fatal(err)
	}
	if h.FailingStreak < 2 || len(h.Log) == 0 || h.Log[0].ExitCode != 1 || !strings.Contains(h.Log[0].Output, "No such file") {
		t.Fatalf("health = %+v", h)
	}
	if out := d.berth(t, "ps", "-q", "--filter", "health=unhealthy"); strings.TrimSpace(out) == "" {
		t.Fatal("health=unhealthy filter found nothing")
	}

	d.berth(t, "exec", "hc", "touch", "/tmp/ok")
	waitFor(t, 10*time.Second, "healthy once the probe passes", func() bool { return status("hc") == "healthy" })
	if ps := d.docker(t, "ps", "--filter", "health=healthy", "--format", "{{.Names}} {{.Status}}"); !strings.Contains(ps, "hc Up") || !strings.Contains(ps, "(healthy)") {
		t.Fatalf("docker ps = %q", ps)
	}
	if ps := d.berth(t, "ps", "-q", "--filter", "health=none"); strings.TrimSpace(ps) != "" {
		t.Fatalf("health=none matched %q", ps)
	}
	ev := d.berth(t, "events", "--since", "0", "--until", "0s", "--filter", "container=hc", "--format", "{{.Action}}")
	if !strings.Contains(ev, "health_status: unhealthy") || !strings.Contains(ev, "health_status: healthy") {
		t.Fatalf("events:\n%s", ev)
	}
	// Probes leave no exec records behind.
	if ids := d.berth(t, "inspect", "-f", "{{len .ExecIDs}}", "hc"); strings.TrimSpace(ids) != "0" {
		t.Fatalf("exec IDs after probes: %s", ids)
	}

	// Paused: no probes run; stopped: ps shows the exit, inspect keeps the last health.
	d.berth(t, "stop", "-t", "1", "hc")
	if s := status("hc"); s != "healthy" {
		t.Fatalf("health after stop = %q", s)
	}

	// A probe past its timeout is killed and counts as a failure, with docker's message.
	d.berth(t, "run", "-d", "--name", "slow", "--health-cmd", "sleep 30", "--health-interval", "200ms",
		"--health-timeout", "300ms", "--health-retries", "1", "busybox", "sleep", "600")
	waitFor(t, 10*time.Second, "unhealthy after a timed-out probe", func() bool { return status("slow") == "unhealthy" })
	out := d.berth(t, "inspect", "-f", "{{range .State.Health.Log}}{{.ExitCode}} {{.Output}}|{{end}}", "slow")
	if !strings.Contains(out, "-1 Health check exceeded timeout (300ms)") {
		t.Fatalf("log = %q", out)
	}
	if top := d.berth(t, "top", "slow"); strings.Count(top, "sleep 30") > 1 {
		t.Fatalf("timed-out probes pile up:\n%s", top)
	}

	// --no-healthcheck and bad values.
	d.berth(t, "run", "-d", "--name", "none", "--no-healthcheck", "busybox", "sleep", "600")
	if s := d.berth(t, "inspect", "-f", "{{.State.Health}}", "none"); strings.TrimSpace(s) != "<nil>" {
		t.Fatalf("--no-healthcheck health = %q", s)
	}
	r := d.dockerR(nil, "run", "-d", "--health-cmd", "true", "--health-retries", "-1", "busybox")
	if r.Code == 0 || !strings.Contains(r.Stderr, "cannot be negative") {
		t.Fatalf("negative retries: %s", r)
	}
	d.berth(t, "rm", "-f", "hc", "slow", "none")
}
