package command

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/berth/berth/cmd/internal/cli"
	"github.com/docker/cli/cli/config/types"
	"github.com/moby/moby/api/types/registry"
	"github.com/moby/term"
	"github.com/spf13/cobra"
)

func newLoginCommand(c *CLI) *cobra.Command {
	var user, password string
	var passwordStdin bool
	cmd := &cobra.Command{
		Use:   "login [OPTIONS] [SERVER]",
		Short: "Authenticate to a registry",
		Long:  "Authenticate to a registry.\nDefaults to Docker Hub if no server is specified.",
		Args:  cli.RequiresMaxArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			server := dockerHubServer
			if len(args) == 1 {
				server = serverKey(args[0])
			}
			if password != "" {
				fmt.Fprintln(c.err, "WARNING! Using --password via the CLI is insecure. Use --password-stdin.")
				if passwordStdin {
					return errors.New("--password and --password-stdin are mutually exclusive")
				}
			}
			if passwordStdin {
				if user == "" {
					return errors.New("Must provide --username with --password-stdin")
				}
				b, err := io.ReadAll(c.in)
				if err != nil {
					return err
				}
				password = strings.TrimRight(string(b), "\r\n")
			}
			cf := c.loadConfigFile()
			stored, _ := cf.GetAuthConfig(server)
			if user == "" || password == "" {
				if !c.in.IsTerminal() {
					return errors.New("Error: Cannot perform an interactive login from a non TTY device")
				}
				rd := bufio.NewReader(c.in)
				if user == "" {
					prompt := "Username: "
					if stored.Username != "" {
						prompt = fmt.Sprintf("Username (%s): ", stored.Username)
					}
					fmt.Fprint(c.out, prompt)
					line, _ := rd.ReadString('\n')
					if user = strings.TrimSpace(line); user == "" {
						user = stored.Username
					}
					if user == "" {
						return errors.New("Error: Non-null Username Required")
					}
				}
				if password == "" {
					st, err := term.SaveState(c.in.fd)
					if err == nil {
						term.DisableEcho(c.in.fd, st)
					}
					fmt.Fprint(c.out, "Password: ")
					line, _ := rd.ReadString('\n')
					if st != nil {
						term.RestoreTerminal(c.in.fd, st)
					}
					fmt.Fprintln(c.out)
					if password = strings.TrimRight(line, "\r\n"); password == "" {
						return errors.New("Error: Password Required")
					}
				}
			}
			apiClient, err := c.Client()
			if err != nil {
				return err
			}
			resp, err := apiClient.RegistryLogin(cmd.Context(), registry.AuthConfig{Username: user, Password: password, ServerAddress: server})
			if err != nil {
				return err
			}
			ac := types.AuthConfig{Username: user, Password: password, ServerAddress: server}
			if resp.IdentityToken != "" {
				ac.Password, ac.IdentityToken = "", resp.IdentityToken
			}
			if err := cf.GetCredentialsStore(server).Store(ac); err != nil {
				return fmt.Errorf("Error saving credentials: %w", err)
			}
			if resp.Status != "" {
				fmt.Fprintln(c.out, resp.Status)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&user, "username", "u", "", "Username")
	f.StringVarP(&password, "password", "p", "", "Password")
	f.BoolVar(&passwordStdin, "password-stdin", false, "Take the password from stdin")
	return cmd
}

func newLogoutCommand(c *CLI) *cobra.Command {
	return &cobra.Command{
		Use:   "logout [SERVER]",
		Short: "Log out from a registry",
		Long:  "Log out from a registry.\nIf no server is specified, the default is defined by the daemon.",
		Args:  cli.RequiresMaxArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			server := dockerHubServer
			if len(args) == 1 {
				server = serverKey(args[0])
			}
			// As docker's CLI: erase every spelling of the server, and say so even when nothing was stored.
			regs := []string{server}
			if server != dockerHubServer {
				regs = append(regs, "http://"+server, "https://"+server)
			}
			fmt.Fprintf(c.out, "Removing login credentials for %s\n", server)
			cf := c.loadConfigFile()
			failed := 0
			for _, r := range regs {
				if err := cf.GetCredentialsStore(r).Erase(r); err != nil {
					failed++
				}
			}
			if failed == len(regs) {
				fmt.Fprintf(c.err, "WARNING: could not erase credentials for %s\n", server)
			}
			return nil
		},
	}
}
