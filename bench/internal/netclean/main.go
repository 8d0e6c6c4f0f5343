// Command netclean removes what a stopped Berth daemon left on the host for its default network: the bridge
// named on the command line, the firewall table named after it and its iptables accepts. Used by bench/.
package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/berth/berth/internal/network/firewall"
	"github.com/berth/berth/internal/network/link"
)

func main() {
	if len(os.Args) != 2 || !strings.HasPrefix(os.Args[1], "berth") {
		fmt.Fprintln(os.Stderr, "usage: netclean BRIDGE (a Berth default bridge, berth…)")
		os.Exit(2)
	}
	ctx := context.Background()
	bridge := os.Args[1]
	table := "berth"
	if bridge != "berth0" {
		table = "berth-" + strings.TrimPrefix(bridge, "berth")
	}
	if fw, err := firewall.New(ctx, firewall.WithTableName(table)); err == nil {
		if err := fw.Reset(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "netclean:", err)
		}
	}
	if err := link.DeleteBridge(ctx, bridge); err != nil {
		fmt.Fprintln(os.Stderr, "netclean:", err)
		os.Exit(1)
	}
}
