package command

import (
	"encoding/base64"
	"encoding/json"
	"strings"

	"github.com/distribution/reference"
	"github.com/docker/cli/cli/config"
	"github.com/docker/cli/cli/config/configfile"
	"github.com/moby/moby/api/types/registry"
)

// dockerHubServer is the key docker's config.json uses for Docker Hub credentials.
const dockerHubServer = "https://index.docker.io/v1/"

// loadConfigFile reads the credentials file the docker CLI uses: $DOCKER_CONFIG/config.json or
// ~/.docker/config.json (credential helpers configured there are honoured).
func (c *CLI) loadConfigFile() *configfile.ConfigFile {
	return config.LoadDefaultConfigFile(c.err)
}

// serverKey is the config.json key for a registry host: Docker Hub's index URL, else host[:port].
func serverKey(host string) string {
	h := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(host, "https://"), "http://"), "/")
	switch h {
	case "", "docker.io", "index.docker.io", "registry-1.docker.io", "index.docker.io/v1":
		return dockerHubServer
	}
	return h
}

// RegistryAuthFor returns the X-Registry-Auth header value for image ref's registry ("" when anonymous).
func (c *CLI) RegistryAuthFor(ref string) string {
	host := "docker.io"
	if named, err := reference.ParseNormalizedNamed(ref); err == nil {
		host = reference.Domain(named)
	}
	return c.registryAuth(serverKey(host))
}

func (c *CLI) registryAuth(key string) string {
	ac, err := c.loadConfigFile().GetAuthConfig(key)
	if err != nil || (ac.Username == "" && ac.Password == "" && ac.IdentityToken == "" && ac.RegistryToken == "") {
		return ""
	}
	return encodeAuth(registry.AuthConfig{
		Username: ac.Username, Password: ac.Password, ServerAddress: key,
		IdentityToken: ac.IdentityToken, RegistryToken: ac.RegistryToken,
	})
}

// encodeAuth encodes an AuthConfig as the X-Registry-Auth header carries it: base64url JSON.
func encodeAuth(ac registry.AuthConfig) string {
	b, _ := json.Marshal(ac)
	return base64.URLEncoding.EncodeToString(b)
}
