package ec2api

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// awsCLIs are the aws CLIs on this machine: the one on PATH (required: the test fails without it) and Debian's
// /usr/bin/aws when that is another version (v2 beside a pip-installed v1, as here), each driven the same way.
func awsCLIs(t *testing.T) map[string]string {
	t.Helper()
	bin, err := exec.LookPath("aws")
	if err != nil {
		t.Fatalf("the aws CLI is required for this test (Debian: apt-get install awscli): %v", err)
	}
	out := map[string]string{}
	for _, b := range []string{bin, "/usr/bin/aws"} {
		if _, err := os.Stat(b); err != nil {
			continue
		}
		v, err := exec.Command(b, "--version").CombinedOutput()
		if err != nil {
			t.Fatalf("%s --version: %v %s", b, err, v)
		}
		version, _, _ := strings.Cut(strings.TrimSpace(string(v)), " ")
		out[version] = b
	}
	return out
}

// cli runs one aws CLI against an env, isolated from the machine's AWS configuration.
type cli struct {
	t    *testing.T
	bin  string
	env  *env
	home string
}

// run returns the command's stdout, stderr and exit code.
func (c *cli) run(args ...string) (string, string, int) {
	c.t.Helper()
	cmd := exec.Command(c.bin, append([]string{"--endpoint-url", c.env.srv.URL, "--region", "us-east-1"}, args...)...)
	cmd.Dir = c.home
	cmd.Env = append(envWithoutAWS(), "HOME="+c.home, "AWS_CONFIG_FILE="+filepath.Join(c.home, "config"),
		"AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(c.home, "credentials"), "AWS_ACCESS_KEY_ID="+rootKey,
		"AWS_SECRET_ACCESS_KEY="+rootSecret, "AWS_EC2_METADATA_DISABLED=true", "AWS_MAX_ATTEMPTS=1", "AWS_PAGER=")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		c.t.Fatalf("aws %s: %v", strings.Join(args, " "), err)
	}
	return out.String(), errOut.String(), code
}

// must runs a command that must succeed and returns its stdout, trimmed.
func (c *cli) must(args ...string) string {
	c.t.Helper()
	out, errOut, code := c.run(args...)
	if code != 0 {
		c.t.Fatalf("aws %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	return strings.TrimSpace(out)
}

// fails runs a command that must fail with EC2's error, as the CLI prints it.
func (c *cli) fails(want string, args ...string) {
	c.t.Helper()
	out, errOut, code := c.run(args...)
	// AWS CLI v2 notes the retries it made (none: AWS_MAX_ATTEMPTS=1) inside EC2's sentence.
	errOut = strings.Replace(errOut, " (reached max retries: 0)", "", 1)
	if code == 0 || !strings.Contains(errOut, want) {
		c.t.Fatalf("aws %s: exit %d, stderr %q (stdout %q), want %q", strings.Join(args, " "), code, errOut, out, want)
	}
}

func envWithoutAWS() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") {
			env = append(env, kv)
		}
	}
	return env
}

// TestAWSCLI is a user's session with the aws CLI: key pairs usable by ssh, a security group opened with both of
// the CLI's forms, instances run from Berth's images and taken through their states with `aws ec2 wait`, tags,
// and the errors the CLI prints.
func TestAWSCLI(t *testing.T) {
	if _, err := exec.LookPath("ssh-keygen"); err != nil {
		t.Fatalf("ssh-keygen is required for this test (Debian: apt-get install openssh-client): %v", err)
	}
	for version, bin := range awsCLIs(t) {
		t.Run(version, func(t *testing.T) {
			e := newEnv(t)
			c := &cli{t: t, bin: bin, env: e, home: t.TempDir()}
			cliSession(t, c)
		})
	}
}

func cliSession(t *testing.T, c *cli) {
	e := c.env
	if got := c.must("ec2", "describe-regions", "--query", "Regions[].RegionName", "--output", "text"); got != "us-east-1" {
		t.Fatalf("regions: %q", got)
	}
	if got := c.must("ec2", "describe-availability-zones", "--query", "AvailabilityZones[].ZoneName", "--output", "text"); got != "us-east-1a" {
		t.Fatalf("zones: %q", got)
	}

	// Key pairs: the private key written as users write it, usable by ssh-keygen (and so ssh).
	pemFile := filepath.Join(c.home, "me.pem")
	pemText := c.must("ec2", "create-key-pair", "--key-name", "me", "--key-type", "rsa", "--key-format", "pem",
		"--tag-specifications", "ResourceType=key-pair,Tags=[{Key=team,Value=ops}]", "--query", "KeyMaterial", "--output", "text")
	if err := os.WriteFile(pemFile, []byte(pemText+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	pub, err := exec.Command("ssh-keygen", "-y", "-f", pemFile).CombinedOutput()
	if err != nil {
		t.Fatalf("ssh-keygen -y on the key pair's PEM: %v %s", err, pub)
	}
	kept := c.must("ec2", "describe-key-pairs", "--key-names", "me", "--include-public-key", "--query", "KeyPairs[0].PublicKey", "--output", "text")
	if kept != strings.TrimSpace(string(pub)) {
		t.Fatalf("the key pair's public key %q is not the private key's %q", kept, pub)
	}
	edText := c.must("ec2", "create-key-pair", "--key-name", "ed", "--key-type", "ed25519", "--query", "KeyMaterial", "--output", "text")
	edFile := filepath.Join(c.home, "ed.pem")
	os.WriteFile(edFile, []byte(edText+"\n"), 0o600)
	if out, err := exec.Command("ssh-keygen", "-y", "-f", edFile).CombinedOutput(); err != nil || !strings.HasPrefix(string(out), "ssh-ed25519 ") {
		t.Fatalf("ed25519 key: %v %s", err, out)
	}
	laptop := filepath.Join(c.home, "laptop")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "me@laptop", "-f", laptop).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v %s", err, out)
	}
	c.must("ec2", "import-key-pair", "--key-name", "laptop", "--public-key-material", "fileb://"+laptop+".pub")
	if got := c.must("ec2", "describe-key-pairs", "--filters", "Name=key-name,Values=lap*,me", "--query", "sort(KeyPairs[].KeyName)", "--output", "text"); got != "laptop\tme" {
		t.Fatalf("key-name filter: %q", got)
	}
	if got := c.must("ec2", "describe-key-pairs", "--filters", "Name=tag:team,Values=ops", "--query", "KeyPairs[].KeyName", "--output", "text"); got != "me" {
		t.Fatalf("tag filter: %q", got)
	}
	c.fails("An error occurred (InvalidKeyPair.Duplicate) when calling the CreateKeyPair operation: The keypair 'me' already exists.",
		"ec2", "create-key-pair", "--key-name", "me")
	c.fails("An error occurred (InvalidKey.Format) when calling the ImportKeyPair operation: Key is not in valid OpenSSH public key format",
		"ec2", "import-key-pair", "--key-name", "bad", "--public-key-material", "fileb://"+pemFile)

	// A security group, opened with --protocol/--port/--cidr and with --ip-permissions.
	sg := c.must("ec2", "create-security-group", "--group-name", "web", "--description", "web servers", "--query", "GroupId", "--output", "text")
	if !groupIDPattern.MatchString(sg) {
		t.Fatalf("GroupId %q", sg)
	}
	c.must("ec2", "authorize-security-group-ingress", "--group-id", sg, "--protocol", "tcp", "--port", "22", "--cidr", "0.0.0.0/0")
	c.must("ec2", "authorize-security-group-ingress", "--group-name", "web", "--ip-permissions",
		`[{"IpProtocol":"tcp","FromPort":8000,"ToPort":8080,"IpRanges":[{"CidrIp":"10.0.0.0/8","Description":"lan"}]},`+
			`{"IpProtocol":"-1","UserIdGroupPairs":[{"GroupId":"`+sg+`"}]},{"IpProtocol":"icmp","FromPort":8,"ToPort":-1,"IpRanges":[{"CidrIp":"192.168.0.0/16"}]}]`)
	var perms []struct {
		IpProtocol       string
		FromPort, ToPort *int
		IpRanges         []struct{ CidrIp, Description string }
		UserIdGroupPairs []struct{ GroupId, UserId string }
	}
	if err := json.Unmarshal([]byte(c.must("ec2", "describe-security-groups", "--group-ids", sg, "--query", "SecurityGroups[0].IpPermissions", "--output", "json")), &perms); err != nil {
		t.Fatal(err)
	}
	if len(perms) != 4 || perms[0].IpProtocol != "tcp" || *perms[0].FromPort != 22 || perms[0].IpRanges[0].CidrIp != "0.0.0.0/0" ||
		*perms[1].ToPort != 8080 || perms[1].IpRanges[0].Description != "lan" || perms[2].IpProtocol != "-1" || perms[2].FromPort != nil ||
		perms[2].UserIdGroupPairs[0].GroupId != sg || perms[2].UserIdGroupPairs[0].UserId != e.account || *perms[3].FromPort != 8 {
		t.Fatalf("permissions: %+v", perms)
	}
	c.fails("An error occurred (InvalidPermission.Duplicate) when calling the AuthorizeSecurityGroupIngress operation",
		"ec2", "authorize-security-group-ingress", "--group-id", sg, "--protocol", "tcp", "--port", "22", "--cidr", "0.0.0.0/0")
	c.must("ec2", "revoke-security-group-ingress", "--group-id", sg, "--protocol", "tcp", "--port", "22", "--cidr", "0.0.0.0/0")
	c.fails("An error occurred (InvalidPermission.NotFound) when calling the RevokeSecurityGroupIngress operation: The specified rule does not exist in this security group.",
		"ec2", "revoke-security-group-ingress", "--group-id", sg, "--protocol", "tcp", "--port", "22", "--cidr", "0.0.0.0/0")
	if got := c.must("ec2", "describe-security-groups", "--filters", "Name=ip-permission.from-port,Values=8000", "--query", "SecurityGroups[].GroupName", "--output", "text"); got != "web" {
		t.Fatalf("filter: %q", got)
	}

	// Images are Berth's images.
	if got := c.must("ec2", "describe-images", "--owners", "self", "--filters", "Name=name,Values=debian*", "--query", "Images[].[ImageId,Name,State]", "--output", "text"); got != debianAMI+"\tdebian-ssh:latest\tavailable" {
		t.Fatalf("images: %q", got)
	}
	c.fails("An error occurred (InvalidAMIID.NotFound) when calling the RunInstances operation: The image id '[ami-00000000000000000]' does not exist",
		"ec2", "run-instances", "--image-id", "ami-00000000000000000", "--count", "1")
	c.fails("An error occurred (DryRunOperation) when calling the RunInstances operation: Request would have succeeded, but DryRun flag is set.",
		"ec2", "run-instances", "--image-id", debianAMI, "--dry-run")

	// Instances: user data is sent as a file, base64-encoded by the CLI; tags at launch.
	script := "#!/bin/sh\necho hello from user data\n"
	os.WriteFile(filepath.Join(c.home, "init.sh"), []byte(script), 0o644)
	var run struct {
		ReservationId string
		Instances     []struct {
			InstanceId string
			State      struct{ Name string }
		}
	}
	if err := json.Unmarshal([]byte(c.must("ec2", "run-instances", "--image-id", debianAMI, "--instance-type", "t3.micro", "--key-name", "me",
		"--security-group-ids", sg, "--count", "2", "--user-data", "file://init.sh",
		"--tag-specifications", "ResourceType=instance,Tags=[{Key=Name,Value=web}]", "--output", "json")), &run); err != nil {
		t.Fatal(err)
	}
	if len(run.Instances) != 2 || run.Instances[0].State.Name != "pending" {
		t.Fatalf("run-instances: %+v", run)
	}
	if got := e.backend.runs[0]; string(got.UserData) != script || got.Tags["Name"] != "web" || got.KeyName != "me" {
		t.Fatalf("the engine was asked %+v", got)
	}
	a, b := run.Instances[0].InstanceId, run.Instances[1].InstanceId

	// The waiter polls DescribeInstances (every 15 s, as botocore's model says): pending, then running.
	c.must("ec2", "wait", "instance-running", "--instance-ids", a, b)
	got := c.must("ec2", "describe-instances", "--filters", "Name=tag:Name,Values=web", "Name=instance-state-name,Values=running",
		"--query", "sort(Reservations[].Instances[].InstanceId)", "--output", "text")
	if want := strings.Join(sortedPair(a, b), "\t"); got != want {
		t.Fatalf("describe-instances with filters: %q, want %q", got, want)
	}
	got = c.must("ec2", "describe-instances", "--instance-ids", a, "--query",
		"Reservations[0].Instances[0].[State.Name,State.Code,InstanceType,KeyName,Placement.AvailabilityZone,Architecture,Hypervisor,SecurityGroups[0].GroupName]", "--output", "text")
	if got != "running\t16\tt3.micro\tme\tus-east-1a\tx86_64\ttcg\tweb" {
		t.Fatalf("instance: %q", got)
	}

	if got := c.must("ec2", "stop-instances", "--instance-ids", a, "--force", "--query", "StoppingInstances[0].[PreviousState.Name,CurrentState.Name]", "--output", "text"); got != "running\tstopping" {
		t.Fatalf("stop-instances: %q", got)
	}
	c.must("ec2", "wait", "instance-stopped", "--instance-ids", a)
	if got := c.must("ec2", "start-instances", "--instance-ids", a, "--query", "StartingInstances[0].[PreviousState.Name,CurrentState.Name]", "--output", "text"); got != "stopped\tpending" {
		t.Fatalf("start-instances: %q", got)
	}
	c.must("ec2", "wait", "instance-running", "--instance-ids", a)
	c.must("ec2", "reboot-instances", "--instance-ids", a)
	// The CLI decodes the base64 Output itself.
	if got := c.must("ec2", "get-console-output", "--instance-id", a, "--latest", "--query", "Output", "--output", "text"); !strings.Contains(got, "reboot: Restarting system") {
		t.Fatalf("console output: %q", got)
	}
	if got := c.must("ec2", "describe-instance-status", "--instance-ids", a, "--query", "InstanceStatuses[0].[InstanceState.Name,InstanceStatus.Status,SystemStatus.Status]", "--output", "text"); got != "running\tok\tok" {
		t.Fatalf("status: %q", got)
	}
	if got := c.must("ec2", "describe-instance-types", "--instance-types", "t2.micro", "--query", "InstanceTypes[0].[VCpuInfo.DefaultVCpus,MemoryInfo.SizeInMiB]", "--output", "text"); got != "1\t1024" {
		t.Fatalf("instance types: %q", got)
	}

	// Tags on an instance, a group, a key pair and an image.
	keyID := c.must("ec2", "describe-key-pairs", "--key-names", "laptop", "--query", "KeyPairs[0].KeyPairId", "--output", "text")
	c.must("ec2", "create-tags", "--resources", a, sg, keyID, debianAMI, "--tags", "Key=env,Value=prod", "Key=owner")
	if got := c.must("ec2", "describe-tags", "--filters", "Name=key,Values=env", "--query", "sort(Tags[].ResourceType)", "--output", "text"); got != "image\tinstance\tkey-pair\tsecurity-group" {
		t.Fatalf("describe-tags: %q", got)
	}
	c.must("ec2", "delete-tags", "--resources", a, "--tags", "Key=env")
	if got := c.must("ec2", "describe-tags", "--filters", "Name=resource-id,Values="+a, "--query", "sort(Tags[].Key)", "--output", "text"); got != "Name\towner" {
		t.Fatalf("after delete-tags: %q", got)
	}

	c.fails("An error occurred (InvalidInstanceID.NotFound) when calling the DescribeInstances operation: The instance ID 'i-0123456789abcdef0' does not exist",
		"ec2", "describe-instances", "--instance-ids", "i-0123456789abcdef0")
	c.fails("An error occurred (InvalidParameterValue) when calling the DescribeInstances operation: The filter 'public-ip' is invalid",
		"ec2", "describe-instances", "--filters", "Name=public-ip,Values=1.2.3.4")

	if got := c.must("ec2", "terminate-instances", "--instance-ids", a, b, "--query", "TerminatingInstances[].CurrentState.Name", "--output", "text"); got != "shutting-down\tshutting-down" {
		t.Fatalf("terminate-instances: %q", got)
	}
	c.must("ec2", "wait", "instance-terminated", "--instance-ids", a, b)
	if got := c.must("ec2", "describe-instances", "--instance-ids", a, "--query", "Reservations[0].Instances[0].State.Name", "--output", "text"); got != "terminated" {
		t.Fatalf("a terminated instance stays listed: %q", got)
	}
	c.fails("An error occurred (IncorrectInstanceState) when calling the StartInstances operation",
		"ec2", "start-instances", "--instance-ids", a)

	c.must("ec2", "delete-security-group", "--group-id", sg)
	c.must("ec2", "delete-key-pair", "--key-name", "me")
	if got := c.must("ec2", "describe-key-pairs", "--query", "sort(KeyPairs[].KeyName)", "--output", "text"); got != "ed\tlaptop" {
		t.Fatalf("key pairs left: %q", got)
	}
}

func sortedPair(a, b string) []string {
	if a > b {
		return []string{b, a}
	}
	return []string{a, b}
}
