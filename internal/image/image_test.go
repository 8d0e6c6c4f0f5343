package image

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth/berth/internal/filters"
)

func TestImport(t *testing.T) {
	ctx := context.Background()
	layer := makeTar(t, map[string]string{"bin/sh": "#!", "etc/passwd": "root:x:0:0"})
	diffID := digest.FromBytes(layer)
	tests := []struct {
		name  string
		input []byte
	}{
		{name: "plain tar", input: layer},
		{name: "gzip tar", input: gzipBytes(t, layer)},
		{name: "zstd tar", input: zstdBytes(t, layer)},
		{name: "bzip2 tar", input: compressWith(t, "bzip2", layer)},
		{name: "xz tar", input: compressWith(t, "xz", layer)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.input == nil {
				t.Skip("compressor not installed")
			}
			env := newEnv(t)
			id, err := env.s.Import(ctx, bytes.NewReader(tc.input), "busybox", []string{`CMD ["sh"]`, "ENV A=B"}, "", nil)
			if err != nil {
				t.Fatal(err)
			}
			img, err := env.s.Get(ctx, "busybox:latest")
			if err != nil {
				t.Fatal(err)
			}
			if img.ID != id {
				t.Fatalf("Get ID %s, Import returned %s", img.ID, id)
			}
			raw, _ := readBlob(t, env, id)
			if digest.FromBytes(raw) != id {
				t.Fatalf("image ID is not the config digest")
			}
			c := img.Config
			if c.OS != "linux" || c.Architecture != runtime.GOARCH {
				t.Errorf("platform %s/%s", c.OS, c.Architecture)
			}
			if !slices.Equal(c.RootFS.DiffIDs, []digest.Digest{diffID}) || c.RootFS.Type != "layers" {
				t.Errorf("rootfs %+v, want diff id %s", c.RootFS, diffID)
			}
			if len(c.History) != 1 || c.History[0].Comment != "Imported from -" || c.History[0].CreatedBy != "" {
				t.Errorf("history %+v", c.History)
			}
			if !slices.Equal(c.Config.Cmd, []string{"sh"}) || !slices.Equal(c.Config.Env, []string{"A=B"}) {
				t.Errorf("config %+v", c.Config)
			}
			if !slices.Equal(img.RepoTags, []string{"busybox:latest"}) {
				t.Errorf("RepoTags %v", img.RepoTags)
			}
			if img.Size != int64(len(layer)) {
				t.Errorf("size %d, want %d", img.Size, len(layer))
			}
			// The layer is stored uncompressed and unpacked once, as chain ID = diff ID.
			if !slices.Equal(env.layers.ensured, []digest.Digest{diffID}) {
				t.Errorf("ensured %v", env.layers.ensured)
			}
			if got, _ := readBlob(t, env, diffID); !bytes.Equal(got, layer) {
				t.Errorf("stored layer differs from the uncompressed tar")
			}
			if got := env.events.take(); !slices.Equal(got, []string{"import " + id.String(), "tag busybox:latest"}) {
				t.Errorf("events %v", got)
			}
		})
	}
}

func readBlob(t *testing.T, env *testEnv, d digest.Digest) ([]byte, error) {
	t.Helper()
	rc, err := env.cs.Open(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var buf bytes.Buffer
	_, err = buf.ReadFrom(rc)
	return buf.Bytes(), err
}

func TestImportMessageAndPlatform(t *testing.T) {
	ctx := context.Background()
	env := newEnv(t)
	layer := makeTar(t, map[string]string{"a": "b"})
	id, err := env.s.Import(ctx, bytes.NewReader(layer), "", nil, "Imported from http://example.com/rootfs.tar",
		nil)
	if err != nil {
		t.Fatal(err)
	}
	img, err := env.s.Get(ctx, id.String())
	if err != nil {
		t.Fatal(err)
	}
	if img.Config.Comment != "Imported from http://example.com/rootfs.tar" {
		t.Errorf("comment %q", img.Config.Comment)
	}
	if len(img.RepoTags) != 0 || img.RepoTags == nil {
		t.Errorf("RepoTags %#v, want empty non-nil", img.RepoTags)
	}
	if _, err := env.s.Import(ctx, bytes.NewReader(layer), "", nil, "", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := env.s.Import(ctx, bytes.NewReader(layer), "BAD", nil, "", nil); !errdefs.IsInvalidArgument(err) {
		t.Errorf("bad ref: %v", err)
	}
}

func TestApplyChanges(t *testing.T) {
	tests := []struct {
		name    string
		base    dockerspec.DockerOCIImageConfig
		changes []string
		check   func(c dockerspec.DockerOCIImageConfig) bool
		wantErr string
	}{
		{name: "exec cmd", changes: []string{`CMD ["sh"]`},
			check: func(c dockerspec.DockerOCIImageConfig) bool { return slices.Equal(c.Cmd, []string{"sh"}) }},
		{name: "shell cmd", changes: []string{`CMD echo hello world`},
			check: func(c dockerspec.DockerOCIImageConfig) bool {
				return slices.Equal(c.Cmd, []string{"/bin/sh", "-c", "echo hello world"})
			}},
		{name: "env and expansion", changes: []string{"ENV A=1 B=two", "ENV C=${A}-$B"},
			check: func(c dockerspec.DockerOCIImageConfig) bool {
				return slices.Equal(c.Env, []string{"A=1", "B=two", "C=1-two"})
			}},
		{name: "env replaces", base: withEnv("PATH=/bin", "A=0"), changes: []string{"ENV A=1"},
			check: func(c dockerspec.DockerOCIImageConfig) bool {
				return slices.Equal(c.Env, []string{"PATH=/bin", "A=1"})
			}},
		{name: "entrypoint drops inherited cmd", base: withCmd("old"), changes: []string{`ENTRYPOINT ["/app"]`},
			check: func(c dockerspec.DockerOCIImageConfig) bool {
				return slices.Equal(c.Entrypoint, []string{"/app"}) && c.Cmd == nil
			}},
		{name: "entrypoint keeps cmd set in changes", changes: []string{`CMD ["x"]`, `ENTRYPOINT /app`},
			check: func(c dockerspec.DockerOCIImageConfig) bool {
				return slices.Equal(c.Entrypoint, []string{"/bin/sh", "-c", "/app"}) && slices.Equal(c.Cmd, []string{"x"})
			}},
		{name: "expose", changes: []string{"EXPOSE 80 53/udp 8000-8001"},
			check: func(c dockerspec.DockerOCIImageConfig) bool {
				return reflect.DeepEqual(c.ExposedPorts, map[string]struct{}{"80/tcp": {}, "53/udp": {}, "8000/tcp": {}, "8001/tcp": {}})
			}},
		{name: "label user workdir volume stopsignal", changes: []string{`LABEL a=b "c d"=e`, "USER nobody", "WORKDIR /app",
			"WORKDIR sub", "VOLUME /data /cache", "STOPSIGNAL SIGQUIT"},
			check: func(c dockerspec.DockerOCIImageConfig) bool {
				return reflect.DeepEqual(c.Labels, map[string]string{"a": "b", "c d": "e"}) && c.User == "nobody" &&
					c.WorkingDir == "/app/sub" && len(c.Volumes) == 2 && c.StopSignal == "SIGQUIT"
			}},
		{name: "onbuild", changes: []string{"ONBUILD RUN echo hi"},
			check: func(c dockerspec.DockerOCIImageConfig) bool { return slices.Equal(c.OnBuild, []string{"RUN echo hi"}) }},
		{name: "healthcheck", changes: []string{"HEALTHCHECK --interval=5s CMD true"},
			check: func(c dockerspec.DockerOCIImageConfig) bool {
				return c.Healthcheck != nil && slices.Equal(c.Healthcheck.Test, []string{"CMD-SHELL", "true"})
			}},
		{name: "unknown instruction", changes: []string{"FOO bar"},
			wantErr: "dockerfile parse error on line 1: unknown instruction: FOO"},
		{name: "unknown instruction line 2", changes: []string{"ENV A=B", "foo bar"},
			wantErr: "dockerfile parse error on line 2: unknown instruction: foo"},
		{name: "not a change command", changes: []string{"RUN echo"}, wantErr: "RUN is not a valid change command"},
		{name: "bad signal", changes: []string{"STOPSIGNAL SIGFOO"}, wantErr: "Invalid signal: SIGFOO"},
		{name: "bad port", changes: []string{"EXPOSE abc"}, wantErr: "invalid containerPort: abc"},
		{name: "expose: publish form, protocol case, one-port range", changes: []string{"EXPOSE 127.0.0.1:8080:80/UDP 9000-9000"},
			check: func(c dockerspec.DockerOCIImageConfig) bool {
				return reflect.DeepEqual(c.ExposedPorts, map[string]struct{}{"80/udp": {}, "9000/tcp": {}})
			}},
		{name: "backwards port range", changes: []string{"EXPOSE 90-80"}, wantErr: "invalid containerPort: 90-80"},
		{name: "port out of range", changes: []string{"EXPOSE 70000"}, wantErr: "invalid containerPort: 70000"},
		{name: "empty end of range", changes: []string{"EXPOSE 80-"}, wantErr: "invalid containerPort: 80-"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := cloneConfig(tc.base)
			err := applyChanges(&c, tc.changes)
			if tc.wantErr != "" {
				if !errdefs.IsInvalidArgument(err) || err.Error() != tc.wantErr {
					t.Fatalf("err = %v, want invalid argument %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(c) {
				t.Fatalf("unexpected config %+v", c)
			}
		})
	}
}

// A commit's config is the container's over the parent image's, with Docker's merge rules.
func TestMergeContainerConfig(t *testing.T) {
	base := dockerspec.DockerOCIImageConfig{
		ImageConfig: ocispec.ImageConfig{
			Env: []string{"PATH=/bin", "A=0"}, Entrypoint: []string{"/entry"}, Cmd: []string{"serve"},
			ExposedPorts: map[string]struct{}{"80/tcp": {}}, Labels: map[string]string{"a": "1"}, WorkingDir: "/srv",
		},
		DockerOCIImageConfigExt: dockerspec.DockerOCIImageConfigExt{
			Healthcheck: &dockerspec.HealthcheckConfig{Test: []string{"CMD", "true"}, Interval: time.Second, Retries: 3},
		},
	}
	cfg := func(f func(c *dockerspec.DockerOCIImageConfig)) *dockerspec.DockerOCIImageConfig {
		var c dockerspec.DockerOCIImageConfig
		f(&c)
		return &c
	}
	tests := []struct {
		name  string
		c     *dockerspec.DockerOCIImageConfig
		check func(out dockerspec.DockerOCIImageConfig) bool
	}{
		{name: "nil keeps the parent's", c: nil,
			check: func(out dockerspec.DockerOCIImageConfig) bool { return reflect.DeepEqual(out, base) }},
		{name: "env is a union, the container's first and winning",
			c: cfg(func(c *dockerspec.DockerOCIImageConfig) { c.Env = []string{"A=1", "B=2"} }),
			check: func(out dockerspec.DockerOCIImageConfig) bool {
				return slices.Equal(out.Env, []string{"A=1", "B=2", "PATH=/bin"})
			}},
		{name: "cmd alone keeps the entrypoint",
			c: cfg(func(c *dockerspec.DockerOCIImageConfig) { c.Cmd = []string{"other"} }),
			check: func(out dockerspec.DockerOCIImageConfig) bool {
				return slices.Equal(out.Entrypoint, []string{"/entry"}) && slices.Equal(out.Cmd, []string{"other"})
			}},
		{name: "an entrypoint drops the parent's cmd",
			c: cfg(func(c *dockerspec.DockerOCIImageConfig) { c.Entrypoint = []string{"/new"} }),
			check: func(out dockerspec.DockerOCIImageConfig) bool {
				return slices.Equal(out.Entrypoint, []string{"/new"}) && out.Cmd == nil
			}},
		{name: "an empty non-nil entrypoint clears the parent's",
			c: cfg(func(c *dockerspec.DockerOCIImageConfig) { c.Entrypoint = []string{} }),
			check: func(out dockerspec.DockerOCIImageConfig) bool {
				return out.Entrypoint == nil && slices.Equal(out.Cmd, []string{"serve"})
			}},
		{name: "ports, labels and volumes are unions",
			c: cfg(func(c *dockerspec.DockerOCIImageConfig) {
				c.ExposedPorts = map[string]struct{}{"53/udp": {}}
				c.Labels = map[string]string{"a": "2", "b": "3"}
				c.Volumes = map[string]struct{}{"/data": {}}
			}),
			check: func(out dockerspec.DockerOCIImageConfig) bool {
				return reflect.DeepEqual(out.ExposedPorts, map[string]struct{}{"80/tcp": {}, "53/udp": {}}) &&
					reflect.DeepEqual(out.Labels, map[string]string{"a": "2", "b": "3"}) && len(out.Volumes) == 1
			}},
		{name: "a healthcheck inherits the fields it leaves zero",
			c: cfg(func(c *dockerspec.DockerOCIImageConfig) {
				c.Healthcheck = &dockerspec.HealthcheckConfig{Timeout: 2 * time.Second}
			}),
			check: func(out dockerspec.DockerOCIImageConfig) bool {
				h := out.Healthcheck
				return slices.Equal(h.Test, []string{"CMD", "true"}) && h.Interval == time.Second && h.Timeout == 2*time.Second && h.Retries == 3
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := cloneConfig(base)
			out := mergeContainerConfig(base, tc.c)
			if !tc.check(out) {
				t.Errorf("merged %+v", out)
			}
			if !reflect.DeepEqual(base, before) {
				t.Errorf("the parent's config changed: %+v", base)
			}
		})
	}
}

func withEnv(env ...string) dockerspec.DockerOCIImageConfig {
	var c dockerspec.DockerOCIImageConfig
	c.Env = env
	return c
}

func withCmd(cmd ...string) dockerspec.DockerOCIImageConfig {
	var c dockerspec.DockerOCIImageConfig
	c.Cmd = cmd
	return c
}

func TestGet(t *testing.T) {
	ctx := context.Background()
	env := newEnv(t)
	var ids []digest.Digest
	for i := range 20 {
		ids = append(ids, env.importTar("", map[string]string{"f": fmt.Sprint(i)}))
	}
	if err := env.s.Tag(ctx, ids[0].String(), "example.com/team/app:v1"); err != nil {
		t.Fatal(err)
	}
	if err := env.s.Tag(ctx, ids[1].String(), "busybox"); err != nil {
		t.Fatal(err)
	}
	// The shortest unique and a shared (ambiguous) prefix of ids[2].
	unique, ambiguous := "", ""
	for n := 1; n <= 64 && unique == ""; n++ {
		p := ids[2].Encoded()[:n]
		matches := 0
		for _, id := range ids {
			if strings.HasPrefix(id.Encoded(), p) {
				matches++
			}
		}
		if matches == 1 {
			unique = p
		} else if ambiguous == "" || len(p) > len(ambiguous) {
			ambiguous = p
		}
	}

	tests := []struct {
		name    string
		ref     string
		want    digest.Digest
		wantErr string
		isErr   func(error) bool
	}{
		{name: "familiar name", ref: "busybox", want: ids[1]},
		{name: "name and tag", ref: "busybox:latest", want: ids[1]},
		{name: "normalized name", ref: "docker.io/library/busybox:latest", want: ids[1]},
		{name: "registry name", ref: "example.com/team/app:v1", want: ids[0]},
		{name: "full ID", ref: ids[3].String(), want: ids[3]},
		{name: "bare hex", ref: ids[3].Encoded(), want: ids[3]},
		{name: "unique prefix", ref: unique, want: ids[2]},
		{name: "unique prefix with algorithm", ref: "sha256:" + unique, want: ids[2]},
		{name: "ambiguous prefix", ref: ambiguous, isErr: errdefs.IsNotFound},
		{name: "unknown name", ref: "foo", wantErr: "No such image: foo:latest", isErr: errdefs.IsNotFound},
		{name: "unknown tag", ref: "busybox:1.0", wantErr: "No such image: busybox:1.0", isErr: errdefs.IsNotFound},
		{name: "unknown ID", ref: "sha256:" + strings.Repeat("0", 64), wantErr: "No such image: sha256:" + strings.Repeat("0", 64),
			isErr: errdefs.IsNotFound},
		{name: "invalid reference", ref: "Foo:bar", isErr: errdefs.IsInvalidArgument},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "ambiguous prefix" && ambiguous == "" {
				t.Skip("no ambiguous prefix among the test IDs")
			}
			img, err := env.s.Get(ctx, tc.ref)
			if tc.isErr != nil {
				if !tc.isErr(err) {
					t.Fatalf("err = %v", err)
				}
				if tc.wantErr != "" && err.Error() != tc.wantErr {
					t.Fatalf("err text %q, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if img.ID != tc.want {
				t.Fatalf("got %s, want %s", img.ID, tc.want)
			}
		})
	}
}

func TestTagAndDelete(t *testing.T) {
	ctx := context.Background()
	stopped := func(id string) UsageFunc {
		return func(imageID string) []ContainerUse {
			if imageID == id {
				return []ContainerUse{{ID: "1b2c3d4e5f60718293a4b5c6d7e8f90112233445566778899aabbccddeeff00", Running: false}}
			}
			return nil
		}
	}
	running := func(id string) UsageFunc {
		return func(imageID string) []ContainerUse {
			if imageID == id {
				return []ContainerUse{{ID: "abcdefabcdef0011", Running: true}}
			}
			return nil
		}
	}
	type step struct {
		ref     string
		force   bool
		usedBy  func(id string) UsageFunc
		want    []string // "Untagged: x" / "Deleted: id" with ID for the image's ID and CHAIN for its layer
		wantErr string
	}
	tests := []struct {
		name  string
		tags  []string // tags of the image (the first imports it)
		steps []step
		gone  bool // the image is deleted at the end
	}{
		{name: "untag one of several", tags: []string{"busybox", "alias:1"},
			steps: []step{{ref: "alias:1", want: []string{"Untagged: alias:1"}}}},
		{name: "delete last reference", tags: []string{"busybox"},
			steps: []step{{ref: "busybox", want: []string{"Untagged: busybox:latest", "Deleted: ID", "Deleted: CHAIN"}}}, gone: true},
		{name: "last reference used by stopped container", tags: []string{"busybox"},
			steps: []step{{ref: "busybox", usedBy: stopped,
				wantErr: `conflict: unable to remove repository reference "busybox" (must force) - container 1b2c3d4e5f60 is using its referenced image SHORT`}}},
		{name: "forced untag of image used by stopped container keeps it", tags: []string{"busybox"},
			steps: []step{{ref: "busybox", force: true, usedBy: stopped, want: []string{"Untagged: busybox:latest", "Deleted: ID", "Deleted: CHAIN"}}},
			gone:  true},
		{name: "by ID used by stopped container", tags: []string{"busybox"},
			steps: []step{{ref: "ID", usedBy: stopped,
				wantErr: "conflict: unable to delete SHORT (must be forced) - image is being used by stopped container 1b2c3d4e5f60"}}},
		{name: "by ID used by running container cannot be forced", tags: []string{"busybox"},
			steps: []step{{ref: "ID", force: true, usedBy: running,
				wantErr: "conflict: unable to delete SHORT (cannot be forced) - image is being used by running container abcdefabcdef"}}},
		{name: "by ID in several repositories", tags: []string{"busybox", "other"},
			steps: []step{
				{ref: "ID", wantErr: "conflict: unable to delete SHORT (must be forced) - image is referenced in multiple repositories"},
				{ref: "ID", force: true, want: []string{"Untagged: busybox:latest", "Untagged: other:latest", "Deleted: ID", "Deleted: CHAIN"}},
			}, gone: true},
		// Docker's quirk: two tags, even in one repository, count as "multiple repositories".
		{name: "by ID with two tags in one repository", tags: []string{"busybox", "busybox:1"},
			steps: []step{
				{ref: "SHORT", wantErr: "conflict: unable to delete SHORT (must be forced) - image is referenced in multiple repositories"},
				{ref: "SHORT", force: true, want: []string{"Untagged: busybox:1", "Untagged: busybox:latest", "Deleted: ID", "Deleted: CHAIN"}},
			}, gone: true},
		{name: "untagged by ID", tags: []string{""},
			steps: []step{{ref: "ID", want: []string{"Deleted: ID", "Deleted: CHAIN"}}}, gone: true},
		{name: "unknown", tags: []string{"busybox"},
			steps: []step{{ref: "nothere", wantErr: "No such image: nothere:latest"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := newEnv(t)
			id := env.importTar(tc.tags[0], map[string]string{"f": "x"})
			for _, tag := range tc.tags[1:] {
				if err := env.s.Tag(ctx, id.String(), tag); err != nil {
					t.Fatal(err)
				}
			}
			img, _ := env.s.Get(ctx, id.String())
			chain := img.TopChainID()
			replace := func(s string) string {
				s = strings.ReplaceAll(s, "SHORT", id.Encoded()[:12])
				s = strings.ReplaceAll(s, "CHAIN", chain.String())
				if s == "ID" {
					return id.String()
				}
				return strings.ReplaceAll(s, "ID", id.String())
			}
			for i, st := range tc.steps {
				var usedBy UsageFunc
				if st.usedBy != nil {
					usedBy = st.usedBy(id.String())
				}
				recs, err := env.s.Delete(ctx, replace(st.ref), st.force, false, usedBy)
				if st.wantErr != "" {
					if err == nil || err.Error() != replace(st.wantErr) {
						t.Fatalf("step %d: err = %v, want %q", i, err, replace(st.wantErr))
					}
					if strings.HasPrefix(st.wantErr, "conflict") && !errdefs.IsConflict(err) {
						t.Fatalf("step %d: not a conflict: %v", i, err)
					}
					continue
				}
				if err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				var got []string
				for _, r := range recs {
					if r.Untagged != "" {
						got = append(got, "Untagged: "+r.Untagged)
					}
					if r.Deleted != "" {
						got = append(got, "Deleted: "+r.Deleted.String())
					}
				}
				var want []string
				for _, w := range st.want {
					want = append(want, replace(w))
				}
				if !slices.Equal(got, want) {
					t.Fatalf("step %d: records %v, want %v", i, got, want)
				}
			}
			_, err := env.s.Get(ctx, id.String())
			if tc.gone {
				if !errdefs.IsNotFound(err) {
					t.Fatalf("image still there: %v", err)
				}
				if b := env.blobs(); len(b) != 0 {
					t.Errorf("blobs left: %v", b)
				}
				if env.layers.count() != 0 {
					t.Errorf("layers left")
				}
			} else if err != nil {
				t.Fatalf("image gone: %v", err)
			}
		})
	}
}

func TestTag(t *testing.T) {
	ctx := context.Background()
	env := newEnv(t)
	a := env.importTar("a", map[string]string{"f": "a"})
	b := env.importTar("", map[string]string{"f": "b"})
	tests := []struct {
		name    string
		source  string
		target  string
		isErr   func(error) bool
		wantID  digest.Digest
		checkOn string
	}{
		{name: "tag by name", source: "a", target: "c:1", wantID: a, checkOn: "c:1"},
		{name: "retag moves", source: b.String(), target: "c:1", wantID: b, checkOn: "c:1"},
		{name: "default tag", source: "a", target: "d", wantID: a, checkOn: "d:latest"},
		{name: "digest target refused", source: "a", target: "e@sha256:" + strings.Repeat("a", 64), isErr: errdefs.IsInvalidArgument},
		{name: "invalid target", source: "a", target: "UPPER", isErr: errdefs.IsInvalidArgument},
		{name: "unknown source", source: "nope", target: "f", isErr: errdefs.IsNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := env.s.Tag(ctx, tc.source, tc.target)
			if tc.isErr != nil {
				if !tc.isErr(err) {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			img, err := env.s.Get(ctx, tc.checkOn)
			if err != nil || img.ID != tc.wantID {
				t.Fatalf("Get(%s) = %v, %v", tc.checkOn, img, err)
			}
			if img.LastTagTime.IsZero() {
				t.Errorf("LastTagTime not set")
			}
		})
	}
	// References and images survive a restart.
	s2 := env.open()
	img, err := s2.Get(ctx, "c:1")
	if err != nil || img.ID != b {
		t.Fatalf("after reopen: %v, %v", img, err)
	}
	if !slices.Equal(img.RepoTags, []string{"c:1"}) {
		t.Errorf("RepoTags after reopen %v", img.RepoTags)
	}
}

func TestCommitAndHistory(t *testing.T) {
	ctx := context.Background()
	env := newEnv(t)
	base := env.importTar("base", map[string]string{"bin/sh": "sh"}, `CMD ["sh"]`, "ENV PATH=/bin")
	baseImg, _ := env.s.Get(ctx, "base")

	layer := makeTar(t, map[string]string{"hello.txt": "hi"})
	id, err := env.s.Commit(ctx, "base", bytes.NewReader(layer), CommitConfig{
		Config:      &dockerspec.DockerOCIImageConfig{ImageConfig: ocispec.ImageConfig{Cmd: []string{"/bin/sh", "-c", "echo hi > hello.txt"}, Env: []string{"PATH=/bin", "X=1"}}},
		ContainerID: "c0ffee",
		Comment:     "my change",
		Author:      "me",
		Changes:     []string{"LABEL stage=one"},
		Ref:         "child:v1",
	})
	if err != nil {
		t.Fatal(err)
	}
	img, err := env.s.Get(ctx, "child:v1")
	if err != nil || img.ID != id {
		t.Fatalf("Get child: %v, %v", img, err)
	}
	c := img.Config
	wantDiffs := []digest.Digest{baseImg.Config.RootFS.DiffIDs[0], digest.FromBytes(layer)}
	if !slices.Equal(c.RootFS.DiffIDs, wantDiffs) {
		t.Errorf("diff ids %v, want %v", c.RootFS.DiffIDs, wantDiffs)
	}
	if img.Parent != base || c.Container != "c0ffee" || c.Author != "me" {
		t.Errorf("parent %s container %q author %q", img.Parent, c.Container, c.Author)
	}
	if !slices.Equal(c.Config.Cmd, []string{"/bin/sh", "-c", "echo hi > hello.txt"}) ||
		!slices.Equal(c.Config.Env, []string{"PATH=/bin", "X=1"}) || c.Config.Labels["stage"] != "one" {
		t.Errorf("config %+v", c.Config)
	}
	if len(c.History) != 2 || c.History[1].CreatedBy != "/bin/sh -c echo hi > hello.txt" || c.History[1].Comment != "my change" {
		t.Errorf("history %+v", c.History)
	}
	// The new layer is unpacked on top of the base's chain.
	wantChain := identity.ChainID(wantDiffs)
	if img.TopChainID() != wantChain || !env.layers.has(wantChain) || env.layers.chains[wantChain] != wantDiffs[0] {
		t.Errorf("top chain %s, layers %v", img.TopChainID(), env.layers.chains)
	}

	// An unchanged container commits an empty layer: no new diff ID, an empty_layer history entry.
	emptyTar := makeTar(t, nil)
	id2, err := env.s.Commit(ctx, id.String(), bytes.NewReader(emptyTar), CommitConfig{
		Config: &dockerspec.DockerOCIImageConfig{ImageConfig: ocispec.ImageConfig{Cmd: []string{"true"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	img2, _ := env.s.Get(ctx, id2.String())
	if !slices.Equal(img2.Config.RootFS.DiffIDs, wantDiffs) || len(img2.Config.History) != 3 || !img2.Config.History[2].EmptyLayer {
		t.Errorf("empty commit: diffs %v history %+v", img2.Config.RootFS.DiffIDs, img2.Config.History)
	}

	// History: newest first, IDs walk the parent chain, sizes on layer entries.
	hist, err := env.s.History(ctx, id2.String())
	if err != nil {
		t.Fatal(err)
	}
	want := []HistoryEntry{
		{ID: id2, CreatedBy: "true", Size: 0},
		{ID: id, CreatedBy: "/bin/sh -c echo hi > hello.txt", Comment: "my change", Size: int64(len(layer)), Tags: []string{"child:v1"}},
		{ID: base, Comment: "Imported from -", Size: baseImg.Size, Tags: []string{"base:latest"}},
	}
	if len(hist) != len(want) {
		t.Fatalf("history %+v", hist)
	}
	for i := range want {
		if hist[i].Created.IsZero() {
			t.Errorf("history[%d] has no creation time", i)
		}
		hist[i].Created = time.Time{}
		if !reflect.DeepEqual(hist[i], want[i]) {
			t.Errorf("history[%d] = %+v, want %+v", i, hist[i], want[i])
		}
	}
	// A loaded image has no parent chain: only the top entry has an ID.
	histBase, _ := env.s.History(ctx, "base")
	if len(histBase) != 1 || histBase[0].ID != base {
		t.Errorf("base history %+v", histBase)
	}

	// The parent cannot go while children depend on it.
	_, err = env.s.Delete(ctx, base.String(), true, false, nil)
	if !errdefs.IsConflict(err) || !strings.Contains(err.Error(), "image has dependent child images") {
		t.Errorf("delete parent: %v", err)
	}
	// Deleting the children prunes the untagged intermediate parent but not the tagged base.
	if _, err := env.s.Delete(ctx, "child:v1", false, false, nil); err != nil {
		t.Fatal(err)
	}
	recs, err := env.s.Delete(ctx, id2.String(), false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	var deleted []digest.Digest
	for _, r := range recs {
		if r.Deleted != "" {
			deleted = append(deleted, r.Deleted)
		}
	}
	if !slices.Equal(deleted, []digest.Digest{id2, id, wantChain}) {
		t.Errorf("deleted %v", deleted)
	}
	if _, err := env.s.Get(ctx, "base"); err != nil {
		t.Errorf("base gone: %v", err)
	}
	if !env.layers.has(wantDiffs[0]) || env.layers.has(wantChain) {
		t.Errorf("layers after delete: %v", env.layers.chains)
	}
}

func TestSharedLayersSurviveDelete(t *testing.T) {
	ctx := context.Background()
	env := newEnv(t)
	files := map[string]string{"same": "content"}
	a := env.importTar("a", files)
	b := env.importTar("b", files) // same layer, different config (created time)
	if a == b {
		t.Fatal("expected distinct images")
	}
	layer := digest.FromBytes(makeTar(t, files))
	if _, err := env.s.Delete(ctx, "a", false, false, nil); err != nil {
		t.Fatal(err)
	}
	if !env.layers.has(layer) {
		t.Fatal("layer shared with b was removed")
	}
	if _, err := env.cs.Info(ctx, layer); err != nil {
		t.Fatalf("layer blob shared with b was removed: %v", err)
	}
	if _, err := env.s.Delete(ctx, "b", false, false, nil); err != nil {
		t.Fatal(err)
	}
	if env.layers.has(layer) || len(env.blobs()) != 0 {
		t.Fatalf("leftovers: layers %v blobs %v", env.layers.chains, env.blobs())
	}
}

func TestListFilters(t *testing.T) {
	ctx := context.Background()
	env := newEnv(t)
	a := env.importTar("app", map[string]string{"f": "a"}, "LABEL tier=web")
	b := env.importTar("example.com/tools/db:5", map[string]string{"f": "b"}, "LABEL tier=db", "LABEL extra=1")
	d := env.importTar("", map[string]string{"f": "d"}) // dangling
	// An untagged parent of a tagged child is intermediate, not dangling.
	parent := env.importTar("", map[string]string{"f": "p"})
	child, err := env.s.Commit(ctx, parent.String(), bytes.NewReader(makeTar(t, map[string]string{"g": "1"})),
		CommitConfig{Ref: "child"})
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		all     bool
		filters map[string][]string
		want    []digest.Digest // newest first
		isErr   func(error) bool
	}{
		{name: "default hides intermediate", want: []digest.Digest{child, d, b, a}},
		{name: "all", all: true, want: []digest.Digest{child, parent, d, b, a}},
		{name: "dangling", filters: map[string][]string{"dangling": {"true"}}, want: []digest.Digest{d}},
		{name: "not dangling", filters: map[string][]string{"dangling": {"false"}}, want: []digest.Digest{child, b, a}},
		{name: "reference familiar", filters: map[string][]string{"reference": {"app"}}, want: []digest.Digest{a}},
		{name: "reference pattern", filters: map[string][]string{"reference": {"example.com/*/*:5"}}, want: []digest.Digest{b}},
		{name: "reference alternatives", filters: map[string][]string{"reference": {"app", "child:*"}}, want: []digest.Digest{child, a}},
		{name: "reference with the default tag", filters: map[string][]string{"reference": {"app:latest"}}, want: []digest.Digest{a}},
		{name: "reference canonical name", filters: map[string][]string{"reference": {"docker.io/library/app"}}, want: []digest.Digest{a}},
		{name: "reference canonical glob", filters: map[string][]string{"reference": {"docker.io/library/*"}}, want: []digest.Digest{child, a}},
		{name: "reference is not a substring", filters: map[string][]string{"reference": {"ap"}}, want: nil},
		{name: "bad reference pattern", filters: map[string][]string{"reference": {"[app"}}, isErr: errdefs.IsInvalidArgument},
		{name: "label key", filters: map[string][]string{"label": {"tier"}}, want: []digest.Digest{b, a}},
		{name: "label key=value", filters: map[string][]string{"label": {"tier=db"}}, want: []digest.Digest{b}},
		{name: "labels all match", filters: map[string][]string{"label": {"tier=db", "extra"}}, want: []digest.Digest{b}},
		{name: "before", filters: map[string][]string{"before": {d.String()}}, want: []digest.Digest{b, a}},
		{name: "since", filters: map[string][]string{"since": {"app"}}, want: []digest.Digest{child, d, b}},
		{name: "until", filters: map[string][]string{"until": {"2024-01-01T00:00:04Z"}}, want: []digest.Digest{b, a}},
		{name: "several before: the earliest", filters: map[string][]string{"before": {d.String(), "example.com/tools/db:5"}}, want: []digest.Digest{a}},
		{name: "several since: the latest", filters: map[string][]string{"since": {"app", "example.com/tools/db:5"}}, want: []digest.Digest{child, d}},
		{name: "until and before: the earliest", filters: map[string][]string{"until": {"2024-01-01T00:00:04Z"}, "before": {"example.com/tools/db:5"}}, want: []digest.Digest{a}},
		{name: "bad until", filters: map[string][]string{"until": {"soon"}}, isErr: errdefs.IsInvalidArgument},
		{name: "invalid key", filters: map[string][]string{"color": {"red"}}, isErr: errdefs.IsInvalidArgument},
		{name: "invalid dangling", filters: map[string][]string{"dangling": {"maybe"}}, isErr: errdefs.IsInvalidArgument},
		{name: "before unknown", filters: map[string][]string{"before": {"nothere"}}, isErr: errdefs.IsNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := env.s.List(ctx, tc.all, filters.FromMap(tc.filters))
			if tc.isErr != nil {
				if !tc.isErr(err) {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var ids []digest.Digest
			for _, s := range got {
				ids = append(ids, s.ID)
			}
			if !slices.Equal(ids, tc.want) {
				t.Fatalf("got %v, want %v", ids, tc.want)
			}
		})
	}

	all, _ := env.s.List(ctx, true, filters.Args{})
	for _, s := range all {
		switch s.ID {
		case d:
			if s.RepoTags == nil || len(s.RepoTags) != 0 || s.RepoDigests == nil {
				t.Errorf("dangling summary %+v", s)
			}
		case b:
			if !slices.Equal(s.RepoTags, []string{"example.com/tools/db:5"}) || s.Labels["tier"] != "db" || s.Size <= 0 ||
				s.Created.IsZero() || s.ParentID != "" {
				t.Errorf("summary %+v", s)
			}
			// The labels are the caller's copy.
			s.Labels["tier"] = "changed"
		case child:
			if s.ParentID != parent {
				t.Errorf("child ParentID %q", s.ParentID)
			}
		}
	}
	again, _ := env.s.List(ctx, true, filters.FromMap(map[string][]string{"label": {"tier=db"}}))
	if len(again) != 1 || again[0].ID != b {
		t.Errorf("a caller's change to a summary's labels reached the store: %+v", again)
	}
}

// Get returns the whole record inspect is made of: ID, references, config, sizes and tag time.
func TestGetImage(t *testing.T) {
	ctx := context.Background()
	env := newEnv(t)
	id := env.importTar("busybox", map[string]string{"f": "x"}, `CMD ["sh"]`, "EXPOSE 80", "LABEL a=b")
	img, err := env.s.Get(ctx, "busybox")
	if err != nil {
		t.Fatal(err)
	}
	if img.ID != id || !slices.Equal(img.RepoTags, []string{"busybox:latest"}) || img.RepoDigests == nil {
		t.Errorf("ids/tags: %+v", img)
	}
	cfg := img.Config
	if cfg.OS != "linux" || cfg.Architecture != runtime.GOARCH || cfg.Comment != "Imported from -" || cfg.Created == nil {
		t.Errorf("config: %+v", cfg)
	}
	if img.Size != env.layers.sizes[img.TopChainID()] || img.Size != img.Layers[0].Size {
		t.Errorf("size %d, layers %+v", img.Size, img.Layers)
	}
	if cfg.RootFS.Type != "layers" || len(cfg.RootFS.DiffIDs) != 1 || img.TopChainID() != cfg.RootFS.DiffIDs[0] {
		t.Errorf("rootfs: %+v", cfg.RootFS)
	}
	if !slices.Equal(cfg.Config.Cmd, []string{"sh"}) || cfg.Config.Labels["a"] != "b" {
		t.Errorf("config: %+v", cfg.Config)
	}
	if _, ok := cfg.Config.ExposedPorts["80/tcp"]; !ok {
		t.Errorf("exposed ports: %v", cfg.Config.ExposedPorts)
	}
	if img.LastTagTime.IsZero() || img.Manifest.Digest == "" {
		t.Errorf("tag time %v manifest %+v", img.LastTagTime, img.Manifest)
	}
	// The record is the caller's: changing it changes nothing in the store.
	img.Config.Config.Labels["a"] = "changed"
	img.RepoTags[0] = "changed"
	if again, _ := env.s.Get(ctx, "busybox"); again.Config.Config.Labels["a"] != "b" || again.RepoTags[0] != "busybox:latest" {
		t.Errorf("a caller's change reached the store: %+v", again)
	}
	ocicfg, err := env.s.Config(ctx, id.String())
	if err != nil || !slices.Equal(ocicfg.Config.Cmd, []string{"sh"}) || len(ChainIDs(ocicfg)) != 1 {
		t.Errorf("Config: %+v, %v", ocicfg, err)
	}
	if n, err := env.s.Size(ctx, "busybox"); err != nil || n != img.Size {
		t.Errorf("Size = %d, %v", n, err)
	}
}

func TestPrune(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		all     bool
		filters map[string][]string
		want    []string // images left, by name
	}{
		{name: "dangling", want: []string{"kept", "used", "tagged"}},
		{name: "all unused", all: true, want: []string{"used"}},
		{name: "all via filter", filters: map[string][]string{"dangling": {"false"}}, want: []string{"used"}},
		{name: "label", all: true, filters: map[string][]string{"label": {"keep"}}, want: []string{"kept", "used", "dangling"}},
		{name: "label!", all: true, filters: map[string][]string{"label!": {"keep"}}, want: []string{"tagged", "used"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := newEnv(t)
			ids := map[string]digest.Digest{
				"tagged":   env.importTar("tagged", map[string]string{"f": "1"}, "LABEL keep=yes"),
				"kept":     env.importTar("kept", map[string]string{"f": "2"}),
				"used":     env.importTar("", map[string]string{"f": "3"}),
				"dangling": env.importTar("", map[string]string{"f": "4"}),
			}
			usedBy := func(id string) []ContainerUse {
				if id == ids["used"].String() {
					return []ContainerUse{{ID: "c1"}}
				}
				return nil
			}
			before := env.usage()
			rep, err := env.s.Prune(ctx, tc.all, filters.FromMap(tc.filters), usedBy)
			if err != nil {
				t.Fatal(err)
			}
			if freed := before - env.usage(); rep.Reclaimed != freed {
				t.Errorf("reclaimed %d bytes, %d were freed", rep.Reclaimed, freed)
			}
			var left []string
			for name, id := range ids {
				if _, err := env.s.Get(ctx, id.String()); err == nil {
					left = append(left, name)
				}
			}
			slices.Sort(left)
			want := slices.Clone(tc.want)
			slices.Sort(want)
			if !slices.Equal(left, want) {
				t.Fatalf("left %v, want %v (report %+v)", left, want, rep)
			}
			if len(left) < 4 && (rep.Reclaimed == 0 || len(rep.Deleted) == 0) {
				t.Errorf("report %+v", rep)
			}
		})
	}
}

// Prune reports the bytes it freed on disk, blobs and unpacked layers, including when only an image's config and
// manifest go (a rebuilt image that shares its layers): such a prune frees little, but not nothing.
func TestPruneReclaimed(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name       string
		setup      func(env *testEnv) (pruned digest.Digest)
		layersGone bool
	}{
		{name: "a dangling image sharing its layer", setup: func(env *testEnv) digest.Digest {
			env.importTar("kept", map[string]string{"f": "same"})
			return env.importTar("", map[string]string{"f": "same"})
		}},
		{name: "a dangling image with a layer of its own", layersGone: true, setup: func(env *testEnv) digest.Digest {
			env.importTar("kept", map[string]string{"f": "one"})
			return env.importTar("", map[string]string{"f": strings.Repeat("two", 1000)})
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := newEnv(t)
			id := tc.setup(env)
			img, _ := env.s.Get(ctx, id.String())
			cfg, err := env.cs.Info(ctx, img.ID)
			if err != nil {
				t.Fatal(err)
			}
			blobs := img.Manifest.Size + cfg.Size
			before := env.usage()
			rep, err := env.s.Prune(ctx, false, filters.Args{}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Deleted) == 0 || rep.Deleted[0].Deleted != id {
				t.Fatalf("deleted %+v, want %s first", rep.Deleted, id)
			}
			if freed := before - env.usage(); rep.Reclaimed != freed {
				t.Errorf("reclaimed %d bytes, %d were freed", rep.Reclaimed, freed)
			}
			want := blobs
			if tc.layersGone {
				want += 2 * img.Size // the layer's blob and its unpacked files
			}
			if rep.Reclaimed != want {
				t.Errorf("reclaimed %d, want %d", rep.Reclaimed, want)
			}
			if present := env.layers.has(img.TopChainID()); present == tc.layersGone {
				t.Errorf("layer present after prune: %v", present)
			}
		})
	}
}

func TestDescendants(t *testing.T) {
	ctx := context.Background()
	env := newEnv(t)
	a := env.importTar("app", map[string]string{"f": "a"})
	child, err := env.s.Commit(ctx, a.String(), bytes.NewReader(makeTar(t, map[string]string{"g": "1"})), CommitConfig{Ref: "child"})
	if err != nil {
		t.Fatal(err)
	}
	grandchild, err := env.s.Commit(ctx, child.String(), bytes.NewReader(makeTar(t, map[string]string{"h": "1"})), CommitConfig{Ref: "grandchild:v1"})
	if err != nil {
		t.Fatal(err)
	}
	other := env.importTar("other", map[string]string{"f": "o"})
	tests := []struct {
		name  string
		ref   string
		want  []digest.Digest
		isErr func(error) bool
	}{
		{name: "by name: the image and everything built on it", ref: "app", want: []digest.Digest{a, child, grandchild}},
		{name: "by name:tag", ref: "child:latest", want: []digest.Digest{child, grandchild}},
		{name: "by ID", ref: grandchild.String(), want: []digest.Digest{grandchild}},
		{name: "by short ID", ref: child.Encoded()[:12], want: []digest.Digest{child, grandchild}},
		{name: "unrelated image", ref: "other", want: []digest.Digest{other}},
		{name: "unknown", ref: "nothere", isErr: errdefs.IsNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := env.s.Descendants(ctx, tc.ref)
			if tc.isErr != nil {
				if !tc.isErr(err) {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(got)
			want := slices.Clone(tc.want)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Fatalf("Descendants(%s) = %v, want %v", tc.ref, got, want)
			}
		})
	}
}

func TestPruneInvalidFilter(t *testing.T) {
	env := newEnv(t)
	if _, err := env.s.Prune(context.Background(), false, filters.NewArgs(filters.Arg("reference", "x")), nil); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("err = %v", err)
	}
}

func TestConcurrentImportDelete(t *testing.T) {
	ctx := context.Background()
	env := newEnv(t)
	shared := map[string]string{"shared": "layer"}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ref := fmt.Sprintf("img%d", i)
			if _, err := env.s.Import(ctx, bytes.NewReader(makeTar(t, shared)), ref, nil, "", nil); err != nil {
				errs <- err
				return
			}
			if _, err := env.s.List(ctx, false, filters.Args{}); err != nil {
				errs <- err
			}
			if i%2 == 0 {
				if _, err := env.s.Delete(ctx, ref, false, false, nil); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	imgs, _ := env.s.List(ctx, true, filters.Args{})
	if len(imgs) != 8 {
		t.Fatalf("%d images left, want 8", len(imgs))
	}
	layer := digest.FromBytes(makeTar(t, shared))
	for _, s := range imgs {
		img, err := env.s.Get(ctx, s.ID.String())
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range []digest.Digest{img.ID, img.Manifest.Digest, layer} {
			if _, err := env.cs.Info(ctx, b); err != nil {
				t.Errorf("image %s lost blob %s: %v", s.ID, b, err)
			}
		}
	}
	if !env.layers.has(layer) {
		t.Error("shared layer removed")
	}
}

func TestErrorsWrapCategories(t *testing.T) {
	env := newEnv(t)
	_, err := env.s.Get(context.Background(), "nope")
	if !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("errors.Is(ErrNotFound) false for %v", err)
	}
}

func TestImportFailureLeavesNothing(t *testing.T) {
	ctx := context.Background()
	layer := gzipBytes(t, makeTar(t, map[string]string{"f": strings.Repeat("x", 100000)}))
	tests := []struct {
		name    string
		input   []byte
		changes []string
		wantErr string
	}{
		{name: "invalid change", input: layer, changes: []string{"FOO bar"},
			wantErr: "dockerfile parse error on line 1: unknown instruction: FOO"},
		{name: "disallowed change", input: layer, changes: []string{"COPY a b"}, wantErr: "COPY is not a valid change command"},
		{name: "truncated gzip", input: layer[:len(layer)/2], wantErr: "unexpected EOF"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := newEnv(t)
			_, err := env.s.Import(ctx, bytes.NewReader(tc.input), "x", tc.changes, "", nil)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
			if b := env.blobs(); len(b) != 0 {
				t.Errorf("blobs left: %v", b)
			}
			if env.layers.count() != 0 {
				t.Errorf("layers left")
			}
			if _, err := env.s.Get(ctx, "x"); !errdefs.IsNotFound(err) {
				t.Errorf("reference left: %v", err)
			}
		})
	}
}

func TestEvents(t *testing.T) {
	ctx := context.Background()
	env := newEnv(t)
	id := env.importTar("", map[string]string{"f": "x"})
	if err := env.s.Tag(ctx, id.String(), "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := env.s.Delete(ctx, "a", false, false, nil); err != nil {
		t.Fatal(err)
	}
	want := []string{"import " + id.String(), "tag a:latest", "untag " + id.String(), "delete " + id.String()}
	if got := env.events.take(); !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
}
