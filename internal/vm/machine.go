package vm

import (
	"encoding/json"
	"os"
	"path/filepath"
	"time"

	"github.com/berth/berth/internal/atomicfile"
	"github.com/berth/berth/internal/vm/qemu"
)

// Machine is how a VM-isolated container's machine is run: what Tasks writes into the task's bundle for the
// sandbox process (machineFile), resolved once by the engine (kernel, accelerator) so that every start agrees.
type Machine struct {
	// Qemu is the qemu-system-x86_64 binary.
	Qemu string `json:"qemu"`
	// Kernel and Initrd boot the guest (internal/vm/boot's artifacts for the container profile).
	Kernel string `json:"kernel"`
	Initrd string `json:"initrd"`
	// Type is the machine model (microvm unless the kernel needs q35).
	Type qemu.MachineType `json:"type"`
	// Accel runs the guest on KVM or TCG; AccelReason says why.
	Accel       qemu.Accel `json:"accel"`
	AccelReason string     `json:"accel_reason,omitempty"`
	TSCKHz      int        `json:"tsc_khz,omitempty"`
	// CPUs and MemoryMiB size a container that sets no limits.
	CPUs      int `json:"cpus"`
	MemoryMiB int `json:"memory_mib"`
	// BootTimeout bounds the time from starting qemu to the container's process running.
	BootTimeout time.Duration `json:"boot_timeout"`
	// Debug makes the guest init log its progress on the console (the bundle's console.log).
	Debug bool `json:"debug,omitempty"`
}

// Files of a VM-isolated container's bundle, beside the OCI spec (config.json) and the shim's.
const (
	machineFile = "vm.json"     // Machine
	consoleFile = "console.log" // the guest's serial console
)

func writeMachine(bundle string, m Machine) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(bundle, machineFile), b, 0o600, atomicfile.NoSync())
}

func readMachine(bundle string) (Machine, error) {
	var m Machine
	b, err := os.ReadFile(filepath.Join(bundle, machineFile))
	if err != nil {
		return m, err
	}
	return m, json.Unmarshal(b, &m)
}
