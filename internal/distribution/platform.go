package distribution

import (
	"fmt"
	"strings"

	"github.com/containerd/errdefs"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// ParsePlatform parses os/arch[/variant] as dockerd accepts it (x86_64 and aarch64 normalised); "" is nil.
func ParsePlatform(s string) (*ocispec.Platform, error) {
	if s == "" {
		return nil, nil
	}
	parts := strings.Split(strings.ToLower(s), "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("%q: unknown operating system or architecture: invalid argument", s))
	}
	p := &ocispec.Platform{OS: parts[0], Architecture: parts[1]}
	if len(parts) == 3 {
		p.Variant = parts[2]
	}
	if p.Architecture == "x86_64" || p.Architecture == "x86-64" {
		p.Architecture = "amd64"
	}
	if p.Architecture == "aarch64" {
		p.Architecture, p.Variant = "arm64", ""
	}
	return p, nil
}
