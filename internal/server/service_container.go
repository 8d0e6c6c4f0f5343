package server

import (
	"net/netip"
	"os"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/swarm"

	"github.com/berth/berth/internal/cluster/api"
)

// A service's container spec between docker's shape and Berth's. The conversion is lossless both ways, so
// that a spec read by `service update` and sent back unchanged keeps its tasks (their digest is the same).

func containerSpecFromDocker(c *swarm.ContainerSpec) *api.ContainerSpec {
	out := &api.ContainerSpec{Image: c.Image, Labels: c.Labels, Command: c.Command, Args: c.Args, Hostname: c.Hostname,
		Env: c.Env, Dir: c.Dir, User: c.User, Groups: c.Groups, Init: c.Init, StopSignal: c.StopSignal, TTY: c.TTY,
		OpenStdin: c.OpenStdin, ReadOnly: c.ReadOnly, StopGracePeriod: c.StopGracePeriod, Hosts: c.Hosts,
		Isolation: string(c.Isolation), Sysctls: c.Sysctls, CapabilityAdd: c.CapabilityAdd, CapabilityDrop: c.CapabilityDrop,
		OomScoreAdj: c.OomScoreAdj}
	for _, m := range c.Mounts {
		am := api.Mount{Type: string(m.Type), Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly, Consistency: string(m.Consistency)}
		if b := m.BindOptions; b != nil {
			am.BindOptions = &api.BindOptions{Propagation: string(b.Propagation), NonRecursive: b.NonRecursive, CreateMountpoint: b.CreateMountpoint,
				ReadOnlyNonRecursive: b.ReadOnlyNonRecursive, ReadOnlyForceRecursive: b.ReadOnlyForceRecursive}
		}
		if v := m.VolumeOptions; v != nil {
			am.VolumeOptions = &api.VolumeOptions{NoCopy: v.NoCopy, Labels: v.Labels, Subpath: v.Subpath}
			if d := v.DriverConfig; d != nil {
				am.VolumeOptions.DriverConfig = &api.Driver{Name: d.Name, Options: d.Options}
			}
		}
		if t := m.TmpfsOptions; t != nil {
			am.TmpfsOptions = &api.TmpfsOptions{SizeBytes: t.SizeBytes, Mode: uint32(t.Mode), Options: t.Options}
		}
		out.Mounts = append(out.Mounts, am)
	}
	if h := c.Healthcheck; h != nil {
		out.Healthcheck = &api.HealthConfig{Test: h.Test, Interval: h.Interval, Timeout: h.Timeout, StartPeriod: h.StartPeriod,
			StartInterval: h.StartInterval, Retries: h.Retries}
	}
	if d := c.DNSConfig; d != nil {
		out.DNSConfig = &api.DNSConfig{Search: d.Search, Options: d.Options}
		for _, ns := range d.Nameservers {
			out.DNSConfig.Nameservers = append(out.DNSConfig.Nameservers, ns.String())
		}
	}
	for _, s := range c.Secrets {
		if s == nil {
			continue
		}
		r := api.SecretReference{SecretID: s.SecretID, SecretName: s.SecretName}
		if f := s.File; f != nil {
			r.File = &api.FileTarget{Name: f.Name, UID: f.UID, GID: f.GID, Mode: uint32(f.Mode)}
		}
		out.Secrets = append(out.Secrets, r)
	}
	for _, cf := range c.Configs {
		if cf == nil {
			continue
		}
		r := api.ConfigReference{ConfigID: cf.ConfigID, ConfigName: cf.ConfigName, Runtime: cf.Runtime != nil}
		if f := cf.File; f != nil {
			r.File = &api.FileTarget{Name: f.Name, UID: f.UID, GID: f.GID, Mode: uint32(f.Mode)}
		}
		out.Configs = append(out.Configs, r)
	}
	for _, u := range c.Ulimits {
		if u != nil {
			out.Ulimits = append(out.Ulimits, api.Ulimit{Name: u.Name, Soft: u.Soft, Hard: u.Hard})
		}
	}
	if p := c.Privileges; p != nil {
		out.Privileges = &api.Privileges{NoNewPrivileges: p.NoNewPrivileges}
		if s := p.Seccomp; s != nil {
			out.Privileges.SeccompMode, out.Privileges.SeccompProfile = string(s.Mode), s.Profile
		}
		if a := p.AppArmor; a != nil {
			out.Privileges.AppArmorMode = string(a.Mode)
		}
		if s := p.SELinuxContext; s != nil {
			out.Privileges.SELinux = &api.SELinuxContext{Disable: s.Disable, User: s.User, Role: s.Role, Type: s.Type, Level: s.Level}
		}
		if cs := p.CredentialSpec; cs != nil {
			out.Privileges.CredentialSpec = &api.CredentialSpec{Config: cs.Config, File: cs.File, Registry: cs.Registry}
		}
	}
	return out
}

func containerSpecToDocker(c *api.ContainerSpec) *swarm.ContainerSpec {
	out := &swarm.ContainerSpec{Image: c.Image, Labels: c.Labels, Command: c.Command, Args: c.Args, Hostname: c.Hostname,
		Env: c.Env, Dir: c.Dir, User: c.User, Groups: c.Groups, Init: c.Init, StopSignal: c.StopSignal, TTY: c.TTY,
		OpenStdin: c.OpenStdin, ReadOnly: c.ReadOnly, StopGracePeriod: c.StopGracePeriod, Hosts: c.Hosts,
		Isolation: container.Isolation(c.Isolation), Sysctls: c.Sysctls, CapabilityAdd: c.CapabilityAdd,
		CapabilityDrop: c.CapabilityDrop, OomScoreAdj: c.OomScoreAdj}
	for _, m := range c.Mounts {
		dm := mount.Mount{Type: mount.Type(m.Type), Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly, Consistency: mount.Consistency(m.Consistency)}
		if b := m.BindOptions; b != nil {
			dm.BindOptions = &mount.BindOptions{Propagation: mount.Propagation(b.Propagation), NonRecursive: b.NonRecursive,
				CreateMountpoint: b.CreateMountpoint, ReadOnlyNonRecursive: b.ReadOnlyNonRecursive, ReadOnlyForceRecursive: b.ReadOnlyForceRecursive}
		}
		if v := m.VolumeOptions; v != nil {
			dm.VolumeOptions = &mount.VolumeOptions{NoCopy: v.NoCopy, Labels: v.Labels, Subpath: v.Subpath}
			if d := v.DriverConfig; d != nil {
				dm.VolumeOptions.DriverConfig = &mount.Driver{Name: d.Name, Options: d.Options}
			}
		}
		if t := m.TmpfsOptions; t != nil {
			dm.TmpfsOptions = &mount.TmpfsOptions{SizeBytes: t.SizeBytes, Mode: os.FileMode(t.Mode), Options: t.Options}
		}
		out.Mounts = append(out.Mounts, dm)
	}
	if h := c.Healthcheck; h != nil {
		out.Healthcheck = &container.HealthConfig{Test: h.Test, Interval: h.Interval, Timeout: h.Timeout, StartPeriod: h.StartPeriod,
			StartInterval: h.StartInterval, Retries: h.Retries}
	}
	if d := c.DNSConfig; d != nil {
		out.DNSConfig = &swarm.DNSConfig{Search: d.Search, Options: d.Options}
		for _, ns := range d.Nameservers {
			if a, err := netip.ParseAddr(ns); err == nil {
				out.DNSConfig.Nameservers = append(out.DNSConfig.Nameservers, a)
			}
		}
	}
	for _, s := range c.Secrets {
		r := &swarm.SecretReference{SecretID: s.SecretID, SecretName: s.SecretName}
		if f := s.File; f != nil {
			r.File = &swarm.SecretReferenceFileTarget{Name: f.Name, UID: f.UID, GID: f.GID, Mode: os.FileMode(f.Mode)}
		}
		out.Secrets = append(out.Secrets, r)
	}
	for _, cf := range c.Configs {
		r := &swarm.ConfigReference{ConfigID: cf.ConfigID, ConfigName: cf.ConfigName}
		if cf.Runtime {
			r.Runtime = &swarm.ConfigReferenceRuntimeTarget{}
		}
		if f := cf.File; f != nil {
			r.File = &swarm.ConfigReferenceFileTarget{Name: f.Name, UID: f.UID, GID: f.GID, Mode: os.FileMode(f.Mode)}
		}
		out.Configs = append(out.Configs, r)
	}
	for _, u := range c.Ulimits {
		out.Ulimits = append(out.Ulimits, &container.Ulimit{Name: u.Name, Soft: u.Soft, Hard: u.Hard})
	}
	if p := c.Privileges; p != nil {
		out.Privileges = &swarm.Privileges{NoNewPrivileges: p.NoNewPrivileges}
		if p.SeccompMode != "" || len(p.SeccompProfile) > 0 {
			out.Privileges.Seccomp = &swarm.SeccompOpts{Mode: swarm.SeccompMode(p.SeccompMode), Profile: p.SeccompProfile}
		}
		if p.AppArmorMode != "" {
			out.Privileges.AppArmor = &swarm.AppArmorOpts{Mode: swarm.AppArmorMode(p.AppArmorMode)}
		}
		if s := p.SELinux; s != nil {
			out.Privileges.SELinuxContext = &swarm.SELinuxContext{Disable: s.Disable, User: s.User, Role: s.Role, Type: s.Type, Level: s.Level}
		}
		if cs := p.CredentialSpec; cs != nil {
			out.Privileges.CredentialSpec = &swarm.CredentialSpec{Config: cs.Config, File: cs.File, Registry: cs.Registry}
		}
	}
	return out
}
