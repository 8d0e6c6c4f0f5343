package command

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/moby/term"

	"github.com/berth/berth/client"
	"github.com/berth/berth/cmd/internal/cli"
	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Values of --pull.
const (
	pullAlways  = "always"
	pullMissing = "missing"
	pullNever   = "never"
)

// createOptions are the create-time options that are not part of the container's configuration.
type createOptions struct {
	name     string
	platform string
	pull     string
	quiet    bool
}

func addCreateOptions(flags *pflag.FlagSet, o *createOptions, verb string) {
	flags.StringVar(&o.name, "name", "", "Assign a name to the container")
	flags.StringVar(&o.platform, "platform", os.Getenv("BERTH_DEFAULT_PLATFORM"), "Set platform if server is multi-platform capable")
	flags.StringVar(&o.pull, "pull", pullMissing, `Pull image before `+verb+` ("always", "missing", "never")`)
	flags.BoolVarP(&o.quiet, "quiet", "q", false, "Suppress the pull output")
	// An explicit --help without -h, which is --hostname here.
	flags.Bool("help", false, "Print usage")
}

func newCreateCommand(c *CLI) *cobra.Command {
	var opts createOptions
	var copts *containerOptions
	cmd := &cobra.Command{
		Use:         "create [OPTIONS] IMAGE [COMMAND] [ARG...]",
		Short:       "Create a new container",
		Args:        cli.RequiresMinArgs(1),
		Annotations: map[string]string{"aliases": joinAliases("container create", "create")},
		RunE: func(cmd *cobra.Command, args []string) error {
			copts.Image = args[0]
			copts.Args = args[1:]
			return runCreate(cmd.Context(), c, cmd.Flags(), &opts, copts)
		},
	}
	flags := cmd.Flags()
	flags.SetInterspersed(false)
	addCreateOptions(flags, &opts, "creating")
	copts = addContainerFlags(flags)
	return cmd
}

func runCreate(ctx context.Context, c *CLI, flags *pflag.FlagSet, opts *createOptions, copts *containerOptions) error {
	if err := validatePullOpt(opts.pull); err != nil {
		return withHelp(err, "create", 125)
	}
	cfg, err := copts.parse(flags)
	if err != nil {
		return withHelp(err, "create", 125)
	}
	id, err := c.createContainer(ctx, cfg, opts)
	if err != nil {
		return err
	}
	fmt.Fprintln(c.out, id)
	return nil
}

func validatePullOpt(v string) error {
	switch v {
	case pullAlways, pullMissing, pullNever, "":
		return nil
	}
	return fmt.Errorf("invalid pull option: '%s': must be one of %q, %q or %q", v, pullAlways, pullMissing, pullNever)
}

// withHelp decorates an error like docker's run/create do: "berth: <err>\n\nRun 'berth run --help' ...".
func withHelp(err error, command string, code int) error {
	return cli.StatusError{
		Status: fmt.Sprintf("berth: %s\n\nRun 'berth %s --help' for more information", errorText(err), command),
		Code:   code,
	}
}

// createContainer creates the container, fetching the image first when it is missing (--pull), prints
// the daemon's warnings and writes --cidfile.
func (c *CLI) createContainer(ctx context.Context, cfg *containerConfig, opts *createOptions) (string, error) {
	apiClient, err := c.Client()
	if err != nil {
		return "", err
	}
	cid, err := newCIDFile(cfg.HostConfig.ContainerIDFile)
	if err != nil {
		return "", err
	}
	defer cid.Close()

	var namedRef reference.Named
	if ref, err := reference.ParseAnyReference(cfg.Config.Image); err == nil {
		if named, ok := ref.(reference.Named); ok {
			namedRef = reference.TagNameOnly(named)
		}
	} else {
		return "", err
	}

	if opts.pull == pullAlways {
		if err := c.pullImage(ctx, cfg.Config.Image, opts); err != nil {
			return "", err
		}
	}
	cfg.HostConfig.ConsoleSize[0], cfg.HostConfig.ConsoleSize[1] = c.out.TtySize()

	create := func() (string, []string, error) {
		resp, err := apiClient.ContainerCreate(ctx, cfg.Config, cfg.HostConfig, cfg.NetworkingConfig,
			clientCreateOptions(opts))
		return resp.ID, resp.Warnings, err
	}
	id, warnings, err := create()
	if err != nil {
		// Pull only for a missing image: the docker CLI pulls after any 404 (an unknown network, say), which here
		// would hide the real error behind a failed pull.
		if !errdefs.IsNotFound(err) || !strings.Contains(err.Error(), "No such image") || namedRef == nil ||
			opts.pull != pullMissing && opts.pull != "" {
			return "", err
		}
		if !opts.quiet {
			fmt.Fprintf(c.err, "Unable to find image '%s' locally\n", reference.FamiliarString(namedRef))
		}
		if err := c.pullImage(ctx, cfg.Config.Image, opts); err != nil {
			return "", err
		}
		if id, warnings, err = create(); err != nil {
			return "", err
		}
	}
	for _, w := range warnings {
		fmt.Fprintln(c.err, "WARNING:", w)
	}
	return id, cid.Write(id)
}

// pullImage pulls img for run/create (--pull), relaying the progress on stderr as docker does.
func (c *CLI) pullImage(ctx context.Context, img string, opts *createOptions) error {
	ref := img
	if named, err := reference.ParseNormalizedNamed(img); err == nil {
		if _, ok := named.(reference.Canonical); !ok {
			named = reference.TagNameOnly(named)
		}
		ref = reference.FamiliarString(named)
	}
	var out io.Writer = c.err
	if opts.quiet {
		out = io.Discard
	}
	_, isTerm := term.GetFdInfo(c.err)
	return c.pull(ctx, ref, opts.platform, out, isTerm && !opts.quiet)
}

// jsonMessage is one line of a daemon progress stream (pull, import, load).
type jsonMessage struct {
	Stream      string `json:"stream,omitempty"`
	Status      string `json:"status,omitempty"`
	Progress    string `json:"progress,omitempty"`
	ID          string `json:"id,omitempty"`
	Error       string `json:"error,omitempty"`
	ErrorDetail *struct {
		Message string `json:"message,omitempty"`
	} `json:"errorDetail,omitempty"`
	Aux json.RawMessage `json:"aux,omitempty"`
}

// displayJSONMessages prints a progress stream line by line and returns the error it reports, if any.
func displayJSONMessages(r io.Reader, out io.Writer) error {
	dec := json.NewDecoder(bufio.NewReader(r))
	for {
		var m jsonMessage
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if m.ErrorDetail != nil && m.ErrorDetail.Message != "" {
			return errors.New(m.ErrorDetail.Message)
		}
		if m.Error != "" {
			return errors.New(m.Error)
		}
		switch {
		case m.Stream != "":
			fmt.Fprint(out, m.Stream)
		case m.Status != "":
			line := m.Status
			if m.ID != "" {
				line = m.ID + ": " + line
			}
			if m.Progress != "" {
				line += " " + m.Progress
			}
			fmt.Fprintln(out, line)
		}
	}
}

// cidFile is --cidfile: refused if it exists, removed again unless an ID was written.
type cidFile struct {
	path    string
	file    *os.File
	written bool
}

func newCIDFile(path string) (*cidFile, error) {
	if path == "" {
		return &cidFile{}, nil
	}
	if _, err := os.Stat(path); err == nil {
		return nil, fmt.Errorf("container ID file found, make sure the other container isn't running or delete %s", path)
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("failed to create the container ID file: %w", err)
	}
	return &cidFile{path: path, file: f}, nil
}

func (f *cidFile) Write(id string) error {
	if f.file == nil {
		return nil
	}
	if _, err := f.file.WriteString(id); err != nil {
		return fmt.Errorf("failed to write the container ID to the file: %w", err)
	}
	f.written = true
	return nil
}

func (f *cidFile) Close() {
	if f.file == nil {
		return
	}
	_ = f.file.Close()
	if !f.written {
		_ = os.Remove(f.path)
	}
}

func clientCreateOptions(o *createOptions) client.ContainerCreateOptions {
	return client.ContainerCreateOptions{Name: o.name, Platform: o.platform}
}
