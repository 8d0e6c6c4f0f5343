package e2e

import (
	"fmt"
	"strings"
	"testing"
)

// TestKillThenRemove: docker kill returns once the container is dead, so the remove that scripts run right after
// it never meets a running container (before, 6 of 20 such removes failed with 409).
func TestKillThenRemove(t *testing.T) {
	d := startDaemon(t)
	d.importBusybox(t)
	for i := range 20 {
		name := fmt.Sprintf("k%d", i)
		d.docker(t, "run", "-d", "--name", name, "busybox", "sleep", "300")
		d.docker(t, "kill", name)
		if r := d.dockerR(nil, "rm", name); r.Code != 0 {
			t.Fatalf("rm right after kill, round %d: %s", i, r)
		}
	}
	// A kill with another signal returns once it is delivered; the container lives on.
	d.docker(t, "run", "-d", "--name", "hup", "busybox", "sh", "-c", "trap '' HUP; sleep 300")
	d.docker(t, "kill", "-s", "HUP", "hup")
	if st := strings.TrimSpace(d.docker(t, "inspect", "-f", "{{.State.Status}}", "hup")); st != "running" {
		t.Errorf("after SIGHUP: %s", st)
	}
	d.docker(t, "rm", "-f", "hup")
}
