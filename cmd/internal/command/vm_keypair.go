package command

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/berth/berth/api/vm"
	"github.com/berth/berth/client"
	"github.com/berth/berth/cmd/internal/cli"
	"github.com/berth/berth/cmd/internal/formatter"
)

// newVMKeyPairCommand is `vm keypair`: EC2's key pairs (the daemon keeps the public half).
func newVMKeyPairCommand(c *CLI) *cobra.Command {
	create := func() *cobra.Command {
		var typ, output string
		cmd := &cobra.Command{
			Use:   "create [OPTIONS] NAME",
			Short: "Create a key pair and print its private key (shown this once)",
			Args:  cli.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				apiClient, err := c.Client()
				if err != nil {
					return err
				}
				resp, err := apiClient.KeyPairCreate(cmd.Context(), vm.KeyPairRequest{Name: args[0], Type: typ})
				if err != nil {
					return err
				}
				if output == "" {
					_, err = fmt.Fprint(c.out, resp.PrivateKey)
					return err
				}
				// The private key exists nowhere else: 0600, and an existing file is not overwritten.
				f, err := os.OpenFile(output, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
				if err != nil {
					apiClient.KeyPairRemove(context.WithoutCancel(cmd.Context()), args[0])
					return err
				}
				if _, err := f.WriteString(resp.PrivateKey); err != nil {
					f.Close()
					return err
				}
				return f.Close()
			},
		}
		cmd.Flags().StringVar(&typ, "type", "rsa", "Key type: rsa or ed25519")
		cmd.Flags().StringVarP(&output, "output", "o", "", "Write the private key to this file (mode 0600) instead of standard output")
		return cmd
	}()
	imp := &cobra.Command{
		Use:   "import NAME PUBLIC-KEY-FILE",
		Short: "Import a public key (authorized_keys format) as a key pair",
		Args:  cli.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			apiClient, err := c.Client()
			if err != nil {
				return err
			}
			pub, err := os.ReadFile(args[1])
			if err != nil {
				return err
			}
			resp, err := apiClient.KeyPairCreate(cmd.Context(), vm.KeyPairRequest{Name: args[0], PublicKey: string(pub)})
			if err != nil {
				return err
			}
			fmt.Fprintln(c.out, resp.KeyPair.Fingerprint)
			return nil
		},
	}
	ls := vmObjectList[vm.KeyPair]{
		short: "List key pairs", quietHelp: "Only display names",
		quietFormat: "{{.Name}}", tableFormat: formatter.DefaultKeyPairTableFormat, header: formatter.KeyPairHeader,
		list: (*client.Client).KeyPairList, owner: func(k vm.KeyPair) string { return k.Owner }, rows: formatter.KeyPairRows,
	}.command(c)
	inspect := vmObjectInspectCommand(c, "inspect [OPTIONS] NAME [NAME...]", "Display detailed information on one or more key pairs", (*client.Client).KeyPairInspect)
	rm := &cobra.Command{
		Use:     "rm NAME [NAME...]",
		Aliases: []string{"remove"},
		Short:   "Remove one or more key pairs (VMs launched with them keep their keys)",
		Args:    cli.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.eachVM(cmd.Context(), args, func(ctx context.Context, api *client.Client, ref string) error {
				return api.KeyPairRemove(ctx, ref)
			})
		},
	}
	return cli.NewGroupCommand("keypair", "Manage SSH key pairs", create, imp, inspect, ls, rm)
}
