package command

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/berth/berth/cmd/internal/cli"
	"github.com/moby/moby/api/types/network"
	"github.com/spf13/cobra"
)

func newNetworkConnectCommand(c *CLI) *cobra.Command {
	var (
		ip      string
		aliases []string
		links   = NewListOpts(nil)
	)
	cmd := &cobra.Command{
		Use:   "connect [OPTIONS] NETWORK CONTAINER",
		Short: "Connect a container to a network",
		Args:  cli.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(links.Values()) > 0 {
				return errors.New("--link is not supported: use --alias to give the container another name on the network")
			}
			// Like docker, always send the IPAM config and the aliases, empty when not asked for.
			ep := &network.EndpointSettings{Aliases: aliases, IPAMConfig: &network.EndpointIPAMConfig{}}
			if ip != "" {
				a, err := netip.ParseAddr(ip)
				if err != nil || !a.Is4() {
					return fmt.Errorf("invalid IPv4 address: %s", ip)
				}
				ep.IPAMConfig.IPv4Address = a
			}
			apiClient, err := c.Client()
			if err != nil {
				return err
			}
			return apiClient.NetworkConnect(cmd.Context(), args[0], args[1], ep)
		},
	}
	flags := cmd.Flags()
	flags.StringVar(&ip, "ip", "", `IPv4 address (e.g., "172.30.100.104")`)
	flags.StringSliceVar(&aliases, "alias", []string{}, "Add network-scoped alias for the container")
	flags.Var(links, "link", "Add link to another container")
	return cmd
}
