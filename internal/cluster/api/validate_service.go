package api

import (
	"path/filepath"
	"regexp"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
)

// Service spec validation as swarmkit's control API does it, in its words (docker prints them after "rpc
// error: code = InvalidArgument desc = "). Placement constraints are the services layer's to check (their
// grammar is internal/cluster/placement's).

var validDNSName = regexp.MustCompile(`^[a-zA-Z0-9](?:[-_]*[A-Za-z0-9]+)*$`)

func invalidSpec(format string, args ...any) error {
	return RPCError(errdefs.ErrInvalidArgument, "InvalidArgument", format, args...)
}

// ValidateName checks an object's name as swarmkit's validateAnnotations.
func ValidateName(name string) error {
	switch {
	case name == "":
		return invalidSpec("meta: name must be provided")
	case !validDNSName.MatchString(name):
		return invalidSpec("name must be valid as a DNS name component")
	case len(name) > 63:
		return invalidSpec("name must be 63 characters or fewer")
	}
	return nil
}

// ValidateServiceSpec checks a service spec as swarmkit's validateServiceSpec (but its constraints).
func ValidateServiceSpec(s *ServiceSpec) error {
	if err := ValidateName(s.Name); err != nil {
		return err
	}
	if err := validateTaskSpec(&s.Task); err != nil {
		return err
	}
	switch s.Mode {
	case ModeReplicated, ModeGlobal, ModeReplicatedJob, ModeGlobalJob:
	default:
		return invalidSpec("Unrecognized service mode")
	}
	if s.Mode == ModeReplicatedJob || s.Mode == ModeGlobalJob {
		if s.Update != nil {
			return invalidSpec("Jobs may not have an update config")
		}
	} else if err := validateUpdate(s.Update); err != nil {
		return err
	}
	if err := validateUpdate(s.Rollback); err != nil {
		return err
	}
	return validateEndpoint(s.Endpoint)
}

func validateTaskSpec(t *TaskSpec) error {
	if r := t.Resources; r != nil {
		for _, res := range []*Resources{r.Limits, r.Reservations} {
			if res == nil {
				continue
			}
			if res.NanoCPUs != 0 && res.NanoCPUs < 1e6 {
				return invalidSpec("invalid cpu value %g: Must be at least %g", float64(res.NanoCPUs)/1e9, 1e6/1e9)
			}
			if res.MemoryBytes != 0 && res.MemoryBytes < 4*1024*1024 {
				return invalidSpec("invalid memory value %d: Must be at least 4MiB", res.MemoryBytes)
			}
		}
	}
	if rp := t.RestartPolicy; rp != nil {
		if rp.Delay != nil && *rp.Delay < 0 {
			return invalidSpec("TaskSpec: restart-delay cannot be negative")
		}
		if rp.Window != nil && *rp.Window < 0 {
			return invalidSpec("TaskSpec: restart-window cannot be negative")
		}
	}
	c := t.Container
	if c == nil {
		return invalidSpec("TaskSpec: missing runtime")
	}
	if err := validateRefs(c); err != nil {
		return err
	}
	// Templates are executed against a dummy task, as swarmkit's best-effort check.
	var tc TemplateContext
	tc.Service.ID, tc.Service.Name = "serviceid", "servicename"
	tc.Node.ID, tc.Node.Hostname = "nodeid", "nodeHostname"
	tc.Node.Platform.OS, tc.Node.Platform.Architecture = "os", "architecture"
	tc.Task.ID, tc.Task.Name, tc.Task.Slot = "taskid", "taskname", "1"
	expanded, err := ExpandContainerSpec(c, tc)
	if err != nil {
		return invalidSpec("%s", err.Error())
	}
	if expanded.Image == "" {
		return invalidSpec("ContainerSpec: image reference must be provided")
	}
	if _, err := reference.ParseNormalizedNamed(expanded.Image); err != nil {
		return invalidSpec("ContainerSpec: %q is not a valid repository/tag", expanded.Image)
	}
	seen := map[string]bool{}
	for _, m := range expanded.Mounts {
		if seen[m.Target] {
			return invalidSpec("ContainerSpec: duplicate mount point: %s", m.Target)
		}
		seen[m.Target] = true
	}
	if hc := c.Healthcheck; hc != nil {
		const minimum = "1ms"
		if hc.Interval != 0 && hc.Interval < 1e6 {
			return invalidSpec("ContainerSpec: Interval in HealthConfig cannot be less than %s", minimum)
		}
		if hc.Timeout != 0 && hc.Timeout < 1e6 {
			return invalidSpec("ContainerSpec: Timeout in HealthConfig cannot be less than %s", minimum)
		}
		if hc.StartPeriod != 0 && hc.StartPeriod < 1e6 {
			return invalidSpec("ContainerSpec: StartPeriod in HealthConfig cannot be less than %s", minimum)
		}
		if hc.StartInterval != 0 && hc.StartInterval < 1e6 {
			return invalidSpec("ContainerSpec: StartInterval in HealthConfig cannot be less than %s", minimum)
		}
		if hc.Retries < 0 {
			return invalidSpec("ContainerSpec: Retries in HealthConfig cannot be negative")
		}
	}
	return nil
}

// validateRefs checks secret and config references: well formed, and no two at one target.
func validateRefs(c *ContainerSpec) error {
	targets := map[string]string{}
	for _, r := range c.Secrets {
		if r.SecretID == "" || r.SecretName == "" {
			return invalidSpec("malformed secret reference")
		}
		if r.File == nil {
			return invalidSpec("malformed secret reference, no target provided")
		}
		name := r.File.Name
		if name == "" || filepath.Base(filepath.Clean(name)) != name && !filepath.IsAbs(name) {
			return invalidSpec("malformed file secret reference, invalid target file name provided")
		}
		if prev, ok := targets[name]; ok {
			return invalidSpec("secret references '%s' and '%s' have a conflicting target: '%s'", prev, r.SecretName, name)
		}
		targets[name] = r.SecretName
	}
	targets = map[string]string{}
	for _, r := range c.Configs {
		if r.ConfigID == "" || r.ConfigName == "" {
			return invalidSpec("malformed config reference")
		}
		if r.Runtime {
			continue
		}
		if r.File == nil {
			return invalidSpec("malformed config reference, no target provided")
		}
		name := r.File.Name
		if name == "" {
			return invalidSpec("malformed file config reference, invalid target file name provided")
		}
		if prev, ok := targets[name]; ok {
			return invalidSpec("config references '%s' and '%s' have a conflicting target: '%s'", prev, r.ConfigName, name)
		}
		targets[name] = r.ConfigName
	}
	return nil
}

func validateUpdate(u *UpdateConfig) error {
	if u == nil {
		return nil
	}
	if u.Delay < 0 {
		return invalidSpec("TaskSpec: update-delay cannot be negative")
	}
	if u.Monitor < 0 {
		return invalidSpec("TaskSpec: update-monitor cannot be negative")
	}
	if u.MaxFailureRatio < 0 || u.MaxFailureRatio > 1 {
		return invalidSpec("TaskSpec: update-maxfailureratio cannot be less than 0 or bigger than 1")
	}
	return nil
}

func validateEndpoint(e *EndpointSpec) error {
	if e == nil {
		return nil
	}
	type key struct {
		port  uint32
		proto string
	}
	seen := map[key]bool{}
	for _, p := range e.Ports {
		if e.Mode == "dnsrr" && p.PublishMode != "host" {
			return invalidSpec("EndpointSpec: port published with ingress mode can't be used with dnsrr mode")
		}
		if p.PublishedPort == 0 {
			continue
		}
		proto := p.Protocol
		if proto == "" {
			proto = "tcp"
		}
		k := key{p.PublishedPort, proto}
		if seen[k] {
			return invalidSpec("EndpointSpec: duplicate published ports provided")
		}
		seen[k] = true
	}
	return nil
}
