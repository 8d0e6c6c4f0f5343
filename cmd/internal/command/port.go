package command

import (
	"fmt"
	"net"
	"sort"
	"strings"

	"github.com/berth/berth/cmd/internal/cli"
	"github.com/moby/moby/api/types/network"
	"github.com/spf13/cobra"
)

func newPortCommand(c *CLI) *cobra.Command {
	return &cobra.Command{
		Use:         "port CONTAINER [PRIVATE_PORT[/PROTO]]",
		Short:       "List port mappings or a specific mapping for the container",
		Args:        cli.RequiresRangeArgs(1, 2),
		Annotations: map[string]string{"aliases": joinAliases("container port", "port")},
		RunE: func(cmd *cobra.Command, args []string) error {
			apiClient, err := c.Client()
			if err != nil {
				return err
			}
			ctr, err := apiClient.ContainerInspect(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			var ports network.PortMap
			if ctr.NetworkSettings != nil {
				ports = ctr.NetworkSettings.Ports
			}
			var out []string
			if len(args) == 2 {
				port, err := network.ParsePort(args[1])
				if err != nil {
					return err
				}
				if port.Proto() == "" {
					port, _ = network.PortFrom(port.Num(), network.TCP)
				}
				frontends := ports[port]
				if len(frontends) == 0 {
					return fmt.Errorf("Error: No public port '%s' published for %s", args[1], args[0])
				}
				for _, f := range frontends {
					out = append(out, HostPort(f))
				}
			} else {
				for from, frontends := range ports {
					for _, f := range frontends {
						out = append(out, fmt.Sprintf("%s -> %s", from, HostPort(f)))
					}
				}
			}
			if len(out) > 0 {
				sort.Slice(out, func(i, j int) bool { return naturalLess(out[i], out[j]) })
				fmt.Fprintln(c.out, strings.Join(out, "\n"))
			}
			return nil
		},
	}
}

// HostPort renders a binding as docker does: an unset host IP stays empty (":8080").
func HostPort(b network.PortBinding) string {
	ip := ""
	if b.HostIP.IsValid() {
		ip = b.HostIP.String()
	}
	return net.JoinHostPort(ip, b.HostPort)
}

// naturalLess orders strings with embedded numbers numerically ("8080/tcp" after "443/tcp").
func naturalLess(a, b string) bool {
	for a != "" && b != "" {
		da, db := leadingDigits(a), leadingDigits(b)
		if da != "" && db != "" {
			na, nb := strings.TrimLeft(da, "0"), strings.TrimLeft(db, "0")
			if len(na) != len(nb) {
				return len(na) < len(nb)
			}
			if na != nb {
				return na < nb
			}
			a, b = a[len(da):], b[len(db):]
			continue
		}
		if a[0] != b[0] {
			return a[0] < b[0]
		}
		a, b = a[1:], b[1:]
	}
	return len(a) < len(b)
}

func leadingDigits(s string) string {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return s[:i]
}
