// Command berth is the Berth CLI: docker's command tree over the client package (cmd/internal/command). Like
// the docker CLI it links neither the engine nor compose: `berth daemon` and `berth registry` exec berthd, and
// `berth compose` execs berth-compose, each found next to berth or in $PATH.
package main

import (
	"os"

	_ "github.com/berth/berth/cmd/internal/clientgc" // before the other packages' initialisation
	"github.com/berth/berth/cmd/internal/command"
)

func main() {
	os.Exit(command.Main(os.Args[1:]))
}
