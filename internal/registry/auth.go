package registry

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"

	"github.com/containerd/errdefs"
	"golang.org/x/crypto/bcrypt"
)

// Users is a set of accounts loaded from an htpasswd file with bcrypt
// entries. The zero value (or nil) has no accounts.
type Users struct {
	hashes map[string][]byte
}

// LoadHtpasswd reads an htpasswd file as `htpasswd -B` writes it: one
// "user:$2y$..." line per account; blank lines and '#' comments are skipped.
// Any hash that is not bcrypt is refused, so no weaker scheme slips in.
func LoadHtpasswd(path string) (*Users, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("htpasswd: %w", err)
	}
	defer f.Close()
	u := &Users{hashes: map[string][]byte{}}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		user, hash, ok := strings.Cut(line, ":")
		if !ok || user == "" {
			return nil, fmt.Errorf("htpasswd %s line %d: want user:hash: %w", path, n, errdefs.ErrInvalidArgument)
		}
		if !isBcrypt(hash) {
			return nil, fmt.Errorf("htpasswd %s line %d: user %q: unsupported password hash, only bcrypt (htpasswd -B) is accepted: %w",
				path, n, user, errdefs.ErrInvalidArgument)
		}
		if _, err := bcrypt.Cost([]byte(hash)); err != nil {
			return nil, fmt.Errorf("htpasswd %s line %d: user %q: %v: %w", path, n, user, err, errdefs.ErrInvalidArgument)
		}
		u.hashes[user] = []byte(hash)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("htpasswd %s: %w", path, err)
	}
	return u, nil
}

func isBcrypt(h string) bool {
	for _, p := range []string{"$2y$", "$2a$", "$2b$"} {
		if strings.HasPrefix(h, p) {
			return true
		}
	}
	return false
}

// dummyHash is compared against for unknown users so that a miss costs as
// much as a wrong password and does not reveal which accounts exist.
var dummyHash = sync.OnceValue(func() []byte {
	h, _ := bcrypt.GenerateFromPassword([]byte("berth-no-such-user"), bcrypt.DefaultCost)
	return h
})

// Check reports whether password is user's password.
func (u *Users) Check(user, password string) bool {
	var h []byte
	if u != nil {
		h = u.hashes[user]
	}
	if h == nil {
		_ = bcrypt.CompareHashAndPassword(dummyHash(), []byte(password))
		return false
	}
	return bcrypt.CompareHashAndPassword(h, []byte(password)) == nil
}

// scope is what one request needs. An empty typ means "any authenticated
// client" (the /v2/ base route).
type scope struct {
	typ, name, action string // action is "pull", "push" or "*"
}

// String renders the scope as a token request or challenge wants it; push
// asks for pull too because every push client also reads.
func (s scope) String() string {
	actions := s.action
	if s.typ == "repository" && s.action == "push" {
		actions = "pull,push"
	}
	return s.typ + ":" + s.name + ":" + actions
}

// authorizer decides whether a request may have the scopes it needs.
type authorizer interface {
	// authorize returns nil or the *apiError to send (401 with a challenge or 403).
	authorize(req *http.Request, need scope) error
	// allowed reports, without side effects, whether the request's
	// credentials also cover need (used for the source of a cross-repo mount).
	allowed(req *http.Request, need scope) bool
	// pullsAll reports whether the request's credentials may pull every
	// repository, which a mount without a source repository needs.
	pullsAll(req *http.Request) bool
}

// requestScope maps a /v2/ request to the scope it needs: GET and HEAD pull,
// every other method pushes.
func requestScope(req *http.Request) scope {
	rest, ok := strings.CutPrefix(req.URL.Path, "/v2/")
	if !ok || rest == "" {
		return scope{}
	}
	if rest == "_catalog" {
		return scope{typ: "registry", name: "catalog", action: "*"}
	}
	rt, ok := parseRoute(rest)
	if !ok {
		return scope{}
	}
	action := "push"
	if req.Method == http.MethodGet || req.Method == http.MethodHead {
		action = "pull"
	}
	return scope{typ: "repository", name: rt.name, action: action}
}

// authorize gates every /v2/ request when authentication is configured. A
// cross-repository mount whose source the client may not pull is downgraded
// to a plain upload, as the spec allows, instead of leaking the blob.
func (r *Registry) authorize(req *http.Request) error {
	if r.auth == nil {
		return nil
	}
	if err := r.auth.authorize(req, requestScope(req)); err != nil {
		return err
	}
	q := req.URL.Query()
	if q.Get("mount") != "" {
		from := q.Get("from")
		ok := from == "" && r.auth.pullsAll(req) ||
			from != "" && r.auth.allowed(req, scope{typ: "repository", name: from, action: "pull"})
		if !ok {
			q.Del("mount")
			q.Del("from")
			req.URL.RawQuery = q.Encode()
		}
	}
	return nil
}

// nullDetail makes the error body carry "detail":null, as the spec shows for
// authentication errors.
var nullDetail = json.RawMessage("null")

func errUnauthorized(challenge string) *apiError {
	return &apiError{status: http.StatusUnauthorized, code: "UNAUTHORIZED", msg: "authentication required",
		detail: nullDetail, challenge: challenge}
}

func errDenied() *apiError {
	return &apiError{status: http.StatusForbidden, code: "DENIED", msg: "requested access to the resource is denied",
		detail: nullDetail}
}

// basicRealm is the realm of the Basic challenge.
const basicRealm = "berth-registry"

// basicAuth lets any htpasswd user do anything.
type basicAuth struct{ users *Users }

func (b *basicAuth) allowed(req *http.Request, _ scope) bool {
	u, p, ok := req.BasicAuth()
	return ok && b.users.Check(u, p)
}

func (b *basicAuth) pullsAll(req *http.Request) bool { return b.allowed(req, scope{}) }

func (b *basicAuth) authorize(req *http.Request, need scope) error {
	if !b.allowed(req, need) {
		return errUnauthorized(fmt.Sprintf("Basic realm=%q", basicRealm))
	}
	return nil
}

// WithHtpasswd requires HTTP basic authentication on every /v2/ route against
// the bcrypt htpasswd file at path; New fails if the file cannot be loaded.
func WithHtpasswd(path string) Option {
	return func(r *Registry) {
		users, err := LoadHtpasswd(path)
		if err != nil {
			r.optErr = err
			return
		}
		r.auth = &basicAuth{users: users}
	}
}
