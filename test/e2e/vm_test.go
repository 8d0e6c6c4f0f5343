package e2e

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Virtual machines: VM-isolated containers (`docker run --runtime berth-vm`) and `berth vm` instances, booted
// from Debian's kernel under software emulation (TCG: the KVM of this project's machines is PVM, which boots
// only PVM guest kernels; the daemon says so in `berth vm inspect`).
//
// They need qemu-system-x86_64, qemu-img, mkfs.ext4, ssh and dropbear (for the SSH image) and BERTH_TEST_KERNEL,
// which scripts/test.sh installs and unpacks; with BERTH_TEST_REQUIRE_VM set (scripts/test.sh sets it) a
// missing piece fails the tests instead of skipping them.

func requireVMTools(t *testing.T) string {
	t.Helper()
	requireRoot(t)
	kernel := os.Getenv("BERTH_TEST_KERNEL")
	var missing []string
	for _, tool := range []string{"qemu-system-x86_64", "qemu-img", "mkfs.ext4", "ssh", "ssh-keygen", "dropbear"} {
		if _, err := exec.LookPath(tool); err != nil {
			if _, err := os.Stat("/usr/sbin/" + tool); err != nil {
				missing = append(missing, tool)
			}
		}
	}
	if kernel == "" {
		missing = append(missing, "BERTH_TEST_KERNEL")
	}
	if len(missing) > 0 {
		msg := "virtual machine tests need " + strings.Join(missing, ", ") + " (scripts/test.sh installs them)"
		if os.Getenv("BERTH_TEST_REQUIRE_VM") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return kernel
}

func hostRelease(t *testing.T) string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		t.Fatal(err)
	}
	return unix.ByteSliceToString(u.Release[:])
}

// A container whose process runs in its own virtual machine: output, exit status, --rm, logs, exec, stop,
// published ports, as for any container; and a kernel of its own.
func TestVMContainer(t *testing.T) {
	kernel := requireVMTools(t)
	d := startDaemonWith(t, "", "--vm-kernel", kernel)
	d.importBusybox(t)
	host := hostRelease(t)

	r := d.dockerR(nil, "run", "--runtime", "berth-vm", "--rm", "busybox", "sh", "-c", "echo hello from the vm; uname -r; echo oops >&2; exit 3")
	if r.Code != 3 || !strings.Contains(r.Stdout, "hello from the vm") || !strings.Contains(r.Stderr, "oops") {
		t.Fatalf("docker run --runtime berth-vm --rm: %s", r)
	}
	lines := strings.Split(strings.TrimSpace(r.Stdout), "\n")
	if guest := lines[len(lines)-1]; guest == host || guest == "" {
		t.Errorf("the container ran on kernel %q, the host's is %q: it did not run in its own machine", guest, host)
	}
	if out := d.docker(t, "ps", "-aq"); strings.TrimSpace(out) != "" {
		t.Errorf("--rm left containers: %q", out)
	}

	// On a user-defined network the engine's DNS answers at 127.0.0.11 in the container's namespace: the guest
	// relays its queries there.
	d.docker(t, "network", "create", "vmnet")
	d.docker(t, "run", "-d", "--name", "peer", "--network", "vmnet", "busybox", "sleep", "300")
	peerIP := strings.TrimSpace(d.docker(t, "inspect", "-f", "{{(index .NetworkSettings.Networks \"vmnet\").IPAddress}}", "peer"))
	// (--isolation vm, which the docker CLI passes through, selects the same runtime.)
	if r := d.dockerR(nil, "run", "--isolation", "vm", "--rm", "--network", "vmnet", "busybox", "sh", "-c", "nslookup peer && ping -c1 -W5 peer && uname -r"); r.Code != 0 || !strings.Contains(r.Stdout, "Address: "+peerIP) || strings.Contains(r.Stdout, host) {
		t.Errorf("name resolution on a user-defined network (peer at %s): %s", peerIP, r)
	}
	d.docker(t, "rm", "-f", "peer")

	port := freePort(t)
	d.docker(t, "run", "-d", "--runtime", "berth-vm", "--name", "web", "-p", fmt.Sprintf("127.0.0.1:%d:80", port), "busybox",
		"sh", "-c", "echo started; mkdir -p /www; echo served-from-the-vm > /www/index.html; exec httpd -f -p 80 -h /www")
	waitFor(t, 30*time.Second, "the container's log", func() bool { return strings.Contains(d.docker(t, "logs", "web"), "started") })
	if out := d.docker(t, "exec", "web", "sh", "-c", "echo exec in $(uname -r)"); strings.TrimSpace(out) != "exec in "+lines[len(lines)-1] {
		t.Errorf("exec: %q", out)
	}
	if r := d.dockerR(nil, "exec", "web", "sh", "-c", "exit 5"); r.Code != 5 {
		t.Errorf("exec exit status: %s", r)
	}
	if r := d.dockerR(nil, "exec", "web", "no-such-command"); r.Code != 127 {
		t.Errorf("exec of a missing command: %s", r)
	}
	var body []byte
	waitFor(t, 30*time.Second, "the published port", func() bool {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err != nil {
			return false
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(3 * time.Second))
		fmt.Fprintf(c, "GET /index.html HTTP/1.0\r\n\r\n")
		var buf bytes.Buffer
		buf.ReadFrom(c)
		body = buf.Bytes()
		return bytes.Contains(body, []byte("served-from-the-vm"))
	})
	if out := d.docker(t, "inspect", "-f", "{{.HostConfig.Runtime}} {{.State.Running}}", "web"); strings.TrimSpace(out) != "berth-vm true" {
		t.Errorf("inspect: %q", out)
	}
	d.docker(t, "stop", "web")
	if out := d.docker(t, "inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "web"); strings.TrimSpace(out) != "exited 143" {
		t.Errorf("after stop: %q (httpd ends on SIGTERM: it is not PID 1 in its machine)", out)
	}
	d.docker(t, "rm", "web")
	if out, _ := exec.Command("pgrep", "-f", "berth-vm-"+"[0-9a-f]{12} ").Output(); len(out) > 0 {
		t.Errorf("qemu processes left: %s", out)
	}
}

// sshImageTar is busybox plus Debian's dropbear (with its libraries): an image an instance can be reached in.
func sshImageTar(t *testing.T) []byte {
	t.Helper()
	dropbear := "/usr/sbin/dropbear"
	files := map[string]string{"usr/sbin/dropbear": dropbear}
	out, err := exec.Command("ldd", dropbear).Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range strings.Fields(string(out)) {
		if strings.HasPrefix(f, "/") {
			files[strings.TrimPrefix(f, "/")] = f
		}
	}
	var buf bytes.Buffer
	buf.Write(bytes.TrimSuffix(busyboxTar(t), make([]byte, 1024))) // the tar without its end blocks
	tw := tar.NewWriter(&buf)
	dirs := map[string]bool{}
	for name, src := range files {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		for d := filepath.Dir(name); d != "."; d = filepath.Dir(d) {
			if !dirs[d] {
				dirs[d] = true
				tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755})
			}
		}
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o755, Size: int64(len(b))})
		tw.Write(b)
	}
	shells := []byte("/bin/sh\n")
	tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "etc/shells", Mode: 0o644, Size: int64(len(shells))})
	tw.Write(shells)
	tw.Close()
	return buf.Bytes()
}

// sshRun runs a command on an instance with ssh -i key root@ip, as a user would.
func sshRun(key, addr string, args ...string) result {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return run(ctx, nil, nil, "ssh", append([]string{"-i", key, "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
		"-o", "LogLevel=ERROR", "-o", "ConnectTimeout=5", "-o", "BatchMode=yes", "root@" + addr}, args...)...)
}

// EC2-style instances with berth vm: a key pair, ssh on the guest's own kernel, security groups enforced at the
// instance (a port refused, then allowed), two instances with their own addresses, a file kept across stop and
// start, instances running on through a daemon restart, and terminate leaving nothing behind.
func TestVMInstances(t *testing.T) {
	kernel := requireVMTools(t)
	d := startDaemonWith(t, "", "--vm-kernel", kernel)
	t.Cleanup(func() {
		if out, err := d.berthErr("vm", "ls", "-q"); err == nil {
			for _, id := range strings.Fields(out) {
				d.berthErr("vm", "rm", "-f", id)
			}
		}
	})
	t.Setenv("BERTH_CONFIG", filepath.Join(d.Root, "berth-config"))
	if r := d.berthR(bytes.NewReader(sshImageTar(t)), "import", "--change", `CMD ["sh"]`, "-", "sshbox:latest"); r.Code != 0 {
		t.Fatalf("import: %s", r)
	}
	host := hostRelease(t)
	t0 := time.Now()
	step := func(what string) { t.Logf("%6.1fs %s", time.Since(t0).Seconds(), what) }

	// An EC2 key pair: the private key is handed out once.
	key := filepath.Join(d.Root, "k.pem")
	d.berth(t, "vm", "keypair", "create", "--type", "ed25519", "-o", key, "k")
	if st, err := os.Stat(key); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", st, err)
	}
	sg := strings.TrimSpace(d.berth(t, "vm", "sg", "create", "--description", "ssh from anywhere", "ssh"))
	d.berth(t, "vm", "sg", "allow", sg, "22")

	a := strings.TrimSpace(d.berth(t, "vm", "run", "--name", "a", "--key-name", "k", "--security-group", "ssh", "--type", "t2.nano", "sshbox"))
	step("a runs")
	addrA := strings.TrimSpace(d.berth(t, "vm", "inspect", "-f", "{{.PrivateIpAddress}}", a))
	if got := strings.TrimSpace(d.berth(t, "vm", "inspect", "-f", "{{.State}} {{.Accel}} {{.KernelRelease}}", "a")); !strings.HasPrefix(got, "running tcg ") && !strings.HasPrefix(got, "running kvm ") {
		t.Errorf("inspect: %q", got)
	}
	r := sshRun(key, addrA, "uname -r; echo kept > /root/note; sync")
	if r.Code != 0 {
		t.Fatalf("ssh -i k.pem root@%s: %s\nconsole:\n%s", addrA, r, d.berth(t, "vm", "logs", "a"))
	}
	if guest := strings.TrimSpace(r.Stdout); guest == host || guest == "" {
		t.Errorf("uname -r on the instance: %q, the host's: %q", guest, host)
	}

	// A second instance, in the default group only: its own address, and port 22 refused until allowed.
	// b: user data that runs once at first boot, and a type that, with a, asks for more vCPUs than the host has.
	userData := filepath.Join(d.Root, "user-data.sh")
	os.WriteFile(userData, []byte("#!/bin/sh\necho ran-once >> /root/user-data.out\n"), 0o644)
	rb := d.berthR(nil, "vm", "run", "--name", "b", "--type", "t2.medium", "--user-data", userData, "sshbox")
	if rb.Code != 0 {
		t.Fatalf("vm run b: %s", rb)
	}
	if warned := strings.Contains(rb.Stderr, "WARNING: running instances ask for 3 vCPUs"); warned != (runtime.NumCPU() < 3) {
		t.Errorf("a t2.medium beside a t2.nano on a host of %d CPUs: warnings %q", runtime.NumCPU(), rb.Stderr)
	}
	b := strings.TrimSpace(rb.Stdout)
	step("b runs")
	addrB := strings.TrimSpace(d.berth(t, "vm", "inspect", "-f", "{{.PrivateIpAddress}}", b))
	if addrB == addrA || addrB == "" {
		t.Fatalf("two instances, addresses %q and %q", addrA, addrB)
	}
	if c, err := net.DialTimeout("tcp", addrB+":22", 2*time.Second); err == nil {
		c.Close()
		t.Fatal("port 22 of an instance in the default group answered: the security group is not enforced")
	}
	d.berth(t, "vm", "sg", "allow", "default", "22")
	// berth vm ssh uses the key berth generated for b.
	if out := d.berth(t, "vm", "ssh", "b", "hostname"); strings.TrimSpace(out) != "b" {
		t.Errorf("berth vm ssh b hostname: %q", out)
	}
	// The user data runs in the background once the SSH server is up.
	waitFor(t, 30*time.Second, "the user data's output", func() bool {
		return strings.TrimSpace(d.berth(t, "vm", "ssh", "b", "cat /root/user-data.out 2>/dev/null; true")) == "ran-once"
	})
	// Members of the default group reach each other on any port.
	if r := d.berthR(nil, "vm", "ssh", "b", "nc -z -w 3 "+addrA+" 22"); r.Code == 0 {
		t.Errorf("b reached a's port 22: a is not in the default group, b is not in a's: %s", r)
	}

	step("security groups checked")
	// The daemon goes (kill -9) and comes back: the instances ran on and are found again.
	d.kill9()
	d.start()
	if got := strings.TrimSpace(d.berth(t, "vm", "inspect", "-f", "{{.State}}", "a")); got != "running" {
		t.Errorf("after a daemon restart a is %q", got)
	}
	if r := sshRun(key, addrA, "cat /root/note"); r.Code != 0 || strings.TrimSpace(r.Stdout) != "kept" {
		t.Errorf("a after a daemon restart: %s", r)
	}

	step("daemon restarted")
	// Stop and start: the disk and the address stay.
	d.berth(t, "vm", "stop", "a")
	if got := strings.TrimSpace(d.berth(t, "vm", "inspect", "-f", "{{.State}} {{.PrivateIpAddress}}", "a")); got != "stopped "+addrA {
		t.Errorf("after stop: %q", got)
	}
	d.berth(t, "vm", "start", "a")
	if r := sshRun(key, addrA, "cat /root/note"); r.Code != 0 || strings.TrimSpace(r.Stdout) != "kept" {
		t.Errorf("the file after stop and start: %s", r)
	}

	step("stopped and started")
	// Terminate leaves nothing: no qemu, no disk, no network namespace, no firewall rule.
	for _, id := range []string{a, b} {
		d.berth(t, "vm", "rm", "-f", id)
	}
	if out := d.berth(t, "vm", "ls", "-q"); strings.TrimSpace(out) != "" {
		t.Errorf("vm ls after rm: %q", out)
	}
	if got := strings.TrimSpace(d.berth(t, "vm", "ls", "-a", "--format", "{{.State}}")); got != "terminated\nterminated" {
		t.Errorf("vm ls -a: %q", got)
	}
	procs, _ := exec.Command("pgrep", "-f", "process=berth-vm-i-").Output()
	for _, id := range []string{a, b} {
		if strings.Contains(string(procs), id) {
			t.Errorf("qemu of %s still runs", id)
		}
		for _, p := range []string{filepath.Join(d.DataRoot, "vm", "instances", id, "disk.qcow2"), filepath.Join(d.ExecRoot, "netns", id),
			filepath.Join(d.ExecRoot, "vm", "instances", id)} {
			if _, err := os.Stat(p); err == nil {
				t.Errorf("%s is left", p)
			}
		}
	}
	if out, _ := exec.Command("nft", "list", "ruleset").Output(); strings.Contains(string(out), a) || strings.Contains(string(out), b) {
		t.Errorf("nftables rules of the instances are left")
	}
	links, _ := exec.Command("ip", "-o", "link").Output()
	bridge := d.bridge()
	for _, l := range strings.Split(string(links), "\n") {
		if strings.Contains(l, "master "+bridge) {
			t.Errorf("a veth is left on the bridge: %s", l)
		}
	}
}
