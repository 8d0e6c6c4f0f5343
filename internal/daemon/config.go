package daemon

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/containerd/errdefs"
)

// Config is the daemon's configuration: flags of `berth daemon`, with the same keys as dockerd's daemon.json.
type Config struct {
	DataRoot       string                   `json:"data-root,omitempty"`
	ExecRoot       string                   `json:"exec-root,omitempty"`
	Hosts          []string                 `json:"hosts,omitempty"`
	Pidfile        string                   `json:"pidfile,omitempty"`
	LogLevel       string                   `json:"log-level,omitempty"`
	Debug          bool                     `json:"debug,omitempty"`
	DefaultRuntime string                   `json:"default-runtime,omitempty"`
	Bridge         string                   `json:"bridge,omitempty"` // "none" disables the default bridge network
	Runtimes       map[string]RuntimeConfig `json:"runtimes,omitempty"`
	TLS            bool                     `json:"tls,omitempty"`
	TLSVerify      bool                     `json:"tlsverify,omitempty"`
	TLSCACert      string                   `json:"tlscacert,omitempty"`
	TLSCert        string                   `json:"tlscert,omitempty"`
	TLSKey         string                   `json:"tlskey,omitempty"`
	// Keys of dockerd's daemon.json that later features use; accepted so a docker daemon.json loads unchanged.
	InsecureRegistries []string `json:"insecure-registries,omitempty"`
	RegistryMirrors    []string `json:"registry-mirrors,omitempty"`
	LiveRestore        bool     `json:"live-restore,omitempty"`

	// VMKernel is the kernel virtual machines boot (a vmlinuz, or a directory of unpacked linux-image
	// packages; default <data-root>/vm/kernel); VMAccel is "kvm", "tcg" or "" (choose).
	VMKernel string `json:"vm-kernel,omitempty"`
	VMAccel  string `json:"vm-accel,omitempty"`

	// ShimPath is the berth-shim binary; InitPath a static init for --init. Not daemon.json keys.
	ShimPath string `json:"-"`
	InitPath string `json:"-"`
}

// RuntimeConfig is one entry of daemon.json's "runtimes".
type RuntimeConfig struct {
	Path        string   `json:"path"`
	RuntimeArgs []string `json:"runtimeArgs,omitempty"`
}

// Defaults for a daemon started without flags.
const (
	DefaultDataRoot = "/var/lib/berth"
	DefaultExecRoot = "/run/berth"
	DefaultHost     = "unix:///run/berth/berth.sock"
)

// LoadConfigFile merges the JSON file at path into c: keys present in the file fill fields the flags left unset;
// a key set both in the file and by a flag is an error, as dockerd reports it.
func LoadConfigFile(path string, c *Config, flagsSet func(key string) bool) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("unable to configure the Berth daemon with file %s: %w", path, err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("unable to configure the Berth daemon with file %s: %v", path, err))
	}
	for k := range raw {
		if flagsSet(k) {
			return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("the following directives are specified both as a flag and in the configuration file: %s", k))
		}
	}
	var fc Config
	if err := json.Unmarshal(b, &fc); err != nil {
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("unable to configure the Berth daemon with file %s: %v", path, err))
	}
	merge := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	merge(&c.DataRoot, fc.DataRoot)
	merge(&c.ExecRoot, fc.ExecRoot)
	merge(&c.Pidfile, fc.Pidfile)
	merge(&c.LogLevel, fc.LogLevel)
	merge(&c.DefaultRuntime, fc.DefaultRuntime)
	merge(&c.Bridge, fc.Bridge)
	merge(&c.TLSCACert, fc.TLSCACert)
	merge(&c.TLSCert, fc.TLSCert)
	merge(&c.TLSKey, fc.TLSKey)
	merge(&c.VMKernel, fc.VMKernel)
	merge(&c.VMAccel, fc.VMAccel)
	if len(fc.Hosts) > 0 {
		c.Hosts = fc.Hosts
	}
	c.Debug = c.Debug || fc.Debug
	c.TLS = c.TLS || fc.TLS
	c.TLSVerify = c.TLSVerify || fc.TLSVerify
	c.LiveRestore = c.LiveRestore || fc.LiveRestore
	c.InsecureRegistries = append(c.InsecureRegistries, fc.InsecureRegistries...)
	c.RegistryMirrors = append(c.RegistryMirrors, fc.RegistryMirrors...)
	for name, rt := range fc.Runtimes {
		if c.Runtimes == nil {
			c.Runtimes = map[string]RuntimeConfig{}
		}
		c.Runtimes[name] = rt
	}
	return nil
}
