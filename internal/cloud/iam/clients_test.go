package iam

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"encoding/xml"
	"hash/crc32"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/berth/berth/internal/cloud"
)

// memS3 is a stand-in object store behind the real endpoint: enough of S3 (put, get, head, bucket location) for
// the aws CLI and s3cmd to run their usual commands, recording how each request was authenticated.
type memS3 struct {
	mu      sync.Mutex
	objects map[string][]byte
	log     []string // "METHOD path sigversion content-sha256 trailer"
}

func (m *memS3) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	info := cloud.InfoFrom(r.Context())
	path := r.URL.Path
	if info.Bucket != "" {
		path = "/" + info.Bucket + path
	}
	bucket, key, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	if info.Identity.Anonymous {
		m.WriteError(w, r, &cloud.Error{Code: "AccessDenied", Message: "Access Denied", Status: 403})
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		m.WriteError(w, r, err)
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.log = append(m.log, strings.Join([]string{r.Method, path, info.SignatureVersion, r.Header.Get("X-Amz-Content-Sha256"), r.Trailer.Get("X-Amz-Checksum-Crc32")}, " "))
	switch {
	case key == "" && r.URL.Query().Has("location"):
		_, _ = io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><LocationConstraint xmlns="http://s3.amazonaws.com/doc/2006-03-01/"></LocationConstraint>`)
	case key == "":
		w.WriteHeader(http.StatusOK)
	case r.Method == http.MethodPut:
		// Check a trailing CRC32 the way the object store will: against the bytes actually received.
		if want := r.Trailer.Get("X-Amz-Checksum-Crc32"); want != "" {
			var sum [4]byte
			binary.BigEndian.PutUint32(sum[:], crc32.ChecksumIEEE(body))
			if base64.StdEncoding.EncodeToString(sum[:]) != want {
				m.WriteError(w, r, &cloud.Error{Code: "BadDigest", Message: "The CRC32 you specified did not match the calculated checksum.", Status: 400})
				return
			}
		}
		m.objects[bucket+"/"+key] = body
		sum := md5.Sum(body)
		w.Header().Set("ETag", `"`+hex.EncodeToString(sum[:])+`"`)
	case r.Method == http.MethodGet || r.Method == http.MethodHead:
		obj, ok := m.objects[bucket+"/"+key]
		if !ok {
			m.WriteError(w, r, &cloud.Error{Code: "NoSuchKey", Message: "The specified key does not exist.", Status: 404})
			return
		}
		sum := md5.Sum(obj)
		w.Header().Set("ETag", `"`+hex.EncodeToString(sum[:])+`"`)
		w.Header().Set("Content-Length", strconv.Itoa(len(obj)))
		w.Header().Set("Last-Modified", "Mon, 07 Dec 2026 10:00:00 GMT")
		if r.Method == http.MethodGet {
			_, _ = w.Write(obj)
		}
	default:
		m.WriteError(w, r, &cloud.Error{Code: "NotImplemented", Message: "not in the test stand-in", Status: 501})
	}
}

func (m *memS3) WriteError(w http.ResponseWriter, r *http.Request, err error) {
	e := cloud.AsError(err)
	info := cloud.InfoFrom(r.Context())
	type elem struct {
		XMLName xml.Name
		Value   string `xml:",chardata"`
	}
	doc := struct {
		XMLName   xml.Name `xml:"Error"`
		Code      string
		Message   string
		Extra     []elem
		RequestID string `xml:"RequestId"`
	}{Code: e.Code, Message: e.Message, RequestID: info.RequestID}
	for _, kv := range e.Extra {
		doc.Extra = append(doc.Extra, elem{XMLName: xml.Name{Local: kv[0]}, Value: kv[1]})
	}
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(e.Status)
	if r.Method != http.MethodHead {
		b, _ := xml.Marshal(doc)
		_, _ = w.Write(append([]byte(xml.Header), b...))
	}
}

func (m *memS3) requests() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.log...)
}

type clientEnv struct {
	*apiEnv
	s3     *memS3
	tlsSrv *httptest.Server // the same endpoint over TLS
	caFile string           // its certificate, for AWS_CA_BUNDLE
}

func newClientEnv(t *testing.T) *clientEnv {
	t.Helper()
	st, err := Open(t.TempDir(), WithRootCredentials(rootKey, rootSecret))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	mem := &memS3{objects: map[string][]byte{}}
	ep := cloud.NewEndpoint(st)
	ep.Register("iam", NewIAMService(st))
	ep.Register("sts", NewSTSService(st))
	ep.Register("s3", mem)
	srv := httptest.NewServer(ep)
	t.Cleanup(srv.Close)
	tlsSrv := httptest.NewTLSServer(ep)
	t.Cleanup(tlsSrv.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tlsSrv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return &clientEnv{apiEnv: &apiEnv{srv: srv, store: st}, s3: mem, tlsSrv: tlsSrv, caFile: ca}
}

// awsCLI runs the aws CLI against the endpoint over TLS (as users reach a real S3, and what makes botocore
// stream uploads with checksum trailers) with the given keys, isolated from the user's configuration.
func (e *clientEnv) awsCLI(t *testing.T, key, secret string, args ...string) (string, error) {
	return e.awsCLIAt(t, e.tlsSrv.URL, key, secret, args...)
}

func (e *clientEnv) awsCLIAt(t *testing.T, endpoint, key, secret string, args ...string) (string, error) {
	t.Helper()
	bin, err := exec.LookPath("aws")
	if err != nil {
		t.Fatalf("the aws CLI is required for this test (Debian: apt-get install awscli): %v", err)
	}
	home := t.TempDir()
	cmd := exec.Command(bin, append([]string{"--endpoint-url", endpoint, "--output", "json"}, args...)...)
	cmd.Env = append(envWithoutAWS(),
		"HOME="+home, "AWS_CONFIG_FILE="+filepath.Join(home, "config"), "AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(home, "credentials"),
		"AWS_ACCESS_KEY_ID="+key, "AWS_SECRET_ACCESS_KEY="+secret, "AWS_DEFAULT_REGION=us-east-1",
		"AWS_REGION=us-east-1", "AWS_CA_BUNDLE="+e.caFile, "AWS_EC2_METADATA_DISABLED=true", "AWS_MAX_ATTEMPTS=1", "AWS_PAGER=")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	if err != nil {
		return out.String() + errOut.String(), err
	}
	return out.String(), nil
}

// TestAWSCLI drives the endpoint, the IAM API and a stand-in S3 with the aws CLI, as a user's first session does.
func TestAWSCLI(t *testing.T) {
	env := newClientEnv(t)
	acct, _ := env.store.FirstAccount(context.Background())
	must := func(key, secret string, args ...string) string {
		t.Helper()
		out, err := env.awsCLI(t, key, secret, args...)
		if err != nil {
			t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}

	var who struct{ Account, Arn, UserId string }
	if err := json.Unmarshal([]byte(must(rootKey, rootSecret, "sts", "get-caller-identity")), &who); err != nil {
		t.Fatal(err)
	}
	if who.Account != acct.ID || who.Arn != acct.RootARN() {
		t.Fatalf("get-caller-identity: %+v", who)
	}

	must(rootKey, rootSecret, "iam", "create-user", "--user-name", "carol")
	var created struct {
		AccessKey struct{ AccessKeyId, SecretAccessKey string }
	}
	if err := json.Unmarshal([]byte(must(rootKey, rootSecret, "iam", "create-access-key", "--user-name", "carol")), &created); err != nil {
		t.Fatal(err)
	}
	carolKey, carolSecret := created.AccessKey.AccessKeyId, created.AccessKey.SecretAccessKey
	must(rootKey, rootSecret, "iam", "attach-user-policy", "--user-name", "carol", "--policy-arn", "arn:aws:iam::aws:policy/AmazonS3FullAccess")
	must(rootKey, rootSecret, "iam", "put-user-policy", "--user-name", "carol", "--policy-name", "inline",
		"--policy-document", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::b"}]}`)
	var got struct{ PolicyDocument map[string]any }
	if err := json.Unmarshal([]byte(must(rootKey, rootSecret, "iam", "get-user-policy", "--user-name", "carol", "--policy-name", "inline")), &got); err != nil || got.PolicyDocument["Version"] != "2012-10-17" {
		t.Fatalf("get-user-policy decoded by the CLI: %+v %v", got, err)
	}
	if out := must(carolKey, carolSecret, "sts", "get-caller-identity"); !strings.Contains(out, `"arn:aws:iam::`+acct.ID+`:user/carol"`) {
		t.Fatalf("carol: %s", out)
	}
	out, err := env.awsCLI(t, carolKey, carolSecret, "iam", "list-users")
	if err == nil || !strings.Contains(out, "AccessDenied") {
		t.Fatalf("carol listed users: %v %s", err, out)
	}

	// S3 through the endpoint, with what botocore sends today (flexible checksums, aws-chunked trailers).
	dir := t.TempDir()
	small := filepath.Join(dir, "small.txt")
	os.WriteFile(small, []byte("hello from the aws CLI\n"), 0o644)
	big := filepath.Join(dir, "big.bin")
	bigData := bytes.Repeat([]byte("0123456789abcdefghijklmnopqrstuvwxyz"), 100000) // 3.6 MB
	os.WriteFile(big, bigData, 0o644)
	must(carolKey, carolSecret, "s3api", "put-object", "--bucket", "b", "--key", "dir/small.txt", "--body", small)
	must(carolKey, carolSecret, "s3", "cp", big, "s3://b/big.bin")
	back := filepath.Join(dir, "back.bin")
	must(carolKey, carolSecret, "s3", "cp", "s3://b/big.bin", back)
	if data, _ := os.ReadFile(back); !bytes.Equal(data, bigData) {
		t.Fatalf("round trip: %d bytes back", len(data))
	}
	// Over plain HTTP botocore signs the payload's hash instead of streaming it.
	if out, err := env.awsCLIAt(t, env.srv.URL, carolKey, carolSecret, "s3api", "put-object", "--bucket", "b", "--key", "plain-http", "--body", small); err != nil {
		t.Fatalf("put-object over http: %v %s", err, out)
	}
	reqs := env.s3.requests()
	for _, r := range reqs {
		t.Logf("s3 saw: %s", r)
	}
	modes := map[string]string{}
	for _, r := range reqs {
		f := strings.Split(r, " ")
		if f[0] == "PUT" {
			modes[f[1]] = f[3] + " " + f[4]
		}
	}
	if m := modes["/b/dir/small.txt"]; !strings.HasPrefix(m, "STREAMING-UNSIGNED-PAYLOAD-TRAILER ") || strings.HasSuffix(m, " ") {
		t.Fatalf("put-object over TLS arrived as %q: expected aws-chunked with a CRC32 trailer", m)
	}
	if m := modes["/b/plain-http"]; len(strings.Fields(m)[0]) != 64 {
		t.Fatalf("put-object over http arrived as %q", m)
	}

	presigned := strings.TrimSpace(must(carolKey, carolSecret, "s3", "presign", "s3://b/dir/small.txt", "--expires-in", "300"))
	resp, err := env.tlsSrv.Client().Get(presigned)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "hello from the aws CLI\n" {
		t.Fatalf("presigned GET: %d %q", resp.StatusCode, body)
	}

	failures := []struct {
		name, key, secret, want string
	}{
		{name: "wrong secret", key: carolKey, secret: strings.Repeat("x", 40), want: "SignatureDoesNotMatch"},
		{name: "unknown key", key: "AKIAIOSFODNN7EXAMPLE", secret: carolSecret, want: "InvalidAccessKeyId"},
	}
	for _, f := range failures {
		t.Run(f.name, func(t *testing.T) {
			out, err := env.awsCLI(t, f.key, f.secret, "s3api", "put-object", "--bucket", "b", "--key", "x", "--body", small)
			if err == nil || !strings.Contains(out, f.want) {
				t.Fatalf("got %v: %s", err, out)
			}
		})
	}
}

// TestS3cmdSigV2 runs s3cmd with --signature-v2 (header auth) and its signurl (SigV2 query auth).
func TestS3cmdSigV2(t *testing.T) {
	env := newClientEnv(t)
	bin, err := exec.LookPath("s3cmd")
	if err != nil {
		t.Fatalf("s3cmd is required for this test (Debian: apt-get install s3cmd): %v", err)
	}
	dir := t.TempDir()
	hostPort := strings.TrimPrefix(env.srv.URL, "http://")
	cfg := filepath.Join(dir, "s3cfg")
	os.WriteFile(cfg, []byte("[default]\naccess_key = "+rootKey+"\nsecret_key = "+rootSecret+"\nhost_base = "+hostPort+
		"\nhost_bucket = "+hostPort+"\nuse_https = False\nsignature_v2 = True\ncheck_ssl_certificate = False\n"), 0o600)
	s3cmd := func(args ...string) (string, error) {
		cmd := exec.Command(bin, append([]string{"-c", cfg}, args...)...)
		cmd.Env = append(os.Environ(), "HOME="+dir)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	file := filepath.Join(dir, "hello.txt")
	os.WriteFile(file, []byte("hello from s3cmd\n"), 0o644)
	if out, err := s3cmd("put", file, "s3://b/with space/hello.txt"); err != nil {
		t.Fatalf("s3cmd put: %v\n%s", err, out)
	}
	got := filepath.Join(dir, "got.txt")
	if out, err := s3cmd("get", "s3://b/with space/hello.txt", got); err != nil {
		t.Fatalf("s3cmd get: %v\n%s", err, out)
	}
	if data, _ := os.ReadFile(got); string(data) != "hello from s3cmd\n" {
		t.Fatalf("got %q", data)
	}
	for _, r := range env.s3.requests() {
		if !strings.Contains(r, " AWS ") {
			t.Fatalf("s3cmd request not SigV2: %s", r)
		}
	}
	out, err := s3cmd("signurl", "s3://b/with space/hello.txt", "+300")
	if err != nil {
		t.Fatalf("signurl: %v\n%s", err, out)
	}
	url := strings.TrimSpace(out)
	if !strings.Contains(url, "AWSAccessKeyId=") {
		t.Fatalf("signurl printed %q", url)
	}
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "hello from s3cmd\n" {
		t.Fatalf("signed URL: %d %s", resp.StatusCode, body)
	}
	// The same URL with its signature bent is refused.
	resp, err = http.Get(strings.Replace(url, "Signature=", "Signature=A", 1))
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 403 || !strings.Contains(string(body), "<Code>SignatureDoesNotMatch</Code>") {
		t.Fatalf("bent signature: %d %s", resp.StatusCode, body)
	}

	// A wrong secret fails with S3's error, which s3cmd reports.
	bad := filepath.Join(dir, "bad.cfg")
	os.WriteFile(bad, []byte(strings.Replace(mustRead(t, cfg), rootSecret, "not-the-secret", 1)), 0o600)
	cmd := exec.Command(bin, "-c", bad, "put", file, "s3://b/other.txt")
	cmd.Env = append(os.Environ(), "HOME="+dir)
	o, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(o), "SignatureDoesNotMatch") {
		t.Fatalf("wrong secret: %v %s", err, o)
	}
}

// envWithoutAWS is the test's environment less any AWS_* setting of the machine's user.
func envWithoutAWS() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") {
			env = append(env, kv)
		}
	}
	return env
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
