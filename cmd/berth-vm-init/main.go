// Command berth-vm-init is the init of Berth's virtual machines (internal/vm/guest): built static, it is the
// /init of the initramfs the engine boots its VMs with.
package main

import (
	"os"

	"github.com/berth/berth/internal/vm/guest"
)

func main() { os.Exit(guest.Main()) }
