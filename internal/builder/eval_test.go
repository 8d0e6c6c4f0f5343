package builder

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
)

func strp(s string) *string { return &s }

// evalAll parses a Dockerfile and evaluates the config instructions of its last stage, returning the state and
// the created_by of each instruction (RUNs give their command line).
func evalAll(t *testing.T, dockerfile string, buildArgs map[string]*string) (*state, []string) {
	t.Helper()
	p, err := ParseDockerfile([]byte(dockerfile), buildArgs, "")
	if err != nil {
		t.Fatal(err)
	}
	meta, err := p.metaArgValues()
	if err != nil {
		t.Fatal(err)
	}
	st := newState(p.Escape, buildArgs, meta, map[string]bool{})
	var out []string
	for _, cmd := range p.Stages[len(p.Stages)-1].Commands {
		if run, ok := cmd.(*instructions.RunCommand); ok {
			_, _, createdBy, err := st.runCommand(run)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, createdBy)
			continue
		}
		if err := st.expand(cmd); err != nil {
			t.Fatal(err)
		}
		createdBy, err := st.evalConfig(cmd)
		if err != nil {
			t.Fatalf("%s: %v", cmdText(cmd), err)
		}
		out = append(out, createdBy)
	}
	return st, out
}

func TestEvalConfig(t *testing.T) {
	st, createdBy := evalAll(t, `FROM scratch
ARG NAME=world
ARG UNSET
ENV GREETING="hello $NAME" \
    OTHER=x
LABEL a=b "c d"=e
WORKDIR /srv
WORKDIR sub
USER ${NAME}
EXPOSE 80 53/udp 7000-7001
VOLUME ["/data", "/logs"]
STOPSIGNAL SIGQUIT
HEALTHCHECK --interval=10s --retries=2 CMD curl -f http://localhost/
ONBUILD COPY . /app
CMD echo $GREETING
ENTRYPOINT ["/bin/tini", "--"]
SHELL ["/bin/bash", "-c"]
RUN echo $GREETING
MAINTAINER someone
`, map[string]*string{"NAME": strp("berth")})

	cfg := st.config
	b, _ := json.Marshal(cfg)
	for _, want := range []string{
		`"Env":["GREETING=hello berth","OTHER=x"]`,
		`"Labels":{"a":"b","c d":"e"}`,
		`"WorkingDir":"/srv/sub"`,
		`"User":"berth"`,
		`"ExposedPorts":{"53/udp":{},"7000/tcp":{},"7001/tcp":{},"80/tcp":{}}`,
		`"Volumes":{"/data":{},"/logs":{}}`,
		`"StopSignal":"SIGQUIT"`,
		`"OnBuild":["COPY . /app"]`,
		`"Entrypoint":["/bin/tini","--"]`,
		`"Shell":["/bin/bash","-c"]`,
		`"Healthcheck":{"Test":["CMD-SHELL","curl -f http://localhost/"],"Interval":10000000000,"Retries":2}`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("config lacks %s:\n%s", want, b)
		}
	}
	// CMD before ENTRYPOINT in the same stage is kept; shell form goes through the shell of its time.
	if got, want := strings.Join(cfg.Cmd, "|"), "/bin/sh|-c|echo $GREETING"; got != want {
		t.Errorf("Cmd = %q, want %q", got, want)
	}
	if st.author != "someone" {
		t.Errorf("author = %q", st.author)
	}
	for i, want := range map[int]string{
		0:  "/bin/sh -c #(nop)  ARG NAME=world",
		2:  "/bin/sh -c #(nop)  ENV GREETING=hello berth OTHER=x",
		5:  "/bin/sh -c #(nop)  WORKDIR /srv/sub",
		12: `/bin/sh -c #(nop)  CMD ["/bin/sh" "-c" "echo $GREETING"]`,
		13: `/bin/sh -c #(nop)  ENTRYPOINT ["/bin/tini" "--"]`,
		// after SHELL, RUN uses bash; the ARG in scope (not overridden by ENV) is recorded
		15: "|1 NAME=berth /bin/bash -c echo $GREETING",
		16: "/bin/bash -c #(nop)  MAINTAINER someone",
	} {
		if createdBy[i] != want {
			t.Errorf("created_by[%d] = %q, want %q", i, createdBy[i], want)
		}
	}
}

func TestEvalEntrypointResetsInheritedCmd(t *testing.T) {
	st := newState('\\', nil, nil, nil)
	st.config.Cmd = []string{"sh"} // from the base image
	p, err := ParseDockerfile([]byte("FROM x\nENTRYPOINT [\"/app\"]\n"), nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.evalConfig(p.Stages[0].Commands[0]); err != nil {
		t.Fatal(err)
	}
	if st.config.Cmd != nil {
		t.Errorf("inherited Cmd kept: %q", st.config.Cmd)
	}
}

func TestArgScopes(t *testing.T) {
	df := `ARG VERSION=1.0
ARG OTHER
FROM busybox:${VERSION}
ARG VERSION
ARG LOCAL=default
RUN echo $VERSION $LOCAL
`
	for _, tc := range []struct {
		name    string
		args    map[string]*string
		from    string
		created string
	}{
		{"defaults", nil, "busybox:${VERSION}", "|2 VERSION=1.0 LOCAL=default /bin/sh -c echo $VERSION $LOCAL"},
		{"build args", map[string]*string{"VERSION": strp("2.0"), "LOCAL": strp("x")}, "", "|2 VERSION=2.0 LOCAL=x /bin/sh -c echo $VERSION $LOCAL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := ParseDockerfile([]byte(df), tc.args, "")
			if err != nil {
				t.Fatal(err)
			}
			if p.Steps != 6 {
				t.Errorf("steps = %d, want 6", p.Steps)
			}
			_, created := evalAll(t, df, tc.args)
			if created[2] != tc.created {
				t.Errorf("RUN created_by = %q, want %q", created[2], tc.created)
			}
			meta, _ := p.metaArgValues()
			want := "1.0"
			if v := tc.args["VERSION"]; v != nil {
				want = *v
			}
			if meta["VERSION"] != want {
				t.Errorf("meta VERSION = %q, want %q", meta["VERSION"], want)
			}
		})
	}
}

func TestParseDockerfileErrors(t *testing.T) {
	for _, tc := range []struct {
		name, df, target, want string
	}{
		{"unknown instruction", "FROM busybox\n\nFOO bar\n", "", "Dockerfile parse error line 3: unknown instruction: FOO"},
		{"empty", "# just a comment\n", "", "file with no instructions"},
		{"no from", "RUN true\n", "", "no build stage in current context"},
		{"bad target", "FROM busybox AS a\n", "b", "failed to reach build target b in Dockerfile"},
		{"bad flag", "FROM busybox\nCOPY --nope=1 a b\n", "", "Dockerfile parse error line 2: unknown flag: --nope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseDockerfile([]byte(tc.df), nil, tc.target)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want %q", err, tc.want)
			}
			if !errors.Is(err, errdefs.ErrInvalidArgument) {
				t.Errorf("error %v is not invalid-argument", err)
			}
		})
	}
}

func TestParseTargetAndDirectives(t *testing.T) {
	df := "# escape=`\nFROM busybox AS one\nRUN echo a `\n  b\nFROM one AS two\nRUN true\nFROM two\nCMD x\n"
	p, err := ParseDockerfile([]byte(df), nil, "TWO")
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Stages) != 2 || p.Steps != 4 {
		t.Fatalf("stages %d steps %d, want 2 and 4", len(p.Stages), p.Steps)
	}
	run := p.Stages[0].Commands[0].(*instructions.RunCommand)
	if got := strings.Join(run.CmdLine, " "); got != "echo a   b" {
		t.Errorf("continued line with escape=` = %q", got)
	}
}

func TestCacheKey(t *testing.T) {
	base := CacheKey("sha256:a", "/bin/sh -c echo hi", "")
	if base != CacheKey("sha256:a", "/bin/sh -c echo hi", "") {
		t.Fatal("key not stable")
	}
	for name, k := range map[string]string{
		"parent":      CacheKey("sha256:b", "/bin/sh -c echo hi", ""),
		"instruction": CacheKey("sha256:a", "/bin/sh -c echo ho", ""),
		"sources":     CacheKey("sha256:a", "/bin/sh -c echo hi", "x"),
		"boundary":    CacheKey("sha256:a/bin/sh -c echo hi", "", ""),
	} {
		if k == base {
			t.Errorf("changing the %s keeps the key", name)
		}
	}
}

func TestCacheIndex(t *testing.T) {
	dir := t.TempDir()
	c, err := OpenCache(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Put("k1", "sha256:1"); err != nil {
		t.Fatal(err)
	}
	c.Put("k2", "sha256:2")
	c2, err := OpenCache(dir)
	if err != nil {
		t.Fatal(err)
	}
	if id, ok := c2.Get("k1"); !ok || id != "sha256:1" {
		t.Errorf("reloaded index: %q %v", id, ok)
	}
	c2.Drop("k1")
	if _, ok := c2.Get("k1"); ok {
		t.Error("dropped key still there")
	}
	c2.Put("k3", "sha256:gone")
	if err := c2.Sweep(func(id string) bool { return id != "sha256:gone" }); err != nil {
		t.Fatal(err)
	}
	if _, ok := c2.Get("k3"); ok {
		t.Error("sweep kept an entry whose image is gone")
	}
	keys, err := c2.Prune()
	if err != nil || len(keys) != 1 {
		t.Errorf("prune: %v %v", keys, err)
	}
	c3, _ := OpenCache(dir)
	if _, ok := c3.Get("k2"); ok {
		t.Error("pruned key survived a reload")
	}
}

func TestRunBuildKitFlags(t *testing.T) {
	p, err := ParseDockerfile([]byte("FROM x\nRUN --mount=type=cache,target=/root/.cache true\n"), nil, "")
	if err != nil {
		t.Fatal(err)
	}
	st := newState('\\', nil, nil, nil)
	_, _, _, err = st.runCommand(p.Stages[0].Commands[0].(*instructions.RunCommand))
	if err == nil || !strings.Contains(err.Error(), "the --mount option requires BuildKit") {
		t.Errorf("RUN --mount: %v", err)
	}
}
