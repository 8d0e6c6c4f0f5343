package e2e

import (
	"bufio"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// docker service logs through the docker CLI, merged across nodes: three tasks on a manager and two workers,
// each printing lines with its hostname ({{.Node.Hostname}}-{{.Task.Slot}}); the CLI's prefix
// (svc.SLOT.TASKID@NODE    | line), --tail, --timestamps, --no-task-ids, --no-trunc, --since, --raw, -f
// following new lines from every node and from a task started meanwhile, one task's logs, and docker's words
// for an unknown service.
func TestSwarmServiceLogs(t *testing.T) {
	nodes := swarmWithImages(t, 1, 2)
	m := nodes[0]
	script := `h=$(hostname); for i in 1 2 3; do echo "$h line $i"; done; echo "$h to stderr" >&2; i=4; while true; do sleep 1; echo "$h line $i"; i=$((i+1)); done`
	m.docker(t, "service", "create", "-d", "--name", "lg", "--replicas", "3",
		"--hostname", "{{.Node.Hostname}}-{{.Task.Slot}}", "busybox", "sh", "-c", script)
	waitRunning(t, m, "lg", 3, 90*time.Second)

	// The tasks: slot, full ID and node, from service ps.
	type task struct{ slot, id, node string }
	var tasks []task
	for _, l := range strings.Split(strings.TrimSpace(m.docker(t, "service", "ps", "--no-trunc", "--filter", "desired-state=running", "--format", "{{.Name}} {{.ID}} {{.Node}}", "lg")), "\n") {
		f := strings.Fields(l)
		if len(f) != 3 || !strings.HasPrefix(f[0], "lg.") {
			t.Fatalf("service ps line %q", l)
		}
		tasks = append(tasks, task{slot: strings.TrimPrefix(f[0], "lg."), id: f[1], node: f[2]})
	}
	if len(tasks) != 3 || tasks[0].node == tasks[1].node || tasks[1].node == tasks[2].node || tasks[0].node == tasks[2].node {
		t.Fatalf("tasks not spread over three nodes: %+v", tasks)
	}
	// Wait until each task printed a few of its periodic lines.
	eventuallyDocker(t, m, 60*time.Second, "every task's line 6", func(r result) bool {
		for _, tk := range tasks {
			if !strings.Contains(r.Stdout, fmt.Sprintf("%s-%s line 6\n", tk.node, tk.slot)) {
				return false
			}
		}
		return r.Code == 0
	}, "service", "logs", "--raw", "lg")

	prefix := func(tk task, id string) string {
		return regexp.QuoteMeta("lg." + tk.slot + id + "@" + tk.node + "    | ")
	}
	linesOf := func(out string, re string) int { return len(regexp.MustCompile(`(?m)`+re).FindAllString(out, -1)) }

	t.Run("prefix", func(t *testing.T) {
		r := m.dockerR(nil, "service", "logs", "lg")
		if r.Code != 0 {
			t.Fatalf("service logs: %s", r)
		}
		t.Logf("service logs lg:\n%s", tail(r.Stdout, 600))
		for _, tk := range tasks {
			p := prefix(tk, "."+tk.id[:12])
			for i := 1; i <= 6; i++ {
				if linesOf(r.Stdout, fmt.Sprintf(`^%s%s-%s line %d$`, p, regexp.QuoteMeta(tk.node), tk.slot, i)) != 1 {
					t.Fatalf("no %s.%s line %d with docker's prefix in:\n%s", tk.node, tk.slot, i, r.Stdout)
				}
			}
			// stderr lines go to the CLI's stderr, with the same prefix.
			if linesOf(r.Stderr, fmt.Sprintf(`^%s%s-%s to stderr$`, p, regexp.QuoteMeta(tk.node), tk.slot)) != 1 {
				t.Fatalf("no stderr line of task %s in:\n%s", tk.slot, r.Stderr)
			}
		}
	})
	t.Run("tail", func(t *testing.T) {
		r := m.dockerR(nil, "service", "logs", "--tail", "2", "lg")
		if r.Code != 0 {
			t.Fatalf("service logs --tail 2: %s", r)
		}
		for _, tk := range tasks {
			if n := linesOf(r.Stdout+r.Stderr, `^`+prefix(tk, "."+tk.id[:12])); n != 2 {
				t.Fatalf("--tail 2: %d lines of task %s:\n%s", n, tk.slot, r.Stdout)
			}
		}
		if strings.Contains(r.Stdout, " line 1\n") {
			t.Fatalf("--tail 2 shows the first lines:\n%s", r.Stdout)
		}
	})
	t.Run("timestamps", func(t *testing.T) {
		out := m.docker(t, "service", "logs", "--timestamps", "lg")
		for _, tk := range tasks {
			re := fmt.Sprintf(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z %s%s-%s line 1$`, prefix(tk, "."+tk.id[:12]), regexp.QuoteMeta(tk.node), tk.slot)
			if linesOf(out, re) != 1 {
				t.Fatalf("--timestamps: no %q in:\n%s", re, out)
			}
		}
	})
	t.Run("no-task-ids and no-trunc", func(t *testing.T) {
		out := m.docker(t, "service", "logs", "--no-task-ids", "lg")
		full := m.docker(t, "service", "logs", "--no-trunc", "lg")
		for _, tk := range tasks {
			if linesOf(out, fmt.Sprintf(`^%s%s-%s line 2$`, prefix(tk, ""), regexp.QuoteMeta(tk.node), tk.slot)) != 1 {
				t.Fatalf("--no-task-ids: no line 2 of task %s in:\n%s", tk.slot, out)
			}
			if linesOf(full, fmt.Sprintf(`^%s%s-%s line 2$`, prefix(tk, "."+tk.id), regexp.QuoteMeta(tk.node), tk.slot)) != 1 {
				t.Fatalf("--no-trunc: no line 2 of task %s with its full ID in:\n%s", tk.slot, full)
			}
		}
	})
	t.Run("since", func(t *testing.T) {
		cut := time.Now().UTC()
		time.Sleep(2500 * time.Millisecond)
		out := m.docker(t, "service", "logs", "--raw", "--since", cut.Format(time.RFC3339Nano), "lg")
		for _, tk := range tasks {
			if linesOf(out, fmt.Sprintf(`^%s-%s line \d+$`, regexp.QuoteMeta(tk.node), tk.slot)) == 0 {
				t.Fatalf("--since: no recent line of task %s in:\n%s", tk.slot, out)
			}
		}
		if strings.Contains(out, " line 1\n") {
			t.Fatalf("--since shows lines from before it:\n%s", out)
		}
	})
	t.Run("raw", func(t *testing.T) {
		out := m.docker(t, "service", "logs", "--raw", "lg")
		for _, tk := range tasks {
			if linesOf(out, fmt.Sprintf(`^%s-%s line 1$`, regexp.QuoteMeta(tk.node), tk.slot)) != 1 {
				t.Fatalf("--raw: no bare line 1 of task %s in:\n%s", tk.slot, out)
			}
		}
		if strings.Contains(out, "|") || strings.Contains(out, "com.docker.swarm") {
			t.Fatalf("--raw shows a prefix or details:\n%s", out)
		}
	})
	t.Run("task", func(t *testing.T) {
		tk := tasks[1]
		out := m.docker(t, "service", "logs", tk.id)
		if linesOf(out, fmt.Sprintf(`^%s%s-%s line 1$`, prefix(tk, "."+tk.id[:12]), regexp.QuoteMeta(tk.node), tk.slot)) != 1 {
			t.Fatalf("service logs TASK: no line 1 of its task in:\n%s", out)
		}
		for _, other := range []task{tasks[0], tasks[2]} {
			if strings.Contains(out, other.node+"-"+other.slot+" ") {
				t.Fatalf("service logs TASK shows task %s's lines:\n%s", other.slot, out)
			}
		}
	})
	t.Run("follow", func(t *testing.T) {
		cmd := m.dockerCmd("service", "logs", "-f", "--tail", "0", "lg")
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		var lines []string
		done := make(chan struct{})
		go func() {
			defer close(done)
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				mu.Lock()
				lines = append(lines, sc.Text())
				mu.Unlock()
			}
		}()
		// Each task prints a line a second: within a few seconds, new lines of every task on every node, and of
		// a task that started after the command did (a scale-up), from its first line on.
		m.docker(t, "service", "scale", "-d", "lg=4")
		res := []*regexp.Regexp{regexp.MustCompile(`^lg\.4\.[0-9a-z]{12}@node\d    \| node\d-4 line 1$`)}
		for _, tk := range tasks {
			res = append(res, regexp.MustCompile(`^`+prefix(tk, "."+tk.id[:12])+regexp.QuoteMeta(tk.node)+"-"+tk.slot+` line \d+$`))
		}
		seen := func() bool {
			mu.Lock()
			defer mu.Unlock()
			for _, re := range res {
				if !slices.ContainsFunc(lines, re.MatchString) {
					return false
				}
			}
			return true
		}
		deadline := time.Now().Add(40 * time.Second)
		for !seen() && time.Now().Before(deadline) {
			time.Sleep(200 * time.Millisecond)
		}
		cmd.Process.Kill()
		cmd.Wait()
		<-done
		if !seen() {
			t.Fatalf("service logs -f did not follow every task's new lines:\n%s", strings.Join(lines, "\n"))
		}
		for _, l := range lines {
			if !strings.Contains(l, "-4 line ") && (strings.HasSuffix(l, " line 1") || strings.HasSuffix(l, " line 2")) {
				t.Fatalf("service logs -f --tail 0 showed an old line: %q", l)
			}
		}
	})
	t.Run("unknown service", func(t *testing.T) {
		r := m.dockerR(nil, "service", "logs", "nosuch")
		if r.Code == 0 || !strings.Contains(r.Stderr, "no such task or service: nosuch") {
			t.Fatalf("service logs of an unknown service: %s", r)
		}
	})
}
