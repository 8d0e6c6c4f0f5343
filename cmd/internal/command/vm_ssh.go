package command

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/berth/berth/cmd/internal/cli"
)

func newVMSSHCommand(c *CLI) *cobra.Command {
	var identity, user string
	cmd := &cobra.Command{
		Use:   "ssh [OPTIONS] VM [COMMAND] [ARG...]",
		Short: "Open an SSH session to a virtual machine, or run a command there",
		Long: "Run ssh to the VM's address as its user, with the key berth generated for it (or the --ssh-key given to\n" +
			"`berth vm run`), unless -i names another. The VM's host key is remembered at the first connection.",
		Args: cli.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			apiClient, err := c.Client()
			if err != nil {
				return err
			}
			inst, err := apiClient.VMInspect(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if inst.State != "running" {
				return fmt.Errorf("VM %s is %s, not running", args[0], inst.State)
			}
			u, addr, key, knownHosts, err := vmSSHTarget(inst)
			if err != nil {
				return err
			}
			if user != "" {
				u = user
			}
			if identity != "" {
				key = identity
			}
			sshPath, err := exec.LookPath("ssh")
			if err != nil {
				return errors.New("ssh not found (Debian's openssh-client package)")
			}
			os.MkdirAll(filepath.Dir(knownHosts), 0o700)
			// A security group drops what it does not allow: without a timeout, ssh would wait minutes for a
			// port it may not reach.
			argv := []string{"ssh", "-o", "UserKnownHostsFile=" + knownHosts, "-o", "StrictHostKeyChecking=accept-new",
				"-o", "LogLevel=ERROR", "-o", "ConnectTimeout=10"}
			if key != "" {
				argv = append(argv, "-i", key, "-o", "IdentitiesOnly=yes")
			}
			argv = append(argv, u+"@"+addr)
			if len(args) > 1 {
				argv = append(argv, "--")
				argv = append(argv, args[1:]...)
			}
			// ssh takes over the terminal and the exit status, as a user running it would see.
			return syscall.Exec(sshPath, argv, os.Environ())
		},
	}
	f := cmd.Flags()
	f.SetInterspersed(false)
	f.StringVarP(&identity, "identity", "i", "", "Private key to authenticate with")
	f.StringVarP(&user, "user", "l", "", "User to log in as (default: the VM's)")
	return cmd
}
