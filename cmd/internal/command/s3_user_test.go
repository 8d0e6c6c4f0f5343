package command

import (
	"bytes"
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/berth/berth/internal/cloud"
	"github.com/berth/berth/internal/cloud/iam"
)

// iamEndpoint serves a real endpoint with a real IAM store in a temp dir.
func iamEndpoint(t *testing.T) (url string, st *iam.Store) {
	t.Helper()
	st, err := iam.Open(t.TempDir(), iam.WithRootCredentials("ROOTKEYFORCLITESTS", "root-secret-for-cli-tests"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ep := cloud.NewEndpoint(st)
	ep.Register("iam", iam.NewIAMService(st))
	ep.Register("sts", iam.NewSTSService(st))
	srv := httptest.NewServer(ep)
	t.Cleanup(srv.Close)
	return srv.URL, st
}

// runS3Admin runs a `berth s3 user|account …` command line, with no AWS settings from the machine.
func runS3Admin(t *testing.T, newCmd func() *cobra.Command, env map[string]string, args ...string) (string, string, error) {
	t.Helper()
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "AWS_") {
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
	t.Setenv("HOME", t.TempDir())
	for k, v := range env {
		t.Setenv(k, v)
	}
	cmd := newCmd()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err := cmd.ExecuteContext(context.Background())
	return out.String(), errOut.String(), err
}

func TestS3UserCommands(t *testing.T) {
	url, _ := iamEndpoint(t)
	env := map[string]string{"AWS_ACCESS_KEY_ID": "ROOTKEYFORCLITESTS", "AWS_SECRET_ACCESS_KEY": "root-secret-for-cli-tests"}
	run := func(args ...string) string {
		t.Helper()
		out, errOut, err := runS3Admin(t, newS3UserCommand, env, append(args, "--endpoint-url", url)...)
		if err != nil {
			t.Fatalf("berth s3 user %s: %v\n%s%s", strings.Join(args, " "), err, out, errOut)
		}
		return out
	}

	if out := run("create", "dave"); !regexp.MustCompile(`^arn:aws:iam::\d{12}:user/dave\n$`).MatchString(out) {
		t.Fatalf("create printed %q", out)
	}
	run("create", "--path", "/team/", "erin")
	out := run("ls")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "NAME") || !strings.Contains(lines[0], "USER ID") || !strings.HasPrefix(lines[1], "dave ") || !strings.Contains(lines[2], ":user/team/erin") {
		t.Fatalf("ls:\n%s", out)
	}
	if out := run("ls", "-q"); out != "dave\nerin\n" {
		t.Fatalf("ls -q: %q", out)
	}

	out = run("key", "create", "dave", "--format", "{{.AccessKeyID}} {{.SecretAccessKey}}")
	m := regexp.MustCompile(`^(AKIA[A-Z2-7]{16}) (\S{40})\n$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("key create: %q", out)
	}
	if out := run("key", "ls", "dave"); !strings.Contains(out, m[1]) || !strings.Contains(out, "Active") || strings.Contains(out, m[2]) {
		t.Fatalf("key ls (must not show the secret):\n%s", out)
	}
	run("key", "disable", "dave", m[1])
	if out := run("key", "ls", "dave", "--format", "{{.Status}}"); out != "Inactive\n" {
		t.Fatalf("after disable: %q", out)
	}
	run("key", "enable", "dave", m[1])

	run("policy", "attach", "dave", "AmazonS3ReadOnlyAccess")
	doc := filepath.Join(t.TempDir(), "p.json")
	os.WriteFile(doc, []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:PutObject","Resource":"arn:aws:s3:::b/*"}]}`), 0o644)
	run("policy", "put", "dave", "uploads", doc)
	out = run("policy", "ls", "dave")
	if !strings.Contains(out, "managed   AmazonS3ReadOnlyAccess   arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess") || !strings.Contains(out, "inline    uploads") {
		t.Fatalf("policy ls:\n%s", out)
	}
	if out := run("policy", "show", "dave", "uploads"); !strings.Contains(out, `"s3:PutObject"`) {
		t.Fatalf("policy show: %q", out)
	}

	// dave's own key works for STS, and as a non-admin it may not manage users.
	daveEnv := map[string]string{"AWS_ACCESS_KEY_ID": m[1], "AWS_SECRET_ACCESS_KEY": m[2]}
	_, errOut, err := runS3Admin(t, newS3UserCommand, daveEnv, "create", "frank", "--endpoint-url", url)
	if err == nil || !strings.Contains(err.Error(), "An error occurred (AccessDenied)") {
		t.Fatalf("dave created a user: %v %s", err, errOut)
	}

	// Without -f IAM refuses; with -f the keys and policies go first.
	_, _, err = runS3Admin(t, newS3UserCommand, env, "rm", "dave", "--endpoint-url", url)
	if err == nil {
		t.Fatal("rm without -f removed a user with keys")
	}
	if out := run("rm", "-f", "dave", "erin"); out != "dave\nerin\n" {
		t.Fatalf("rm -f: %q", out)
	}
	if out := run("ls", "-q"); out != "" {
		t.Fatalf("users left: %q", out)
	}
}

func TestS3AdminCredentials(t *testing.T) {
	url, _ := iamEndpoint(t)
	// A credentials file such as `berth s3 serve` writes (root-credentials), used as the aws CLI would.
	creds := filepath.Join(t.TempDir(), "credentials")
	os.WriteFile(creds, []byte("[default]\naws_access_key_id = nobody\naws_secret_access_key = nothing-at-all\n\n[berth]\naws_access_key_id = ROOTKEYFORCLITESTS\naws_secret_access_key = root-secret-for-cli-tests\n"), 0o600)
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		wantErr string
	}{
		{name: "profile from the shared credentials file", env: map[string]string{"AWS_SHARED_CREDENTIALS_FILE": creds, "AWS_PROFILE": "berth"}, args: []string{"ls"}},
		{name: "--profile", env: map[string]string{"AWS_SHARED_CREDENTIALS_FILE": creds}, args: []string{"ls", "--profile", "berth"}},
		{name: "default profile with wrong keys", env: map[string]string{"AWS_SHARED_CREDENTIALS_FILE": creds}, args: []string{"ls"}, wantErr: "An error occurred (InvalidClientTokenId)"},
		{name: "flags", args: []string{"ls", "--access-key-id", "ROOTKEYFORCLITESTS", "--secret-access-key", "root-secret-for-cli-tests"}},
		{name: "half a key pair", args: []string{"ls", "--access-key-id", "ROOTKEYFORCLITESTS"}, wantErr: "go together"},
		{name: "no credentials", env: map[string]string{"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(t.TempDir(), "none")}, args: []string{"ls"}, wantErr: "no credentials"},
		{name: "endpoint without a scheme", env: map[string]string{"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y"}, args: []string{"ls", "--endpoint-url", "localhost:9000"}, wantErr: "needs a scheme"},
		{name: "AWS_ENDPOINT_URL", env: map[string]string{"AWS_ENDPOINT_URL": url, "AWS_ACCESS_KEY_ID": "ROOTKEYFORCLITESTS", "AWS_SECRET_ACCESS_KEY": "root-secret-for-cli-tests"}, args: []string{"ls"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if !strings.Contains(strings.Join(args, " "), "--endpoint-url") && tc.env["AWS_ENDPOINT_URL"] == "" {
				args = append(args, "--endpoint-url", url)
			}
			_, _, err := runS3Admin(t, newS3AccountCommand, tc.env, args...)
			if tc.wantErr == "" && err != nil {
				t.Fatal(err)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("err %v, want %q", err, tc.wantErr)
			}
		})
	}
}

func TestS3AccountCommands(t *testing.T) {
	url, st := iamEndpoint(t)
	env := map[string]string{"AWS_ACCESS_KEY_ID": "ROOTKEYFORCLITESTS", "AWS_SECRET_ACCESS_KEY": "root-secret-for-cli-tests"}
	out, _, err := runS3Admin(t, newS3AccountCommand, env, "create", "tenant", "--endpoint-url", url, "--format", "{{.ID}} {{.AccessKeyID}} {{.SecretAccessKey}}")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(out)
	if len(f) != 3 || len(f[0]) != 12 {
		t.Fatalf("account create: %q", out)
	}
	if id, _, err := st.Lookup(context.Background(), f[1]); err != nil || id.AccountID != f[0] || !id.Root() {
		t.Fatalf("new root key: %+v %v", id, err)
	}
	out, _, err = runS3Admin(t, newS3AccountCommand, env, "ls", "--endpoint-url", url)
	if err != nil || !strings.Contains(out, "ACCOUNT ID") || !strings.Contains(out, "tenant") || !strings.Contains(out, "berth") {
		t.Fatalf("account ls: %v\n%s", err, out)
	}
	// The new account's root may not create accounts.
	_, _, err = runS3Admin(t, newS3AccountCommand, map[string]string{"AWS_ACCESS_KEY_ID": f[1], "AWS_SECRET_ACCESS_KEY": f[2]}, "create", "other", "--endpoint-url", url)
	if err == nil || !strings.Contains(err.Error(), "AccessDenied") {
		t.Fatalf("second root created an account: %v", err)
	}
}
