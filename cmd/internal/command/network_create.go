package command

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/berth/berth/client"
	"github.com/berth/berth/cmd/internal/cli"
	"github.com/moby/moby/api/types/network"
	"github.com/spf13/cobra"
)

func newNetworkCreateCommand(c *CLI) *cobra.Command {
	var (
		driver     string
		internal   bool
		attachable bool
		ipv6       bool
		subnets    []string
		ipRanges   []string
		gateways   []string
		labels     = NewListOpts(nil)
		opts       = newMapOpts()
	)
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] NETWORK",
		Short: "Create a network",
		Args:  cli.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := client.NetworkCreateOptions{
				Driver:     driver,
				Internal:   internal,
				Attachable: attachable,
				Options:    opts.values,
				Labels:     kvToMap(labels.Values()),
			}
			if cmd.Flags().Changed("ipv6") {
				if ipv6 {
					return errors.New("IPv6 networks are not supported")
				}
				req.EnableIPv6 = &ipv6
			}
			ipam, err := networkIPAM(subnets, ipRanges, gateways)
			if err != nil {
				return err
			}
			req.IPAM = ipam
			apiClient, err := c.Client()
			if err != nil {
				return err
			}
			resp, err := apiClient.NetworkCreate(cmd.Context(), args[0], req)
			if err != nil {
				return err
			}
			fmt.Fprintln(c.out, resp.ID)
			return nil
		},
	}
	flags := cmd.Flags()
	flags.StringVarP(&driver, "driver", "d", "bridge", "Driver to manage the Network")
	flags.VarP(opts, "opt", "o", "Set driver specific options")
	flags.Var(labels, "label", "Set metadata on a network")
	flags.BoolVar(&internal, "internal", false, "Restrict external access to the network")
	flags.BoolVar(&ipv6, "ipv6", false, "Enable or disable IPv6 address assignment")
	flags.BoolVar(&attachable, "attachable", false, "Enable manual container attachment")
	flags.StringSliceVar(&subnets, "subnet", nil, "Subnet in CIDR format that represents a network segment")
	flags.StringSliceVar(&ipRanges, "ip-range", nil, "Allocate container ip from a sub-range")
	flags.StringSliceVar(&gateways, "gateway", nil, "IPv4 or IPv6 Gateway for the master subnet")
	return cmd
}

// networkIPAM pairs each --ip-range and --gateway with the --subnet that contains it, in the order the subnets
// were given, and checks what docker's CLI checks before asking the daemon.
func networkIPAM(subnets, ipRanges, gateways []string) (*network.IPAM, error) {
	if len(subnets) < len(ipRanges) || len(subnets) < len(gateways) {
		return nil, errors.New("every ip-range or gateway must have a corresponding subnet")
	}
	configs := make([]network.IPAMConfig, 0, len(subnets))
	for _, s := range subnets {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("invalid subnet: invalid CIDR address: %s", s)
		}
		for _, prev := range configs {
			if prev.Subnet.Overlaps(p) {
				return nil, errors.New("multiple overlapping subnet configuration is not supported")
			}
		}
		configs = append(configs, network.IPAMConfig{Subnet: p})
	}
	// containing returns the config whose subnet holds a, or nil.
	containing := func(a netip.Addr) *network.IPAMConfig {
		for i := range configs {
			if configs[i].Subnet.Masked().Contains(a) {
				return &configs[i]
			}
		}
		return nil
	}
	for _, r := range ipRanges {
		p, err := netip.ParsePrefix(r)
		if err != nil {
			return nil, fmt.Errorf("invalid CIDR address: %s", r)
		}
		cfg := containing(p.Masked().Addr())
		if cfg == nil {
			return nil, fmt.Errorf("no matching subnet for range %s", r)
		}
		if cfg.IPRange.IsValid() {
			return nil, fmt.Errorf("cannot configure multiple ranges (%s, %s) on the same subnet (%s)", r, cfg.IPRange, cfg.Subnet)
		}
		cfg.IPRange = p
	}
	for _, g := range gateways {
		a, err := netip.ParseAddr(g)
		var cfg *network.IPAMConfig
		if err == nil {
			cfg = containing(a)
		}
		if cfg == nil {
			return nil, fmt.Errorf("no matching subnet for gateway %s", g)
		}
		if cfg.Gateway.IsValid() {
			return nil, fmt.Errorf("cannot configure multiple gateways (%s, %s) for the same subnet (%s)", g, cfg.Gateway, cfg.Subnet)
		}
		cfg.Gateway = a
	}
	// docker sends the default IPAM driver and empty collections rather than nulls; so does berth.
	return &network.IPAM{Driver: "default", Options: map[string]string{}, Config: configs}, nil
}
