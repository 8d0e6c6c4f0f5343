// Package guest is Berth's init inside a virtual machine (cmd/berth-vm-init, packed into the initramfs): it
// mounts the root the host chose (a 9p share of a container's root, or an instance's disk), switches to it,
// configures the network, and then either runs the host's processes over the agent channel (a VM-isolated
// container) or sets up SSH access, runs the user data once and starts the image's SSH server (an instance).
// It stays PID 1: it reaps every process, and powers the machine off when the host asks (over the channel, or
// with the ACPI power button) or when a program in the guest asks it to (busybox's poweroff and reboot).
//
// The protocol is internal/vm/agent's; the configuration comes from qemu's fw_cfg (agent.ConfigName).
package guest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berth/berth/internal/vm/agent"
)

// rootDir is where the root is mounted before the switch.
const rootDir = "/newroot"

// shutdownGrace is how long processes get between SIGTERM and SIGKILL when the machine stops.
const shutdownGrace = 3 * time.Second

// Main runs the init; it returns only on a failure before the machine could run (then the kernel panics on
// PID 1's exit and qemu, run with panic=-1 and -no-reboot, exits).
func Main() int {
	if os.Getpid() != 1 {
		fmt.Fprintln(os.Stderr, "berth-vm-init: runs as a virtual machine's init (PID 1)")
		return 2
	}
	console := openConsole()
	fail := func(err error) int {
		fmt.Fprintln(console, "berth-init: error:", err)
		// A halted machine says why on its console; the host sees qemu exit.
		unix.Sync()
		unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
		return 1
	}
	if err := earlyMounts(); err != nil {
		return fail(err)
	}
	trace := func(m string) { logf(console, "loaded %s", m) }
	if err := loadModules(trace); err != nil {
		return fail(err)
	}
	cfg, err := readConfig()
	if err != nil {
		return fail(err)
	}
	if cfg.Debug {
		logf(console, "modules loaded")
	}
	r := newReaper()
	if err := mountRoot(cfg.Root, rootDir); err != nil {
		return fail(err)
	}
	// The agent port's device node lives in the initramfs's /dev, which moves with the switch.
	if err := switchRoot(rootDir); err != nil {
		return fail(err)
	}
	systemMounts()
	if cfg.Hostname != "" {
		unix.Sethostname([]byte(cfg.Hostname))
	}
	if err := setupNetwork(cfg.Interfaces); err != nil {
		return fail(err)
	}
	setSysctls(cfg.Sysctls)
	switch cfg.Mode {
	case agent.ModeContainer:
		if err := applyMounts(cfg.Mounts); err != nil {
			return fail(err)
		}
		if err := writeFiles(cfg.Files); err != nil {
			return fail(err)
		}
	case agent.ModeInstance:
		if err := applyMounts(cfg.Mounts); err != nil {
			return fail(err)
		}
		writeInstanceFiles(cfg.Files, console)
		if cfg.SSH != nil {
			setupSSH(r, cfg, console)
		}
		runUserData(r, cfg, console)
	}
	port, err := openAgentPort()
	if err != nil {
		return fail(err)
	}
	if cfg.Debug {
		logf(console, "ready")
	}
	stop := make(chan bool, 1) // true: reboot
	watchPowerButton(stop)
	watchSignals(stop, cfg.Mode == agent.ModeInstance)
	go serve(port, r, stop, console, cfg.DNSRelay)
	reboot := <-stop
	powerOff(shutdownGrace, reboot)
	return 0
}

// logf writes a line to the console, stamped with the time since boot as the kernel stamps its own.
func logf(console *os.File, format string, args ...any) {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts)
	fmt.Fprintf(console, "[%5d.%06d] berth-init: %s\n", ts.Sec, ts.Nsec/1000, fmt.Sprintf(format, args...))
}

func openConsole() *os.File {
	f, err := os.OpenFile("/dev/console", os.O_WRONLY, 0)
	if err != nil {
		return os.Stderr
	}
	return f
}

// writeInstanceFiles writes the host's files into an instance's own root (its hostname and resolver), replacing
// a symlink (an image's resolv.conf often points into a resolver's runtime directory).
func writeInstanceFiles(files []agent.File, console *os.File) {
	for _, f := range files {
		if st, err := os.Lstat(f.Path); err == nil && st.Mode()&os.ModeSymlink != 0 {
			os.Remove(f.Path)
		}
		os.MkdirAll(filepath.Dir(f.Path), 0o755)
		mode := os.FileMode(f.Mode)
		if mode == 0 {
			mode = 0o644
		}
		if err := os.WriteFile(f.Path, f.Data, mode); err != nil {
			fmt.Fprintln(console, "berth-init:", err)
		}
	}
}

func setupSSH(r *reaper, cfg *agent.Config, console *os.File) {
	user := cfg.SSH.User
	if user == "" {
		user = "root"
	}
	a, err := ensureUser(user)
	if err == nil {
		err = installKeys(a, cfg.SSH.AuthorizedKeys)
	}
	if err != nil {
		fmt.Fprintln(console, "berth-init: ssh keys:", err)
	}
	if cfg.SSH.Start {
		if path, err := startSSH(r, console); err != nil {
			fmt.Fprintln(console, "berth-init:", err)
		} else if !waitListening(22, 10*time.Second) {
			fmt.Fprintln(console, "berth-init: started", path, "but nothing listens on port 22")
		} else {
			fmt.Fprintln(console, "berth-init: started", path)
		}
	}
}

// openAgentPort opens the virtio-serial port named agent.PortName.
func openAgentPort() (*os.File, error) {
	var dev string
	for i := 0; i < 100 && dev == ""; i++ {
		names, _ := filepath.Glob("/sys/class/virtio-ports/*/name")
		for _, n := range names {
			if b, err := os.ReadFile(n); err == nil && strings.TrimSpace(string(b)) == agent.PortName {
				dev = "/dev/" + filepath.Base(filepath.Dir(n))
			}
		}
		if dev == "" {
			time.Sleep(20 * time.Millisecond)
		}
	}
	if dev == "" {
		return nil, errors.New("no agent port " + agent.PortName)
	}
	return os.OpenFile(dev, os.O_RDWR, 0)
}

// serve answers the host on the channel until it asks for a shutdown. The host may go away and come back (a
// restarted daemon): reads then end, and are retried.
func serve(port *os.File, r *reaper, stop chan<- bool, console *os.File, dnsAddr string) {
	w := agent.NewWriter(port)
	ps := newProcs(r, w)
	var dns *dnsRelay
	if dnsAddr != "" {
		var err error
		if dns, err = startDNSRelay(dnsAddr, w); err != nil {
			fmt.Fprintln(console, "berth-init: DNS relay:", err)
		}
	}
	w.Send(agent.Message{Op: agent.OpReady, Release: kernelRelease()})
	for {
		f, err := agent.ReadFrame(port)
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				// Nobody on the host's end: wait for the next connection.
				time.Sleep(100 * time.Millisecond)
				continue
			}
			fmt.Fprintln(console, "berth-init: agent channel:", err)
			time.Sleep(100 * time.Millisecond)
			continue
		}
		switch f.Type {
		case agent.TypeStdin:
			ps.input(f.Stream, f.Data)
			continue
		case agent.TypeDNS:
			if dns != nil {
				dns.answer(f.Stream, f.Data)
			}
			continue
		case agent.TypeControl:
		default:
			continue
		}
		m, err := f.Decode()
		if err != nil {
			fmt.Fprintln(console, "berth-init:", err)
			continue
		}
		switch m.Op {
		case agent.OpExec:
			if m.Process == nil {
				w.Send(agent.Message{Op: agent.OpExit, Stream: m.Stream, Code: 126, Error: "no process"})
				continue
			}
			ps.exec(m.Stream, m.Process)
		case agent.OpSignal:
			ps.signal(m.Stream, syscall.Signal(m.Signal), m.All)
		case agent.OpResize:
			ps.resize(m.Stream, m.Width, m.Height)
		case agent.OpPing:
			w.Send(agent.Message{Op: agent.OpPong, Release: kernelRelease()})
		case agent.OpShutdown:
			stop <- false
			return
		case agent.OpReboot:
			stop <- true
			return
		}
	}
}

// watchSignals follows busybox init's conventions, which the image's poweroff, halt and reboot commands use:
// SIGUSR1 halts, SIGUSR2 powers off, SIGTERM (and ctrl-alt-del's SIGINT) reboot. A container's machine never
// reboots: it powers off instead.
func watchSignals(stop chan<- bool, canReboot bool) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGTERM, syscall.SIGINT)
	unix.Reboot(unix.LINUX_REBOOT_CMD_CAD_OFF) // ctrl-alt-del becomes a SIGINT to PID 1
	go func() {
		s := <-ch
		stop <- canReboot && (s == syscall.SIGTERM || s == syscall.SIGINT)
	}()
}

// watchPowerButton powers off when the ACPI power button is pressed (qemu's system_powerdown, what EC2's stop
// sends), read from the input devices.
func watchPowerButton(stop chan<- bool) {
	devs, _ := filepath.Glob("/sys/class/input/event*/device/name")
	for _, n := range devs {
		b, _ := os.ReadFile(n)
		if !strings.Contains(string(b), "Power Button") {
			continue
		}
		ev := "/dev/input/" + filepath.Base(filepath.Dir(filepath.Dir(n)))
		f, err := os.Open(ev)
		if err != nil {
			continue
		}
		go func() {
			var e [24]byte // struct input_event on 64-bit: timeval, type, code, value
			for {
				if _, err := io.ReadFull(f, e[:]); err != nil {
					return
				}
				typ, code := binary.LittleEndian.Uint16(e[16:]), binary.LittleEndian.Uint16(e[18:])
				value := int32(binary.LittleEndian.Uint32(e[20:]))
				if typ == 1 && code == 116 && value == 1 { // EV_KEY, KEY_POWER, pressed
					stop <- false
					return
				}
			}
		}()
	}
}
