package distribution

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/moby/moby/api/types/registry"
)

// DecodeAuthHeader decodes the X-Registry-Auth header as dockerd does: base64url (padded or not) JSON
// AuthConfig. An empty header is anonymous; an undecodable one is ignored, like dockerd, rather than failing.
func DecodeAuthHeader(h string) registry.AuthConfig {
	var ac registry.AuthConfig
	if h == "" {
		return ac
	}
	b, err := base64.URLEncoding.DecodeString(h)
	if err != nil {
		b, err = base64.RawURLEncoding.DecodeString(strings.TrimRight(h, "="))
	}
	if err != nil {
		return registry.AuthConfig{}
	}
	if json.Unmarshal(b, &ac) != nil {
		return registry.AuthConfig{}
	}
	return ac
}

// authenticator turns an AuthConfig into go-containerregistry's credentials.
func authenticator(ac registry.AuthConfig) authn.Authenticator {
	if ac.Username == "" && ac.Password == "" && ac.Auth == "" && ac.IdentityToken == "" && ac.RegistryToken == "" {
		return authn.Anonymous
	}
	return authn.FromConfig(authn.AuthConfig{
		Username: ac.Username, Password: ac.Password, Auth: ac.Auth,
		IdentityToken: ac.IdentityToken, RegistryToken: ac.RegistryToken,
	})
}

// LoginHost returns the registry host an AuthConfig's ServerAddress names ("" or Hub's index is docker.io).
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

// Login verifies ac's credentials against the registry ac.ServerAddress names, the way `docker login` asks
// dockerd to: ping /v2/, then authenticate (basic, or fetch a token with the credentials) and GET /v2/ again.
func (s *Service) Login(ctx context.Context, ac registry.AuthConfig) (registry.AuthResponse, error) {
	host := LoginHost(ac.ServerAddress)
	eps, err := s.Endpoints(host)
	if err != nil {
		return registry.AuthResponse{}, err
	}
	ep := eps[len(eps)-1] // never log in to a mirror
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	reg, err := ep.registry()
	if err != nil {
		return registry.AuthResponse{}, err
	}
	tr, err := transport.NewWithContext(ctx, reg, authenticator(ac), ep.Transport, nil)
	if err != nil {
		return registry.AuthResponse{}, loginError(err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+reg.RegistryStr()+"/v2/", nil)
	if err != nil {
		return registry.AuthResponse{}, err
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return registry.AuthResponse{}, errdefs.ErrUnavailable.WithMessage(err.Error())
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return registry.AuthResponse{}, errdefs.ErrUnauthenticated.WithMessage(fmt.Sprintf("login attempt to %s://%s/v2/ failed with status: %d %s",
			resp.Request.URL.Scheme, reg.RegistryStr(), resp.StatusCode, http.StatusText(resp.StatusCode)))
	}
	return registry.AuthResponse{Status: "Login Succeeded"}, nil
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
