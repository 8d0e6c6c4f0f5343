package qemu

import (
	"bytes"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// kvmGetAPIVersion is KVM_GET_API_VERSION (_IO(0xAE, 0x00)); every KVM answers 12.
const kvmGetAPIVersion = 0xAE00

// AccelChoice is the accelerator chosen for a kernel, and why.
type AccelChoice struct {
	Accel  Accel
	Reason string
}

// ChooseAccel picks KVM when /dev/kvm works for the guest kernel whose build configuration is kernelConfig (its
// boot/config-RELEASE; "" if unknown), TCG otherwise. want is "kvm", "tcg" or "" (automatic); asking for KVM
// where it cannot work is still answered with KVM (the user's choice), with the reason it may fail.
//
// "Works" is more than /dev/kvm opening: a host whose KVM is PVM (the kvm_pvm module, found in nested cloud
// VMs without hardware virtualisation) runs only kernels built as PVM guests; an ordinary kernel hangs there.
func ChooseAccel(want, kernelConfig string) AccelChoice {
	ok, why := kvmUsable(kernelConfig)
	switch want {
	case string(KVM):
		return AccelChoice{KVM, "chosen by configuration; " + why}
	case string(TCG):
		return AccelChoice{TCG, "chosen by configuration"}
	}
	if ok {
		return AccelChoice{KVM, why}
	}
	return AccelChoice{TCG, why}
}

func kvmUsable(kernelConfig string) (bool, string) {
	fd, err := unix.Open("/dev/kvm", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return false, "/dev/kvm: " + err.Error()
	}
	v, err := unix.IoctlRetInt(fd, kvmGetAPIVersion)
	unix.Close(fd)
	if err != nil || v != 12 {
		return false, "/dev/kvm does not answer as KVM"
	}
	if exists("/sys/module/kvm_pvm") && !exists("/sys/module/kvm_intel") && !exists("/sys/module/kvm_amd") {
		if kernelConfig != "" && hasConfig(kernelConfig, "CONFIG_PVM_GUEST=y") {
			return true, "/dev/kvm is PVM and the kernel is a PVM guest"
		}
		return false, "/dev/kvm is PVM (kvm_pvm: no hardware virtualisation), which boots only kernels built as PVM guests; " +
			filepath.Base(kernelConfig) + " is not one (no CONFIG_PVM_GUEST)"
	}
	return true, "/dev/kvm"
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func hasConfig(file, line string) bool {
	b, err := os.ReadFile(file)
	return err == nil && bytes.Contains(b, []byte("\n"+line+"\n"))
}
