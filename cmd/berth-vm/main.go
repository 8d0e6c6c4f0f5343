// Command berth-vm is the runtime of VM-isolated containers (`docker run --runtime berth-vm`): the OCI runtime
// command line berth-shim drives, and the per-container sandbox process that owns the container's qemu
// (internal/vm). The daemon finds it next to its own binary.
package main

import (
	"os"

	"github.com/berth/berth/internal/vm"
)

func main() { os.Exit(vm.RuntimeMain(os.Args[1:])) }
