package distribution

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Credentials are what a client gives to reach a registry: a user name and password, or a token the registry's
// auth service issued. The zero value is anonymous. They are secrets: never log them.
type Credentials struct {
	Username string
	Password string
	// IdentityToken is an OAuth refresh token, exchanged for access tokens in place of the password.
	IdentityToken string
	// RegistryToken is a bearer token sent to the registry as is.
	RegistryToken string
	// ServerAddress is the registry a login is for: a host[:port] or URL; "" is Docker Hub.
	ServerAddress string
}

// Anonymous reports whether c carries no secret.
func (c Credentials) Anonymous() bool {
	return c.Username == "" && c.Password == "" && c.IdentityToken == "" && c.RegistryToken == ""
}

// String hides the secrets, so credentials printed by mistake leak nothing.
func (c Credentials) String() string {
	if c.Anonymous() {
		return "anonymous"
	}
	return fmt.Sprintf("user %q (secrets hidden)", c.Username)
}

// LogValue keeps the secrets out of structured logs too.
func (c Credentials) LogValue() slog.Value { return slog.StringValue(c.String()) }

// LoginResult is what a successful login yields.
type LoginResult struct {
	// IdentityToken is a refresh token the client may keep instead of the password. It is empty: Berth checks
	// the password and does not ask the auth service for a refresh token (dockerd does for Docker Hub).
	IdentityToken string
}

// authenticator turns credentials into go-containerregistry's.
func authenticator(c Credentials) authn.Authenticator {
	if c.Anonymous() {
		return authn.Anonymous
	}
	return authn.FromConfig(authn.AuthConfig{
		Username: c.Username, Password: c.Password,
		IdentityToken: c.IdentityToken, RegistryToken: c.RegistryToken,
	})
}

// LoginHost returns the registry host a login's ServerAddress names ("" or Hub's index is docker.io).
func LoginHost(serverAddress string) string {
	a := strings.TrimSpace(serverAddress)
	a = strings.TrimPrefix(strings.TrimPrefix(a, "https://"), "http://")
	a, _, _ = strings.Cut(a, "/")
	switch a {
	case "", "index.docker.io", "docker.io", "registry-1.docker.io":
		return DockerHubDomain
	}
	return a
}

// Login verifies the credentials against the registry their ServerAddress names, the way `docker login` asks
// dockerd to: ping /v2/, then authenticate (basic, or fetch a token with the credentials) and GET /v2/ again.
// Refused credentials are an error wrapping errdefs.ErrUnauthenticated.
func (s *Service) Login(ctx context.Context, ac Credentials) (LoginResult, error) {
	host := LoginHost(ac.ServerAddress)
	eps, err := s.Endpoints(host)
	if err != nil {
		return LoginResult{}, err
	}
	ep := eps[len(eps)-1] // never log in to a mirror
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	reg, err := ep.registry()
	if err != nil {
		return LoginResult{}, err
	}
	tr, err := transport.NewWithContext(ctx, reg, authenticator(ac), ep.Transport, nil)
	if err != nil {
		return LoginResult{}, loginError(err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+reg.RegistryStr()+"/v2/", nil)
	if err != nil {
		return LoginResult{}, err
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return LoginResult{}, errdefs.ErrUnavailable.WithMessage(err.Error())
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return LoginResult{}, errdefs.ErrUnauthenticated.WithMessage(fmt.Sprintf("login attempt to %s://%s/v2/ failed with status: %d %s",
			resp.Request.URL.Scheme, reg.RegistryStr(), resp.StatusCode, http.StatusText(resp.StatusCode)))
	}
	return LoginResult{}, nil
}

func loginError(err error) error {
	var te *transport.Error
	if errors.As(err, &te) && (te.StatusCode == http.StatusUnauthorized || te.StatusCode == http.StatusForbidden) {
		return errdefs.ErrUnauthenticated.WithMessage(translate(err).Error())
	}
	return errdefs.ErrUnavailable.WithMessage(err.Error())
}

func (ep Endpoint) registry() (name.Registry, error) {
	opts := []name.Option{name.WeakValidation}
	if ep.Insecure {
		opts = append(opts, name.Insecure)
	}
	// Endpoints name Docker Hub by its API host, which go-containerregistry leaves alone (it would rewrite
	// "docker.io" to index.docker.io).
	reg, err := name.NewRegistry(ep.Host, opts...)
	if err != nil {
		return name.Registry{}, errdefs.ErrInvalidArgument.WithMessage(err.Error())
	}
	return reg, nil
}
