// Package clientgc sets the garbage collector up for a short-lived CLI process before the other packages'
// initialisation allocates (~3 MB, which otherwise triggers a collection during start-up: ~1.3 ms of every
// command). Go initialises ready packages in import-path order, and this package's path sorts before the large
// third-party dependencies; cmd/berth imports it for that effect only.
//
// The collector runs only when the heap nears cliMemoryLimit, unless GOGC or GOMEMLIMIT say otherwise. A
// long-running command (the daemon) calls Restore.
package clientgc

import (
	"math"
	"os"
	"runtime/debug"
)

// cliMemoryLimit bounds what a streaming command (logs -f, events, load) accumulates before collecting.
const cliMemoryLimit = 64 << 20

var tuned bool

func init() {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	debug.SetGCPercent(-1)
	debug.SetMemoryLimit(cliMemoryLimit)
	tuned = true
}

// Restore gives the process Go's default collector settings back.
func Restore() {
	if !tuned {
		return
	}
	debug.SetGCPercent(100)
	debug.SetMemoryLimit(math.MaxInt64)
	tuned = false
}
