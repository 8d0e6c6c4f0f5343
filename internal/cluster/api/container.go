package api

import "time"

// ContainerSpec is what a container task runs: docker's swarm ContainerSpec in Berth's own type. The server
// converts docker's shape to it; the agent turns it into a container through the engine.
type ContainerSpec struct {
	Image    string            `json:"image,omitempty"`
	Labels   map[string]string `json:"labels,omitempty"`
	Command  []string          `json:"command,omitempty"`
	Args     []string          `json:"args,omitempty"`
	Hostname string            `json:"hostname,omitempty"`
	Env      []string          `json:"env,omitempty"`
	Dir      string            `json:"dir,omitempty"`
	User     string            `json:"user,omitempty"`
	Groups   []string          `json:"groups,omitempty"`
	// Privileges are the container's security options.
	Privileges      *Privileges       `json:"privileges,omitempty"`
	Init            *bool             `json:"init,omitempty"`
	StopSignal      string            `json:"stopSignal,omitempty"`
	TTY             bool              `json:"tty,omitempty"`
	OpenStdin       bool              `json:"openStdin,omitempty"`
	ReadOnly        bool              `json:"readOnly,omitempty"`
	Mounts          []Mount           `json:"mounts,omitempty"`
	StopGracePeriod *time.Duration    `json:"stopGracePeriod,omitempty"`
	Healthcheck     *HealthConfig     `json:"healthcheck,omitempty"`
	Hosts           []string          `json:"hosts,omitempty"`
	DNSConfig       *DNSConfig        `json:"dnsConfig,omitempty"`
	Secrets         []SecretReference `json:"secrets,omitempty"`
	Configs         []ConfigReference `json:"configs,omitempty"`
	Isolation       string            `json:"isolation,omitempty"`
	Sysctls         map[string]string `json:"sysctls,omitempty"`
	CapabilityAdd   []string          `json:"capabilityAdd,omitempty"`
	CapabilityDrop  []string          `json:"capabilityDrop,omitempty"`
	Ulimits         []Ulimit          `json:"ulimits,omitempty"`
	OomScoreAdj     int64             `json:"oomScoreAdj,omitempty"`
	// PullOptions carry the registry credentials the service was created or updated with (X-Registry-Auth),
	// for the nodes to pull the image with; never shown by the API.
	PullOptions *PullOptions `json:"pullOptions,omitempty"`
}

// PullOptions are how a task's image is pulled.
type PullOptions struct {
	// RegistryAuth is the base64url JSON of the registry credentials, as docker's X-Registry-Auth.
	RegistryAuth string `json:"registryAuth,omitempty"`
}

// Privileges are a container's security options.
type Privileges struct {
	NoNewPrivileges bool `json:"noNewPrivileges,omitempty"`
	// SeccompMode and AppArmorMode are "default", "unconfined"/"disabled", or "custom" (seccomp) with
	// SeccompProfile.
	SeccompMode    string `json:"seccompMode,omitempty"`
	SeccompProfile []byte `json:"seccompProfile,omitempty"`
	AppArmorMode   string `json:"appArmorMode,omitempty"`
	// SELinux is kept and shown; Berth runs without SELinux labels.
	SELinux *SELinuxContext `json:"selinux,omitempty"`
	// CredentialSpec is Windows' (kept and shown only).
	CredentialSpec *CredentialSpec `json:"credentialSpec,omitempty"`
}

// SELinuxContext is an SELinux label.
type SELinuxContext struct {
	Disable bool   `json:"disable,omitempty"`
	User    string `json:"user,omitempty"`
	Role    string `json:"role,omitempty"`
	Type    string `json:"type,omitempty"`
	Level   string `json:"level,omitempty"`
}

// CredentialSpec is a Windows credential spec.
type CredentialSpec struct {
	Config   string `json:"config,omitempty"`
	File     string `json:"file,omitempty"`
	Registry string `json:"registry,omitempty"`
}

// Mount is a mount of a task's container (`--mount`), docker's shape.
type Mount struct {
	Type          string         `json:"type,omitempty"`
	Source        string         `json:"source,omitempty"`
	Target        string         `json:"target,omitempty"`
	ReadOnly      bool           `json:"readOnly,omitempty"`
	Consistency   string         `json:"consistency,omitempty"`
	BindOptions   *BindOptions   `json:"bindOptions,omitempty"`
	VolumeOptions *VolumeOptions `json:"volumeOptions,omitempty"`
	TmpfsOptions  *TmpfsOptions  `json:"tmpfsOptions,omitempty"`
}

// BindOptions are a bind mount's options.
type BindOptions struct {
	Propagation            string `json:"propagation,omitempty"`
	NonRecursive           bool   `json:"nonRecursive,omitempty"`
	CreateMountpoint       bool   `json:"createMountpoint,omitempty"`
	ReadOnlyNonRecursive   bool   `json:"readOnlyNonRecursive,omitempty"`
	ReadOnlyForceRecursive bool   `json:"readOnlyForceRecursive,omitempty"`
}

// VolumeOptions are a volume mount's options.
type VolumeOptions struct {
	NoCopy       bool              `json:"noCopy,omitempty"`
	Labels       map[string]string `json:"labels,omitempty"`
	DriverConfig *Driver           `json:"driverConfig,omitempty"`
	Subpath      string            `json:"subpath,omitempty"`
}

// TmpfsOptions are a tmpfs mount's options.
type TmpfsOptions struct {
	SizeBytes int64      `json:"sizeBytes,omitempty"`
	Mode      uint32     `json:"mode,omitempty"`
	Options   [][]string `json:"options,omitempty"`
}

// HealthConfig is a container's health check.
type HealthConfig struct {
	Test          []string      `json:"test,omitempty"`
	Interval      time.Duration `json:"interval,omitempty"`
	Timeout       time.Duration `json:"timeout,omitempty"`
	StartPeriod   time.Duration `json:"startPeriod,omitempty"`
	StartInterval time.Duration `json:"startInterval,omitempty"`
	Retries       int           `json:"retries,omitempty"`
}

// DNSConfig is a container's resolver configuration.
type DNSConfig struct {
	Nameservers []string `json:"nameservers,omitempty"`
	Search      []string `json:"search,omitempty"`
	Options     []string `json:"options,omitempty"`
}

// Ulimit is a resource limit of a container's processes.
type Ulimit struct {
	Name string `json:"name"`
	Soft int64  `json:"soft"`
	Hard int64  `json:"hard"`
}

// FileTarget is where a secret or config appears in a task's container.
type FileTarget struct {
	Name string `json:"name"`
	UID  string `json:"uid,omitempty"`
	GID  string `json:"gid,omitempty"`
	Mode uint32 `json:"mode,omitempty"`
}

// SecretReference is a secret a task uses, by ID (and name, as given).
type SecretReference struct {
	File       *FileTarget `json:"file,omitempty"`
	SecretID   string      `json:"secretID"`
	SecretName string      `json:"secretName"`
}

// ConfigReference is a config a task uses, by ID (and name, as given); Runtime marks one the runtime reads
// (a credential spec) rather than a file.
type ConfigReference struct {
	File       *FileTarget `json:"file,omitempty"`
	Runtime    bool        `json:"runtime,omitempty"`
	ConfigID   string      `json:"configID"`
	ConfigName string      `json:"configName"`
}
