// Command vmfloor boots a virtual machine by hand, without the engine: the same qemu command line Berth builds
// (internal/vm/qemu), the same kernel, initramfs and disk, and nothing else (no daemon, shim, sandbox, network
// namespace or firewall). bench/vm.sh measures Berth against it.
//
//	vmfloor container KERNEL INITRD ROOTDIR CMD...   boot, run CMD through the guest agent, power off; prints
//	                                                 the milliseconds from starting qemu to CMD's exit
//	vmfloor instance KERNEL INITRD DISK TAP MAC ADDR/BITS GATEWAY PUBKEY PIDFILE
//	                                                 start a daemonized instance on an existing tap (the caller
//	                                                 then waits for ssh and kills it by PIDFILE)
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/berth/berth/internal/vm/agent"
	"github.com/berth/berth/internal/vm/qemu"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "container":
		err = container(os.Args[2:])
	case "instance":
		err = instance(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "vmfloor:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: vmfloor container KERNEL INITRD ROOTDIR CMD... | instance KERNEL INITRD DISK TAP MAC ADDR GW PUBKEY PIDFILE")
	os.Exit(2)
}

func accel() qemu.Accel {
	if os.Getenv("VM_ACCEL") == "kvm" {
		return qemu.KVM
	}
	return qemu.TCG
}

func container(args []string) error {
	if len(args) < 4 {
		usage()
	}
	dir, err := os.MkdirTemp("", "vmfloor-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cfg := agent.Config{Mode: agent.ModeContainer, Hostname: "floor", Root: agent.Mount{Type: "9p", Source: "root", Target: "/"}}
	b, _ := json.Marshal(cfg)
	os.WriteFile(filepath.Join(dir, "guest.json"), b, 0o600)
	c := qemu.Config{Name: "floor", Type: qemu.MicroVM, Accel: accel(), TSCKHz: qemu.HostTSCKHz(), CPUs: 1, MemoryMiB: 512,
		Kernel: args[0], Initrd: args[1], Shares: []qemu.Share{{Tag: "root", Path: args[2]}},
		AgentSocket: filepath.Join(dir, "agent.sock"), ConsoleLog: filepath.Join(dir, "console.log"), NoReboot: true,
		FwCfg: []qemu.FwCfg{{Name: agent.ConfigName, File: filepath.Join(dir, "guest.json")}}}
	t0 := time.Now()
	cmd, err := qemu.Command(qemu.Binary, c)
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	defer cmd.Process.Kill()
	var conn net.Conn
	for {
		if conn, err = net.Dial("unix", c.AgentSocket); err == nil {
			break
		}
		if time.Since(t0) > 2*time.Minute {
			return err
		}
		time.Sleep(5 * time.Millisecond)
	}
	w := agent.NewWriter(conn)
	code := -1
	for code < 0 {
		f, err := agent.ReadFrame(conn)
		if err != nil {
			return err
		}
		if f.Type != agent.TypeControl {
			os.Stdout.Write(f.Data)
			continue
		}
		m, _ := f.Decode()
		switch m.Op {
		case agent.OpReady:
			w.Send(agent.Message{Op: agent.OpExec, Stream: 1, Process: &agent.Process{Args: args[3:], Env: []string{"PATH=/bin:/usr/bin"}}})
		case agent.OpExit:
			code = m.Code
		}
	}
	w.Send(agent.Message{Op: agent.OpShutdown})
	cmd.Wait()
	fmt.Printf("%.1f\n", float64(time.Since(t0).Microseconds())/1000)
	if code != 0 {
		return fmt.Errorf("exit %d", code)
	}
	return nil
}

func instance(args []string) error {
	if len(args) != 9 {
		usage()
	}
	kernel, initrd, disk, tap, mac, addr, gw, pubkey, pidFile := args[0], args[1], args[2], args[3], args[4], args[5], args[6], args[7], args[8]
	a, err := netip.ParsePrefix(addr)
	if err != nil {
		return err
	}
	g, err := netip.ParseAddr(gw)
	if err != nil {
		return err
	}
	key, err := os.ReadFile(pubkey)
	if err != nil {
		return err
	}
	dir := filepath.Dir(pidFile)
	cfg := agent.Config{Mode: agent.ModeInstance, Hostname: "floor",
		Root:       agent.Mount{Type: "ext4", Source: "/dev/vda", Target: "/", Options: []string{"noinit_itable"}},
		Interfaces: []agent.Interface{{MAC: mac, Addr: a, Gateway: g}},
		SSH:        &agent.SSH{User: "root", AuthorizedKeys: []string{strings.TrimSpace(string(key))}, Start: true}, InstanceID: "i-floor"}
	b, _ := json.Marshal(cfg)
	if err := os.WriteFile(filepath.Join(dir, "guest.json"), b, 0o600); err != nil {
		return err
	}
	tapFile, err := openTap(tap)
	if err != nil {
		return err
	}
	c := qemu.Config{Name: "floor", Type: qemu.MicroVM, Accel: accel(), TSCKHz: qemu.HostTSCKHz(), CPUs: 1, MemoryMiB: 512,
		Kernel: kernel, Initrd: initrd, Disks: []qemu.Disk{{Path: disk, Format: "qcow2"}}, NICs: []qemu.NIC{{FD: 3, MAC: mac}},
		AgentSocket: filepath.Join(dir, "agent.sock"), ConsoleLog: filepath.Join(dir, "console.log"),
		FwCfg:   []qemu.FwCfg{{Name: agent.ConfigName, File: filepath.Join(dir, "guest.json")}},
		PIDFile: pidFile, Daemonize: true}
	_, err = qemu.Start(context.Background(), qemu.Binary, c, []*os.File{tapFile})
	return err
}
