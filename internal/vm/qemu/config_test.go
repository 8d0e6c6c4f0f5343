package qemu

import (
	"strings"
	"testing"
)

func TestArgs(t *testing.T) {
	base := func() Config {
		return Config{Name: "c1", Type: MicroVM, Accel: TCG, TSCKHz: 2300000, CPUs: 1, MemoryMiB: 512, Kernel: "/k/vmlinux", Initrd: "/k/initrd.img"}
	}
	tests := []struct {
		name    string
		change  func(*Config)
		want    string // the whole command line, space-joined
		wantErr string
	}{
		{name: "microvm under tcg, a container's machine",
			change: func(c *Config) {
				c.Shares = []Share{{Tag: "root", Path: "/var/lib/berth/overlay/x,y/merged"}, {Tag: "m1", Path: "/data", ReadOnly: true}}
				c.NICs = []NIC{{FD: 3, MAC: "02:42:ac:11:00:02"}}
				c.AgentSocket, c.QMPSocket, c.ConsoleLog = "agent.sock", "qmp.sock", "/b/console.log"
				c.FwCfg = []FwCfg{{Name: "opt/berth/config", File: "/s/guest.json"}}
				c.NoReboot = true
			},
			want: "-name guest=c1,process=berth-vm-c1 -machine microvm,x-option-roms=off,pit=off,pic=off,rtc=on,isa-serial=on,acpi=on " +
				"-accel tcg,thread=single -cpu max -smp 1 -m 512M -nodefaults -no-user-config -display none " +
				"-sandbox on,obsolete=deny,resourcecontrol=deny,elevateprivileges=deny,spawn=deny " +
				"-kernel /k/vmlinux -initrd /k/initrd.img " +
				"-append console=ttyS0 panic=-1 quiet reboot=t pci=off cryptomgr.notests mitigations=off tsc_early_khz=2300000 " +
				"-chardev null,id=console,logfile=/b/console.log,logappend=on -serial chardev:console " +
				"-chardev socket,id=qmp,server=on,wait=off,path=qmp.sock -mon chardev=qmp,mode=control " +
				"-chardev socket,id=agent,server=on,wait=off,path=agent.sock -device virtio-serial-device,max_ports=2 -device virtserialport,chardev=agent,name=berth.agent " +
				"-object rng-random,id=rng,filename=/dev/urandom -device virtio-rng-device,rng=rng " +
				"-fsdev local,id=fs0,path=/var/lib/berth/overlay/x,,y/merged,security_model=passthrough -device virtio-9p-device,fsdev=fs0,mount_tag=root " +
				"-fsdev local,id=fs1,path=/data,security_model=passthrough,readonly=on -device virtio-9p-device,fsdev=fs1,mount_tag=m1 " +
				"-netdev tap,id=net0,fd=3 -device virtio-net-device,netdev=net0,mac=02:42:ac:11:00:02 " +
				"-fw_cfg name=opt/berth/config,file=/s/guest.json -no-reboot"},
		{name: "q35 under kvm, an instance's machine, daemonized",
			change: func(c *Config) {
				c.Type, c.Accel, c.CPUs, c.MemoryMiB = Q35, KVM, 2, 1024
				c.KernelArgs = []string{"debug"}
				c.Disks = []Disk{{Path: "/i/disk.qcow2", Format: "qcow2"}}
				c.ConsoleSocket, c.ConsoleLog = "/r/console.sock", "/i/console.log"
				c.PIDFile, c.Daemonize = "/r/qemu.pid", true
			},
			want: "-name guest=c1,process=berth-vm-c1 -machine q35 -accel kvm -cpu host -smp 2 -m 1024M -nodefaults -no-user-config -display none " +
				"-sandbox on,obsolete=deny,resourcecontrol=deny " +
				"-kernel /k/vmlinux -initrd /k/initrd.img -append console=ttyS0 panic=-1 quiet reboot=t debug " +
				"-chardev socket,id=console,server=on,wait=off,path=/r/console.sock,logfile=/i/console.log,logappend=on -serial chardev:console " +
				"-object rng-random,id=rng,filename=/dev/urandom -device virtio-rng-pci,rng=rng " +
				"-drive file=/i/disk.qcow2,format=qcow2,if=none,id=disk0,discard=unmap,detect-zeroes=unmap -device virtio-blk-pci,drive=disk0 " +
				"-pidfile /r/qemu.pid -daemonize"},
		{name: "no console at all", change: func(c *Config) { c.Initrd = "" },
			want: "-name guest=c1,process=berth-vm-c1 -machine microvm,x-option-roms=off,pit=off,pic=off,rtc=on,isa-serial=on,acpi=on " +
				"-accel tcg,thread=single -cpu max -smp 1 -m 512M -nodefaults -no-user-config -display none " +
				"-sandbox on,obsolete=deny,resourcecontrol=deny,elevateprivileges=deny,spawn=deny -kernel /k/vmlinux " +
				"-append console=ttyS0 panic=-1 quiet reboot=t pci=off cryptomgr.notests mitigations=off tsc_early_khz=2300000 " +
				"-serial none -object rng-random,id=rng,filename=/dev/urandom -device virtio-rng-device,rng=rng"},
		{name: "a name with a comma", change: func(c *Config) { c.Name = "a,b" }, wantErr: "machine name"},
		{name: "unknown machine", change: func(c *Config) { c.Type = "pc" }, wantErr: "machine type"},
		{name: "unknown accelerator", change: func(c *Config) { c.Accel = "hvf" }, wantErr: "accelerator"},
		{name: "too little memory", change: func(c *Config) { c.MemoryMiB = 32 }, wantErr: "64 MiB"},
		{name: "no kernel", change: func(c *Config) { c.Kernel = "" }, wantErr: "no kernel"},
		{name: "bad tag", change: func(c *Config) { c.Shares = []Share{{Tag: "a b", Path: "/x"}} }, wantErr: "9p share tag"},
		{name: "tap on stdin", change: func(c *Config) { c.NICs = []NIC{{FD: 0, MAC: "02:00:00:00:00:01"}} }, wantErr: "descriptor 3 or above"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base()
			tt.change(&c)
			args, err := c.Args()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(args, " "); got != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestChooseAccel(t *testing.T) {
	tests := []struct {
		name string
		want string
		accl Accel
	}{
		{name: "tcg on request", want: "tcg", accl: TCG},
		{name: "kvm on request, whatever the host", want: "kvm", accl: KVM},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ChooseAccel(tt.want, "")
			if got.Accel != tt.accl || !strings.Contains(got.Reason, "chosen by configuration") {
				t.Errorf("got %+v", got)
			}
		})
	}
	// Automatic: whichever it picks, it says why.
	if got := ChooseAccel("", ""); got.Reason == "" || (got.Accel != KVM && got.Accel != TCG) {
		t.Errorf("automatic choice %+v", got)
	}
}
