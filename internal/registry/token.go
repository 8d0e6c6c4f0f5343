package registry

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/golang-jwt/jwt/v5"
)

// tokenPath is where the built-in token endpoint is mounted.
const tokenPath = "/token"

// defaultTokenTTL is how long an issued token is valid.
const defaultTokenTTL = 5 * time.Minute

// TokenConfig configures Docker's token authentication (WithTokenAuth).
type TokenConfig struct {
	// Realm is the token endpoint's URL sent in challenges, normally this
	// registry's own https://host/token.
	Realm string
	// Service is the token audience; clients echo it back in token requests.
	Service string
	// Issuer is the token "iss" claim.
	Issuer string
	// Key signs and verifies tokens (ES256, so a P-256 key).
	Key *ecdsa.PrivateKey
	// Users are the accounts the token endpoint accepts; nil means anonymous only.
	Users *Users
	// ACL decides what user ("" for anonymous) may do on repo. Authenticated
	// users may also list the catalog.
	ACL func(user, repo string) (pull, push bool)
	// TTL is a token's lifetime; 0 means five minutes.
	TTL time.Duration
}

// WithTokenAuth requires bearer tokens on every /v2/ route and serves the
// token endpoint at GET /token on the same handler.
func WithTokenAuth(cfg TokenConfig) Option {
	return func(r *Registry) {
		if cfg.Key == nil || cfg.Key.Curve != elliptic.P256() {
			r.optErr = fmt.Errorf("token auth: need a P-256 ECDSA key: %w", errdefs.ErrInvalidArgument)
			return
		}
		if cfg.Realm == "" || cfg.Service == "" || cfg.ACL == nil {
			r.optErr = fmt.Errorf("token auth: realm, service and ACL are required: %w", errdefs.ErrInvalidArgument)
			return
		}
		if cfg.TTL == 0 {
			cfg.TTL = defaultTokenTTL
		}
		t := &tokenAuth{cfg: cfg}
		r.auth = t
		r.tokens = http.HandlerFunc(t.serveToken)
	}
}

// accessEntry is one element of the docker token "access" claim.
type accessEntry struct {
	Type    string   `json:"type"`
	Name    string   `json:"name"`
	Actions []string `json:"actions"`
}

type tokenClaims struct {
	jwt.RegisteredClaims
	Access []accessEntry `json:"access"`
}

type tokenAuth struct{ cfg TokenConfig }

// grant returns the part of requested that user may have.
func (t *tokenAuth) grant(user string, requested scope, actions []string) (accessEntry, bool) {
	e := accessEntry{Type: requested.typ, Name: requested.name, Actions: []string{}}
	switch requested.typ {
	case "repository":
		if validateName(requested.name) != nil {
			return e, false
		}
		pull, push := t.cfg.ACL(user, requested.name)
		for _, a := range actions {
			if (a == "pull" && pull) || (a == "push" && push) {
				e.Actions = append(e.Actions, a)
			}
		}
	case "registry":
		if requested.name == "catalog" && user != "" && slices.Contains(actions, "*") {
			e.Actions = append(e.Actions, "*")
		}
	default:
		return e, false
	}
	return e, true
}

// serveToken is the token endpoint: GET /token?service=...&scope=type:name:actions.
func (t *tokenAuth) serveToken(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodGet {
		errUnsupported(req).write(w)
		return
	}
	user := ""
	if u, p, ok := req.BasicAuth(); ok {
		if !t.cfg.Users.Check(u, p) {
			errUnauthorized(fmt.Sprintf("Basic realm=%q", basicRealm)).write(w)
			return
		}
		user = u
	}
	q := req.URL.Query()
	if s := q.Get("service"); s != "" && s != t.cfg.Service {
		newError("UNSUPPORTED", "unknown service", map[string]string{"service": s}).write(w)
		return
	}
	access := []accessEntry{}
	for _, raw := range q["scope"] {
		for _, one := range strings.Fields(raw) {
			// The name may contain ':' only in a registry-host form we do not
			// serve, so split type off the front and actions off the back.
			typ, rest, ok1 := strings.Cut(one, ":")
			i := strings.LastIndex(rest, ":")
			if !ok1 || i < 0 {
				continue
			}
			e, ok := t.grant(user, scope{typ: typ, name: rest[:i]}, strings.Split(rest[i+1:], ","))
			if ok {
				access = append(access, e)
			}
		}
	}
	now := time.Now()
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	claims := tokenClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    t.cfg.Issuer,
			Subject:   user,
			Audience:  jwt.ClaimStrings{t.cfg.Service},
			ExpiresAt: jwt.NewNumericDate(now.Add(t.cfg.TTL)),
			NotBefore: jwt.NewNumericDate(now.Add(-time.Minute)),
			IssuedAt:  jwt.NewNumericDate(now),
			ID:        hex.EncodeToString(id),
		},
		Access: access,
	}
	signed, err := jwt.NewWithClaims(jwt.SigningMethodES256, claims).SignedString(t.cfg.Key)
	if err != nil {
		(&apiError{status: http.StatusInternalServerError, code: "UNKNOWN", msg: "internal error"}).write(w)
		return
	}
	_ = writeJSON(w, http.StatusOK, "application/json", map[string]any{
		"token":        signed,
		"access_token": signed,
		"expires_in":   int(t.cfg.TTL / time.Second),
		"issued_at":    now.UTC().Format(time.RFC3339),
	})
}

// verify returns the claims of the request's bearer token, or an error if
// there is none or it is not valid (signature, expiry, audience, issuer).
func (t *tokenAuth) verify(req *http.Request) (*tokenClaims, error) {
	raw, ok := strings.CutPrefix(req.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return nil, fmt.Errorf("no bearer token: %w", errdefs.ErrUnauthenticated)
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods([]string{jwt.SigningMethodES256.Alg()}),
		jwt.WithAudience(t.cfg.Service),
		jwt.WithExpirationRequired(),
	}
	if t.cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(t.cfg.Issuer))
	}
	c := &tokenClaims{}
	_, err := jwt.ParseWithClaims(strings.TrimSpace(raw), c, func(*jwt.Token) (any, error) {
		return &t.cfg.Key.PublicKey, nil
	}, opts...)
	if err != nil {
		return nil, fmt.Errorf("bearer token: %v: %w", err, errdefs.ErrUnauthenticated)
	}
	return c, nil
}

func covers(c *tokenClaims, need scope) bool {
	if need.typ == "" {
		return true
	}
	for _, e := range c.Access {
		if e.Type == need.typ && e.Name == need.name && slices.Contains(e.Actions, need.action) {
			return true
		}
	}
	return false
}

func (t *tokenAuth) challenge(need scope, errParam string) string {
	s := fmt.Sprintf("Bearer realm=%q,service=%q", t.cfg.Realm, t.cfg.Service)
	if need.typ != "" {
		s += fmt.Sprintf(",scope=%q", need.String())
	}
	if errParam != "" {
		s += fmt.Sprintf(",error=%q", errParam)
	}
	return s
}

func (t *tokenAuth) allowed(req *http.Request, need scope) bool {
	c, err := t.verify(req)
	return err == nil && covers(c, need)
}

// pullsAll is false: a token names the repositories it grants, so a mount
// without a source repository becomes a plain upload.
func (t *tokenAuth) pullsAll(*http.Request) bool { return false }

// authorize answers 401 with a challenge naming the needed scope when the
// client has no valid token or one that is too narrow but could be widened,
// and 403 when a signed-in user asks for what the ACL never grants them.
func (t *tokenAuth) authorize(req *http.Request, need scope) error {
	c, err := t.verify(req)
	if err != nil {
		errParam := ""
		if req.Header.Get("Authorization") != "" {
			errParam = "invalid_token"
		}
		return errUnauthorized(t.challenge(need, errParam))
	}
	if covers(c, need) {
		return nil
	}
	if c.Subject != "" {
		if e, ok := t.grant(c.Subject, need, []string{need.action}); !ok || len(e.Actions) == 0 {
			return errDenied()
		}
	}
	return errUnauthorized(t.challenge(need, "insufficient_scope"))
}
