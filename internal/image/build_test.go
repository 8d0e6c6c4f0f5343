package image

import (
	"bytes"
	"context"
	"slices"
	"testing"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/opencontainers/go-digest"

	"github.com/berth/berth/internal/filters"
)

func TestCreateStep(t *testing.T) {
	ctx := context.Background()
	env := newEnv(t)
	base := env.importTar("base", map[string]string{"bin/sh": "sh"}, `CMD ["sh"]`)
	baseImg, _ := env.s.Get(ctx, "base")

	// A config-only step: the parent's layers, a replaced config, an empty_layer history entry.
	cfg := dockerspec.DockerOCIImageConfig{}
	cfg.Env = []string{"A=1"}
	cfg.Cmd = []string{"run"}
	s1, err := env.s.CreateStep(ctx, base.String(), nil, StepConfig{Config: cfg, CreatedBy: "/bin/sh -c #(nop)  ENV A=1", Author: "me"})
	if err != nil {
		t.Fatal(err)
	}
	img1, _ := env.s.Get(ctx, s1.String())
	if img1.Parent != base || !slices.Equal(img1.Config.RootFS.DiffIDs, baseImg.Config.RootFS.DiffIDs) ||
		!slices.Equal(img1.Config.Config.Cmd, []string{"run"}) || img1.Config.Author != "me" {
		t.Fatalf("config step: parent %s diffs %v cmd %v author %q", img1.Parent, img1.Config.RootFS.DiffIDs, img1.Config.Config.Cmd, img1.Config.Author)
	}
	h := img1.Config.History[len(img1.Config.History)-1]
	if !h.EmptyLayer || h.CreatedBy != "/bin/sh -c #(nop)  ENV A=1" {
		t.Errorf("history entry %+v", h)
	}

	// A layer step, then an empty tar: the latter adds no layer.
	layer := makeTar(t, map[string]string{"app/file": "x"})
	s2, err := env.s.CreateStep(ctx, s1.String(), bytes.NewReader(layer), StepConfig{Config: cfg, CreatedBy: "/bin/sh -c #(nop) COPY file:abc in /app "})
	if err != nil {
		t.Fatal(err)
	}
	s3, err := env.s.CreateStep(ctx, s2.String(), bytes.NewReader(makeTar(t, nil)), StepConfig{Config: cfg, CreatedBy: "/bin/sh -c true"})
	if err != nil {
		t.Fatal(err)
	}
	img3, _ := env.s.Get(ctx, s3.String())
	want := append(slices.Clone(baseImg.Config.RootFS.DiffIDs), digest.FromBytes(layer))
	if !slices.Equal(img3.Config.RootFS.DiffIDs, want) {
		t.Errorf("diff ids %v, want %v", img3.Config.RootFS.DiffIDs, want)
	}
	hist, err := env.s.History(ctx, s3.String())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range hist {
		got = append(got, e.ID.String()[:19]+" "+e.CreatedBy)
	}
	if len(hist) != 4 || hist[0].ID != s3 || hist[1].ID != s2 || hist[2].ID != s1 || hist[3].ID != base || hist[1].Size == 0 || hist[0].Size != 0 {
		t.Errorf("history %v", got)
	}
	// Intermediate images are hidden from `images` (untagged parents), shown with -a.
	list, _ := env.s.List(ctx, false, filters.Args{})
	all, _ := env.s.List(ctx, true, filters.Args{})
	if n := count(list, s1); n != 0 || count(all, s1) != 1 {
		t.Errorf("intermediate image listed %d times without -a", n)
	}

	// FROM scratch: no parent.
	s4, err := env.s.CreateStep(ctx, "", bytes.NewReader(layer), StepConfig{Config: cfg, CreatedBy: "COPY"})
	if err != nil {
		t.Fatal(err)
	}
	img4, _ := env.s.Get(ctx, s4.String())
	if img4.Parent != "" || len(img4.Config.RootFS.DiffIDs) != 1 || img4.Config.OS != "linux" {
		t.Errorf("scratch step: %+v", img4.Config)
	}
}

func count(list []Summary, id digest.Digest) int {
	n := 0
	for _, s := range list {
		if s.ID == id {
			n++
		}
	}
	return n
}
