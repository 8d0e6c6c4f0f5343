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

// awsCLI is the aws CLI on PATH (required: the test fails without it).
func awsCLI(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("aws")
	if err != nil {
		t.Fatalf("the aws CLI is required for this test (Debian: apt-get install awscli): %v", err)
	}
	return bin
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

// TestAWSCLI is what the aws CLI itself does to requests and answers: the private key written as users write it,
// --ip-permissions and its shorthand, --filters, --tag-specifications, --user-data file://, --query over EC2's
// answers, dry runs and the errors it prints. The lifecycle of real instances through the CLI (`aws ec2 wait`,
// ssh, stop and start, a second account) is test/e2e's TestEC2; the waiters over this API are TestSDK*'s.
func TestAWSCLI(t *testing.T) {
	if _, err := exec.LookPath("ssh-keygen"); err != nil {
		t.Fatalf("ssh-keygen is required for this test (Debian: apt-get install openssh-client): %v", err)
	}
	e := newEnv(t)
	c := &cli{t: t, bin: awsCLI(t), env: e, home: t.TempDir()}
	cliSession(t, c)
}

func cliSession(t *testing.T, c *cli) {
	e := c.env
	// Key pairs: the private key written as users write it (RSA in PEM here; ED25519 is TestEC2's), usable by
	// ssh-keygen, and a key pair tagged at creation with --tag-specifications' shorthand.
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
	kept := c.must("ec2", "describe-key-pairs", "--filters", "Name=key-name,Values=m?", "Name=tag:team,Values=ops", "--include-public-key",
		"--query", "KeyPairs[].PublicKey", "--output", "text")
	if kept != strings.TrimSpace(string(pub)) {
		t.Fatalf("the key pair's public key %q is not the private key's %q", kept, pub)
	}
	c.fails("An error occurred (InvalidKey.Format) when calling the ImportKeyPair operation: Key is not in valid OpenSSH public key format",
		"ec2", "import-key-pair", "--key-name", "bad", "--public-key-material", "fileb://"+pemFile)

	// A security group opened with --ip-permissions: ranges with descriptions, another group, ICMP.
	sg := c.must("ec2", "create-security-group", "--group-name", "web", "--description", "web servers", "--query", "GroupId", "--output", "text")
	if !groupIDPattern.MatchString(sg) {
		t.Fatalf("GroupId %q", sg)
	}
	c.must("ec2", "authorize-security-group-ingress", "--group-name", "web", "--ip-permissions",
		`[{"IpProtocol":"tcp","FromPort":8000,"ToPort":8080,"IpRanges":[{"CidrIp":"10.0.0.0/8","Description":"lan"}]},`+
			`{"IpProtocol":"-1","UserIdGroupPairs":[{"GroupId":"`+sg+`"}]},{"IpProtocol":"icmp","FromPort":8,"ToPort":-1,"IpRanges":[{"CidrIp":"192.168.0.0/16"}]}]`)
	var perms []struct {
		IpProtocol       string
		FromPort, ToPort *int
		IpRanges         []struct{ CidrIp, Description string }
		UserIdGroupPairs []struct{ GroupId, UserId string }
	}
	if err := json.Unmarshal([]byte(c.must("ec2", "describe-security-groups", "--filters", "Name=ip-permission.from-port,Values=8000",
		"--query", "SecurityGroups[0].IpPermissions", "--output", "json")), &perms); err != nil {
		t.Fatal(err)
	}
	if len(perms) != 3 || perms[0].IpProtocol != "tcp" || *perms[0].ToPort != 8080 || perms[0].IpRanges[0].Description != "lan" ||
		perms[1].IpProtocol != "-1" || perms[1].FromPort != nil || perms[1].UserIdGroupPairs[0].GroupId != sg ||
		perms[1].UserIdGroupPairs[0].UserId != e.account || *perms[2].FromPort != 8 {
		t.Fatalf("permissions: %+v", perms)
	}
	c.fails("An error occurred (InvalidPermission.NotFound) when calling the RevokeSecurityGroupIngress operation: The specified rule does not exist in this security group.",
		"ec2", "revoke-security-group-ingress", "--group-id", sg, "--protocol", "tcp", "--port", "22", "--cidr", "0.0.0.0/0")

	c.fails("An error occurred (DryRunOperation) when calling the RunInstances operation: Request would have succeeded, but DryRun flag is set.",
		"ec2", "run-instances", "--image-id", debianAMI, "--dry-run")
	// User data is sent as a file, base64-encoded by the CLI; tags at launch.
	script := "#!/bin/sh\necho hello from user data\n"
	os.WriteFile(filepath.Join(c.home, "init.sh"), []byte(script), 0o644)
	a := c.must("ec2", "run-instances", "--image-id", debianAMI, "--instance-type", "t3.micro", "--key-name", "me",
		"--security-group-ids", sg, "--user-data", "file://init.sh",
		"--tag-specifications", "ResourceType=instance,Tags=[{Key=Name,Value=web}]", "--query", "Instances[0].InstanceId", "--output", "text")
	if got := e.backend.runs[0]; string(got.UserData) != script || got.Tags["Name"] != "web" || got.KeyName != "me" || got.Type != "t3.micro" {
		t.Fatalf("the engine was asked %+v", got)
	}

	// Tags on an instance, a group, a key pair and an image, with the shorthand's key-only tags.
	keyID := c.must("ec2", "describe-key-pairs", "--key-names", "me", "--query", "KeyPairs[0].KeyPairId", "--output", "text")
	c.must("ec2", "create-tags", "--resources", a, sg, keyID, debianAMI, "--tags", "Key=env,Value=prod", "Key=owner")
	c.must("ec2", "delete-tags", "--resources", a, "--tags", "Key=env")
	if got := c.must("ec2", "describe-tags", "--filters", "Name=key,Values=env,owner", "--query", "sort(Tags[].join('=', [ResourceType,Key]))", "--output", "text"); got !=
		"image=env\timage=owner\tinstance=owner\tkey-pair=env\tkey-pair=owner\tsecurity-group=env\tsecurity-group=owner" {
		t.Fatalf("describe-tags: %q", got)
	}
	c.fails("An error occurred (InvalidParameterValue) when calling the DescribeInstances operation: The filter 'public-ip' is invalid",
		"ec2", "describe-instances", "--filters", "Name=public-ip,Values=1.2.3.4")
}
