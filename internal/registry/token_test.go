package registry_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/berth/berth/internal/registry"
)

const testService = "berth-test"

// tokenEnv is a registry with token auth: alice may pull and push anything,
// bob may only pull, anonymous may pull when publicPull is set.
type tokenEnv struct {
	*env
	key *ecdsa.PrivateKey
}

func newTokenEnv(t *testing.T, publicPull bool) *tokenEnv {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	users, err := registry.LoadHtpasswd(writeHtpasswd(t, "alice", "apw", "bob", "bpw", "carol", "cpw"))
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	// The realm names the server, which must exist before the handler does.
	var reg http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reg.ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	realm := srv.URL + "/token"
	r, err := registry.New(root, registry.WithTokenAuth(registry.TokenConfig{
		Realm: realm, Service: testService, Issuer: "berth-test-issuer", Key: key, Users: users,
		ACL: func(user, repo string) (bool, bool) {
			switch user {
			case "alice":
				return true, true
			case "bob":
				return true, false
			case "carol":
				return repo == "c", repo == "c"
			case "":
				return publicPull, false
			}
			return false, false
		},
	}))
	if err != nil {
		t.Fatal(err)
	}
	reg = r
	return &tokenEnv{env: &env{t: t, srv: srv, root: root}, key: key}
}

// challenge parses a Bearer WWW-Authenticate header's parameters.
func challenge(t *testing.T, r *http.Response) map[string]string {
	t.Helper()
	h, ok := strings.CutPrefix(r.Header.Get("WWW-Authenticate"), "Bearer ")
	if !ok {
		t.Fatalf("WWW-Authenticate = %q, want a Bearer challenge", r.Header.Get("WWW-Authenticate"))
	}
	out := map[string]string{}
	for _, kv := range strings.Split(h, `",`) {
		k, v, _ := strings.Cut(kv, "=")
		out[k] = strings.Trim(v, `"`)
	}
	return out
}

// token asks the token endpoint for scope, as user (anonymous if empty).
func (e *tokenEnv) token(realm, service, scope, user, pass string) string {
	e.t.Helper()
	q := url.Values{"service": {service}}
	if scope != "" {
		q.Set("scope", scope)
	}
	req, _ := http.NewRequest(http.MethodGet, realm+"?"+q.Encode(), nil)
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("token endpoint: %s", resp.Status)
	}
	var body struct {
		Token       string `json:"token"`
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
		IssuedAt    string `json:"issued_at"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		e.t.Fatal(err)
	}
	if body.Token == "" || body.AccessToken != body.Token || body.ExpiresIn != 300 || body.IssuedAt == "" {
		e.t.Fatalf("token response = %+v", body)
	}
	return body.Token
}

// clientDo is what docker does: try, and on a Bearer challenge fetch a token
// for the challenged scope with the credentials and retry once.
func (e *tokenEnv) clientDo(user, pass, method, path string, body []byte) *http.Response {
	e.t.Helper()
	r := e.do(method, path, body, nil)
	if r.StatusCode != http.StatusUnauthorized {
		return r
	}
	c := challenge(e.t, r)
	tok := e.token(c["realm"], c["service"], c["scope"], user, pass)
	return e.do(method, path, body, map[string]string{"Authorization": "Bearer " + tok})
}

func TestTokenFlow(t *testing.T) {
	e := newTokenEnv(t, false)

	r := e.do(http.MethodGet, "/v2/", nil, nil)
	if r.StatusCode != http.StatusUnauthorized || string(readAll(t, r)) != unauthorizedBody {
		t.Fatalf("unauthenticated /v2/ = %d", r.StatusCode)
	}
	c := challenge(t, r)
	if c["realm"] != e.srv.URL+"/token" || c["service"] != testService || c["scope"] != "" {
		t.Fatalf("base challenge = %v", c)
	}
	if r := e.clientDo("alice", "apw", http.MethodGet, "/v2/", nil); r.StatusCode != http.StatusOK {
		t.Fatalf("/v2/ with token = %d", r.StatusCode)
	}

	r = e.do(http.MethodPost, "/v2/team/app/blobs/uploads/", nil, nil)
	if got := challenge(t, r)["scope"]; got != "repository:team/app:pull,push" {
		t.Fatalf("push scope = %q", got)
	}
	r = e.do(http.MethodGet, "/v2/team/app/manifests/latest", nil, nil)
	if got := challenge(t, r)["scope"]; got != "repository:team/app:pull" {
		t.Fatalf("pull scope = %q", got)
	}

	// Push a blob and a manifest, then pull them back, all through challenges.
	blob := []byte("layer")
	d := desc("application/vnd.oci.image.layer.v1.tar", blob)
	r = e.clientDo("alice", "apw", http.MethodPost, "/v2/team/app/blobs/uploads/?digest="+d.Digest.String(), blob)
	if r.StatusCode != http.StatusCreated {
		t.Fatalf("push blob = %d %s", r.StatusCode, readAll(t, r))
	}
	if r := e.clientDo("bob", "bpw", http.MethodGet, "/v2/team/app/blobs/"+d.Digest.String(), nil); r.StatusCode != http.StatusOK ||
		!bytes.Equal(readAll(t, r), blob) {
		t.Fatalf("pull blob = %d", r.StatusCode)
	}

	// Wrong password at the token endpoint.
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/token?service="+testService, nil)
	req.SetBasicAuth("alice", "wrong")
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("token with wrong password = %d", resp.StatusCode)
	}
}

func TestTokenScope(t *testing.T) {
	e := newTokenEnv(t, false)
	realm := e.srv.URL + "/token"
	aliceA := e.token(realm, testService, "repository:a:pull,push", "alice", "apw")
	bobB := e.token(realm, testService, "repository:b:pull,push", "bob", "bpw") // push not granted
	bearer := func(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }

	tests := []struct {
		name      string
		method    string
		path      string
		tok       string
		status    int
		wantScope string
	}{
		{name: "alice push a", method: http.MethodPost, path: "/v2/a/blobs/uploads/", tok: aliceA, status: http.StatusAccepted},
		{name: "alice pull a", method: http.MethodGet, path: "/v2/a/tags/list", tok: aliceA, status: http.StatusOK},
		{name: "alice token for a pushes b", method: http.MethodPost, path: "/v2/b/blobs/uploads/", tok: aliceA,
			status: http.StatusUnauthorized, wantScope: "repository:b:pull,push"},
		{name: "alice token for a deletes b", method: http.MethodDelete, path: "/v2/b/manifests/latest", tok: aliceA,
			status: http.StatusUnauthorized, wantScope: "repository:b:pull,push"},
		{name: "alice catalog without scope", method: http.MethodGet, path: "/v2/_catalog", tok: aliceA,
			status: http.StatusUnauthorized, wantScope: "registry:catalog:*"},
		{name: "bob pull b", method: http.MethodHead, path: "/v2/b/manifests/latest", tok: bobB, status: http.StatusNotFound},
		{name: "bob push b denied", method: http.MethodPost, path: "/v2/b/blobs/uploads/", tok: bobB, status: http.StatusForbidden},
		{name: "bob put manifest denied", method: http.MethodPut, path: "/v2/b/manifests/latest", tok: bobB, status: http.StatusForbidden},
		{name: "bob base", method: http.MethodGet, path: "/v2/", tok: bobB, status: http.StatusOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(tc.method, tc.path, nil, bearer(tc.tok))
			if r.StatusCode != tc.status {
				t.Fatalf("status = %d, want %d", r.StatusCode, tc.status)
			}
			switch tc.status {
			case http.StatusUnauthorized:
				c := challenge(t, r)
				if c["scope"] != tc.wantScope || c["error"] != "insufficient_scope" {
					t.Fatalf("challenge = %v", c)
				}
			case http.StatusForbidden:
				if code := errCode(t, r); code != "DENIED" {
					t.Fatalf("code = %q", code)
				}
			}
		})
	}

	catalog := e.token(realm, testService, "registry:catalog:*", "alice", "apw")
	if r := e.do(http.MethodGet, "/v2/_catalog", nil, bearer(catalog)); r.StatusCode != http.StatusOK {
		t.Fatalf("catalog with scope = %d", r.StatusCode)
	}
}

func TestTokenRejected(t *testing.T) {
	e := newTokenEnv(t, false)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	access := []map[string]any{{"type": "repository", "name": "a", "actions": []string{"pull", "push"}}}
	sign := func(key *ecdsa.PrivateKey, aud string, exp time.Time) string {
		tok, err := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{
			"iss": "berth-test-issuer", "sub": "alice", "aud": aud,
			"exp": exp.Unix(), "iat": time.Now().Add(-time.Hour).Unix(), "access": access,
		}).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	future := time.Now().Add(time.Hour)
	tests := []struct {
		name   string
		tok    string
		status int
	}{
		{name: "valid", tok: sign(e.key, testService, future), status: http.StatusNotFound},
		{name: "expired", tok: sign(e.key, testService, time.Now().Add(-time.Minute)), status: http.StatusUnauthorized},
		{name: "other key", tok: sign(other, testService, future), status: http.StatusUnauthorized},
		{name: "other audience", tok: sign(e.key, "elsewhere", future), status: http.StatusUnauthorized},
		{name: "garbage", tok: "not.a.jwt", status: http.StatusUnauthorized},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(http.MethodGet, "/v2/a/manifests/latest", nil, map[string]string{"Authorization": "Bearer " + tc.tok})
			if r.StatusCode != tc.status {
				t.Fatalf("status = %d, want %d", r.StatusCode, tc.status)
			}
			if tc.status == http.StatusUnauthorized {
				if c := challenge(t, r); c["error"] != "invalid_token" || c["scope"] != "repository:a:pull" {
					t.Fatalf("challenge = %v", c)
				}
			}
		})
	}
}

func TestAnonymousPull(t *testing.T) {
	tests := []struct {
		name       string
		publicPull bool
		method     string
		path       string
		status     int
	}{
		{name: "public pull", publicPull: true, method: http.MethodGet, path: "/v2/a/manifests/latest", status: http.StatusNotFound},
		{name: "public pull cannot push", publicPull: true, method: http.MethodPost, path: "/v2/a/blobs/uploads/", status: http.StatusUnauthorized},
		{name: "private pull", publicPull: false, method: http.MethodGet, path: "/v2/a/manifests/latest", status: http.StatusUnauthorized},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newTokenEnv(t, tc.publicPull)
			r := e.clientDo("", "", tc.method, tc.path, nil)
			if r.StatusCode != tc.status {
				t.Fatalf("status = %d, want %d", r.StatusCode, tc.status)
			}
		})
	}
}

// A cross-repository mount from a repository the token cannot pull falls back
// to a plain upload instead of exposing the blob.
func TestTokenMount(t *testing.T) {
	e := newTokenEnv(t, false)
	realm := e.srv.URL + "/token"
	blob := []byte("secret layer")
	d := desc("application/vnd.oci.image.layer.v1.tar", blob).Digest
	if r := e.clientDo("alice", "apw", http.MethodPost, "/v2/a/blobs/uploads/?digest="+d.String(), blob); r.StatusCode != http.StatusCreated {
		t.Fatalf("push = %d", r.StatusCode)
	}
	tests := []struct {
		name   string
		token  string
		status int
	}{
		{name: "carol cannot read a", token: e.token(realm, testService, "repository:c:pull,push repository:a:pull", "carol", "cpw"),
			status: http.StatusAccepted},
		{name: "alice can read a", token: e.token(realm, testService, "repository:c:pull,push repository:a:pull", "alice", "apw"),
			status: http.StatusCreated},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(http.MethodPost, "/v2/c/blobs/uploads/?mount="+d.String()+"&from=a", nil,
				map[string]string{"Authorization": "Bearer " + tc.token})
			if r.StatusCode != tc.status {
				t.Fatalf("status = %d, want %d", r.StatusCode, tc.status)
			}
		})
	}
}

func TestTokenConfigInvalid(t *testing.T) {
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	acl := func(string, string) (bool, bool) { return true, true }
	tests := []struct {
		name string
		cfg  registry.TokenConfig
	}{
		{name: "no key", cfg: registry.TokenConfig{Realm: "r", Service: "s", ACL: acl}},
		{name: "P-384 key", cfg: registry.TokenConfig{Realm: "r", Service: "s", ACL: acl, Key: p384}},
		{name: "no realm", cfg: registry.TokenConfig{Service: "s", ACL: acl, Key: p256}},
		{name: "no ACL", cfg: registry.TokenConfig{Realm: "r", Service: "s", Key: p256}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := registry.New(t.TempDir(), registry.WithTokenAuth(tc.cfg)); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}
