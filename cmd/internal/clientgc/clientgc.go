// Package clientgc sets the garbage collector up for a short-lived CLI process before the other packages'
// initialisation allocates (~2.4 MB in berth-compose, compose-go's JSON-schema metaschemas mostly, which triggered a
// collection during start-up: ~1.3 ms of every command when berth linked compose-go; ~0.6 MB in berth), and so that
// a command's own allocations do not pay for collections either. Go initialises ready packages in import-path order,
// and this package's path sorts before the large third-party dependencies; cmd/berth and cmd/berth-compose import it
// for that effect only.
//
// The collector runs only when the heap nears cliMemoryLimit, unless GOGC or GOMEMLIMIT say otherwise. The servers
// are a binary of their own (berthd) that does not import it: `berth daemon` execs berthd, and the setting does not
// survive the exec.
package clientgc

import (
	"os"
	"runtime/debug"
)

// cliMemoryLimit bounds what a streaming command (logs -f, events, load) accumulates before collecting.
const cliMemoryLimit = 64 << 20

func init() {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	debug.SetGCPercent(-1)
	debug.SetMemoryLimit(cliMemoryLimit)
}
