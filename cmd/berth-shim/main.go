// Command berth-shim is the per-container shim: `berth-shim <state-dir>` serves the container described by
// <state-dir>/shim.json (see internal/shim). It stays small because one runs per container.
package main

import (
	"os"
	"runtime"
	_ "runtime/debug"

	"github.com/berth/berth/internal/shim"
)

func main() {
	if len(os.Args) != 2 {
		os.Stderr.WriteString("usage: berth-shim <state-dir>\n")
		os.Exit(2)
	}
	// One P and a tight heap: a shim mostly sleeps, and there is one per container.
	runtime.GOMAXPROCS(1)
	// debug.SetGCPercent(20)
	os.Exit(shim.Run(os.Args[1]))
}
