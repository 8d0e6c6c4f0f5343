package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// A voting-app-style stack through docker stack deploy: the CLI turns the compose file into networks, a secret,
// a config and six services labelled com.docker.stack.namespace; stack ls/services/ps show it; stack rm leaves
// nothing behind.

const stackCompose = `version: "3.8"
services:
  redis:
    image: busybox
    command: ["sleep", "3600"]
    networks: [frontend]
    deploy:
      replicas: 1
      update_config: {parallelism: 2, delay: 1s}
      restart_policy: {condition: on-failure}
  db:
    image: busybox
    command: ["sh", "-c", "test \"$$(cat /run/secrets/db_password)\" = pg-pass-e2e && exec sleep 3600"]
    networks: [backend]
    secrets: [db_password]
    deploy:
      placement:
        constraints: [node.role == manager]
  vote:
    image: busybox
    command: ["sleep", "3600"]
    networks: [frontend]
    deploy:
      replicas: 2
      update_config: {parallelism: 2, order: start-first}
      resources:
        limits: {cpus: "0.50", memory: 64M}
        reservations: {memory: 16M}
  result:
    image: busybox
    command: ["sleep", "3600"]
    networks: [backend]
    configs:
      - source: app_config
        target: /etc/result.conf
    deploy:
      replicas: 1
      placement:
        constraints: [node.role == worker]
  worker:
    image: busybox
    command: ["sleep", "3600"]
    networks: [frontend, backend]
    deploy:
      mode: replicated
      replicas: 1
      restart_policy: {condition: any, delay: 1s, max_attempts: 3, window: 30s}
  visualizer:
    image: busybox
    command: ["sleep", "3600"]
    deploy:
      mode: global
networks:
  frontend:
  backend:
    driver: overlay
secrets:
  db_password:
    file: ./db_password.txt
configs:
  app_config:
    file: ./app.conf
`

func TestSwarmStack(t *testing.T) {
	nodes := swarmWithImages(t, 1, 1)
	m, w := nodes[0], nodes[1]
	dir := t.TempDir()
	for name, content := range map[string]string{"compose.yml": stackCompose, "db_password.txt": "pg-pass-e2e", "app.conf": "mode=result\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	compose := filepath.Join(dir, "compose.yml")

	out := m.docker(t, "stack", "deploy", "-c", compose, "vote")
	for _, line := range []string{"Creating network vote_frontend", "Creating network vote_backend", "Creating network vote_default",
		"Creating secret vote_db_password", "Creating config vote_app_config", "Creating service vote_db", "Creating service vote_vote",
		"Creating service vote_visualizer"} {
		if !strings.Contains(out, line) {
			t.Fatalf("stack deploy lacks %q:\n%s", line, out)
		}
	}
	if ls := m.docker(t, "stack", "ls"); !regexp.MustCompile(`(?m)^vote\s+6\s*$`).MatchString(ls) {
		t.Fatalf("stack ls:\n%s", ls)
	}
	// Every service converges: 2 vote replicas, the global visualizer on both nodes, one of each other.
	want := map[string]string{"vote_redis": "1/1", "vote_db": "1/1", "vote_vote": "2/2", "vote_result": "1/1", "vote_worker": "1/1", "vote_visualizer": "2/2"}
	eventuallyDocker(t, m, 120*time.Second, "the stack's services converged", func(r result) bool {
		if r.Code != 0 {
			return false
		}
		got := map[string]string{}
		for _, l := range strings.Split(strings.TrimSpace(r.Stdout), "\n") {
			if f := strings.Fields(l); len(f) == 2 {
				got[f[0]] = f[1]
			}
		}
		for k, v := range want {
			if got[k] != v {
				return false
			}
		}
		return len(got) == len(want)
	}, "stack", "services", "--format", "{{.Name}} {{.Replicas}}", "vote")

	// Placement, the secret and the config reached their tasks.
	if c := taskContainer(t, w, "vote_result"); c == "" || w.docker(t, "exec", c, "cat", "/etc/result.conf") != "mode=result\n" {
		t.Fatalf("vote_result on the worker with its config: container %q", c)
	}
	if c := taskContainer(t, m, "vote_db"); c == "" || w.dockerR(nil, "ps", "-q", "--filter", "label=com.docker.swarm.service.name=vote_db").Stdout != "" {
		t.Fatal("vote_db is not on the manager only")
	}
	insp := m.docker(t, "service", "inspect", "--format",
		`{{index .Spec.Labels "com.docker.stack.namespace"}} {{.Spec.TaskTemplate.Resources.Limits.NanoCPUs}} {{.Spec.TaskTemplate.Resources.Limits.MemoryBytes}} {{.Spec.UpdateConfig.Order}} {{len .Spec.TaskTemplate.Networks}}`, "vote_vote")
	if strings.TrimSpace(insp) != "vote 500000000 67108864 start-first 1" {
		t.Fatalf("vote_vote's spec: %q", insp)
	}
	ps := m.docker(t, "stack", "ps", "--filter", "desired-state=running", "--format", "{{.Name}} {{.CurrentState}}", "vote")
	if n := strings.Count(ps, "Running"); n != 8 {
		t.Fatalf("stack ps shows %d running tasks of 8:\n%s", n, ps)
	}
	if nets := m.docker(t, "network", "ls", "--filter", "label=com.docker.stack.namespace=vote", "--format", "{{.Name}} {{.Driver}} {{.Scope}}"); strings.Count(nets, "overlay swarm") != 3 {
		t.Fatalf("the stack's networks:\n%s", nets)
	}

	// Deploying the same file again changes nothing and succeeds (the secret and config are updated in place).
	m.docker(t, "stack", "deploy", "-c", compose, "vote")

	out = m.docker(t, "stack", "rm", "vote")
	for _, line := range []string{"Removing service vote_db", "Removing secret vote_db_password", "Removing config vote_app_config", "Removing network vote_frontend"} {
		if !strings.Contains(out, line) {
			t.Fatalf("stack rm lacks %q:\n%s", line, out)
		}
	}
	waitFor(t, 60*time.Second, "nothing of the stack left", func() bool {
		for _, n := range nodes {
			if strings.TrimSpace(n.docker(t, "ps", "-aq", "--filter", "label=com.docker.stack.namespace=vote")+
				n.docker(t, "network", "ls", "-q", "--filter", "name=vote_")) != "" {
				return false
			}
		}
		return strings.TrimSpace(m.docker(t, "service", "ls", "-q")+m.docker(t, "secret", "ls", "-q")+m.docker(t, "config", "ls", "-q")+
			m.docker(t, "network", "ls", "-q", "--filter", "label=com.docker.stack.namespace=vote")) == ""
	})
	// Nor on the nodes: no network namespace left (the tasks' and the overlays' are under the exec root).
	waitFor(t, 30*time.Second, "the nodes' network namespaces gone", func() bool {
		for _, n := range nodes {
			if ents, _ := os.ReadDir(filepath.Join(n.ExecRoot, "netns")); len(ents) > 0 {
				return false
			}
		}
		return true
	})
	if ls := m.docker(t, "stack", "ls"); strings.Contains(ls, "vote") {
		t.Fatalf("stack ls after rm:\n%s", ls)
	}
}
