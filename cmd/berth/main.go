// Command berth is the Berth CLI: docker's command tree over the client package, plus `berth daemon`.
package main

import (
	"context"
	"os"

	_ "github.com/berth/berth/cmd/internal/clientgc" // before the other packages' initialisation
)

func main() {
	c := newCLI(os.Stdin, os.Stdout, os.Stderr)
	ctx, stop := c.signalContext(context.Background())
	code := execute(ctx, c, os.Args[1:])
	stop()
	os.Exit(code)
}
