package command

import (
	"context"
	"errors"
	"io"
	"os"
	"time"

	"github.com/berth/berth/client"
	"github.com/berth/berth/cmd/internal/cli"
	"github.com/moby/moby/api/types/container"
	"github.com/spf13/cobra"
)

type execOptions struct {
	detachKeys  string
	interactive bool
	tty         bool
	detach      bool
	user        string
	privileged  bool
	workdir     string
	env         *ListOpts
	envFile     *ListOpts
}

func newExecCommand(c *CLI) *cobra.Command {
	opts := execOptions{env: NewListOpts(ValidateEnv), envFile: NewListOpts(nil)}
	cmd := &cobra.Command{
		Use:         "exec [OPTIONS] CONTAINER COMMAND [ARG...]",
		Short:       "Execute a command in a running container",
		Args:        cli.RequiresMinArgs(2),
		Annotations: map[string]string{"aliases": joinAliases("container exec", "exec")},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runExec(cmd.Context(), c, &opts, args[0], args[1:])
		},
	}
	flags := cmd.Flags()
	flags.SetInterspersed(false)
	flags.StringVar(&opts.detachKeys, "detach-keys", "", "Override the key sequence for detaching a container")
	flags.BoolVarP(&opts.interactive, "interactive", "i", false, "Keep STDIN open even if not attached")
	flags.BoolVarP(&opts.tty, "tty", "t", false, "Allocate a pseudo-TTY")
	flags.BoolVarP(&opts.detach, "detach", "d", false, "Detached mode: run command in the background")
	flags.StringVarP(&opts.user, "user", "u", "", `Username or UID (format: "<name|uid>[:<group|gid>]")`)
	flags.BoolVar(&opts.privileged, "privileged", false, "Give extended privileges to the command")
	flags.VarP(opts.env, "env", "e", "Set environment variables")
	flags.Var(opts.envFile, "env-file", "Read in a file of environment variables")
	flags.StringVarP(&opts.workdir, "workdir", "w", "", "Working directory inside the container")
	return cmd
}

func runExec(ctx context.Context, c *CLI, opts *execOptions, containerName string, command []string) error {
	if err := validateDetachKeys(opts.detachKeys); err != nil {
		return err
	}
	env, err := readKVStrings(opts.envFile.Values(), opts.env.Values(), os.LookupEnv)
	if err != nil {
		return err
	}
	req := container.ExecCreateRequest{
		User:       opts.user,
		Privileged: opts.privileged,
		Tty:        opts.tty,
		Env:        env,
		WorkingDir: opts.workdir,
		Cmd:        command,
		DetachKeys: opts.detachKeys,
	}
	if !opts.detach {
		req.AttachStdout, req.AttachStderr = true, true
		req.AttachStdin = opts.interactive
	}
	apiClient, err := c.Client()
	if err != nil {
		return err
	}
	// Inspect first so "No such container" wins over tty complaints, and no exec is leaked.
	if _, err := apiClient.ContainerInspect(ctx, containerName); err != nil {
		return err
	}
	if !opts.detach {
		if err := c.in.CheckTty(req.AttachStdin, req.Tty); err != nil {
			return err
		}
	}
	var consoleSize *[2]uint
	if opts.tty {
		if h, w := c.out.TtySize(); h > 0 || w > 0 {
			consoleSize = &[2]uint{h, w}
		}
	}
	req.ConsoleSize = consoleSize
	created, err := apiClient.ExecCreate(ctx, containerName, req)
	if err != nil {
		return err
	}
	if created.ID == "" {
		return errors.New("exec ID empty")
	}
	startOpts := client.ExecStartOptions{Tty: opts.tty, ConsoleSize: consoleSize}
	if opts.detach {
		return apiClient.ExecStart(ctx, created.ID, startOpts)
	}

	streamCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	resp, err := apiClient.ExecAttach(streamCtx, created.ID, startOpts)
	if err != nil {
		return err
	}
	defer resp.Close()
	h := &hijackedStreamer{c: c, resp: resp, out: c.out, tty: opts.tty, detachKeys: opts.detachKeys}
	if req.AttachStdin {
		h.in = io.ReadCloser(c.in)
	}
	if opts.tty {
		h.errw = c.out
	} else {
		h.errw = c.err
	}
	done := make(chan error, 1)
	go func() { done <- h.stream(streamCtx) }()
	if opts.tty && c.in.IsTerminal() {
		c.monitorTtySize(streamCtx, created.ID, true)
	}
	if err := <-done; err != nil {
		if errors.Is(err, errDetached) {
			return nil
		}
		return err
	}
	return execExitStatus(ctx, apiClient, created.ID)
}

// execExitStatus reads the exec's exit code once its output has ended, waiting briefly for the daemon
// to record it.
func execExitStatus(ctx context.Context, apiClient *client.Client, id string) error {
	ctx = context.WithoutCancel(ctx)
	for attempt := 0; ; attempt++ {
		resp, err := apiClient.ExecInspect(ctx, id)
		if err != nil {
			if client.IsErrConnectionFailed(err) {
				return cli.StatusError{Code: -1}
			}
			return err
		}
		if (resp.Running || resp.ExitCode == nil) && attempt < 20 {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		if resp.ExitCode != nil && *resp.ExitCode != 0 {
			return cli.StatusError{Code: *resp.ExitCode}
		}
		return nil
	}
}
