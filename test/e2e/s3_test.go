package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The S3 tests drive Berth's object storage with the clients its users have: the aws CLI (whatever `aws` is on
// PATH; scripts/test.sh installs Debian's awscli when there is none), s3cmd and boto3 (Debian's, under
// /usr/bin/python3), and curl. Every scenario runs against both places S3 is served: `berth s3 serve` and a
// daemon's cloud endpoint (`"cloud-addr"` in daemon.json).

// s3Server is one S3 endpoint under test, with the root keys of its first account.
type s3Server struct {
	name      string
	url       string // http://127.0.0.1:PORT
	port      int
	accessKey string
	secretKey string
	dir       string // the clients' files: configs, uploads, downloads
	dataDir   string // where the server keeps its state
	// start (again), stop (SIGTERM, waiting for the process) and kill (SIGKILL) the server, and its log so far.
	start, stop, kill func(t *testing.T)
	log               func() string
}

// s3Tools are the client programs, found once.
type s3Tools struct {
	aws, s3cmd, python, curl string
}

// requireS3Tools finds the clients. A missing one fails the test: scripts/test.sh installs them all.
func requireS3Tools(t *testing.T) s3Tools {
	t.Helper()
	var tools s3Tools
	for _, tool := range []struct {
		name, pkg string
		path      *string
	}{
		{"aws", "awscli", &tools.aws},
		{"s3cmd", "s3cmd", &tools.s3cmd},
		{"curl", "curl", &tools.curl},
	} {
		p, err := exec.LookPath(tool.name)
		if err != nil {
			t.Fatalf("%s is not installed (scripts/test.sh installs Debian's %s): %v", tool.name, tool.pkg, err)
		}
		*tool.path = p
	}
	tools.python = "/usr/bin/python3"
	if out, err := exec.Command(tools.python, "-c", "import boto3").CombinedOutput(); err != nil {
		t.Fatalf("boto3 is not importable by %s (scripts/test.sh installs Debian's python3-boto3): %v\n%s", tools.python, err, out)
	}
	return tools
}

// startS3Serve runs `berth s3 serve` on a free port, its root keys from the environment.
func startS3Serve(t *testing.T) *s3Server {
	t.Helper()
	root := t.TempDir()
	s := &s3Server{name: "berth s3 serve", port: freePort(t), dir: filepath.Join(root, "clients"), dataDir: filepath.Join(root, "data"),
		accessKey: "AKIAE2EROOT000000001", secretKey: "e2e-root-secret/" + randomHex(t, 12)}
	s.url = fmt.Sprintf("http://127.0.0.1:%d", s.port)
	os.MkdirAll(s.dir, 0o700)
	logPath := filepath.Join(root, "serve.log")
	var cmd *exec.Cmd
	var exited chan struct{}
	s.start = func(t *testing.T) {
		t.Helper()
		logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		cmd = exec.Command(filepath.Join(binDir, "berth"), "s3", "serve", "--addr", fmt.Sprintf("127.0.0.1:%d", s.port), "--data-dir", s.dataDir)
		cmd.Env = append(os.Environ(), "BERTH_ROOT_ACCESS_KEY_ID="+s.accessKey, "BERTH_ROOT_SECRET_ACCESS_KEY="+s.secretKey)
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		logf.Close()
		exited = make(chan struct{})
		go func(cmd *exec.Cmd, exited chan struct{}) { cmd.Wait(); close(exited) }(cmd, exited)
		waitS3(t, s, exited)
	}
	end := func(sig syscall.Signal) {
		if cmd == nil {
			return
		}
		cmd.Process.Signal(sig)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		cmd = nil
	}
	s.stop = func(t *testing.T) { end(syscall.SIGTERM) }
	s.kill = func(t *testing.T) { end(syscall.SIGKILL) }
	s.log = func() string { b, _ := os.ReadFile(logPath); return string(b) }
	t.Cleanup(func() {
		end(syscall.SIGTERM)
		if t.Failed() {
			t.Logf("berth s3 serve log:\n%s", tail(s.log(), 6000))
		}
	})
	s.start(t)
	return s
}

// startCloudDaemon runs a daemon whose daemon.json turns its cloud endpoint on. Its root keys are generated on
// first start, into <data-root>/cloud/root-credentials.
func startCloudDaemon(t *testing.T) *s3Server {
	t.Helper()
	port := freePort(t)
	d := startDaemonWith(t, fmt.Sprintf(`{"cloud-addr": "127.0.0.1:%d"}`, port))
	s := &s3Server{name: "daemon cloud endpoint", port: port, url: fmt.Sprintf("http://127.0.0.1:%d", port),
		dir: filepath.Join(d.Root, "clients"), dataDir: filepath.Join(d.DataRoot, "cloud")}
	os.MkdirAll(s.dir, 0o700)
	s.start = func(t *testing.T) { d.start(); waitS3(t, s, d.exited) }
	s.stop = func(t *testing.T) { d.stopDaemon() }
	s.kill = func(t *testing.T) { d.kill9() }
	s.log = d.log
	waitS3(t, s, d.exited)
	creds := filepath.Join(s.dataDir, "root-credentials")
	fi, err := os.Stat(creds)
	if err != nil {
		t.Fatalf("no generated root keys: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %v, want 0600", creds, fi.Mode().Perm())
	}
	b, _ := os.ReadFile(creds)
	m := regexp.MustCompile(`(?m)^aws_access_key_id\s*=\s*(\S+)\s*\naws_secret_access_key\s*=\s*(\S+)`).FindStringSubmatch(string(b))
	if m == nil {
		t.Fatalf("root-credentials is not an AWS credentials file:\n%s", b)
	}
	s.accessKey, s.secretKey = m[1], m[2]
	return s
}

// waitS3 waits until the endpoint accepts connections, failing if its process exits first.
func waitS3(t *testing.T, s *s3Server, exited <-chan struct{}) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", s.port), time.Second); err == nil {
			c.Close()
			return
		}
		select {
		case <-exited:
			t.Fatalf("%s exited:\n%s", s.name, tail(s.log(), 4000))
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("%s did not listen on port %d:\n%s", s.name, s.port, tail(s.log(), 4000))
}

func randomHex(t *testing.T, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// keys are an access key pair.
type keys struct{ id, secret string }

func (s *s3Server) root() keys { return keys{s.accessKey, s.secretKey} }

// env is what the clients run with: k's keys and nothing of this machine's AWS settings (profiles, endpoints,
// retries: a retried request would hide a failure).
func (s *s3Server) env(k keys) []string {
	env := []string{"AWS_ACCESS_KEY_ID=" + k.id, "AWS_SECRET_ACCESS_KEY=" + k.secret,
		"AWS_DEFAULT_REGION=us-east-1", "AWS_REGION=us-east-1", "AWS_CONFIG_FILE=" + filepath.Join(s.dir, "aws-config"),
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(s.dir, "aws-credentials"), "AWS_PAGER=", "AWS_MAX_ATTEMPTS=1",
		"AWS_RETRY_MODE=standard", "AWS_EC2_METADATA_DISABLED=true"}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") && !strings.HasPrefix(kv, "BERTH_ROOT_") {
			env = append(env, kv)
		}
	}
	return env
}

// runTool runs a client with exactly env (nil: this process's environment).
func runTool(t *testing.T, env []string, name string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		code = -1
		errb.WriteString(err.Error())
	}
	return result{Stdout: out.String(), Stderr: errb.String(), Code: code}
}

// aws runs `aws --endpoint-url URL ARGS` with k's keys; awsOK fails the test unless it succeeds.
func (s *s3Server) aws(t *testing.T, tools s3Tools, k keys, args ...string) result {
	t.Helper()
	return runTool(t, s.env(k), tools.aws, append([]string{"--endpoint-url", s.url}, args...)...)
}

func (s *s3Server) awsOK(t *testing.T, tools s3Tools, k keys, args ...string) string {
	t.Helper()
	r := s.aws(t, tools, k, args...)
	if r.Code != 0 {
		t.Fatalf("aws %s: %s", strings.Join(args, " "), r)
	}
	return r.Stdout
}

// awsJSON runs an aws command whose output is JSON and decodes it into out.
func (s *s3Server) awsJSON(t *testing.T, tools s3Tools, k keys, out any, args ...string) {
	t.Helper()
	stdout := s.awsOK(t, tools, k, append(args, "--output", "json")...)
	if err := json.Unmarshal([]byte(stdout), out); err != nil {
		t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, stdout)
	}
}

// awsFails runs an aws command that must fail with S3's (or IAM's) error code; a refused HEAD (which `aws s3 cp`
// sends before a download) has no body, so the aws CLI shows its status ("403") instead.
func (s *s3Server) awsFails(t *testing.T, tools s3Tools, k keys, code string, args ...string) {
	t.Helper()
	r := s.aws(t, tools, k, args...)
	if r.Code == 0 || !strings.Contains(r.Stderr, "("+code+")") {
		t.Fatalf("aws %s: want error %s, got %s", strings.Join(args, " "), code, r)
	}
}

// curl fetches url without credentials and returns the status and body.
func curl(t *testing.T, tools s3Tools, method, url string) (int, string) {
	t.Helper()
	r := runTool(t, nil, tools.curl, "-sS", "-X", method, "-o", "-", "-w", "\n%{http_code}", url)
	if r.Code != 0 {
		t.Fatalf("curl %s: %s", url, r)
	}
	i := strings.LastIndex(r.Stdout, "\n")
	var status int
	fmt.Sscan(r.Stdout[i+1:], &status)
	return status, r.Stdout[:i]
}

// s3cmd runs s3cmd with a configuration for this endpoint (path style, plain HTTP) and k's keys.
func (s *s3Server) s3cmd(t *testing.T, tools s3Tools, k keys, args ...string) string {
	t.Helper()
	cfg := filepath.Join(s.dir, "s3cmd-"+k.id+".cfg")
	host := fmt.Sprintf("127.0.0.1:%d", s.port)
	os.WriteFile(cfg, []byte(fmt.Sprintf("[default]\naccess_key = %s\nsecret_key = %s\nhost_base = %s\nhost_bucket = %s\n"+
		"use_https = False\nbucket_location = us-east-1\nsignature_v2 = False\n", k.id, k.secret, host, host)), 0o600)
	r := runTool(t, append(s.env(k), "HOME="+s.dir), tools.s3cmd, append([]string{"-c", cfg, "--no-progress"}, args...)...)
	if r.Code != 0 {
		t.Fatalf("s3cmd %s: %s", strings.Join(args, " "), r)
	}
	return r.Stdout
}

// boto3 runs one of testdata/s3's scripts with k's keys and turns each check it reports into a subtest.
func (s *s3Server) boto3(t *testing.T, tools s3Tools, k keys, script string, args ...string) {
	t.Helper()
	r := runTool(t, s.env(k), tools.python, append([]string{filepath.Join(repoRoot(), "test/e2e/testdata/s3", script)}, args...)...)
	var results []struct {
		Name  string
		Error *string
	}
	if err := json.Unmarshal([]byte(r.Stdout), &results); err != nil || len(results) == 0 {
		t.Fatalf("%s: no results (%v): %s", script, err, r)
	}
	for _, res := range results {
		t.Run(res.Name, func(t *testing.T) {
			if res.Error != nil {
				t.Error(*res.Error)
			}
		})
	}
}

// writeFile writes n random bytes (or data when given) to s.dir/name and returns the path and its SHA-256.
func (s *s3Server) writeFile(t *testing.T, name string, n int, data []byte) (string, string) {
	t.Helper()
	if data == nil {
		data = make([]byte, n)
		rand.Read(data)
	}
	p := filepath.Join(s.dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	return p, hex.EncodeToString(sum[:])
}

func fileSHA256(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// TestS3 runs every scenario against `berth s3 serve` and against a daemon's cloud endpoint.
func TestS3(t *testing.T) {
	requireRoot(t)
	tools := requireS3Tools(t)
	for _, target := range []struct {
		name  string
		start func(*testing.T) *s3Server
	}{
		{"serve", startS3Serve},
		{"daemon", startCloudDaemon},
	} {
		t.Run(target.name, func(t *testing.T) {
			// The two servers are independent (ports, directories): side by side, the clients of one run while
			// the other syncs to disk.
			t.Parallel()
			s := target.start(t)
			st := &s3State{}
			t.Run("lab", func(t *testing.T) { s3Lab(t, s, tools, st) })
			t.Run("multipart", func(t *testing.T) { s3Multipart(t, s, tools, st) })
			t.Run("api", func(t *testing.T) { s.boto3(t, tools, s.root(), "api.py", s.url, "api") })
			t.Run("s3cmd", func(t *testing.T) { s3cmdScenario(t, s, tools, st) })
			t.Run("accounts", func(t *testing.T) { s3Accounts(t, s, tools, st) })
			t.Run("restart", func(t *testing.T) { s3Restart(t, s, tools, st) })
			t.Run("kill9", func(t *testing.T) { s3Kill9(t, s, tools) })
			if strings.Contains(s.log(), s.secretKey) {
				t.Errorf("the root secret is in the server's log")
			}
		})
	}
}

// s3State is what the scenarios leave for the restart to find again.
type s3State struct {
	labBucket, catV1, catV2, oldVersion string
	bigKey, bigSHA                      string
	s3cmdBucket, s3cmdSHA               string
	tenant                              keys
	tenantBucket                        string
}

// s3Lab is the lab: a bucket, an upload, private by default, versioning and an old version, presigned
// links with their expiry.
func s3Lab(t *testing.T, s *s3Server, tools s3Tools, st *s3State) {
	root := s.root()
	st.labBucket = "lab-photos"
	if out := s.awsOK(t, tools, root, "s3", "mb", "s3://"+st.labBucket); !strings.Contains(out, "make_bucket: "+st.labBucket) {
		t.Fatalf("mb: %q", out)
	}
	cat, catSHA := s.writeFile(t, "cat.txt", 0, []byte("a cat, version one\n"))
	st.catV1 = catSHA
	if out := s.awsOK(t, tools, root, "s3", "cp", cat, "s3://"+st.labBucket+"/photos/cat.txt"); !strings.Contains(out, "upload: ") {
		t.Fatalf("cp: %q", out)
	}
	if out := s.awsOK(t, tools, root, "s3", "ls", "s3://"+st.labBucket+"/photos/"); !regexp.MustCompile(`\s19 cat.txt\n`).MatchString(out) {
		t.Fatalf("ls: %q", out)
	}
	// Private by default: anonymous readers get S3's AccessDenied.
	status, body := curl(t, tools, "GET", s.url+"/"+st.labBucket+"/photos/cat.txt")
	if status != 403 || !strings.Contains(body, "<Code>AccessDenied</Code>") {
		t.Fatalf("anonymous GET of a private object: %d %s", status, body)
	}

	// A bucket policy with Principal "*" makes photos/ public, once Block Public Access (on for a new bucket, as
	// in S3) is lifted.
	public := `{"Version": "2012-10-17", "Statement": [{"Sid": "PublicRead", "Effect": "Allow", "Principal": "*",
		"Action": "s3:GetObject", "Resource": "arn:aws:s3:::` + st.labBucket + `/photos/*"}]}`
	s.awsFails(t, tools, root, "AccessDenied", "s3api", "put-bucket-policy", "--bucket", st.labBucket, "--policy", public)
	var pab struct {
		PublicAccessBlockConfiguration struct{ BlockPublicPolicy, RestrictPublicBuckets bool }
	}
	s.awsJSON(t, tools, root, &pab, "s3api", "get-public-access-block", "--bucket", st.labBucket)
	if !pab.PublicAccessBlockConfiguration.BlockPublicPolicy || !pab.PublicAccessBlockConfiguration.RestrictPublicBuckets {
		t.Fatalf("a new bucket's public access block: %+v", pab)
	}
	s.awsOK(t, tools, root, "s3api", "delete-public-access-block", "--bucket", st.labBucket)
	s.awsOK(t, tools, root, "s3api", "put-bucket-policy", "--bucket", st.labBucket, "--policy", public)
	var ps struct{ PolicyStatus struct{ IsPublic bool } }
	s.awsJSON(t, tools, root, &ps, "s3api", "get-bucket-policy-status", "--bucket", st.labBucket)
	if !ps.PolicyStatus.IsPublic {
		t.Fatalf("policy status: %+v", ps)
	}
	if status, body := curl(t, tools, "GET", s.url+"/"+st.labBucket+"/photos/cat.txt"); status != 200 || body != "a cat, version one\n" {
		t.Fatalf("anonymous GET of a public object: %d %s", status, body)
	}
	// Only what the policy names: the listing and other prefixes stay private.
	if status, body := curl(t, tools, "GET", s.url+"/"+st.labBucket+"?list-type=2"); status != 403 || !strings.Contains(body, "<Code>AccessDenied</Code>") {
		t.Fatalf("anonymous listing: %d %s", status, body)
	}
	s.awsOK(t, tools, root, "s3", "cp", cat, "s3://"+st.labBucket+"/private/cat.txt")
	if status, _ := curl(t, tools, "GET", s.url+"/"+st.labBucket+"/private/cat.txt"); status != 403 {
		t.Fatalf("anonymous GET outside the policy: %d", status)
	}

	// Versioning: a second upload, the first still readable by its version ID.
	s.awsOK(t, tools, root, "s3api", "put-bucket-versioning", "--bucket", st.labBucket, "--versioning-configuration", "Status=Enabled")
	cat2, cat2SHA := s.writeFile(t, "cat.txt", 0, []byte("a cat, version two, longer\n"))
	st.catV2 = cat2SHA
	s.awsOK(t, tools, root, "s3", "cp", cat2, "s3://"+st.labBucket+"/photos/cat.txt")
	var versions struct {
		Versions []struct {
			VersionId string
			IsLatest  bool
			Size      int
		}
	}
	s.awsJSON(t, tools, root, &versions, "s3api", "list-object-versions", "--bucket", st.labBucket, "--prefix", "photos/cat.txt")
	if len(versions.Versions) != 2 || !versions.Versions[0].IsLatest || versions.Versions[1].IsLatest || versions.Versions[1].Size != 19 {
		t.Fatalf("versions: %+v", versions)
	}
	st.oldVersion = versions.Versions[1].VersionId
	out := filepath.Join(s.dir, "cat-old.txt")
	s.awsOK(t, tools, root, "s3api", "get-object", "--bucket", st.labBucket, "--key", "photos/cat.txt", "--version-id", st.oldVersion, out)
	if got := fileSHA256(t, out); got != st.catV1 {
		t.Fatalf("the old version reads back as %s", got)
	}

	// A presigned link works with curl, until it expires.
	link := strings.TrimSpace(s.awsOK(t, tools, root, "s3", "presign", "s3://"+st.labBucket+"/photos/cat.txt", "--expires-in", "300"))
	if status, body := curl(t, tools, "GET", link); status != 200 || body != "a cat, version two, longer\n" {
		t.Fatalf("presigned GET: %d %q", status, body)
	}
	short := strings.TrimSpace(s.awsOK(t, tools, root, "s3", "presign", "s3://"+st.labBucket+"/photos/cat.txt", "--expires-in", "1"))
	time.Sleep(2100 * time.Millisecond)
	if status, body := curl(t, tools, "GET", short); status != 403 || !strings.Contains(body, "<Code>AccessDenied</Code>") || !strings.Contains(body, "Request has expired") {
		t.Fatalf("expired link: %d %s", status, body)
	}
	if status, body := curl(t, tools, "GET", strings.Replace(link, "cat.txt", "dog.txt", 1)); status != 403 || !strings.Contains(body, "<Code>SignatureDoesNotMatch</Code>") {
		t.Fatalf("a link for another key: %d %s", status, body)
	}
}

// s3Multipart: `aws s3 cp` of a large file goes multipart; the parts' API through `aws s3api`.
func s3Multipart(t *testing.T, s *s3Server, tools s3Tools, st *s3State) {
	root := s.root()
	big, bigSHA := s.writeFile(t, "big.bin", 20<<20, nil)
	st.bigKey, st.bigSHA = "big/20MiB.bin", bigSHA
	s.awsOK(t, tools, root, "s3", "cp", big, "s3://"+st.labBucket+"/"+st.bigKey)
	var head struct {
		ETag          string
		ContentLength int
	}
	s.awsJSON(t, tools, root, &head, "s3api", "head-object", "--bucket", st.labBucket, "--key", st.bigKey)
	// The aws CLI cuts 8 MiB parts: three of them.
	if head.ContentLength != 20<<20 || !strings.HasSuffix(head.ETag, `-3"`) {
		t.Fatalf("head of a multipart upload: %+v", head)
	}
	down := filepath.Join(s.dir, "big.down")
	s.awsOK(t, tools, root, "s3", "cp", "s3://"+st.labBucket+"/"+st.bigKey, down)
	if got := fileSHA256(t, down); got != bigSHA {
		t.Fatalf("downloaded %s, uploaded %s", got, bigSHA)
	}

	// The same by hand: create, two parts, list, complete.
	p1, _ := s.writeFile(t, "part1", 5<<20, nil)
	p2, _ := s.writeFile(t, "part2", 1<<20, nil)
	var up struct{ UploadId string }
	s.awsJSON(t, tools, root, &up, "s3api", "create-multipart-upload", "--bucket", st.labBucket, "--key", "manual.bin")
	var e1, e2 struct{ ETag string }
	s.awsJSON(t, tools, root, &e1, "s3api", "upload-part", "--bucket", st.labBucket, "--key", "manual.bin", "--upload-id", up.UploadId, "--part-number", "1", "--body", p1)
	s.awsJSON(t, tools, root, &e2, "s3api", "upload-part", "--bucket", st.labBucket, "--key", "manual.bin", "--upload-id", up.UploadId, "--part-number", "2", "--body", p2)
	var uploads struct {
		Uploads []struct{ Key, UploadId string }
	}
	s.awsJSON(t, tools, root, &uploads, "s3api", "list-multipart-uploads", "--bucket", st.labBucket)
	if len(uploads.Uploads) != 1 || uploads.Uploads[0].UploadId != up.UploadId {
		t.Fatalf("list-multipart-uploads: %+v", uploads)
	}
	var parts struct {
		Parts []struct{ PartNumber, Size int }
	}
	s.awsJSON(t, tools, root, &parts, "s3api", "list-parts", "--bucket", st.labBucket, "--key", "manual.bin", "--upload-id", up.UploadId)
	if len(parts.Parts) != 2 || parts.Parts[0].Size != 5<<20 || parts.Parts[1].Size != 1<<20 {
		t.Fatalf("list-parts: %+v", parts)
	}
	doc := fmt.Sprintf(`{"Parts":[{"PartNumber":1,"ETag":%q},{"PartNumber":2,"ETag":%q}]}`, e1.ETag, e2.ETag)
	s.awsOK(t, tools, root, "s3api", "complete-multipart-upload", "--bucket", st.labBucket, "--key", "manual.bin", "--upload-id", up.UploadId, "--multipart-upload", doc)
	s.awsJSON(t, tools, root, &head, "s3api", "head-object", "--bucket", st.labBucket, "--key", "manual.bin")
	if head.ContentLength != 6<<20 || !strings.HasSuffix(head.ETag, `-2"`) {
		t.Fatalf("completed upload: %+v", head)
	}
}

// s3cmdScenario: s3cmd with SigV4 and SigV2, its multipart uploads and its signed links (SigV2 query auth).
func s3cmdScenario(t *testing.T, s *s3Server, tools s3Tools, st *s3State) {
	root := s.root()
	st.s3cmdBucket = "s3cmd-bucket"
	s.s3cmd(t, tools, root, "mb", "s3://"+st.s3cmdBucket)
	f, sum := s.writeFile(t, "s3cmd.bin", 12<<20, nil)
	st.s3cmdSHA = sum
	// 5 MiB chunks: s3cmd's multipart upload.
	s.s3cmd(t, tools, root, "put", "--multipart-chunk-size-mb=5", f, "s3://"+st.s3cmdBucket+"/dir/s3cmd.bin")
	small, _ := s.writeFile(t, "v2.txt", 0, []byte("signed the old way\n"))
	s.s3cmd(t, tools, root, "--signature-v2", "put", small, "s3://"+st.s3cmdBucket+"/v2.txt")
	ls := s.s3cmd(t, tools, root, "ls", "--recursive", "s3://"+st.s3cmdBucket)
	if !regexp.MustCompile(`\b12582912\s+s3://`+st.s3cmdBucket+`/dir/s3cmd.bin\n`).MatchString(ls) || !strings.Contains(ls, "s3://"+st.s3cmdBucket+"/v2.txt") {
		t.Fatalf("s3cmd ls:\n%s", ls)
	}
	down := filepath.Join(s.dir, "s3cmd.down")
	s.s3cmd(t, tools, root, "--signature-v2", "get", "--force", "s3://"+st.s3cmdBucket+"/dir/s3cmd.bin", down)
	if got := fileSHA256(t, down); got != sum {
		t.Fatalf("s3cmd get: %s, put %s", got, sum)
	}
	link := strings.TrimSpace(s.s3cmd(t, tools, root, "signurl", "s3://"+st.s3cmdBucket+"/v2.txt", "+300"))
	if status, body := curl(t, tools, "GET", link); status != 200 || body != "signed the old way\n" {
		t.Fatalf("s3cmd signurl (%s): %d %q", link, status, body)
	}
	s.s3cmd(t, tools, root, "del", "s3://"+st.s3cmdBucket+"/v2.txt")
	if ls := s.s3cmd(t, tools, root, "ls", "--recursive", "s3://"+st.s3cmdBucket); strings.Contains(ls, "v2.txt") {
		t.Fatalf("deleted object still listed:\n%s", ls)
	}
}

// s3Accounts: a second account (berth s3 account create) sees nothing of the first and cannot take its bucket
// names; IAM users and keys made with `berth s3 user` and `aws iam`.
func s3Accounts(t *testing.T, s *s3Server, tools s3Tools, st *s3State) {
	root := s.root()
	berth := func(k keys, args ...string) string {
		t.Helper()
		r := runTool(t, s.env(k), filepath.Join(binDir, "berth"), append(args, "--endpoint-url", s.url)...)
		if r.Code != 0 {
			t.Fatalf("berth %s: %s", strings.Join(args, " "), r)
		}
		return r.Stdout
	}
	f := strings.Fields(berth(root, "s3", "account", "create", "tenant2", "--format", "{{.ID}} {{.AccessKeyID}} {{.SecretAccessKey}}"))
	if len(f) != 3 {
		t.Fatalf("account create printed %q", f)
	}
	st.tenant = keys{f[1], f[2]}
	var me, them struct{ Account, Arn string }
	s.awsJSON(t, tools, root, &me, "sts", "get-caller-identity")
	s.awsJSON(t, tools, st.tenant, &them, "sts", "get-caller-identity")
	if them.Account != f[0] || them.Account == me.Account || them.Arn != "arn:aws:iam::"+f[0]+":root" {
		t.Fatalf("identities: %+v, %+v", me, them)
	}
	if out := berth(root, "s3", "account", "ls"); !strings.Contains(out, "tenant2") || !strings.Contains(out, me.Account) {
		t.Fatalf("account ls:\n%s", out)
	}
	s.awsFails(t, tools, st.tenant, "AccessDenied", "s3", "ls", "s3://"+st.labBucket)
	s.awsFails(t, tools, st.tenant, "AccessDenied", "s3api", "get-object", "--bucket", st.labBucket, "--key", "private/cat.txt", filepath.Join(s.dir, "x"))
	s.awsFails(t, tools, st.tenant, "BucketAlreadyExists", "s3api", "create-bucket", "--bucket", st.labBucket)
	st.tenantBucket = "tenant2-data"
	s.awsOK(t, tools, st.tenant, "s3", "mb", "s3://"+st.tenantBucket)
	note, _ := s.writeFile(t, "tenant.txt", 0, []byte("tenant two's\n"))
	s.awsOK(t, tools, st.tenant, "s3", "cp", note, "s3://"+st.tenantBucket+"/note.txt")
	s.awsFails(t, tools, root, "AccessDenied", "s3", "ls", "s3://"+st.tenantBucket)
	var buckets struct{ Buckets []struct{ Name string } }
	s.awsJSON(t, tools, st.tenant, &buckets, "s3api", "list-buckets")
	if len(buckets.Buckets) != 1 || buckets.Buckets[0].Name != st.tenantBucket {
		t.Fatalf("tenant2 lists %+v", buckets)
	}
	// The second account's root may not make accounts.
	r := runTool(t, s.env(st.tenant), filepath.Join(binDir, "berth"), "s3", "account", "create", "tenant3", "--endpoint-url", s.url)
	if r.Code == 0 || !strings.Contains(r.Stderr, "AccessDenied") {
		t.Fatalf("tenant2 created an account: %s", r)
	}

	// IAM users: one with `berth s3 user`, one with `aws iam`.
	if out := berth(root, "s3", "user", "create", "alice"); strings.TrimSpace(out) != "arn:aws:iam::"+me.Account+":user/alice" {
		t.Fatalf("user create: %q", out)
	}
	kf := strings.Fields(berth(root, "s3", "user", "key", "create", "alice", "--format", "{{.AccessKeyID}} {{.SecretAccessKey}}"))
	alice := keys{kf[0], kf[1]}
	var aliceID struct{ Arn string }
	s.awsJSON(t, tools, alice, &aliceID, "sts", "get-caller-identity")
	if aliceID.Arn != "arn:aws:iam::"+me.Account+":user/alice" {
		t.Fatalf("alice is %q", aliceID.Arn)
	}
	// Until a policy allows it, a user may do nothing; AmazonS3ReadOnlyAccess lets alice read, not write.
	s.awsFails(t, tools, alice, "AccessDenied", "s3", "ls", "s3://"+st.labBucket)
	berth(root, "s3", "user", "policy", "attach", "alice", "AmazonS3ReadOnlyAccess")
	if out := s.awsOK(t, tools, alice, "s3", "ls", "s3://"+st.labBucket+"/photos/"); !strings.Contains(out, "cat.txt") {
		t.Fatalf("alice's listing: %q", out)
	}
	if body := s.awsOK(t, tools, alice, "s3", "cp", "s3://"+st.labBucket+"/private/cat.txt", "-"); body != "a cat, version one\n" {
		t.Fatalf("alice read %q", body)
	}
	s.awsFails(t, tools, alice, "AccessDenied", "s3", "cp", note, "s3://"+st.labBucket+"/alice.txt")

	// bob, made with the aws CLI, may upload under uploads/ and nowhere else (an inline policy).
	s.awsOK(t, tools, root, "iam", "create-user", "--user-name", "bob")
	var bobKey struct {
		AccessKey struct{ AccessKeyId, SecretAccessKey, Status string }
	}
	s.awsJSON(t, tools, root, &bobKey, "iam", "create-access-key", "--user-name", "bob")
	if bobKey.AccessKey.Status != "Active" || len(bobKey.AccessKey.SecretAccessKey) != 40 {
		t.Fatalf("create-access-key: %+v", bobKey)
	}
	bob := keys{bobKey.AccessKey.AccessKeyId, bobKey.AccessKey.SecretAccessKey}
	s.awsOK(t, tools, root, "iam", "put-user-policy", "--user-name", "bob", "--policy-name", "uploads", "--policy-document",
		`{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::`+st.labBucket+`/uploads/*"}]}`)
	s.awsOK(t, tools, bob, "s3", "cp", note, "s3://"+st.labBucket+"/uploads/bob.txt")
	s.awsFails(t, tools, bob, "AccessDenied", "s3", "cp", note, "s3://"+st.labBucket+"/photos/bob.txt")
	s.awsFails(t, tools, bob, "403", "s3", "cp", "s3://"+st.labBucket+"/uploads/bob.txt", "-")

	// Another account reads what the bucket policy grants its account, and nothing else.
	s.awsOK(t, tools, root, "s3", "cp", note, "s3://"+st.labBucket+"/shared/for-tenant2.txt")
	s.awsOK(t, tools, root, "s3api", "put-bucket-policy", "--bucket", st.labBucket, "--policy", `{"Version": "2012-10-17", "Statement": [
		{"Sid": "PublicRead", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::`+st.labBucket+`/photos/*"},
		{"Sid": "Tenant2", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::`+them.Account+`:root"}, "Action": "s3:GetObject", "Resource": "arn:aws:s3:::`+st.labBucket+`/shared/*"}]}`)
	if body := s.awsOK(t, tools, st.tenant, "s3", "cp", "s3://"+st.labBucket+"/shared/for-tenant2.txt", "-"); body != "tenant two's\n" {
		t.Fatalf("tenant2 read %q", body)
	}
	s.awsFails(t, tools, st.tenant, "403", "s3", "cp", "s3://"+st.labBucket+"/private/cat.txt", "-")
	s.awsFails(t, tools, root, "MalformedPolicy", "s3api", "put-bucket-policy", "--bucket", st.labBucket, "--policy",
		`{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::000000000000:root"}, "Action": "s3:GetObject", "Resource": "arn:aws:s3:::`+st.labBucket+`/*"}]}`)

	if out := berth(root, "s3", "user", "ls", "--format", "{{.Name}} {{.ARN}}"); out != "alice arn:aws:iam::"+me.Account+":user/alice\nbob arn:aws:iam::"+me.Account+":user/bob\n" {
		t.Fatalf("user ls: %q", out)
	}
	// A user may not manage users without a policy that says so.
	s.awsFails(t, tools, alice, "AccessDenied", "iam", "create-user", "--user-name", "mallory")
	s.awsOK(t, tools, root, "iam", "update-access-key", "--user-name", "bob", "--access-key-id", bobKey.AccessKey.AccessKeyId, "--status", "Inactive")
	s.awsFails(t, tools, bob, "InvalidClientTokenId", "sts", "get-caller-identity")
	s.awsFails(t, tools, bob, "InvalidAccessKeyId", "s3", "ls")
}

// s3Restart: a graceful restart keeps buckets, objects, versions, accounts and keys.
func s3Restart(t *testing.T, s *s3Server, tools s3Tools, st *s3State) {
	root := s.root()
	s.stop(t)
	s.start(t)
	out := filepath.Join(s.dir, "after-restart")
	s.awsOK(t, tools, root, "s3api", "get-object", "--bucket", st.labBucket, "--key", "photos/cat.txt", "--version-id", st.oldVersion, out)
	if got := fileSHA256(t, out); got != st.catV1 {
		t.Errorf("old version after restart: %s", got)
	}
	s.awsOK(t, tools, root, "s3", "cp", "s3://"+st.labBucket+"/photos/cat.txt", out)
	if got := fileSHA256(t, out); got != st.catV2 {
		t.Errorf("current version after restart: %s", got)
	}
	s.awsOK(t, tools, root, "s3", "cp", "s3://"+st.labBucket+"/"+st.bigKey, out)
	if got := fileSHA256(t, out); got != st.bigSHA {
		t.Errorf("multipart object after restart: %s", got)
	}
	s.awsOK(t, tools, root, "s3", "cp", "s3://"+st.s3cmdBucket+"/dir/s3cmd.bin", out)
	if got := fileSHA256(t, out); got != st.s3cmdSHA {
		t.Errorf("s3cmd's object after restart: %s", got)
	}
	if body := s.awsOK(t, tools, st.tenant, "s3", "cp", "s3://"+st.tenantBucket+"/note.txt", "-"); body != "tenant two's\n" {
		t.Errorf("tenant2's object after restart: %q", body)
	}
	var v struct{ Status string }
	s.awsJSON(t, tools, root, &v, "s3api", "get-bucket-versioning", "--bucket", st.labBucket)
	if v.Status != "Enabled" {
		t.Errorf("versioning after restart: %q", v.Status)
	}
	if status, body := curl(t, tools, "GET", s.url+"/"+st.labBucket+"/photos/cat.txt"); status != 200 || body != "a cat, version two, longer\n" {
		t.Errorf("the public object after restart: %d %s", status, body)
	}
	if body := s.awsOK(t, tools, st.tenant, "s3", "cp", "s3://"+st.labBucket+"/shared/for-tenant2.txt", "-"); body != "tenant two's\n" {
		t.Errorf("tenant2's grant after restart: %q", body)
	}
	if out := s.awsOK(t, tools, root, "iam", "list-users", "--query", "Users[].UserName", "--output", "text"); strings.Join(strings.Fields(out), " ") != "alice bob" {
		t.Errorf("users after restart: %q", out)
	}
}

// s3Kill9: kill -9 while uploads are in flight. What was acknowledged is there and whole afterwards; what was
// cut off is not visible; an acknowledged part of an unfinished multipart upload survives.
func s3Kill9(t *testing.T, s *s3Server, tools s3Tools) {
	root := s.root()
	bucket := "crash-test"
	s.awsOK(t, tools, root, "s3", "mb", "s3://"+bucket)
	logPath := filepath.Join(s.dir, "crash.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(tools.python, filepath.Join(repoRoot(), "test/e2e/testdata/s3/crash.py"), "write", s.url, bucket)
	cmd.Env = s.env(root)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	killed := false
	// A client that hangs is ended: its output then ends too.
	hung := time.AfterFunc(3*time.Minute, func() { cmd.Process.Kill() })
	defer hung.Stop()
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		fmt.Fprintln(logf, sc.Text())
		if sc.Text() == "ready" && !killed {
			s.kill(t)
			killed = true
		}
	}
	go func() { cmd.Wait(); close(exited) }()
	select {
	case <-exited:
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		<-exited
	}
	if !killed {
		t.Fatalf("the uploads never got going:\n%s", tail(stderr.String(), 3000))
	}
	s.start(t)
	s.boto3(t, tools, root, "crash.py", "verify", s.url, bucket, logPath)
}
