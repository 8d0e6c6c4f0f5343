package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

// EC2 through the aws CLI (whatever `aws` is on PATH) against a daemon's cloud endpoint, on virtual machines
// booted as TestVMInstances boots them: a user's lab, from a key pair to terminate, with ssh to the instances,
// EC2's errors as the CLI prints them, and a second account that sees none of it. Two instances boot, and one of
// them again after a stop: what the checks need and no more (CI runs this on 2 cores under software emulation).
func TestEC2(t *testing.T) {
	kernel := requireVMTools(t)
	tools := requireS3Tools(t)
	port := freePort(t)
	d := startDaemonWith(t, fmt.Sprintf(`{"cloud-addr": "127.0.0.1:%d"}`, port), "--vm-kernel", kernel)
	t.Cleanup(func() {
		if out, err := d.berthErr("vm", "ls", "-q"); err == nil {
			for _, id := range strings.Fields(out) {
				d.berthErr("vm", "rm", "-f", id)
			}
		}
	})
	s := &s3Server{name: "daemon cloud endpoint", port: port, url: fmt.Sprintf("http://127.0.0.1:%d", port),
		dir: filepath.Join(d.Root, "clients"), dataDir: filepath.Join(d.DataRoot, "cloud"), log: d.log}
	os.MkdirAll(s.dir, 0o700)
	waitS3(t, s, d.exited)
	b, err := os.ReadFile(filepath.Join(s.dataDir, "root-credentials"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^aws_access_key_id\s*=\s*(\S+)\s*\naws_secret_access_key\s*=\s*(\S+)`).FindStringSubmatch(string(b))
	if m == nil {
		t.Fatalf("root-credentials:\n%s", b)
	}
	root := keys{m[1], m[2]}
	if r := d.berthR(bytes.NewReader(sshImageTar(t)), "import", "--change", `CMD ["sh"]`, "-", "sshbox:latest"); r.Code != 0 {
		t.Fatalf("import: %s", r)
	}
	t0 := time.Now()
	step := func(what string) { t.Logf("%6.1fs %s", time.Since(t0).Seconds(), what) }
	ec2 := func(k keys, args ...string) result {
		t.Helper()
		return s.aws(t, tools, k, append([]string{"--region", "us-east-1", "ec2"}, args...)...)
	}
	ok := func(args ...string) string {
		t.Helper()
		r := ec2(root, args...)
		if r.Code != 0 {
			t.Fatalf("aws ec2 %s: %s", strings.Join(args, " "), r)
		}
		return strings.TrimSpace(r.Stdout)
	}
	// fails runs a command that must fail with EC2's code and words, as the CLI prints them.
	fails := func(k keys, want string, args ...string) {
		t.Helper()
		r := ec2(k, args...)
		if r.Code == 0 || !strings.Contains(strings.Replace(r.Stderr, " (reached max retries: 0)", "", 1), want) {
			t.Errorf("aws ec2 %s: want %q, got %s", strings.Join(args, " "), want, r)
		}
	}

	// A key pair made by EC2 (the private key handed out once, written as users write it) and one imported.
	key := filepath.Join(s.dir, "k.pem")
	if err := os.WriteFile(key, []byte(ok("create-key-pair", "--key-name", "k", "--key-type", "ed25519", "--query", "KeyMaterial", "--output", "text")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	laptop := filepath.Join(s.dir, "laptop")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "me@laptop", "-f", laptop).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v %s", err, out)
	}
	ok("import-key-pair", "--key-name", "laptop", "--public-key-material", "fileb://"+laptop+".pub")
	if got := ok("describe-key-pairs", "--query", "sort(KeyPairs[].[KeyName,KeyType][])", "--output", "text"); got != "ed25519\ted25519\tk\tlaptop" {
		t.Errorf("describe-key-pairs: %q", got)
	}
	fails(root, "An error occurred (InvalidKeyPair.Duplicate) when calling the CreateKeyPair operation: The keypair 'k' already exists.",
		"create-key-pair", "--key-name", "k")

	// A security group, no inbound rule yet.
	sg := ok("create-security-group", "--group-name", "web", "--description", "web servers", "--query", "GroupId", "--output", "text")
	if got := ok("describe-security-groups", "--group-names", "web", "--query", "SecurityGroups[0].[GroupId,length(IpPermissions)]", "--output", "text"); got != sg+"\t0" {
		t.Errorf("describe-security-groups: %q", got)
	}
	fails(root, "An error occurred (InvalidGroup.NotFound) when calling the DescribeSecurityGroups operation: The security group 'sg-0123456789abcdef0' does not exist",
		"describe-security-groups", "--group-ids", "sg-0123456789abcdef0")

	// Berth's images are the AMIs.
	imageID := strings.TrimSpace(d.berth(t, "image", "inspect", "-f", "{{.Id}}", "sshbox:latest"))
	ami := "ami-" + strings.TrimPrefix(imageID, "sha256:")[:17]
	if got := ok("describe-images", "--owners", "self", "--filters", "Name=name,Values=sshbox*", "--query", "Images[].[ImageId,Name,State]", "--output", "text"); got != ami+"\tsshbox:latest\tavailable" {
		t.Errorf("describe-images: %q, want %s", got, ami)
	}
	fails(root, "An error occurred (InvalidAMIID.NotFound) when calling the RunInstances operation: The image id '[ami-00000000000000000]' does not exist",
		"run-instances", "--image-id", "ami-00000000000000000", "--instance-type", "t2.micro")
	fails(root, "An error occurred (InvalidKeyPair.NotFound) when calling the RunInstances operation: The key pair 'nope' does not exist",
		"run-instances", "--image-id", ami, "--key-name", "nope")
	step("key pairs, groups, images")

	// Two instances in one reservation, with user data and a Name tag.
	userData := filepath.Join(s.dir, "user-data.sh")
	os.WriteFile(userData, []byte("#!/bin/sh\necho ran-once >> /root/user-data.out\n"), 0o644)
	var run struct {
		ReservationId string
		Instances     []struct {
			InstanceId string
			State      struct{ Name string }
		}
	}
	if err := json.Unmarshal([]byte(ok("run-instances", "--image-id", ami, "--instance-type", "t2.micro", "--key-name", "k",
		"--security-group-ids", sg, "--count", "2", "--user-data", "file://"+userData,
		"--tag-specifications", "ResourceType=instance,Tags=[{Key=Name,Value=web}]", "--output", "json")), &run); err != nil {
		t.Fatal(err)
	}
	if len(run.Instances) != 2 || run.Instances[0].State.Name != "pending" || !strings.HasPrefix(run.ReservationId, "r-") {
		t.Fatalf("run-instances: %+v", run)
	}
	a, bID := run.Instances[0].InstanceId, run.Instances[1].InstanceId
	ok("wait", "instance-running", "--instance-ids", a, bID)
	step("two instances running")
	var insts [][]string
	if err := json.Unmarshal([]byte(ok("describe-instances", "--filters", "Name=tag:Name,Values=web", "--query",
		"Reservations[].Instances[].[InstanceId, State.Name, PrivateIpAddress, PublicIpAddress, Hypervisor, KeyName, SecurityGroups[0].GroupName, to_string(AmiLaunchIndex)]",
		"--output", "json")), &insts); err != nil {
		t.Fatal(err)
	}
	if got := ok("describe-instances", "--filters", "Name=tag:Name,Values=web", "--query", "Reservations[].ReservationId", "--output", "text"); got != run.ReservationId {
		t.Errorf("one reservation, %s: %q", run.ReservationId, got)
	}
	sort.Slice(insts, func(i, j int) bool { return insts[i][7] < insts[j][7] })
	if len(insts) != 2 {
		t.Fatalf("describe-instances: %q", insts)
	}
	addr := map[string]string{}
	for i, in := range insts {
		if len(in) != 8 || in[0] != run.Instances[i].InstanceId || in[1] != "running" || in[2] == "" || in[3] != in[2] || (in[4] != "tcg" && in[4] != "kvm") ||
			in[5] != "k" || in[6] != "web" || in[7] != fmt.Sprint(i) {
			t.Fatalf("instance %d: %q", i, in)
		}
		addr[in[0]] = in[3]
	}
	if addr[a] == addr[bID] {
		t.Fatalf("two instances, one address: %q", insts)
	}
	if out := strings.TrimSpace(d.berth(t, "vm", "ls", "--format", "{{.ID}} {{.Owner}}")); !strings.Contains(out, a+" ") || strings.Contains(out, a+" \n") {
		t.Errorf("berth vm ls shows the owner: %q", out)
	}

	// The group has no rule for port 22: ssh gets no answer. Authorized, it does.
	began := time.Now()
	if r := sshRun(key, addr[a], "true"); r.Code == 0 {
		t.Fatalf("ssh to an instance whose group does not allow 22 got in: %s", r)
	}
	if took := time.Since(began); took > 30*time.Second {
		t.Errorf("the refused ssh took %v: not within its ConnectTimeout", took)
	}
	ok("authorize-security-group-ingress", "--group-id", sg, "--protocol", "tcp", "--port", "22", "--cidr", "0.0.0.0/0")
	if got := ok("describe-security-groups", "--group-ids", sg, "--query", "SecurityGroups[0].IpPermissions[0].[IpProtocol,FromPort,ToPort,IpRanges[0].CidrIp]", "--output", "text"); got != "tcp\t22\t22\t0.0.0.0/0" {
		t.Errorf("the authorized rule: %q", got)
	}
	host := hostRelease(t)
	for _, id := range []string{a, bID} {
		r := sshRun(key, addr[id], "uname -r")
		if r.Code != 0 {
			t.Fatalf("ssh -i k.pem root@%s: %s", addr[id], r)
		}
		if guest := strings.TrimSpace(r.Stdout); guest == host || guest == "" {
			t.Errorf("uname -r on %s: %q, the host's: %q", id, guest, host)
		}
		waitFor(t, 30*time.Second, "the user data's output on "+id, func() bool {
			r := sshRun(key, addr[id], "cat /root/user-data.out 2>/dev/null; true")
			return strings.TrimSpace(r.Stdout) == "ran-once"
		})
	}
	step("ssh, security group, user data")

	// One of them goes; the other keeps a file across stop and start.
	if got := ok("terminate-instances", "--instance-ids", bID, "--query", "TerminatingInstances[0].CurrentState.Name", "--output", "text"); got != "shutting-down" && got != "terminated" {
		t.Errorf("terminate-instances: %q", got)
	}
	if r := sshRun(key, addr[a], "echo kept > /root/note; sync"); r.Code != 0 {
		t.Fatalf("writing a file: %s", r)
	}
	if got := ok("stop-instances", "--instance-ids", a, "--query", "StoppingInstances[0].PreviousState.Name", "--output", "text"); got != "running" {
		t.Errorf("stop-instances: %q", got)
	}
	ok("wait", "instance-stopped", "--instance-ids", a)
	if got := ok("describe-instances", "--instance-ids", a, "--query", "Reservations[0].Instances[0].[State.Name,PrivateIpAddress]", "--output", "text"); got != "stopped\t"+addr[a] {
		t.Errorf("stopped: %q", got)
	}
	if got := ok("start-instances", "--instance-ids", a, "--query", "StartingInstances[0].[PreviousState.Name,CurrentState.Name]", "--output", "text"); got != "stopped\tpending" {
		t.Errorf("start-instances: %q", got)
	}
	ok("wait", "instance-running", "--instance-ids", a)
	if r := sshRun(key, addr[a], "cat /root/note"); r.Code != 0 || strings.TrimSpace(r.Stdout) != "kept" {
		t.Errorf("the file after stop and start: %s", r)
	}
	// As EC2 does, starting a running instance is no error: it answers with its state.
	if got := ok("start-instances", "--instance-ids", a, "--query", "StartingInstances[0].[PreviousState.Name,CurrentState.Name]", "--output", "text"); got != "running\trunning" {
		t.Errorf("start-instances of a running instance: %q", got)
	}
	// The serial console across both boots: the guest's init, and the power-down of the stop between them.
	if got := ok("get-console-output", "--instance-id", a, "--query", "Output", "--output", "text"); strings.Count(got, "berth-init: ready") != 2 || !strings.Contains(got, "reboot: Power down") {
		t.Errorf("get-console-output:\n%s", tail(got, 3000))
	}
	step("stopped, started, console")

	// EC2's errors, as the CLI prints them, with a non-zero exit.
	ok("wait", "instance-terminated", "--instance-ids", bID)
	fails(root, "An error occurred (IncorrectInstanceState) when calling the StartInstances operation", "start-instances", "--instance-ids", bID)
	fails(root, "An error occurred (InvalidInstanceID.NotFound) when calling the DescribeInstances operation: The instance ID 'i-0123456789abcdef0' does not exist",
		"describe-instances", "--instance-ids", "i-0123456789abcdef0")
	fails(keys{}, "An error occurred (AuthFailure) when calling the DescribeInstances operation: AWS was not able to validate the provided access credentials",
		"describe-instances", "--no-sign-request")

	// A second account sees none of the first's instances, key pairs or groups, and has names of its own.
	r := runTool(t, s.env(root), filepath.Join(binDir, "berth"), "s3", "account", "create", "tenant2", "--format", "{{.AccessKeyID}} {{.SecretAccessKey}}", "--endpoint-url", s.url)
	f := strings.Fields(r.Stdout)
	if r.Code != 0 || len(f) != 2 {
		t.Fatalf("berth s3 account create: %s", r)
	}
	tenant := keys{f[0], f[1]}
	ok2 := func(args ...string) string {
		t.Helper()
		r := ec2(tenant, args...)
		if r.Code != 0 {
			t.Fatalf("tenant2: aws ec2 %s: %s", strings.Join(args, " "), r)
		}
		return strings.TrimSpace(r.Stdout)
	}
	if got := ok2("describe-instances", "--query", "Reservations[].Instances[].InstanceId", "--output", "text"); got != "" {
		t.Errorf("tenant2 sees instances %q", got)
	}
	if got := ok2("describe-key-pairs", "--query", "KeyPairs[].KeyName", "--output", "text"); got != "" {
		t.Errorf("tenant2 sees key pairs %q", got)
	}
	if got := ok2("describe-security-groups", "--query", "SecurityGroups[].[GroupName,GroupId]", "--output", "text"); !strings.HasPrefix(got, "default\tsg-") || strings.Contains(got, "\n") || strings.Contains(got, sg) {
		t.Errorf("tenant2's groups: %q (its own default only)", got)
	}
	fails(tenant, "An error occurred (InvalidInstanceID.NotFound) when calling the TerminateInstances operation", "terminate-instances", "--instance-ids", a)
	fails(tenant, "An error occurred (InvalidGroup.NotFound)", "delete-security-group", "--group-id", sg)
	ok2("create-key-pair", "--key-name", "k", "--query", "KeyName", "--output", "text")
	step("errors, a second account")

	// Terminate leaves nothing: no qemu, no disk, no network namespace, no veth, no firewall rule.
	ok("terminate-instances", "--instance-ids", a)
	ok("wait", "instance-terminated", "--instance-ids", a)
	step("terminated")
	procs, _ := exec.Command("pgrep", "-f", "process=berth-vm-i-").Output()
	for _, id := range []string{a, bID} {
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
	if out, _ := exec.Command("nft", "list", "ruleset").Output(); strings.Contains(string(out), a) || strings.Contains(string(out), bID) {
		t.Errorf("nftables rules of the instances are left")
	}
	links, _ := exec.Command("ip", "-o", "link").Output()
	for _, l := range strings.Split(string(links), "\n") {
		if strings.Contains(l, "master "+d.bridge()) {
			t.Errorf("a veth is left on the bridge: %s", l)
		}
	}
	if c, err := net.DialTimeout("tcp", addr[a]+":22", 2*time.Second); err == nil {
		c.Close()
		t.Errorf("%s:22 still answers", addr[a])
	}
}
