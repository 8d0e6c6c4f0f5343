package command

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/berth/berth/api/vm"
	"github.com/berth/berth/client"
	"github.com/berth/berth/cmd/internal/cli"
	"github.com/berth/berth/cmd/internal/formatter"
)

// newVMSecurityGroupCommand is `vm sg`: EC2's security groups, the VMs' inbound firewall.
func newVMSecurityGroupCommand(c *CLI) *cobra.Command {
	create := func() *cobra.Command {
		var desc string
		cmd := &cobra.Command{
			Use:   "create [OPTIONS] NAME",
			Short: "Create a security group (it allows nothing inbound until rules are added)",
			Args:  cli.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				apiClient, err := c.Client()
				if err != nil {
					return err
				}
				g, err := apiClient.SecurityGroupCreate(cmd.Context(), vm.GroupRequest{Name: args[0], Description: desc})
				if err != nil {
					return err
				}
				fmt.Fprintln(c.out, g.ID)
				return nil
			},
		}
		cmd.Flags().StringVar(&desc, "description", "", "Description")
		return cmd
	}()
	rules := func(use, short string, apply func(*client.Client, context.Context, string, []vm.Rule) (vm.SecurityGroup, error)) *cobra.Command {
		var cidrs, groups []string
		cmd := &cobra.Command{
			Use:   use + " [OPTIONS] GROUP RULE [RULE...]",
			Short: short,
			Long: short + ".\nA RULE is PORT[/tcp|udp], FROM-TO[/tcp|udp], icmp[/TYPE] or all; the sources are --cidr blocks and\n" +
				"--source-group members (0.0.0.0/0 when neither is given).",
			Args: cli.RequiresMinArgs(2),
			RunE: func(cmd *cobra.Command, args []string) error {
				apiClient, err := c.Client()
				if err != nil {
					return err
				}
				var list []vm.Rule
				for _, spec := range args[1:] {
					r, err := parseAllow(spec)
					if err != nil {
						return err
					}
					r.CIDRs, r.Groups = cidrs, groups
					if len(cidrs) == 0 && len(groups) == 0 {
						r.CIDRs = []string{"0.0.0.0/0"}
					}
					list = append(list, r)
				}
				_, err = apply(apiClient, cmd.Context(), args[0], list)
				return err
			},
		}
		cmd.Flags().StringArrayVar(&cidrs, "cidr", nil, "Source CIDR block")
		cmd.Flags().StringArrayVar(&groups, "source-group", nil, "Source security group (its members' addresses)")
		return cmd
	}
	allow := rules("allow", "Allow inbound traffic to the group's VMs", (*client.Client).SecurityGroupAuthorize)
	revoke := rules("revoke", "Remove rules from a security group", (*client.Client).SecurityGroupRevoke)
	ls := vmObjectList[vm.SecurityGroup]{
		short: "List security groups", quietHelp: "Only display group IDs",
		quietFormat: formatter.DefaultQuietFormat, tableFormat: formatter.DefaultGroupTableFormat, header: formatter.GroupHeader,
		list: (*client.Client).SecurityGroupList, owner: func(g vm.SecurityGroup) string { return g.Owner }, rows: formatter.GroupRows,
	}.command(c)
	inspect := vmObjectInspectCommand(c, "inspect [OPTIONS] GROUP [GROUP...]", "Display detailed information on one or more security groups", (*client.Client).SecurityGroupInspect)
	rm := &cobra.Command{
		Use:     "rm GROUP [GROUP...]",
		Aliases: []string{"remove"},
		Short:   "Remove one or more security groups",
		Args:    cli.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.eachVM(cmd.Context(), args, func(ctx context.Context, api *client.Client, ref string) error {
				return api.SecurityGroupRemove(ctx, ref)
			})
		},
	}
	return cli.NewGroupCommand("sg", "Manage security groups", allow, create, inspect, ls, revoke, rm)
}
