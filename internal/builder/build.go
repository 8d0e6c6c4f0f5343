package builder

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth/berth/internal/archive"
	"github.com/berth/berth/internal/image"
)

// defaultPath is the PATH a stage gets when its base image sets none.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Options are a build's parameters (POST /build's query).
type Options struct {
	// Dockerfile is the Dockerfile's path inside the context; "" means "Dockerfile".
	Dockerfile string
	Tags       []string
	BuildArgs  map[string]*string
	Labels     map[string]string
	Target     string
	NoCache    bool
	Pull       bool
	// NetworkMode is the network RUN containers join ("" = the default bridge).
	NetworkMode string
	// ExtraHosts are host:ip lines added to RUN containers' /etc/hosts (--add-host).
	ExtraHosts []string
	Platform   string
	// Quiet suppresses the step output; the image ID is written at the end instead.
	Quiet bool
	// ContextManifest says the context tar may name large files by digest instead of carrying them (berth build).
	ContextManifest bool
}

// RunError is a RUN that exited non-zero; Code is its exit code.
type RunError struct {
	Cmd  string
	Code int
}

func (e *RunError) Error() string {
	return fmt.Sprintf("The command '%s' returned a non-zero code: %d", e.Cmd, e.Code)
}

// Builder runs builds over a Backend, with a build cache.
type Builder struct {
	backend Backend
	cache   *Cache
	tmpDir  string
}

// New returns a builder; build contexts are unpacked under tmpDir (on the data root's filesystem).
func New(backend Backend, cache *Cache, tmpDir string) *Builder {
	return &Builder{backend: backend, cache: cache, tmpDir: tmpDir}
}

// Cache returns the builder's cache index.
func (b *Builder) Cache() *Cache { return b.cache }

// builtinArgs may be given with --build-arg without an ARG and are never reported unused.
var builtinArgs = []string{"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy",
	"NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"}

// Build reads a build context tar (plain, or compressed: gzip, bzip2, xz, zstd) from contextTar, builds it and writes the classic
// builder's progress text to out. It returns the image ID. On failure no intermediate container is left; images
// made by the steps that succeeded stay as cache, as docker's do.
func (b *Builder) Build(ctx context.Context, contextTar io.Reader, opts Options, out io.Writer) (string, error) {
	var tags []string
	for _, t := range opts.Tags {
		named, err := reference.ParseNormalizedNamed(t)
		if err != nil {
			return "", errdefs.ErrInvalidArgument.WithMessage(err.Error())
		}
		if _, ok := named.(reference.Digested); ok {
			return "", errdefs.ErrInvalidArgument.WithMessage("refusing to create a tag with a digest reference")
		}
		tags = append(tags, reference.FamiliarString(reference.TagNameOnly(named)))
	}
	if err := os.MkdirAll(b.tmpDir, 0o700); err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp(b.tmpDir, "context-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	r, err := archive.Decompress(contextTar)
	if err != nil {
		return "", errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("build context: %v", err))
	}
	defer r.Close()
	bc, err := b.receiveContext(ctx, r, dir, opts.ContextManifest)
	if err != nil {
		return "", err
	}

	name := opts.Dockerfile
	if name == "" {
		name = "Dockerfile"
	}
	df, err := readContextFile(bc, name)
	if err != nil {
		return "", err
	}
	if err := removeIgnoredControlFiles(bc, name); err != nil {
		return "", err
	}
	plan, err := ParseDockerfile(df, opts.BuildArgs, opts.Target)
	if err != nil {
		return "", err
	}
	if len(opts.Labels) > 0 {
		last := &plan.Stages[len(plan.Stages)-1]
		for _, k := range slices.Sorted(maps.Keys(opts.Labels)) {
			last.AddCommand(instructions.NewLabelCommand(k, opts.Labels[k], true))
		}
		plan.Steps++
	}
	if opts.Quiet {
		out = io.Discard
	}
	x := &executor{b: b, opts: opts, out: out, plan: plan, ctxDir: dir, bc: bc, used: map[string]bool{}, names: map[string]string{}}
	id, err := x.run(ctx)
	if err != nil {
		x.discard(ctx)
		return "", err
	}
	var unused []string
	for k := range opts.BuildArgs {
		if !x.used[k] && !slices.Contains(builtinArgs, k) {
			unused = append(unused, k)
		}
	}
	if len(unused) > 0 {
		slices.Sort(unused)
		fmt.Fprintf(out, "[Warning] One or more build-args %v were not consumed\n", unused)
	}
	fmt.Fprintf(out, "Successfully built %s\n", shortID(id))
	for _, t := range tags {
		if err := b.backend.TagImage(ctx, id, t); err != nil {
			return "", err
		}
		fmt.Fprintf(out, "Successfully tagged %s\n", t)
	}
	return id, nil
}

// removeIgnoredControlFiles removes the Dockerfile and .dockerignore from the context when .dockerignore lists
// them, as dockerd does: that is how the docker CLI keeps a Dockerfile from outside the context (sent as
// ".dockerfile.<random>" and listed in .dockerignore) out of `COPY .`. Clients apply .dockerignore to
// everything else before sending.
func removeIgnoredControlFiles(bc *buildContext, dockerfile string) error {
	dir := bc.dir
	f, err := os.Open(bc.contentOf(filepath.Join(dir, ".dockerignore")))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	patterns, err := ignorefile.ReadAll(f)
	f.Close()
	if err != nil {
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("error reading .dockerignore: %v", err))
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		return errdefs.ErrInvalidArgument.WithMessage(err.Error())
	}
	for _, name := range []string{path.Clean(strings.TrimPrefix(filepath.ToSlash(dockerfile), "/")), ".dockerignore"} {
		if ok, _ := pm.MatchesOrParentMatches(name); ok && !strings.HasPrefix(name, "../") {
			if err := os.Remove(filepath.Join(dir, filepath.FromSlash(name))); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
	}
	return nil
}

// readContextFile reads the Dockerfile from the context, refusing paths outside it.
func readContextFile(bc *buildContext, name string) ([]byte, error) {
	dir := bc.dir
	clean := path.Clean(strings.TrimPrefix(filepath.ToSlash(name), "/"))
	if clean == ".." || strings.HasPrefix(clean, "../") {
		return nil, forbidden(name)
	}
	s, err := lookupSource(dir, clean)
	if err == nil && s.info.Mode()&fs.ModeSymlink != 0 {
		// A Dockerfile that is a symlink is read through it, inside the context.
		var p string
		if p, err = secureResolve(dir, clean); err == nil {
			s.abs = p
		}
	}
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("Cannot locate specified Dockerfile: %s", name))
		}
		return nil, err
	}
	return os.ReadFile(bc.contentOf(s.abs))
}

// executor is one build in progress.
type executor struct {
	b      *Builder
	opts   Options
	out    io.Writer
	plan   *Plan
	ctxDir string
	bc     *buildContext
	step   int
	used   map[string]bool
	// names maps stage names and indexes to their result images.
	names map[string]string
	meta  map[string]string
	// made are the images this build created, oldest first, and their cache keys.
	made []madeImage
}

type madeImage struct{ id, key string }

// discard removes the images a failed build made, newest first, so a failure leaves no dangling image (steps
// that an earlier successful build cached stay cached).
func (x *executor) discard(ctx context.Context) {
	ctx = context.WithoutCancel(ctx)
	for _, m := range slices.Backward(x.made) {
		x.b.cache.Drop(m.key)
		if err := x.b.backend.RemoveImage(ctx, m.id); err != nil {
			slog.WarnContext(ctx, "builder: removing an image of a failed build", "image", m.id, "err", err)
		}
	}
}

func (x *executor) announce(text string) {
	x.step++
	fmt.Fprintf(x.out, "Step %d/%d : %s\n", x.step, x.plan.Steps, text)
}

func (x *executor) run(ctx context.Context) (string, error) {
	meta, err := x.plan.metaArgValues()
	if err != nil {
		return "", errdefs.ErrInvalidArgument.WithMessage(err.Error())
	}
	x.meta = meta
	for _, kv := range x.plan.MetaArgs {
		x.used[kv.Key] = true
		x.announce("ARG " + kv.String())
	}
	var last string
	for i, stage := range x.plan.Stages {
		id, err := x.runStage(ctx, stage)
		if err != nil {
			return "", err
		}
		x.names[strconv.Itoa(i)] = id
		if stage.Name != "" {
			x.names[strings.ToLower(stage.Name)] = id
		}
		last = id
	}
	if last == "" {
		return "", errdefs.ErrInvalidArgument.WithMessage("No image was generated. Is your Dockerfile empty?")
	}
	return last, nil
}

func (x *executor) runStage(ctx context.Context, stage instructions.Stage) (string, error) {
	x.announce(stage.SourceCode)
	lex := shell.NewLex(x.plan.Escape)
	base, _, err := lex.ProcessWord(stage.BaseName, envMap(x.meta))
	if err != nil {
		return "", errdefs.ErrInvalidArgument.WithMessage(err.Error())
	}
	st := newState(x.plan.Escape, x.opts.BuildArgs, x.meta, x.used)
	var triggers []string
	switch {
	case x.names[strings.ToLower(base)] != "":
		img, err := x.b.backend.GetImage(ctx, x.names[strings.ToLower(base)], GetImageOptions{})
		if err != nil {
			return "", err
		}
		st.imageID, st.config = img.ID.String(), img.Config.Config
	case strings.EqualFold(base, "scratch"):
		// an empty image: no parent, no layers
	default:
		platform := x.opts.Platform
		if stage.Platform != "" {
			if platform, _, err = lex.ProcessWord(stage.Platform, envMap(x.meta)); err != nil {
				return "", errdefs.ErrInvalidArgument.WithMessage(err.Error())
			}
		}
		img, err := x.b.backend.GetImage(ctx, base, GetImageOptions{Pull: x.opts.Pull, Platform: platform, Out: x.out})
		if err != nil {
			return "", err
		}
		st.imageID, st.config = img.ID.String(), img.Config.Config
		triggers = st.config.OnBuild
	}
	st.config.OnBuild = nil
	if _, ok := envList(st.config.Env).Get("PATH"); !ok {
		// Like docker, a stage without PATH gets the default one.
		st.config.Env = append(st.config.Env, "PATH="+defaultPath)
	}
	if st.imageID != "" {
		fmt.Fprintf(x.out, " ---> %s\n", shortID(st.imageID))
	}
	if len(triggers) > 0 {
		s := "s"
		if len(triggers) == 1 {
			s = ""
		}
		fmt.Fprintf(x.out, "# Executing %d build trigger%s\n", len(triggers), s)
		for _, t := range triggers {
			cmd, err := parseTrigger(t)
			if err != nil {
				return "", err
			}
			if err := x.dispatch(ctx, st, cmd); err != nil {
				return "", err
			}
		}
	}
	for _, cmd := range stage.Commands {
		x.announce(cmdText(cmd))
		if err := x.dispatch(ctx, st, cmd); err != nil {
			return "", err
		}
	}
	if st.imageID == "" {
		// FROM scratch with only config steps: commit the config alone.
		id, err := x.b.backend.CreateStep(ctx, "", nil, image.StepConfig{Config: st.config, Author: st.author, CreatedBy: st.nop(" FROM scratch"), Platform: x.platform()})
		if err != nil {
			return "", err
		}
		st.imageID = id
		x.made = append(x.made, madeImage{id: id})
	}
	return st.imageID, nil
}

func cmdText(cmd instructions.Command) string {
	if s, ok := cmd.(fmt.Stringer); ok {
		return s.String()
	}
	return cmd.Name()
}

// parseTrigger parses an ONBUILD trigger into its instruction.
func parseTrigger(t string) (instructions.Command, error) {
	res, err := parser.Parse(strings.NewReader(t))
	if err != nil {
		return nil, errdefs.ErrInvalidArgument.WithMessage(err.Error())
	}
	if len(res.AST.Children) != 1 {
		return nil, errdefs.ErrInvalidArgument.WithMessage("invalid ONBUILD trigger: " + t)
	}
	cmd, err := instructions.ParseCommand(res.AST.Children[0])
	if err != nil {
		return nil, parseError(err)
	}
	switch strings.ToUpper(cmd.Name()) {
	case "ONBUILD", "FROM", "MAINTAINER":
		return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("%s isn't allowed as an ONBUILD trigger", strings.ToUpper(cmd.Name())))
	}
	return cmd, nil
}

func (x *executor) platform() *ocispec.Platform {
	if x.opts.Platform == "" {
		return nil
	}
	parts := strings.Split(x.opts.Platform, "/")
	p := &ocispec.Platform{OS: parts[0]}
	if len(parts) > 1 {
		p.Architecture = parts[1]
	}
	if len(parts) > 2 {
		p.Variant = parts[2]
	}
	return p
}

// dispatch runs one instruction on st.
func (x *executor) dispatch(ctx context.Context, st *state, cmd instructions.Command) error {
	if _, ok := cmd.(*instructions.RunCommand); !ok {
		if err := st.expand(cmd); err != nil {
			return err
		}
	}
	switch c := cmd.(type) {
	case *instructions.RunCommand:
		return x.runStep(ctx, st, c)
	case *instructions.CopyCommand:
		if c.Parents || len(c.ExcludePatterns) > 0 {
			return errdefs.ErrNotImplemented.WithMessage("COPY --parents and --exclude are not supported")
		}
		return x.copyStep(ctx, st, "COPY", c.SourcesAndDest, c.From, c.Chown, c.Chmod, false)
	case *instructions.AddCommand:
		if c.Checksum != "" || c.KeepGitDir != nil || len(c.ExcludePatterns) > 0 {
			return errdefs.ErrNotImplemented.WithMessage("ADD --checksum, --keep-git-dir and --exclude are not supported")
		}
		unpack := c.Unpack == nil || *c.Unpack
		return x.copyStep(ctx, st, "ADD", c.SourcesAndDest, "", c.Chown, c.Chmod, unpack)
	}
	createdBy, err := st.evalConfig(cmd)
	if err != nil {
		return err
	}
	key := CacheKey(st.imageID, createdBy, "")
	if id, ok := x.lookup(ctx, key); ok {
		st.imageID = id
		return nil
	}
	if _, ok := cmd.(*instructions.WorkdirCommand); ok {
		// Like docker, WORKDIR creates the directory in a layer (an empty one when it exists already).
		return x.fsStep(ctx, st, createdBy, key, func(root string) error {
			_, err := mkdirIn(root, st.config.WorkingDir, copyOptions{})
			return err
		})
	}
	return x.commit(ctx, st, nil, createdBy, key)
}

// fsStep runs a step that changes files with fn on the root filesystem of st's image (an empty directory for
// FROM scratch) and commits the changes as the step's layer.
func (x *executor) fsStep(ctx context.Context, st *state, createdBy, key string, fn func(root string) error) error {
	if st.imageID == "" {
		root, err := os.MkdirTemp(x.b.tmpDir, "scratch-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(root)
		if err := fn(root); err != nil {
			return err
		}
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(archive.TarDir(ctx, pw, root, archive.TarOptions{})) }()
		defer pr.CloseWithError(io.ErrClosedPipe)
		return x.commit(ctx, st, pr, createdBy, key)
	}
	cid, remove, err := x.container(ctx, st, []string{"/nonexistent"}, nil)
	if err != nil {
		return err
	}
	defer remove(false)
	root, release, err := x.b.backend.MountContainer(ctx, cid)
	if err != nil {
		return err
	}
	err = fn(root)
	release()
	if err != nil {
		return err
	}
	return x.commitContainer(ctx, st, cid, createdBy, key, func() {})
}

// lookup returns the cached image for key, dropping an entry whose image is gone.
func (x *executor) lookup(ctx context.Context, key string) (string, bool) {
	if x.opts.NoCache {
		return "", false
	}
	id, ok := x.b.cache.Get(key)
	if !ok {
		return "", false
	}
	if _, err := x.b.backend.GetImage(ctx, id, GetImageOptions{}); err != nil {
		x.b.cache.Drop(key)
		return "", false
	}
	fmt.Fprintf(x.out, " ---> Using cache\n ---> %s\n", shortID(id))
	return id, true
}

// commit makes the step's image and records it in the cache.
func (x *executor) commit(ctx context.Context, st *state, layer io.Reader, createdBy, key string) error {
	id, err := x.b.backend.CreateStep(ctx, st.imageID, layer, image.StepConfig{Config: st.config, Author: st.author, CreatedBy: createdBy, Platform: x.platform()})
	if err != nil {
		return err
	}
	st.imageID = id
	x.made = append(x.made, madeImage{id, key})
	if err := x.b.cache.Put(key, id); err != nil {
		slog.WarnContext(ctx, "builder: cache index", "err", err)
	}
	fmt.Fprintf(x.out, " ---> %s\n", shortID(id))
	return nil
}

// container creates a build container from st's image and returns its ID and a remover that runs even when ctx
// is done (client gone).
func (x *executor) container(ctx context.Context, st *state, cmd, env []string) (string, func(bool), error) {
	if st.imageID == "" {
		return "", nil, errdefs.ErrInvalidArgument.WithMessage("no image to run the command in (FROM scratch has no shell)")
	}
	id, err := x.b.backend.CreateContainer(ctx, ContainerSpec{
		Image: st.imageID, Cmd: cmd, Env: append(slices.Clone(st.config.Env), env...), User: st.config.User,
		WorkingDir: st.config.WorkingDir, Network: x.opts.NetworkMode, ExtraHosts: x.opts.ExtraHosts,
	})
	if err != nil {
		return "", nil, err
	}
	remove := func(say bool) {
		if err := x.b.backend.RemoveContainer(context.WithoutCancel(ctx), id); err != nil {
			slog.WarnContext(ctx, "builder: removing intermediate container", "container", id, "err", err)
		}
		if say {
			fmt.Fprintf(x.out, "Removing intermediate container %s\n", shortID(id))
		}
	}
	return id, remove, nil
}

func (x *executor) runStep(ctx context.Context, st *state, c *instructions.RunCommand) error {
	cmd, env, createdBy, err := st.runCommand(c)
	if err != nil {
		return err
	}
	key := CacheKey(st.imageID, createdBy, "")
	if id, ok := x.lookup(ctx, key); ok {
		st.imageID = id
		return nil
	}
	id, remove, err := x.container(ctx, st, cmd, env)
	if err != nil {
		return err
	}
	fmt.Fprintf(x.out, " ---> Running in %s\n", shortID(id))
	removed := false
	defer func() {
		if !removed {
			remove(false)
		}
	}()
	if err := x.b.backend.StartContainer(ctx, id); err != nil {
		return err
	}
	lw := &lineWriter{w: x.out}
	if err := x.b.backend.ContainerOutput(ctx, id, lw, lw); err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	lw.flush()
	code, err := x.b.backend.WaitContainer(ctx, id)
	if err != nil {
		return err
	}
	if code != 0 {
		return &RunError{Cmd: strings.Join(cmd, " "), Code: code}
	}
	if err := x.commitContainer(ctx, st, id, createdBy, key, func() { removed = true; remove(true) }); err != nil {
		return err
	}
	return nil
}

// commitContainer commits the container's changes as the step's layer; before announcing the new image it calls
// removed, so the output reads like docker's (Removing intermediate container, then ---> id).
func (x *executor) commitContainer(ctx context.Context, st *state, id, createdBy, key string, remove func()) error {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(x.b.backend.ContainerChanges(ctx, id, pw)) }()
	newID, err := x.b.backend.CreateStep(ctx, st.imageID, pr, image.StepConfig{Config: st.config, Author: st.author, CreatedBy: createdBy, Platform: x.platform()})
	pr.CloseWithError(io.ErrClosedPipe)
	if err != nil {
		return err
	}
	remove()
	st.imageID = newID
	x.made = append(x.made, madeImage{newID, key})
	if err := x.b.cache.Put(key, newID); err != nil {
		slog.WarnContext(ctx, "builder: cache index", "err", err)
	}
	fmt.Fprintf(x.out, " ---> %s\n", shortID(newID))
	return nil
}

func (x *executor) copyStep(ctx context.Context, st *state, name string, sd instructions.SourcesAndDest, from, chown, chmod string, unpack bool) error {
	if err := sd.ExpandRaw(st.rawExpander()); err != nil {
		return errdefs.ErrInvalidArgument.WithMessage(err.Error())
	}
	var mode *fs.FileMode
	if chmod != "" {
		m, err := strconv.ParseUint(chmod, 8, 32)
		if err != nil || m > 0o7777 {
			return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid chmod parameter: %s", chmod))
		}
		fm := fs.FileMode(m & 0o777)
		if m&0o4000 != 0 {
			fm |= fs.ModeSetuid
		}
		if m&0o2000 != 0 {
			fm |= fs.ModeSetgid
		}
		if m&0o1000 != 0 {
			fm |= fs.ModeSticky
		}
		mode = &fm
	}
	dest := sd.DestPath
	if !path.IsAbs(dest) {
		wd := st.config.WorkingDir
		if wd == "" {
			wd = "/"
		}
		trailing := strings.HasSuffix(dest, "/") || dest == "."
		dest = path.Join(wd, dest)
		if trailing && !strings.HasSuffix(dest, "/") {
			dest += "/"
		}
	}

	// Where the sources come from: the context, another stage or an image (mounted through a container).
	srcRoot, bc := x.ctxDir, x.bc
	if from != "" {
		bc = nil
		ref := from
		if id := x.names[strings.ToLower(from)]; id != "" {
			ref = id
		}
		img, err := x.b.backend.GetImage(ctx, ref, GetImageOptions{})
		if err != nil {
			return err
		}
		cid, err := x.b.backend.CreateContainer(ctx, ContainerSpec{Image: img.ID.String(), Cmd: []string{"/nonexistent"}, Network: "none"})
		if err != nil {
			return err
		}
		defer x.b.backend.RemoveContainer(context.WithoutCancel(ctx), cid)
		root, release, err := x.b.backend.MountContainer(ctx, cid)
		if err != nil {
			return err
		}
		defer release()
		srcRoot = root
	}

	var remote []string
	var local []string
	for _, s := range sd.SourcePaths {
		if name == "ADD" && isURL(s) {
			remote = append(remote, s)
		} else {
			local = append(local, s)
		}
	}
	srcs, err := resolveSources(srcRoot, local)
	if err != nil {
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("%s failed: %s", name, errMessage(err)))
	}
	var downloads []download
	defer func() {
		for _, d := range downloads {
			os.Remove(d.file)
		}
	}()
	// Sources from URLs and from heredocs (COPY <<EOF /dest) both arrive as files in the builder's temp dir.
	var fetched []download
	for _, u := range remote {
		d, err := x.download(ctx, u)
		if err != nil {
			return err
		}
		fetched = append(fetched, d)
	}
	for _, c := range sd.SourceContents {
		d, err := x.heredocFile(c)
		if err != nil {
			return err
		}
		fetched = append(fetched, d)
	}
	for _, d := range fetched {
		downloads = append(downloads, d)
		fi, err := os.Lstat(d.file)
		if err != nil {
			return err
		}
		srcs = append(srcs, source{rel: d.name, abs: d.file, info: fi})
	}
	if len(srcs) > 1 && !strings.HasSuffix(dest, "/") {
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("When using %s with more than one source file, the destination must be a directory and end with a /", name))
	}
	sum, srcName, err := hashSources(srcs, bc)
	if err != nil {
		return err
	}
	createdBy := st.nop(fmt.Sprintf("%s %s in %s ", name, srcName, sd.DestPath))
	key := CacheKey(st.imageID, createdBy, strings.Join([]string{sum, from, chown, chmod, strconv.FormatBool(unpack)}, "\x00"))
	if id, ok := x.lookup(ctx, key); ok {
		st.imageID = id
		return nil
	}

	opts := copyOptions{chmod: mode, unpack: unpack, bc: bc}
	copySources := func(root string) error {
		if chown != "" {
			uid, gid, err := resolveChown(root, chown)
			if err != nil {
				return err
			}
			opts.uid, opts.gid = uid, gid
		}
		for i, s := range srcs {
			if i >= len(srcs)-len(downloads) {
				d := downloads[i-(len(srcs)-len(downloads))]
				target := dest
				if strings.HasSuffix(dest, "/") || isDirIn(root, dest) {
					target = path.Join(dest, d.name)
				}
				if err := writeDownload(root, d.file, target, d.mode, d.mtime, opts); err != nil {
					return err
				}
				continue
			}
			one := dest
			if len(srcs) > 1 && !strings.HasSuffix(one, "/") {
				one += "/"
			}
			if err := copyInto(ctx, root, []source{s}, one, opts); err != nil {
				return err
			}
		}
		return nil
	}

	apply := func(root string) error {
		if err := copySources(root); err != nil {
			return copyError{err}
		}
		return nil
	}
	if err := x.fsStep(ctx, st, createdBy, key, apply); err != nil {
		var ce copyError
		if errors.As(err, &ce) {
			return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("%s failed: %s", name, errMessage(ce.err)))
		}
		return err
	}
	return nil
}

// copyError marks a failure of the copy itself (not of the container around it).
type copyError struct{ err error }

func (e copyError) Error() string { return e.err.Error() }
func (e copyError) Unwrap() error { return e.err }

func errMessage(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Error()
	}
	return err.Error()
}

func isURL(s string) bool {
	return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://")
}

// heredocFile writes a heredoc source to a temp file named for the file it becomes.
func (x *executor) heredocFile(c instructions.SourceContent) (download, error) {
	f, err := os.CreateTemp(x.b.tmpDir, "heredoc-")
	if err != nil {
		return download{}, err
	}
	defer f.Close()
	if _, err := f.WriteString(c.Data); err != nil {
		os.Remove(f.Name())
		return download{}, err
	}
	if err := f.Chmod(0o644); err != nil {
		os.Remove(f.Name())
		return download{}, err
	}
	return download{file: f.Name(), name: path.Base(path.Clean("/" + c.Path)), mode: 0o644}, nil
}

type download struct {
	file, name string
	mode       fs.FileMode // 0600 for a URL, as docker's ADD; 0644 for a heredoc, as BuildKit's
	mtime      time.Time
}

// download fetches an ADD URL into a temp file.
func (x *executor) download(ctx context.Context, rawURL string) (download, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return download{}, errdefs.ErrInvalidArgument.WithMessage(err.Error())
	}
	name := path.Base(u.Path)
	if name == "/" || name == "." || name == "" {
		return download{}, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("cannot determine filename from url: %s", rawURL))
	}
	fmt.Fprintf(x.out, "Downloading %s\n", rawURL)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return download{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return download{}, errdefs.ErrUnavailable.WithMessage(err.Error())
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 {
		return download{}, errdefs.ErrUnavailable.WithMessage(fmt.Sprintf("failed to GET %s with status %s", rawURL, resp.Status))
	}
	f, err := os.CreateTemp(x.b.tmpDir, "download-")
	if err != nil {
		return download{}, err
	}
	_, err = io.Copy(f, resp.Body)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return download{}, err
	}
	var mtime time.Time
	if lm := resp.Header.Get("Last-Modified"); lm != "" {
		mtime, _ = http.ParseTime(lm)
	}
	return download{file: f.Name(), name: name, mode: 0o600, mtime: mtime}, nil
}

// resolveChown resolves --chown=user[:group] with the image's /etc/passwd and /etc/group.
func resolveChown(root, spec string) (int, int, error) {
	user, group, hasGroup := strings.Cut(spec, ":")
	uid, err := lookupID(root, "/etc/passwd", user)
	if err != nil {
		return 0, 0, err
	}
	gid := uid
	if hasGroup {
		if gid, err = lookupID(root, "/etc/group", group); err != nil {
			return 0, 0, err
		}
	} else if n, err := strconv.Atoi(user); err != nil || n < 0 {
		// A user name without a group takes the user's primary group.
		if gid, err = primaryGroup(root, user); err != nil {
			return 0, 0, err
		}
	}
	return uid, gid, nil
}

func lookupID(root, file, name string) (int, error) {
	if n, err := strconv.Atoi(name); err == nil && n >= 0 {
		return n, nil
	}
	fields, err := findEntry(root, file, name)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(fields[2])
}

func primaryGroup(root, user string) (int, error) {
	fields, err := findEntry(root, "/etc/passwd", user)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(fields[3])
}

func findEntry(root, file, name string) ([]string, error) {
	p, err := secureResolve(root, file)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("unable to find user %s: no matching entries in passwd file", name))
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), ":")
		if len(fields) >= 4 && fields[0] == name {
			return fields, nil
		}
	}
	what := "user"
	if strings.HasSuffix(file, "group") {
		what = "group"
	}
	return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("unable to find %s %s: no matching entries in %s file", what, name, path.Base(file)))
}

func shortID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// lineWriter passes a RUN's output through whole lines at a time, so each stream message is a line.
type lineWriter struct {
	w   io.Writer
	buf []byte
}

func (l *lineWriter) Write(p []byte) (int, error) {
	l.buf = append(l.buf, p...)
	if i := strings.LastIndexByte(string(l.buf), '\n'); i >= 0 {
		if _, err := l.w.Write(l.buf[:i+1]); err != nil {
			return 0, err
		}
		l.buf = append(l.buf[:0], l.buf[i+1:]...)
	}
	return len(p), nil
}

func (l *lineWriter) flush() {
	if len(l.buf) > 0 {
		l.w.Write(append(l.buf, '\n'))
		l.buf = nil
	}
}
