// Package boot prepares what Berth's virtual machines boot from: the kernel (a Debian linux-image package's
// vmlinuz, decompressed to its ELF when it has a PVH entry point, which qemu boots without running the
// kernel's decompressor) and an initramfs holding Berth's guest init (cmd/berth-vm-init) and the kernel modules
// a guest needs (virtio, 9p, ext4, fw_cfg), written as a cpio archive without any privileges.
//
//	k, err := boot.FindKernel("/var/lib/berth/vm/kernel")   // boot/vmlinuz-RELEASE, lib/modules/RELEASE
//	a, err := boot.Prepare(cacheDir, k, "/usr/local/bin/berth-vm-init", boot.ContainerProfile)
//	// qemu -kernel a.Kernel -initrd a.Initrd
//
// Prepare caches its output per kernel, init binary and profile: later calls return at once.
package boot

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Profile is the set of kernel modules an initramfs carries for one kind of guest. A module the kernel builds in
// is left out; a required one it lacks fails the build; an optional one it lacks is skipped.
type Profile struct {
	Name     string
	Required []string
	Optional []string
}

var (
	// ContainerProfile serves a VM-isolated container: its root over 9p, the agent's port, a network device.
	ContainerProfile = Profile{Name: "container",
		Required: []string{"virtio_mmio", "virtio_console", "virtio_net", "9pnet_virtio", "9p", "qemu_fw_cfg"}}
	// InstanceProfile serves an instance: its ext4 disk, entropy for the SSH server's keys, the ACPI power button.
	InstanceProfile = Profile{Name: "instance",
		Required: []string{"virtio_mmio", "virtio_console", "virtio_blk", "virtio_net", "ext4", "qemu_fw_cfg"},
		Optional: []string{"virtio_rng", "evdev", "button"}}
)

// WithPCI adds virtio's PCI transport, for the q35 machine.
func (p Profile) WithPCI() Profile {
	p.Name += "-pci"
	p.Required = append(append([]string{}, p.Required...), "virtio_pci")
	return p
}

// Artifacts are the files a guest boots from.
type Artifacts struct {
	// Kernel is the file for qemu's -kernel: the extracted ELF (PVH) or the bzImage.
	Kernel string
	// PVH says Kernel is the ELF, booted through its PVH entry point.
	PVH bool
	// Initrd is the initramfs.
	Initrd string
	// Release is the kernel's `uname -r`.
	Release string
}

// Prepare returns the boot artifacts for kernel k, the guest init binary at initPath and profile p, building
// them under cacheDir the first time: a directory per kernel holds its extracted ELF and one initramfs per
// profile and init binary. Concurrent callers build at most twice and agree on the result.
func Prepare(cacheDir string, k Kernel, initPath string, p Profile) (Artifacts, error) {
	kkey, err := kernelKey(k)
	if err != nil {
		return Artifacts{}, err
	}
	dir := filepath.Join(cacheDir, kkey)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Artifacts{}, err
	}
	a := Artifacts{Kernel: filepath.Join(dir, "vmlinux"), PVH: true, Release: k.Release}
	noPVH := filepath.Join(dir, "no-pvh")
	if _, err := os.Stat(a.Kernel); err != nil {
		if _, err := os.Stat(noPVH); err == nil {
			a.Kernel, a.PVH = k.Image, false
		} else {
			ok, err := ExtractVmlinux(k.Image, a.Kernel)
			if err != nil {
				return Artifacts{}, fmt.Errorf("kernel %s: %w", k.Image, err)
			}
			if !ok {
				os.WriteFile(noPVH, nil, 0o644)
				a.Kernel, a.PVH = k.Image, false
			}
		}
	}
	ikey, err := initKey(initPath, p)
	if err != nil {
		return Artifacts{}, err
	}
	a.Initrd = filepath.Join(dir, "initrd-"+p.Name+"-"+ikey+".img")
	if _, err := os.Stat(a.Initrd); err == nil {
		return a, nil
	}
	var buf bytes.Buffer
	if err := BuildInitramfs(&buf, k, initPath, p); err != nil {
		return Artifacts{}, err
	}
	tmp, err := os.CreateTemp(dir, "initrd-*.tmp")
	if err != nil {
		return Artifacts{}, err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(buf.Bytes()); err != nil {
		tmp.Close()
		return Artifacts{}, err
	}
	if err := tmp.Close(); err != nil {
		return Artifacts{}, err
	}
	return a, os.Rename(tmp.Name(), a.Initrd)
}

// kernelKey names a kernel's cache directory: it changes when the file does.
func kernelKey(k Kernel) (string, error) {
	st, err := os.Stat(k.Image)
	if err != nil {
		return "", fmt.Errorf("virtual machine kernel: %w", err)
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%d\x00%d\x00%s", k.Image, st.Size(), st.ModTime().UnixNano(), k.Modules)
	return k.Release + "-" + hex.EncodeToString(h.Sum(nil))[:12], nil
}

// initramfsFormat changes when BuildInitramfs writes something else from the same inputs (so caches rebuild).
const initramfsFormat = "2: unsigned modules"

// initKey names an initramfs: it changes with the init binary, the profile and the format.
func initKey(initPath string, p Profile) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00", initramfsFormat, strings.Join(p.Required, ","), strings.Join(p.Optional, ","))
	f, err := os.Open(initPath)
	if err != nil {
		return "", fmt.Errorf("guest init: %w", err)
	}
	defer f.Close()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil))[:12], nil
}

// BuildInitramfs writes the initramfs: /init (the guest init), /dev/console, the mount points the init uses,
// and the modules under /lib/modules/berth with their load order.
func BuildInitramfs(w io.Writer, k Kernel, initPath string, p Profile) error {
	init, err := os.ReadFile(initPath)
	if err != nil {
		return fmt.Errorf("guest init: %w", err)
	}
	var mods []Module
	if k.Modules != "" {
		if mods, err = ResolveModules(k.Modules, p.Required, p.Optional); err != nil {
			return fmt.Errorf("kernel %s: %w", k.Release, err)
		}
	}
	dir := fs.ModeDir | 0o755
	entries := []Entry{
		{Name: "dev", Mode: dir},
		// The kernel opens /dev/console as init's stdio before /init runs, and before devtmpfs is mounted.
		{Name: "dev/console", Mode: fs.ModeDevice | fs.ModeCharDevice | 0o600, Major: 5, Minor: 1},
		{Name: "proc", Mode: dir}, {Name: "sys", Mode: dir}, {Name: "run", Mode: dir}, {Name: "newroot", Mode: dir},
		{Name: "lib", Mode: dir}, {Name: "lib/modules", Mode: dir}, {Name: "lib/modules/berth", Mode: dir},
		{Name: "init", Mode: 0o755, Data: init},
	}
	var order strings.Builder
	for _, m := range mods {
		entries = append(entries, Entry{Name: "lib/modules/berth/" + m.Name + ".ko", Mode: 0o644, Data: m.Data})
		order.WriteString(m.Name + ".ko\n")
	}
	entries = append(entries, Entry{Name: "lib/modules/berth/order", Mode: 0o644, Data: []byte(order.String())})
	return WriteCPIO(w, entries)
}
