package registry_test

import (
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/berth/berth/internal/registry"
)

// writeHtpasswd writes an htpasswd file in `htpasswd -B` form ($2y$) for
// user:password pairs.
func writeHtpasswd(t *testing.T, pairs ...string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("# test accounts\n\n")
	for i := 0; i < len(pairs); i += 2 {
		h, err := bcrypt.GenerateFromPassword([]byte(pairs[i+1]), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString(pairs[i] + ":" + strings.Replace(string(h), "$2a$", "$2y$", 1) + "\n")
	}
	path := filepath.Join(t.TempDir(), "htpasswd")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func basic(user, pass string) map[string]string {
	return map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))}
}

const unauthorizedBody = `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":null}]}`

func TestBasicAuth(t *testing.T) {
	root := t.TempDir()
	reg, err := registry.New(root, registry.WithHtpasswd(writeHtpasswd(t, "alice", "s3cret")))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(reg)
	t.Cleanup(srv.Close)
	e := &env{t: t, srv: srv, root: root}

	tests := []struct {
		name   string
		method string
		path   string
		hdr    map[string]string
		status int
	}{
		{name: "base missing", method: http.MethodGet, path: "/v2/", status: http.StatusUnauthorized},
		{name: "base wrong password", method: http.MethodGet, path: "/v2/", hdr: basic("alice", "nope"), status: http.StatusUnauthorized},
		{name: "base unknown user", method: http.MethodGet, path: "/v2/", hdr: basic("bob", "s3cret"), status: http.StatusUnauthorized},
		{name: "base bearer instead", method: http.MethodGet, path: "/v2/", hdr: map[string]string{"Authorization": "Bearer x"}, status: http.StatusUnauthorized},
		{name: "base right", method: http.MethodGet, path: "/v2/", hdr: basic("alice", "s3cret"), status: http.StatusOK},
		{name: "manifest missing", method: http.MethodGet, path: "/v2/a/manifests/latest", status: http.StatusUnauthorized},
		{name: "upload missing", method: http.MethodPost, path: "/v2/a/blobs/uploads/", status: http.StatusUnauthorized},
		{name: "catalog missing", method: http.MethodGet, path: "/v2/_catalog", status: http.StatusUnauthorized},
		{name: "unknown path missing", method: http.MethodGet, path: "/v2/nope", status: http.StatusUnauthorized},
		{name: "upload right", method: http.MethodPost, path: "/v2/a/blobs/uploads/", hdr: basic("alice", "s3cret"), status: http.StatusAccepted},
		{name: "manifest right", method: http.MethodGet, path: "/v2/a/manifests/latest", hdr: basic("alice", "s3cret"), status: http.StatusNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(tc.method, tc.path, nil, tc.hdr)
			if r.StatusCode != tc.status {
				t.Fatalf("status = %d, want %d", r.StatusCode, tc.status)
			}
			if tc.status != http.StatusUnauthorized {
				return
			}
			if got := r.Header.Get("WWW-Authenticate"); got != `Basic realm="berth-registry"` {
				t.Errorf("WWW-Authenticate = %q", got)
			}
			if got := string(readAll(t, r)); got != unauthorizedBody {
				t.Errorf("body = %s", got)
			}
		})
	}
}

func TestHtpasswdLoad(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		content string
		wantErr string
	}{
		{name: "md5 apr1", content: "alice:$apr1$abc$def\n", wantErr: "only bcrypt"},
		{name: "sha1", content: "alice:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n", wantErr: "only bcrypt"},
		{name: "crypt", content: "alice:rl0uGzT6xY3Ss\n", wantErr: "only bcrypt"},
		{name: "plain", content: "alice:password\n", wantErr: "only bcrypt"},
		{name: "no colon", content: "alice\n", wantErr: "want user:hash"},
		{name: "broken bcrypt", content: "alice:$2y$xx\n", wantErr: "alice"},
		{name: "empty", content: "# nobody\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_"))
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := registry.New(t.TempDir(), registry.WithHtpasswd(path))
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.wantErr)
			}
		})
	}
	if _, err := registry.New(t.TempDir(), registry.WithHtpasswd(filepath.Join(dir, "missing"))); err == nil {
		t.Fatal("missing htpasswd file accepted")
	}
}
