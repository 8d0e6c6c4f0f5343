package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"path"
	"strings"
)

// Modes of a guest.
const (
	// ModeContainer runs one container: the root is a host directory shared over 9p, the host starts the
	// container's process (stream 1) and powers the machine off when it ends.
	ModeContainer = "container"
	// ModeInstance boots a machine from its own disk: it sets up SSH access, runs the user data once, starts the
	// image's SSH server and keeps running until it is shut down.
	ModeInstance = "instance"
)

// Config is what the guest init learns at boot, before the host says anything on the channel.
type Config struct {
	Mode     string `json:"mode"`
	Hostname string `json:"hostname,omitempty"`
	// Root is the root filesystem: a 9p share's tag (RootTypes "9p") or a block device ("ext4").
	Root Mount `json:"root"`
	// Mounts are mounted on the root in order, after /proc, /sys, /dev, /dev/pts, /dev/shm and /run.
	Mounts []Mount `json:"mounts,omitempty"`
	// Files are written into the root's tmpfs overlay and bound over Path (the container's hostname, hosts and
	// resolv.conf, which the host keeps outside the root).
	Files []File `json:"files,omitempty"`
	// Interfaces configure the guest's network interfaces, matched by MAC address.
	Interfaces []Interface `json:"interfaces,omitempty"`
	// SSH, for an instance: whose keys to install and whether to start the image's SSH server.
	SSH *SSH `json:"ssh,omitempty"`
	// InstanceID names the instance (user data runs once per instance ID).
	InstanceID string `json:"instance_id,omitempty"`
	// UserData is run once, as root, when it starts with "#!" (as cloud-init runs a user-data script).
	UserData []byte `json:"user_data,omitempty"`
	// Sysctls are written under /proc/sys (dots or slashes as separators).
	Sysctls map[string]string `json:"sysctls,omitempty"`
	// DNSRelay, when set, is an address (the container's resolver, 127.0.0.11) the guest answers DNS queries on
	// by relaying them to the host (TypeDNS frames).
	DNSRelay string `json:"dns_relay,omitempty"`
	// Debug makes the init log its progress on the console.
	Debug bool `json:"debug,omitempty"`
}

// Mount is a filesystem to mount in the guest.
type Mount struct {
	// Type is a filesystem type: "9p" (Source is the share's tag), "ext4" (Source a device), "tmpfs", "proc"...,
	// or "bind" (Source a path inside the guest, already mounted).
	Type    string   `json:"type"`
	Source  string   `json:"source,omitempty"`
	Target  string   `json:"target"`
	Options []string `json:"options,omitempty"`
}

// File is a file the host hands to the guest.
type File struct {
	Path string `json:"path"`
	Data []byte `json:"data"`
	Mode uint32 `json:"mode,omitempty"`
}

// Interface is a network interface's configuration.
type Interface struct {
	MAC     string       `json:"mac"`
	Addr    netip.Prefix `json:"addr"`
	Gateway netip.Addr   `json:"gateway,omitzero"`
	MTU     int          `json:"mtu,omitempty"`
}

// SSH says how an instance is reached over SSH.
type SSH struct {
	// User gets AuthorizedKeys in ~/.ssh/authorized_keys ("root" when empty).
	User           string   `json:"user,omitempty"`
	AuthorizedKeys []string `json:"authorized_keys,omitempty"`
	// Start starts the image's SSH server (openssh's sshd or dropbear).
	Start bool `json:"start,omitempty"`
}

// Validate checks what the guest relies on: a known mode, a root, absolute and clean targets.
func (c *Config) Validate() error {
	switch c.Mode {
	case ModeContainer, ModeInstance:
	default:
		return fmt.Errorf("config: unknown mode %q", c.Mode)
	}
	if c.Root.Type == "" || c.Root.Source == "" {
		return errors.New("config: no root filesystem")
	}
	for _, m := range c.Mounts {
		if err := cleanAbs(m.Target); err != nil {
			return fmt.Errorf("config: mount %s: %w", m.Target, err)
		}
	}
	for _, f := range c.Files {
		if err := cleanAbs(f.Path); err != nil || f.Path == "/" {
			return fmt.Errorf("config: file %q: not an absolute file path", f.Path)
		}
	}
	for _, i := range c.Interfaces {
		if !i.Addr.IsValid() || i.MAC == "" {
			return fmt.Errorf("config: interface %q: an address and a MAC are required", i.MAC)
		}
	}
	if c.SSH != nil && strings.ContainsAny(c.SSH.User, "/\x00") {
		return fmt.Errorf("config: invalid user name %q", c.SSH.User)
	}
	return nil
}

func cleanAbs(p string) error {
	if !path.IsAbs(p) || path.Clean(p) != p {
		return errors.New("not an absolute, clean path")
	}
	return nil
}

// ParseConfig decodes and validates a Config.
func ParseConfig(b []byte) (*Config, error) {
	var c Config
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}
