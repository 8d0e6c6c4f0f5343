package guest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berth/berth/internal/vm/agent"
)

// ModulesDir holds the kernel modules the initramfs carries, and ModulesOrder the order to load them in
// (dependencies first), one file name per line.
const (
	ModulesDir   = "/lib/modules/berth"
	ModulesOrder = ModulesDir + "/order"
)

// earlyMounts gives the initramfs /proc, /sys, /dev and /run.
func earlyMounts() error {
	for _, m := range []struct{ typ, target, opts string }{
		{"proc", "/proc", ""},
		{"sysfs", "/sys", ""},
		{"devtmpfs", "/dev", "mode=0755"},
		{"tmpfs", "/run", "mode=0755"},
	} {
		os.MkdirAll(m.target, 0o755)
		if err := unix.Mount(m.typ, m.target, m.typ, unix.MS_NOSUID, m.opts); err != nil && err != unix.EBUSY {
			return fmt.Errorf("mount %s: %w", m.target, err)
		}
	}
	return nil
}

// loadModules loads the initramfs's modules in order. A module the kernel has built in, or already loaded, is
// not an error.
func loadModules(trace func(string)) error {
	b, err := os.ReadFile(ModulesOrder)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		name := strings.TrimSpace(sc.Text())
		if name == "" {
			continue
		}
		f, err := os.Open(filepath.Join(ModulesDir, name))
		if err != nil {
			return err
		}
		err = unix.FinitModule(int(f.Fd()), "", 0)
		f.Close()
		if err != nil && err != unix.EEXIST {
			return fmt.Errorf("load module %s: %w", name, err)
		}
		if trace != nil {
			trace(name)
		}
	}
	return nil
}

// fwcfgPath is where Linux's qemu_fw_cfg driver shows a named fw_cfg item.
const fwcfgPath = "/sys/firmware/qemu_fw_cfg/by_name/" + agent.ConfigName + "/raw"

func readConfig() (*agent.Config, error) {
	var b []byte
	var err error
	// The driver registers its entries right after loading; a short wait covers a slow probe.
	for i := 0; i < 50; i++ {
		if b, err = os.ReadFile(fwcfgPath); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		return nil, fmt.Errorf("no configuration from the host: %w", err)
	}
	return agent.ParseConfig(b)
}

// mountOptions splits fstab-style options into mount flags and the data string.
func mountOptions(opts []string) (uintptr, string) {
	var flags uintptr
	var data []string
	for _, o := range opts {
		switch o {
		case "ro":
			flags |= unix.MS_RDONLY
		case "rw", "defaults":
		case "nosuid":
			flags |= unix.MS_NOSUID
		case "nodev":
			flags |= unix.MS_NODEV
		case "noexec":
			flags |= unix.MS_NOEXEC
		case "noatime":
			flags |= unix.MS_NOATIME
		case "relatime":
			flags |= unix.MS_RELATIME
		case "bind":
			flags |= unix.MS_BIND
		case "rbind":
			flags |= unix.MS_BIND | unix.MS_REC
		case "private", "rprivate", "shared", "rshared", "slave", "rslave":
		default:
			data = append(data, o)
		}
	}
	return flags, strings.Join(data, ",")
}

// mountRoot mounts the root filesystem at dir.
func mountRoot(root agent.Mount, dir string) error {
	os.MkdirAll(dir, 0o755)
	flags, data := mountOptions(root.Options)
	src := root.Source
	if root.Type == "9p" && data == "" {
		data = ninePOptions
	}
	var err error
	// A block device appears once its driver probed it: wait a little for it.
	for i := 0; i < 100; i++ {
		if err = unix.Mount(src, dir, root.Type, flags, data); err != unix.ENOENT && err != unix.ENXIO {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("mount root (%s %s): %w", root.Type, src, err)
	}
	return nil
}

// ninePOptions mount a share: cache=mmap keeps the host's view current (the host sees every write at once, as
// a container's overlay upper dir must show them) while allowing shared mmap.
const ninePOptions = "trans=virtio,version=9p2000.L,msize=262144,cache=mmap,access=client"

// switchRoot makes dir the root: the initramfs's files are deleted (freeing their memory), the kernel's
// filesystems move under the new root, and this process continues there as PID 1.
func switchRoot(dir string) error {
	for _, m := range []string{"/proc", "/sys", "/dev", "/run"} {
		t := filepath.Join(dir, m)
		os.MkdirAll(t, 0o755)
		if err := unix.Mount(m, t, "", unix.MS_MOVE, ""); err != nil {
			return fmt.Errorf("move %s: %w", m, err)
		}
	}
	cleanInitramfs(dir)
	if err := os.Chdir(dir); err != nil {
		return err
	}
	if err := unix.Mount(".", "/", "", unix.MS_MOVE, ""); err != nil {
		return fmt.Errorf("move root: %w", err)
	}
	if err := unix.Chroot("."); err != nil {
		return err
	}
	return os.Chdir("/")
}

// cleanInitramfs removes the initramfs's content (it stays in memory otherwise), not descending into keep.
func cleanInitramfs(keep string) {
	entries, _ := os.ReadDir("/")
	for _, e := range entries {
		p := "/" + e.Name()
		if p == keep || p == "/proc" || p == "/sys" || p == "/dev" || p == "/run" {
			continue
		}
		os.RemoveAll(p)
	}
}

// systemMounts gives the new root what every process expects: /dev/pts, /dev/shm, /dev/mqueue, /sys/fs/cgroup
// and /tmp when the image has none of its own.
func systemMounts() {
	for _, m := range []struct{ typ, target, opts string }{
		{"devpts", "/dev/pts", "newinstance,ptmxmode=0666,mode=0620,gid=5"},
		{"tmpfs", "/dev/shm", "mode=1777"},
		{"mqueue", "/dev/mqueue", ""},
		{"cgroup2", "/sys/fs/cgroup", ""},
	} {
		os.MkdirAll(m.target, 0o755)
		unix.Mount(m.typ, m.target, m.typ, unix.MS_NOSUID|unix.MS_NOEXEC, m.opts)
	}
	// /dev/ptmx must be the new devpts instance's, or ptys opened through it belong to the initramfs's.
	os.Remove("/dev/ptmx")
	os.Symlink("pts/ptmx", "/dev/ptmx")
	for name, target := range map[string]string{"/dev/fd": "/proc/self/fd", "/dev/stdin": "/proc/self/fd/0",
		"/dev/stdout": "/proc/self/fd/1", "/dev/stderr": "/proc/self/fd/2"} {
		if _, err := os.Lstat(name); err != nil {
			os.Symlink(target, name)
		}
	}
}

// applyMounts mounts the configuration's mounts on the (switched) root.
func applyMounts(ms []agent.Mount) error {
	for _, m := range ms {
		flags, data := mountOptions(m.Options)
		if m.Type == "9p" && !strings.Contains(data, "trans=") {
			data = strings.TrimSuffix(ninePOptions+","+data, ",")
		}
		src := m.Source
		typ := m.Type
		if typ == "bind" {
			flags |= unix.MS_BIND
			typ = ""
		}
		if err := mkTarget(m.Target, src, typ == ""); err != nil {
			return fmt.Errorf("mount %s: %w", m.Target, err)
		}
		if err := unix.Mount(src, m.Target, typ, flags&^unix.MS_RDONLY, data); err != nil {
			return fmt.Errorf("mount %s: %w", m.Target, err)
		}
		if flags&unix.MS_RDONLY != 0 {
			// A bind mount takes read-only only in a remount.
			unix.Mount("", m.Target, "", flags|unix.MS_REMOUNT|unix.MS_BIND, "")
		}
	}
	return nil
}

// mkTarget makes a mount point: a file when a file is bound over it, else a directory.
func mkTarget(target, src string, bind bool) error {
	if bind {
		if st, err := os.Stat(src); err == nil && !st.IsDir() {
			if _, err := os.Stat(target); err == nil {
				return nil
			}
			os.MkdirAll(filepath.Dir(target), 0o755)
			f, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY, 0o644)
			if err != nil {
				return err
			}
			return f.Close()
		}
	}
	return os.MkdirAll(target, 0o755)
}

// writeFiles writes the host's files under /run/berth/files and binds each over its path, so that the root
// (the container's image) is not changed.
func writeFiles(files []agent.File) error {
	dir := "/run/berth/files"
	for i, f := range files {
		src := filepath.Join(dir, fmt.Sprint(i))
		os.MkdirAll(dir, 0o755)
		mode := os.FileMode(f.Mode)
		if mode == 0 {
			mode = 0o644
		}
		if err := os.WriteFile(src, f.Data, mode); err != nil {
			return err
		}
		if err := applyMounts([]agent.Mount{{Type: "bind", Source: src, Target: f.Path}}); err != nil {
			return err
		}
	}
	return nil
}

func setSysctls(s map[string]string) {
	for k, v := range s {
		p := filepath.Join("/proc/sys", strings.ReplaceAll(k, ".", "/"))
		os.WriteFile(p, []byte(v), 0o644)
	}
}

// powerOff ends the machine: processes get SIGTERM, then SIGKILL after grace, filesystems are synced and the
// root is made read-only, and the kernel powers off (qemu exits).
func powerOff(grace time.Duration, reboot bool) {
	if grace > 0 {
		killAll(syscall.SIGTERM)
		deadline := time.Now().Add(grace)
		for time.Now().Before(deadline) && othersAlive() {
			time.Sleep(50 * time.Millisecond)
		}
	}
	killAll(syscall.SIGKILL)
	unix.Sync()
	unix.Mount("", "/", "", unix.MS_REMOUNT|unix.MS_RDONLY, "")
	unix.Sync()
	cmd := unix.LINUX_REBOOT_CMD_POWER_OFF
	if reboot {
		cmd = unix.LINUX_REBOOT_CMD_RESTART
	}
	unix.Reboot(cmd)
	select {}
}

// othersAlive reports whether any process but PID 1 and kernel threads is left.
func othersAlive() bool {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if e.Name() == "1" || e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		// Kernel threads have an empty cmdline.
		if b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline"); err == nil && len(b) > 0 {
			return true
		}
	}
	return false
}

// kernelRelease is uname -r.
func kernelRelease() string {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
}
