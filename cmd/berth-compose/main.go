// Command berth-compose is `berth compose`: berth execs it with its whole command line, as the docker CLI runs
// its docker-compose plugin, so that compose-go (its loader compiles JSON-schema metaschemas at initialisation)
// weighs only on compose commands. Its root command is berth's, with compose as the only command:
// `berth-compose [-H host] compose up` is what `berth -H host compose up` runs.
package main

import (
	"os"

	_ "github.com/berth/berth/cmd/internal/clientgc" // before the other packages' initialisation
	"github.com/berth/berth/cmd/internal/command"
)

func main() {
	os.Exit(command.MainPlugin(os.Args[1:], newComposeCommand))
}
