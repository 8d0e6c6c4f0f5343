package daemon

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/containerd/errdefs"
)

// Config is the daemon's configuration: flags of `berth daemon`, with the same keys as dockerd's daemon.json.
type Config struct {
	DataRoot       string   `json:"data-root,omitempty"`
	ExecRoot       string   `json:"exec-root,omitempty"`
	Hosts          []string `json:"hosts,omitempty"`
	Pidfile        string   `json:"pidfile,omitempty"`
	LogLevel       string   `json:"log-level,omitempty"`
	Debug          bool     `json:"debug,omitempty"`
	DefaultRuntime string   `json:"default-runtime,omitempty"`
	Bridge         string   `json:"bridge,omitempty"` // "none" disables the default bridge network
	// DefaultAddressPools are the subnets networks without --subnet get, docker's default otherwise.
	DefaultAddressPools []AddressPool `json:"default-address-pools,omitempty"`
	// HostGatewayIP is what --add-host NAME:host-gateway maps to; the default bridge's gateway when unset.
	HostGatewayIP string                   `json:"host-gateway-ip,omitempty"`
	Runtimes      map[string]RuntimeConfig `json:"runtimes,omitempty"`
	TLS           bool                     `json:"tls,omitempty"`
	TLSVerify     bool                     `json:"tlsverify,omitempty"`
	TLSCACert     string                   `json:"tlscacert,omitempty"`
	TLSCert       string                   `json:"tlscert,omitempty"`
	TLSKey        string                   `json:"tlskey,omitempty"`
	// LogDriver and LogOpts are the log driver and options of containers that name none (dockerd's
	// --log-driver and --log-opt).
	LogDriver string            `json:"log-driver,omitempty"`
	LogOpts   map[string]string `json:"log-opts,omitempty"`
	// CloudAddr turns the cloud endpoint on: S3, IAM and STS (later EC2) on one AWS-style HTTP address, over
	// <data-root>/cloud. Off when empty. CloudTLSCert and CloudTLSKey serve it over HTTPS.
	CloudAddr    string   `json:"cloud-addr,omitempty"`
	CloudTLSCert string   `json:"cloud-tlscert,omitempty"`
	CloudTLSKey  string   `json:"cloud-tlskey,omitempty"`
	CloudRegion  string   `json:"cloud-region,omitempty"`  // the region requests are signed for (default us-east-1)
	CloudDomains []string `json:"cloud-domains,omitempty"` // BUCKET.DOMAIN names a bucket (default s3.localhost)
	// SwarmEtcdEndpoints points swarm managers at an external etcd cluster instead of the members they embed
	// (Berth's keys, for clusters that outgrow the embedded store); SwarmEtcdCAFile, SwarmEtcdCertFile and
	// SwarmEtcdKeyFile are the client TLS to reach it, SwarmEtcdPrefix where the swarm lives in its key space.
	SwarmEtcdEndpoints []string `json:"swarm-etcd-endpoints,omitempty"`
	SwarmEtcdCAFile    string   `json:"swarm-etcd-cafile,omitempty"`
	SwarmEtcdCertFile  string   `json:"swarm-etcd-certfile,omitempty"`
	SwarmEtcdKeyFile   string   `json:"swarm-etcd-keyfile,omitempty"`
	SwarmEtcdPrefix    string   `json:"swarm-etcd-prefix,omitempty"`
	// Keys of dockerd's daemon.json that later features use; accepted so a docker daemon.json loads unchanged.
	InsecureRegistries []string `json:"insecure-registries,omitempty"`
	RegistryMirrors    []string `json:"registry-mirrors,omitempty"`
	LiveRestore        bool     `json:"live-restore,omitempty"`
	// Group owns the unix sockets (dockerd's -G, default "docker": root's group when there is none).
	Group string `json:"group,omitempty"`
	// SeccompProfile is the path of the containers' default seccomp profile, "unconfined" or "builtin"
	// (docker's default profile, also when empty).
	SeccompProfile string `json:"seccomp-profile,omitempty"`
	// EventsHistory is how many events the daemon keeps for `events --since` and for subscribers that fall
	// behind (Berth's key; default events.DefaultHistory). A subscriber further behind is told it lost events.
	EventsHistory int `json:"events-history,omitempty"`

	// VMKernel is the kernel virtual machines boot (a vmlinuz, or a directory of unpacked linux-image
	// packages; default <data-root>/vm/kernel); VMAccel is "kvm", "tcg" or "" (choose).
	VMKernel string `json:"vm-kernel,omitempty"`
	VMAccel  string `json:"vm-accel,omitempty"`

	// ShimPath is the berth-shim binary; InitPath a static init for --init. Not daemon.json keys.
	ShimPath string `json:"-"`
	InitPath string `json:"-"`
	// CloudRootAccessKeyID and CloudRootSecretAccessKey are the cloud's first root key, from the environment
	// (BERTH_ROOT_ACCESS_KEY_ID, BERTH_ROOT_SECRET_ACCESS_KEY): a secret stays out of daemon.json.
	CloudRootAccessKeyID     string `json:"-"`
	CloudRootSecretAccessKey string `json:"-"`
}

// AddressPool is one entry of daemon.json's "default-address-pools": {"base":"10.10.0.0/16","size":24} gives
// networks the /24s of 10.10.0.0/16.
type AddressPool struct {
	Base string `json:"base"`
	Size int    `json:"size"`
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
	merge(&c.CloudAddr, fc.CloudAddr)
	merge(&c.CloudTLSCert, fc.CloudTLSCert)
	merge(&c.CloudTLSKey, fc.CloudTLSKey)
	merge(&c.CloudRegion, fc.CloudRegion)
	if len(fc.CloudDomains) > 0 {
		c.CloudDomains = fc.CloudDomains
	}
	if len(fc.SwarmEtcdEndpoints) > 0 {
		c.SwarmEtcdEndpoints = fc.SwarmEtcdEndpoints
	}
	merge(&c.SwarmEtcdCAFile, fc.SwarmEtcdCAFile)
	merge(&c.SwarmEtcdCertFile, fc.SwarmEtcdCertFile)
	merge(&c.SwarmEtcdKeyFile, fc.SwarmEtcdKeyFile)
	merge(&c.SwarmEtcdPrefix, fc.SwarmEtcdPrefix)
	merge(&c.Group, fc.Group)
	merge(&c.HostGatewayIP, fc.HostGatewayIP)
	merge(&c.SeccompProfile, fc.SeccompProfile)
	merge(&c.LogDriver, fc.LogDriver)
	for k, v := range fc.LogOpts {
		if c.LogOpts == nil {
			c.LogOpts = map[string]string{}
		}
		c.LogOpts[k] = v
	}
	if len(fc.Hosts) > 0 {
		c.Hosts = fc.Hosts
	}
	c.Debug = c.Debug || fc.Debug
	c.TLS = c.TLS || fc.TLS
	c.TLSVerify = c.TLSVerify || fc.TLSVerify
	c.LiveRestore = c.LiveRestore || fc.LiveRestore
	if fc.EventsHistory < 0 {
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("unable to configure the Berth daemon with file %s: events-history must not be negative", path))
	}
	if fc.EventsHistory > 0 {
		c.EventsHistory = fc.EventsHistory
	}
	if len(fc.DefaultAddressPools) > 0 {
		c.DefaultAddressPools = fc.DefaultAddressPools
	}
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
