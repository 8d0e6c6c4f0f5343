package command

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/containerd/errdefs"

	"github.com/spf13/cobra"

	"github.com/berth/berth/client"
	"github.com/berth/berth/cmd/internal/cli"
	"github.com/berth/berth/internal/buildcontext"
)

func newBuildCommand(c *CLI) *cobra.Command {
	var (
		opts      client.ImageBuildOptions
		tags      = NewListOpts(nil)
		buildArgs = NewListOpts(nil)
		labels    = NewListOpts(nil)
		addHosts  = NewListOpts(nil)
		iidfile   string
		file      string
	)
	cmd := &cobra.Command{
		Use:         "build [OPTIONS] PATH | -",
		Short:       "Build an image from a Dockerfile",
		Args:        cli.ExactArgs(1),
		Annotations: map[string]string{"aliases": joinAliases("image build", "build", "builder build")},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Tags = tags.Values()
			opts.ExtraHosts = addHosts.Values()
			opts.BuildArgs = map[string]*string{}
			for _, a := range buildArgs.Values() {
				k, v, ok := strings.Cut(a, "=")
				if !ok {
					// --build-arg NAME takes the value from the environment, or none.
					if ev, set := os.LookupEnv(k); set {
						opts.BuildArgs[k] = &ev
					} else {
						opts.BuildArgs[k] = nil
					}
					continue
				}
				opts.BuildArgs[k] = &v
			}
			opts.Labels = map[string]string{}
			for _, l := range labels.Values() {
				k, v, _ := strings.Cut(l, "=")
				opts.Labels[k] = v
			}
			if iidfile != "" {
				if err := os.Remove(iidfile); err != nil && !errors.Is(err, fs.ErrNotExist) {
					return fmt.Errorf("Removing image ID file: %w", err)
				}
			}
			apiClient, err := c.Client()
			if err != nil {
				return err
			}
			var resp io.ReadCloser
			if args[0] == "-" {
				opts.Dockerfile = file
				if resp, err = apiClient.ImageBuild(cmd.Context(), c.in, opts); err != nil {
					return err
				}
			} else {
				name, err := buildcontext.Locate(args[0], file)
				if err != nil {
					return err
				}
				if file == "-" {
					// -f -: the Dockerfile comes from stdin and travels inside the context tar
					if name.Data, err = io.ReadAll(c.in); err != nil {
						return err
					}
				}
				opts.Dockerfile = name.InContext
				send := func(sums *sumCache) (io.ReadCloser, error) {
					pr, pw := io.Pipe()
					var summer buildcontext.Summer
					if sums != nil {
						summer = sums
					}
					go func() { pw.CloseWithError(buildcontext.Write(pw, args[0], name, summer)) }()
					o := opts
					o.Manifest = sums != nil
					resp, err := apiClient.ImageBuild(cmd.Context(), pr, o)
					if err != nil {
						pr.CloseWithError(err) // stops the writer when the daemon answered early
					}
					return resp, err
				}
				// First a manifest naming large files by digest; the full context when the daemon lacks some
				// (first build, pruned store) or is not Berth (404).
				sums := openSumCache()
				resp, err = send(sums)
				sums.save()
				if errors.Is(err, errdefs.ErrFailedPrecondition) || errors.Is(err, errdefs.ErrNotFound) && strings.Contains(err.Error(), "page not found") {
					resp, err = send(nil)
				}
				if err != nil {
					return err
				}
			}
			defer resp.Close()
			id, err := displayBuild(resp, c.out, opts.Quiet)
			if err != nil {
				return err
			}
			if opts.Quiet {
				fmt.Fprintln(c.out, id)
			}
			if iidfile != "" && id != "" {
				if err := os.WriteFile(iidfile, []byte(id), 0o666); err != nil {
					return err
				}
			}
			return nil
		},
	}
	flags := cmd.Flags()
	flags.VarP(tags, "tag", "t", `Name and optionally a tag in the "name:tag" format`)
	flags.StringVarP(&file, "file", "f", "", `Name of the Dockerfile (Default is "PATH/Dockerfile")`)
	flags.Var(buildArgs, "build-arg", "Set build-time variables")
	flags.Var(labels, "label", "Set metadata for an image")
	flags.Var(addHosts, "add-host", `Add a custom host-to-IP mapping ("host:ip")`)
	flags.StringVar(&opts.Target, "target", "", "Set the target build stage to build.")
	flags.BoolVar(&opts.NoCache, "no-cache", false, "Do not use cache when building the image")
	flags.BoolVar(&opts.PullParent, "pull", false, "Always attempt to pull a newer version of the image")
	flags.BoolVarP(&opts.Quiet, "quiet", "q", false, "Suppress the build output and print image ID on success")
	flags.StringVar(&iidfile, "iidfile", "", "Write the image ID to the file")
	flags.StringVar(&opts.NetworkMode, "network", "default", "Set the networking mode for the RUN instructions during build")
	flags.StringVar(&opts.Platform, "platform", os.Getenv("DOCKER_DEFAULT_PLATFORM"), "Set platform if server is multi-platform capable")
	flags.Bool("rm", true, "Remove intermediate containers after a successful build")
	flags.Bool("force-rm", false, "Always remove intermediate containers")
	return cmd
}

// displayBuild prints a build's message stream and returns the image ID from its aux message. A failed RUN's
// exit code becomes the command's.
func displayBuild(r io.Reader, out io.Writer, quiet bool) (string, error) {
	dec := json.NewDecoder(bufio.NewReader(r))
	var id string
	for {
		var m struct {
			Stream      string `json:"stream"`
			Error       string `json:"error"`
			ErrorDetail *struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
			} `json:"errorDetail"`
			Aux *struct {
				ID string `json:"ID"`
			} `json:"aux"`
		}
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return id, nil
			}
			return id, err
		}
		if m.ErrorDetail != nil && m.ErrorDetail.Message != "" {
			code := m.ErrorDetail.Code
			if code == 0 {
				code = 1
			}
			return id, cli.StatusError{Status: m.ErrorDetail.Message, Code: code}
		}
		if m.Error != "" {
			return id, cli.StatusError{Status: m.Error, Code: 1}
		}
		if m.Aux != nil {
			id = m.Aux.ID
			continue
		}
		if !quiet && m.Stream != "" {
			fmt.Fprint(out, m.Stream)
		}
	}
}
