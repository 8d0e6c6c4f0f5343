// Command berth-shim is the per-container shim: `berth-shim <state-dir>` serves the container described by
// <state-dir>/shim.json (see internal/shim). One runs per container, so it stays small: it imports internal/shim
// only, and should be built with `go build -ldflags='-s -w' -trimpath` (CGO_ENABLED=0 drops libc: ~170 KiB less
// PSS per shim, as the net package otherwise links the cgo resolver the shim never uses).
package main

import (
	"os"
	"runtime"
	"runtime/debug"

	"github.com/berth/berth/internal/shim"
)

func main() {
	if len(os.Args) != 2 {
		os.Stderr.WriteString("usage: berth-shim <state-dir>\n")
		os.Exit(2)
	}
	// One P (Spawn also sets GOMAXPROCS=1 so the runtime starts with one) and a tight heap goal: a shim mostly
	// sleeps, and output bursts to attached clients should not leave a large heap behind.
	runtime.GOMAXPROCS(1)
	debug.SetGCPercent(20)
	os.Exit(shim.Run(os.Args[1]))
}
