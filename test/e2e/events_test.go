package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestEventsLegacyFields: container and image events carry the top-level status, id and from fields that
// dockerd sends API versions before 1.52, which `docker events --format '{{.Status}}'` and docker-py read.
func TestEventsLegacyFields(t *testing.T) {
	d := startDaemon(t)
	d.importBusybox(t)
	since := strconv.FormatInt(time.Now().Unix()-1, 10)
	id := strings.TrimSpace(d.docker(t, "create", "--name", "legacy", "busybox", "true"))
	d.docker(t, "start", "-a", "legacy")
	d.docker(t, "tag", "busybox", "legacy:v1")
	d.docker(t, "volume", "create", "legacyvol")
	until := strconv.FormatInt(time.Now().Unix()+1, 10)

	type ev struct {
		Status, ID, From, Type, Action, Actor string
	}
	// check applies dockerd's rule to each event and says which kinds it saw.
	check := func(t *testing.T, who string, evs []ev) {
		t.Helper()
		seen := map[string]bool{}
		for _, e := range evs {
			var want ev
			switch e.Type {
			case "container":
				want = ev{Status: e.Action, ID: e.Actor, From: "busybox"}
			case "image":
				want = ev{Status: e.Action, ID: e.Actor}
			}
			if e.Status != want.Status || e.ID != want.ID || e.From != want.From {
				t.Errorf("%s: %s %s event: status %q id %q from %q; want %q %q %q", who, e.Type, e.Action, e.Status, e.ID, e.From, want.Status, want.ID, want.From)
			}
			if e.Type == "container" && e.Actor != id {
				continue
			}
			seen[e.Type+" "+e.Action] = true
		}
		for _, k := range []string{"container create", "container start", "container die", "image tag", "volume create"} {
			if !seen[k] {
				t.Errorf("%s: no %s event in %+v", who, k, evs)
			}
		}
	}

	out := d.docker(t, "events", "--since", since, "--until", until, "--format",
		"{{.Status}}|{{.ID}}|{{.From}}|{{.Type}}|{{.Action}}|{{.Actor.ID}}")
	var cli []ev
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Split(line, "|")
		if len(f) != 6 {
			t.Fatalf("docker events line %q", line)
		}
		cli = append(cli, ev{f[0], f[1], f[2], f[3], f[4], f[5]})
	}
	check(t, "docker CLI", cli)

	// docker-py, Debian's python3-docker (API 1.41), reads the same stream.
	if r := run(t.Context(), nil, nil, "/usr/bin/python3", "-c", "import docker"); r.Code != 0 {
		t.Fatalf("python3-docker is needed (apt-get install python3-docker): %s", r)
	}
	script := `
import docker, json, sys
c = docker.DockerClient(base_url=sys.argv[1])
for e in c.events(since=int(sys.argv[2]), until=int(sys.argv[3]), decode=True):
    print(json.dumps({"Status": e.get("status", ""), "ID": e.get("id", ""), "From": e.get("from", ""),
                      "Type": e["Type"], "Action": e["Action"], "Actor": e["Actor"]["ID"]}))
`
	r := run(t.Context(), nil, nil, "/usr/bin/python3", "-c", script, d.Host, since, until)
	if r.Code != 0 {
		t.Fatalf("docker-py events: %s", r)
	}
	var py []ev
	for _, line := range strings.Split(strings.TrimSpace(r.Stdout), "\n") {
		var e ev
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("docker-py line %q: %v", line, err)
		}
		py = append(py, e)
	}
	check(t, "docker-py", py)
}

// TestEventsFellBehind: a `docker events` that stops reading while more events happen than the daemon keeps is
// not dropped silently. Its output shows, in order and without a gap, what it got, then a line saying how many
// events were lost and the --since to resume from; the CLI fails; and resuming from there replays what is held.
func TestEventsFellBehind(t *testing.T) {
	const history, renames = 16, 60
	d := startDaemonWith(t, fmt.Sprintf(`{"events-history": %d}`, history))
	d.importBusybox(t)
	// Large labels make large events: a few of them fill the pipe and socket buffers between the daemon and
	// the test, so the daemon's writes stall while the renames go on.
	var labels bytes.Buffer
	for i := range 20 {
		fmt.Fprintf(&labels, "big%d=%s\n", i, strings.Repeat("x", 5000))
	}
	labelFile := filepath.Join(t.TempDir(), "labels")
	if err := os.WriteFile(labelFile, labels.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	d.docker(t, "create", "--name", "r0", "--label-file", labelFile, "busybox")

	// since: the first rename reaches the CLI even if it renames before the CLI has subscribed.
	now := time.Now()
	// The default format prints every attribute: long lines, which fill the CLI's stdout when nobody reads it.
	cmd := d.dockerCmd("events", "--since", fmt.Sprintf("%d.%09d", now.Unix(), now.Nanosecond()), "--filter", "event=rename")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// A CLI that never ends fails the test rather than hanging it.
	hang := time.AfterFunc(2*time.Minute, func() { cmd.Process.Kill() })
	defer hang.Stop()
	defer cmd.Process.Kill()
	out := bufio.NewReader(stdout)
	for i := 1; i <= renames; i++ {
		d.docker(t, "rename", fmt.Sprintf("r%d", i-1), fmt.Sprintf("r%d", i))
		if i == 1 {
			// The CLI is subscribed once it shows the first rename; after that nothing reads its output.
			if line, err := out.ReadString('\n'); err != nil || renamed(line) != "r1" {
				t.Fatalf("first event %.200q, %v (stderr %q)", line, err, stderr.String())
			}
		}
	}
	rest, err := io.ReadAll(out)
	if err != nil {
		t.Fatal(err)
	}
	werr := cmd.Wait()
	if ee, ok := werr.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(stderr.String(), "unexpected EOF") {
		t.Fatalf("docker events ended with %v, stderr %q; want exit 1 and the cut connection", werr, stderr.String())
	}
	lines := strings.Split(strings.TrimSuffix(string(rest), "\n"), "\n")
	got := 1 // r1, read above
	for _, line := range lines[:len(lines)-1] {
		if want := fmt.Sprintf("r%d", got+1); renamed(line) != want {
			t.Fatalf("event %.200q after r%d, want the rename to %s (no gap)", line, got, want)
		}
		got++
	}
	last := lines[len(lines)-1]
	m := regexp.MustCompile(`^\S+ daemon error  \(error=event stream fell behind: the client did not keep up and (\d+) events left the daemon's history before they were sent; resume with --since (\d+\.\d{9}), since=(\d+\.\d{9})\)$`).FindStringSubmatch(last)
	if m == nil {
		t.Fatalf("last line %q, want the lost-events message", last)
	}
	// Every rename after the last one shown is either lost (counted) or still held (history).
	if lost, _ := strconv.Atoi(m[1]); got >= renames || lost != renames-got-history || m[3] != m[2] {
		t.Fatalf("got r1..r%d and %d lost, want the %d renames split into shown, lost and the %d held", got, lost, renames, history)
	}
	// Resuming from the point given replays the renames still held.
	replay := d.docker(t, "events", "--since", m[2], "--until", strconv.FormatInt(time.Now().Unix()+1, 10),
		"--filter", "event=rename", "--format", "{{.Actor.Attributes.name}}")
	var want []string
	for i := renames - history + 1; i <= renames; i++ {
		want = append(want, fmt.Sprintf("r%d", i))
	}
	if strings.TrimSpace(replay) != strings.Join(want, "\n") {
		t.Fatalf("resumed with --since %s:\n%s\nwant %v", m[2], replay, want)
	}
}

// renamed is the new name in a default-format rename event line ("... container rename <id> (..., name=r2, oldName=/r1)").
func renamed(line string) string {
	m := regexp.MustCompile(` container rename [0-9a-f]{64} \(.*\bname=(r\d+), oldName=/r\d+\)\n?$`).FindStringSubmatch(line)
	if m == nil {
		return ""
	}
	return m[1]
}
