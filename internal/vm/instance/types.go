package instance

import (
	"fmt"
	"sort"
)

// Type is an instance type: its vCPUs, memory and default root disk. The names and sizes are EC2's
// general-purpose ones; qemu gives a guest what it asks for, so a type larger than the host runs overcommitted
// (Run says so in its warnings).
type Type struct {
	Name      string
	VCPUs     int
	MemoryMiB int
	// DiskGiB is the root disk's size (EC2's default root volume: 8 GiB).
	DiskGiB int
}

// Types are the instance types Berth knows.
var Types = []Type{
	{"t2.nano", 1, 512, 8},
	{"t2.micro", 1, 1024, 8},
	{"t2.small", 1, 2048, 8},
	{"t2.medium", 2, 4096, 8},
	{"t2.large", 2, 8192, 8},
	{"t3.nano", 2, 512, 8},
	{"t3.micro", 2, 1024, 8},
	{"t3.small", 2, 2048, 8},
	{"t3.medium", 2, 4096, 8},
	{"t3.large", 2, 8192, 8},
	{"m5.large", 2, 8192, 8},
	{"m5.xlarge", 4, 16384, 8},
	{"c5.large", 2, 4096, 8},
}

// DefaultType is what an instance runs as when none is given.
const DefaultType = "t2.micro"

// LookupType finds an instance type by name.
func LookupType(name string) (Type, error) {
	if name == "" {
		name = DefaultType
	}
	for _, t := range Types {
		if t.Name == name {
			return t, nil
		}
	}
	return Type{}, newError(CodeInvalidParameterValue, fmt.Sprintf("Invalid value '%s' for InstanceType.", name), errInvalid)
}

// overcommit says how running instances (plus add) compare with the host: a warning per resource they exceed.
func overcommit(running []Type, add Type, hostCPUs, hostMemMiB int) []string {
	cpus, mem := add.VCPUs, add.MemoryMiB
	for _, t := range running {
		cpus += t.VCPUs
		mem += t.MemoryMiB
	}
	var w []string
	if hostCPUs > 0 && cpus > hostCPUs {
		w = append(w, fmt.Sprintf("running instances ask for %d vCPUs and the host has %d CPUs: they are overcommitted and share the host's CPUs", cpus, hostCPUs))
	}
	if hostMemMiB > 0 && mem > hostMemMiB {
		w = append(w, fmt.Sprintf("running instances ask for %d MiB of memory and the host has %d MiB: guests get memory only as they touch it, and may run the host out of it", mem, hostMemMiB))
	}
	sort.Strings(w)
	return w
}
