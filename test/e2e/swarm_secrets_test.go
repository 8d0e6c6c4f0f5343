package e2e

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Secrets and configs through the docker CLI: create (from a file and stdin), ls with filters, inspect, rm, and
// docker's refusals; a service on a worker reading its secret and config as files; the secret on no disk.

func TestSwarmSecretsConfigs(t *testing.T) {
	nodes := swarmWithImages(t, 1, 1)
	m, w := nodes[0], nodes[1]
	const value = "s3cr3t-e2e-value-7f1c"
	since := time.Now().Add(-time.Second).Unix()

	r := m.dockerR(strings.NewReader(value), "secret", "create", "--label", "env=prod", "db_pw", "-")
	if r.Code != 0 || !regexp.MustCompile(`^[0-9a-z]{25}\n$`).MatchString(r.Stdout) {
		t.Fatalf("secret create from stdin: %s", r)
	}
	sid := strings.TrimSpace(r.Stdout)
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	m.docker(t, "secret", "create", "api_key", file("key", "k-123"))
	m.docker(t, "config", "create", "--label", "tier=web", "app_conf", file("app.conf", "listen 8080\n"))

	for _, tc := range []struct {
		name   string
		stdin  string
		args   []string
		stderr string
	}{
		{name: "duplicate secret", args: []string{"secret", "create", "db_pw", file("dup", "x")},
			stderr: "Error response from daemon: rpc error: code = AlreadyExists desc = secret db_pw already exists"},
		{name: "duplicate config", args: []string{"config", "create", "app_conf", file("dup", "x")},
			stderr: "Error response from daemon: rpc error: code = AlreadyExists desc = config app_conf already exists"},
		{name: "invalid name", stdin: "x", args: []string{"secret", "create", "bad.name.", "-"},
			stderr: "rpc error: code = InvalidArgument desc = invalid name, only 64 [a-zA-Z0-9-_.] characters allowed, and the start and end character must be [a-zA-Z0-9]"},
		{name: "500 KB", args: []string{"secret", "create", "big", file("big", strings.Repeat("x", 512000))},
			stderr: "rpc error: code = InvalidArgument desc = secret data must be larger than 0 and less than 512000 bytes"},
		{name: "unknown secret", args: []string{"secret", "inspect", "nosuch"}, stderr: "secret nosuch not found"},
		{name: "unknown config rm", args: []string{"config", "rm", "nosuch"}, stderr: "config nosuch not found"},
		{name: "service with an unknown secret", args: []string{"service", "create", "--secret", "nosuch", "busybox", "true"},
			stderr: "secret not found: nosuch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := m.dockerR(strings.NewReader(tc.stdin), tc.args...)
			if r.Code == 0 || !strings.Contains(r.Stderr, tc.stderr) {
				t.Fatalf("want %q: %s", tc.stderr, r)
			}
		})
	}

	ls := m.docker(t, "secret", "ls")
	if !regexp.MustCompile(`(?m)^ID\s+NAME\s+DRIVER\s+CREATED\s+UPDATED$`).MatchString(ls) ||
		!regexp.MustCompile(`(?m)^`+sid+`\s+db_pw\s+`).MatchString(ls) || !strings.Contains(ls, "api_key") {
		t.Fatalf("secret ls:\n%s", ls)
	}
	for _, tc := range []struct{ filter, want string }{
		{"name=db", "db_pw"}, {"label=env=prod", "db_pw"}, {"id=" + sid[:5], "db_pw"}, {"name=api", "api_key"}, {"label=env=dev", ""},
	} {
		if got := strings.TrimSpace(m.docker(t, "secret", "ls", "--filter", tc.filter, "--format", "{{.Name}}")); got != tc.want {
			t.Errorf("secret ls --filter %s: %q, want %q", tc.filter, got, tc.want)
		}
	}
	insp := m.docker(t, "secret", "inspect", "db_pw")
	if strings.Contains(insp, `"Data"`) || !strings.Contains(insp, `"env": "prod"`) || !strings.Contains(insp, `"ID": "`+sid+`"`) {
		t.Fatalf("secret inspect:\n%s", insp)
	}
	if got := m.docker(t, "config", "inspect", "--format", `{{printf "%s" .Spec.Data}}|{{index .Spec.Labels "tier"}}`, "app_conf"); got != "listen 8080\n|web\n" {
		t.Fatalf("config inspect: %q", got)
	}
	if got := strings.TrimSpace(m.docker(t, "config", "ls", "--filter", "label=tier", "--format", "{{.Name}}")); got != "app_conf" {
		t.Fatalf("config ls: %q", got)
	}

	// A service on the worker gets the secret twice (default target, and another name with mode and owner) and the
	// config at its target.
	m.docker(t, "service", "create", "--name", "reader", "--constraint", "node.role==worker",
		"--secret", "db_pw", "--secret", "source=db_pw,target=other_pw,mode=0400,uid=1000,gid=1000",
		"--config", "source=app_conf,target=/etc/app.conf", "busybox", "sleep", "3600")
	var c string
	waitFor(t, 60*time.Second, "the reader task on the worker", func() bool { c = taskContainer(t, w, "reader"); return c != "" })
	if got := w.docker(t, "exec", c, "cat", "/run/secrets/db_pw"); got != value {
		t.Fatalf("/run/secrets/db_pw: %q", got)
	}
	if got := strings.TrimSpace(w.docker(t, "exec", c, "stat", "-c", "%a %u %g", "/run/secrets/other_pw")); got != "400 1000 1000" {
		t.Fatalf("other_pw's mode and owner: %q", got)
	}
	if got := w.docker(t, "exec", c, "cat", "/etc/app.conf"); got != "listen 8080\n" {
		t.Fatalf("/etc/app.conf: %q", got)
	}
	if got := w.docker(t, "exec", c, "sh", "-c", "grep ' /run/secrets/db_pw ' /proc/mounts | cut -d' ' -f3"); strings.TrimSpace(got) != "tmpfs" {
		t.Fatalf("/run/secrets/db_pw is on %q, not a tmpfs", got)
	}
	if w.dockerR(nil, "exec", c, "sh", "-c", "echo x > /run/secrets/db_pw").Code == 0 {
		t.Fatal("a task could write its secret")
	}
	// The secret's value is on no node's disk (the manager's store has it sealed; the worker's engine state,
	// layers and logs never see it).
	for _, n := range nodes {
		if where := findBytes(t, n.DataRoot, []byte(value)); where != "" {
			t.Fatalf("the secret's value is on %s's disk: %s", n.Name, where)
		}
	}

	// Where it is: the worker's tmpfs for task files (under its exec root), while a task there uses it.
	files := filepath.Join(w.ExecRoot, "swarm", "files")
	if findBytes(t, files, []byte(value)) == "" {
		t.Fatalf("the secret is not in the worker's task files (%s)", files)
	}
	// and only there: the manager runs no task using it.
	if where := findBytes(t, m.ExecRoot, []byte(value)); where != "" {
		t.Fatalf("the secret is on the manager, which runs no task using it: %s", where)
	}

	r = m.dockerR(nil, "secret", "rm", "db_pw")
	if r.Code == 0 || !strings.Contains(r.Stderr, "rpc error: code = InvalidArgument desc = secret 'db_pw' is in use by the following service: reader") {
		t.Fatalf("rm of a secret in use: %s", r)
	}
	r = m.dockerR(nil, "config", "rm", "app_conf")
	if r.Code == 0 || !strings.Contains(r.Stderr, "config 'app_conf' is in use by the following service: reader") {
		t.Fatalf("rm of a config in use: %s", r)
	}
	// --secret-rm and --secret-add: the new task has api_key and no db_pw; db_pw can then go.
	m.docker(t, "service", "update", "--secret-rm", "db_pw", "--secret-add", "api_key", "reader")
	waitFor(t, 60*time.Second, "the updated task", func() bool {
		c = taskContainer(t, w, "reader")
		return c != "" && w.dockerR(nil, "exec", c, "cat", "/run/secrets/api_key").Stdout == "k-123"
	})
	if r := w.dockerR(nil, "exec", c, "ls", "/run/secrets"); strings.TrimSpace(r.Stdout) != "api_key" {
		t.Fatalf("/run/secrets after the update: %s", r)
	}
	// The old task's container stopped: the secret left the worker (its container stays as task history).
	waitFor(t, 30*time.Second, "the secret off the worker", func() bool { return findBytes(t, files, []byte(value)) == "" })
	m.docker(t, "secret", "rm", "db_pw")
	m.docker(t, "service", "rm", "reader")
	m.docker(t, "secret", "rm", "api_key")
	m.docker(t, "config", "rm", "app_conf")
	if got := strings.TrimSpace(m.docker(t, "secret", "ls", "-q") + m.docker(t, "config", "ls", "-q")); got != "" {
		t.Fatalf("left after rm: %q", got)
	}
	if r := m.dockerR(nil, "secret", "inspect", "db_pw"); r.Code == 0 {
		t.Fatalf("inspect of a removed secret: %s", r)
	}
	// docker's events of type secret and config.
	ev := m.docker(t, "events", "--since", strconv.FormatInt(since, 10), "--until", strconv.FormatInt(time.Now().Unix()+1, 10),
		"--filter", "type=secret", "--filter", "type=config", "--format", "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}")
	for _, want := range []string{"secret create db_pw", "secret create api_key", "config create app_conf", "secret remove db_pw", "config remove app_conf"} {
		if !strings.Contains(ev, want) {
			t.Errorf("events lack %q:\n%s", want, ev)
		}
	}
}

// findBytes names a regular file under root holding b ("" if none).
func findBytes(t *testing.T, root string, b []byte) string {
	t.Helper()
	found := ""
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || found != "" || !d.Type().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(p)
		if err == nil && bytes.Contains(data, b) {
			found = p
		}
		return nil
	})
	return found
}
