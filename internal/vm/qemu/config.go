// Package qemu runs Berth's virtual machines with qemu-system-x86_64: a machine's configuration as data and its
// command line (a pure function, tested per machine type), the choice of accelerator (KVM or software
// emulation), starting qemu so that it outlives its starter, finding it again, and its QMP control socket.
//
// A machine's life:
//
//	args, err := cfg.Args()                        // the command line, from the configuration alone
//	pid, err := qemu.Start(ctx, qemu.Binary, cfg, files) // daemonized, in its own session; cfg.PIDFile names it
//	m, err := qemu.DialQMP(ctx, cfg.QMPSocket)
//	m.Execute(ctx, "system_powerdown", nil)        // ACPI power button; the guest powers off and qemu exits
//	qemu.Alive(pid, cfg.PIDFile)                   // false once it has exited (a restarted daemon asks too)
package qemu

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Binary is the qemu executable Berth runs.
const Binary = "qemu-system-x86_64"

// Accel is how guest code runs.
type Accel string

const (
	// KVM runs guest code on the CPU through /dev/kvm.
	KVM Accel = "kvm"
	// TCG emulates the CPU in software: slower, and available everywhere.
	TCG Accel = "tcg"
)

// MachineType is qemu's machine model.
type MachineType string

const (
	// MicroVM is qemu's minimal machine: no PCI, no firmware beyond qboot, virtio over MMIO described in ACPI.
	MicroVM MachineType = "microvm"
	// Q35 is a PC with PCIe, for kernels that cannot drive microvm's devices.
	Q35 MachineType = "q35"
)

// Config is one machine.
type Config struct {
	// Name names the machine in qemu's process title and logs.
	Name string
	Type MachineType
	// Accel is KVM or TCG; TSCKHz (TCG on microvm) tells the guest the TSC's frequency, which it cannot
	// calibrate without a PIT or HPET.
	Accel  Accel
	TSCKHz int
	CPUs   int
	// MemoryMiB is the guest's RAM.
	MemoryMiB int
	// Kernel, Initrd and KernelArgs boot the guest directly (no firmware, no bootloader). KernelArgs come after
	// the ones Args adds (console, panic, and per machine type and accelerator).
	Kernel, Initrd string
	KernelArgs     []string
	// Disks are virtio block devices, /dev/vda first.
	Disks []Disk
	// Shares are host directories exported over virtio-9p.
	Shares []Share
	// NICs are virtio network devices on tap devices the caller opened.
	NICs []NIC
	// AgentSocket is the unix socket qemu listens on for the guest agent's virtio-serial port.
	AgentSocket string
	// QMPSocket is the unix socket of qemu's control protocol.
	QMPSocket string
	// ConsoleSocket is a unix socket qemu listens on for the serial console; ConsoleLog records its output.
	ConsoleSocket, ConsoleLog string
	// FwCfg items are files the guest reads from /sys/firmware/qemu_fw_cfg.
	FwCfg []FwCfg
	// NoReboot makes a guest reboot end qemu.
	NoReboot bool
	// PIDFile is written by qemu with its pid.
	PIDFile string
	// Daemonize detaches qemu once it is initialised (its starter gets the outcome as an exit status).
	Daemonize bool
}

// Disk is a block device.
type Disk struct {
	Path     string
	Format   string // raw or qcow2
	ReadOnly bool
}

// Share is a directory exported over 9p; the guest mounts it by Tag.
type Share struct {
	Tag      string
	Path     string
	ReadOnly bool
}

// NIC is a network device on a tap device passed to qemu as descriptor FD.
type NIC struct {
	FD  int
	MAC string
}

// FwCfg is a named fw_cfg item read from File.
type FwCfg struct {
	Name string
	File string
}

// Args is the qemu command line (without the binary) for c.
func (c Config) Args() ([]string, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	dev := func(kind string) string { // virtio-KIND-device on microvm's MMIO, virtio-KIND-pci on q35
		if c.Type == MicroVM {
			return "virtio-" + kind + "-device"
		}
		return "virtio-" + kind + "-pci"
	}
	var a []string
	add := func(s ...string) { a = append(a, s...) }
	machine := string(c.Type)
	if c.Type == MicroVM {
		// No option ROMs, no PIT or 8259 (the kernel uses the local APIC; KVM has its clock, TCG gets the TSC's
		// frequency), the RTC for the wall clock, the ISA serial port for the console, ACPI to describe the
		// virtio-mmio devices.
		machine += ",x-option-roms=off,pit=off,pic=off,rtc=on,isa-serial=on,acpi=on"
	}
	add("-name", "guest="+c.Name+",process=berth-vm-"+c.Name, "-machine", machine)
	switch c.Accel {
	case KVM:
		add("-accel", "kvm", "-cpu", "host")
	case TCG:
		// One thread for all vCPUs: with one thread per vCPU, guests on an overloaded two-core host stalled in
		// soft lockups (test/e2e/cgroupv2_test.go records it).
		add("-accel", "tcg,thread=single", "-cpu", "max")
	}
	add("-smp", strconv.Itoa(c.CPUs), "-m", strconv.Itoa(c.MemoryMiB)+"M")
	add("-nodefaults", "-no-user-config", "-display", "none")
	// Qemu's own seccomp filter: no obsolete system calls, no scheduling changes, and unless it daemonizes (which
	// forks and calls setsid after the filter is in place) no spawning and no privilege changes.
	sandbox := "on,obsolete=deny,resourcecontrol=deny"
	if !c.Daemonize {
		sandbox += ",elevateprivileges=deny,spawn=deny"
	}
	add("-sandbox", sandbox)
	add("-kernel", c.Kernel)
	if c.Initrd != "" {
		add("-initrd", c.Initrd)
	}
	add("-append", strings.Join(c.kernelArgs(), " "))
	if c.ConsoleSocket != "" || c.ConsoleLog != "" {
		ch := "socket,id=console,server=on,wait=off,path=" + escape(c.ConsoleSocket)
		if c.ConsoleSocket == "" {
			ch = "null,id=console"
		}
		if c.ConsoleLog != "" {
			ch += ",logfile=" + escape(c.ConsoleLog) + ",logappend=on"
		}
		add("-chardev", ch, "-serial", "chardev:console")
	} else {
		add("-serial", "none")
	}
	if c.QMPSocket != "" {
		add("-chardev", "socket,id=qmp,server=on,wait=off,path="+escape(c.QMPSocket), "-mon", "chardev=qmp,mode=control")
	}
	if c.AgentSocket != "" {
		add("-chardev", "socket,id=agent,server=on,wait=off,path="+escape(c.AgentSocket),
			"-device", dev("serial")+",max_ports=2", "-device", "virtserialport,chardev=agent,name=berth.agent")
	}
	// Entropy for the guest's early key generation (sshd host keys).
	add("-object", "rng-random,id=rng,filename=/dev/urandom", "-device", dev("rng")+",rng=rng")
	for i, d := range c.Disks {
		format := d.Format
		if format == "" {
			format = "raw"
		}
		drive := fmt.Sprintf("file=%s,format=%s,if=none,id=disk%d,discard=unmap,detect-zeroes=unmap", escape(d.Path), format, i)
		if d.ReadOnly {
			drive += ",readonly=on"
		}
		add("-drive", drive, "-device", fmt.Sprintf("%s,drive=disk%d", dev("blk"), i))
	}
	for i, s := range c.Shares {
		fsdev := fmt.Sprintf("local,id=fs%d,path=%s,security_model=passthrough", i, escape(s.Path))
		if s.ReadOnly {
			fsdev += ",readonly=on"
		}
		add("-fsdev", fsdev, "-device", fmt.Sprintf("%s,fsdev=fs%d,mount_tag=%s", dev("9p"), i, s.Tag))
	}
	for i, n := range c.NICs {
		add("-netdev", fmt.Sprintf("tap,id=net%d,fd=%d", i, n.FD), "-device", fmt.Sprintf("%s,netdev=net%d,mac=%s", dev("net"), i, n.MAC))
	}
	for _, f := range c.FwCfg {
		add("-fw_cfg", "name="+f.Name+",file="+escape(f.File))
	}
	if c.NoReboot {
		add("-no-reboot")
	}
	if c.PIDFile != "" {
		add("-pidfile", c.PIDFile)
	}
	if c.Daemonize {
		add("-daemonize")
	}
	return a, nil
}

// kernelArgs are the guest kernel's command line.
func (c Config) kernelArgs() []string {
	k := []string{"console=ttyS0", "panic=-1", "quiet", "reboot=t"}
	if c.Type == MicroVM {
		k = append(k, "pci=off")
	}
	if c.Accel == TCG {
		// The kernel's crypto self-tests take half a second of emulated CPU; speculative execution is not
		// emulated, so its mitigations only cost time.
		k = append(k, "cryptomgr.notests", "mitigations=off")
		if c.Type == MicroVM && c.TSCKHz > 0 {
			k = append(k, "tsc_early_khz="+strconv.Itoa(c.TSCKHz))
		}
	}
	return append(k, c.KernelArgs...)
}

func (c Config) validate() error {
	switch {
	case c.Name == "" || strings.ContainsAny(c.Name, ",= \t\n"):
		return fmt.Errorf("machine name %q: letters, digits, dashes only", c.Name)
	case c.Type != MicroVM && c.Type != Q35:
		return fmt.Errorf("machine type %q: microvm or q35", c.Type)
	case c.Accel != KVM && c.Accel != TCG:
		return fmt.Errorf("accelerator %q: kvm or tcg", c.Accel)
	case c.CPUs < 1 || c.MemoryMiB < 64:
		return errors.New("a machine needs at least one CPU and 64 MiB of memory")
	case c.Kernel == "":
		return errors.New("no kernel")
	}
	for _, s := range c.Shares {
		if s.Tag == "" || len(s.Tag) > 31 || strings.ContainsAny(s.Tag, ", =") {
			return fmt.Errorf("9p share tag %q: 1 to 31 characters without commas, spaces or '='", s.Tag)
		}
	}
	for _, n := range c.NICs {
		if n.FD < 3 {
			return fmt.Errorf("tap descriptor %d: must be passed as descriptor 3 or above", n.FD)
		}
	}
	return nil
}

// escape doubles commas, qemu's way of putting one in an option value.
func escape(s string) string { return strings.ReplaceAll(s, ",", ",,") }
