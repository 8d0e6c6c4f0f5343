package e2e

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestDockerInfo: `docker info` prints the engine's description, built from Berth's at the server's edge.
func TestDockerInfo(t *testing.T) {
	d := startDaemon(t)
	d.importBusybox(t)
	d.docker(t, "create", "--name", "idle", "busybox")
	r := d.dockerR(nil, "info")
	if r.Code != 0 {
		t.Fatalf("docker info: %s", r)
	}
	for _, want := range []string{
		"\n Containers: 1\n  Running: 0\n  Paused: 0\n  Stopped: 1\n Images: 1\n",
		"\n Storage Driver: overlay2\n  Backing Filesystem: extfs\n  Supports d_type: true\n",
		"\n Logging Driver: json-file\n Cgroup Driver: cgroupfs\n",
		"\n Plugins:\n  Volume: local\n  Network: bridge host null\n  Log: json-file\n",
		"\n Swarm: inactive\n",
		"\n Default Runtime: crun\n", // scripts/test.sh installs crun
		"\n Init Binary: docker-init\n",
		"\n Security Options:\n",
		"\n  cgroupns\n",
		"\n OSType: linux\n",
		"\n Docker Root Dir: " + d.DataRoot + "\n",
		"\n Insecure Registries:\n  127.0.0.0/8\n",
		"\n Live Restore Enabled: true\n",
	} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("docker info lacks %q:\n%s", want, r.Stdout)
		}
	}
	if out := d.docker(t, "info", "--format", "{{.ID}} {{gt .NCPU 0}} {{gt .MemTotal 0}} {{.ContainersStopped}} {{.RegistryConfig.IndexConfigs}}"); !strings.HasPrefix(out, "berth true true 1 map[docker.io:") {
		t.Errorf("docker info --format: %q", out)
	}
}

// TestPruneReclaimed: container, volume and system prunes report the bytes they freed, as `docker system df`
// counted them before.
func TestPruneReclaimed(t *testing.T) {
	d := startDaemon(t)
	d.importBusybox(t)
	since := time.Now().Add(-time.Second).Format(time.RFC3339Nano)
	// 300 KiB in a container's layer, 200 KiB in a named volume, 100 KiB in an anonymous one.
	d.docker(t, "run", "--name", "writer", "busybox", "dd", "if=/dev/zero", "of=/big", "bs=1024", "count=300")
	d.docker(t, "volume", "create", "named")
	d.docker(t, "run", "--rm", "-v", "named:/v", "busybox", "dd", "if=/dev/zero", "of=/v/big", "bs=1024", "count=200")
	d.docker(t, "run", "--name", "anon", "-v", "/data", "busybox", "dd", "if=/dev/zero", "of=/data/big", "bs=1024", "count=100")
	d.docker(t, "rm", "anon")

	df := d.docker(t, "system", "df", "--format", "{{.Type}} {{.Reclaimable}}")
	for _, want := range []string{"Containers 307.2kB (100%)", "Local Volumes 307.2kB (100%)"} {
		if !strings.Contains(df, want) {
			t.Errorf("system df lacks %q:\n%s", want, df)
		}
	}
	if out := d.docker(t, "container", "prune", "-f"); !strings.Contains(out, "Total reclaimed space: 307.2kB") {
		t.Errorf("container prune: %q", out)
	}
	// Without --all, a volume prune takes the anonymous volume only; the system prune has nothing left of it.
	if out := d.docker(t, "volume", "prune", "-f"); !strings.Contains(out, "Total reclaimed space: 102.4kB") {
		t.Errorf("volume prune: %q", out)
	}
	if out := d.docker(t, "system", "prune", "-f", "--volumes"); !strings.Contains(out, "Total reclaimed space: 0B") {
		t.Errorf("system prune of nothing: %q", out)
	}
	if out := d.docker(t, "volume", "prune", "-af"); !strings.Contains(out, "named") || !strings.Contains(out, "Total reclaimed space: 204.8kB") {
		t.Errorf("volume prune --all: %q", out)
	}
	// The prune event carries the same figure.
	ev := d.docker(t, "events", "--since", since, "--until", strconv.FormatInt(time.Now().Unix()+1, 10), "--filter", "event=prune", "--format", "{{.Type}} {{.Actor.Attributes.reclaimed}}")
	if !strings.Contains(ev, "container 307200\n") {
		t.Errorf("prune events:\n%s", ev)
	}
}
