package oci

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func i64(v int64) *int64 { return &v }

// defaultDeviceRules is Docker's device cgroup: deny everything, allow mknod of any node and the standard devices.
// (/dev/net/tun stays denied by the first rule; an explicit deny after the mknod wildcard is rejected on cgroup v1.)
func defaultDeviceRules() []specs.LinuxDeviceCgroup {
	allow := func(typ string, major, minor *int64, access string) specs.LinuxDeviceCgroup {
		return specs.LinuxDeviceCgroup{Allow: true, Type: typ, Major: major, Minor: minor, Access: access}
	}
	return []specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"},
		allow("c", nil, nil, "m"),         // mknod any char device
		allow("b", nil, nil, "m"),         // mknod any block device
		allow("c", i64(1), i64(3), "rwm"), // /dev/null
		allow("c", i64(1), i64(5), "rwm"), // /dev/zero
		allow("c", i64(1), i64(7), "rwm"), // /dev/full
		allow("c", i64(5), i64(0), "rwm"), // /dev/tty
		allow("c", i64(1), i64(8), "rwm"), // /dev/random
		allow("c", i64(1), i64(9), "rwm"), // /dev/urandom
		allow("c", i64(5), i64(1), "rwm"), // /dev/console
		allow("c", i64(5), i64(2), "rwm"), // /dev/ptmx
		allow("c", i64(136), nil, "rwm"),  // /dev/pts/*
	}
}

// hostDevices is HostDevices("/dev"), a variable so tests need not depend on the host's /dev.
var hostDevices = func() ([]specs.LinuxDevice, error) { return HostDevices("/dev") }

// HostDevices lists the device nodes under dir (normally /dev) the way a privileged container sees them, skipping
// the directories a container mounts itself (pts, shm, mqueue, fd) and /dev/console.
func HostDevices(dir string) ([]specs.LinuxDevice, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list devices in %s: %w", dir, err)
	}
	var out []specs.LinuxDevice
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		if e.IsDir() {
			switch e.Name() {
			case "pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev":
				continue
			}
			sub, err := HostDevices(p)
			if err != nil {
				continue // unreadable subdirectory: skip it as containerd does
			}
			out = append(out, sub...)
			continue
		}
		if e.Name() == "console" {
			continue
		}
		d, err := deviceFromPath(p, p)
		if err != nil {
			continue // not a device, or gone
		}
		out = append(out, d)
	}
	return out, nil
}

var errNotDevice = errors.New("not a device node")

// deviceFromPath describes the device node at host path (following symlinks) to be created at ctrPath.
func deviceFromPath(host, ctrPath string) (specs.LinuxDevice, error) {
	var st unix.Stat_t
	if err := unix.Stat(host, &st); err != nil {
		return specs.LinuxDevice{}, err
	}
	var typ string
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFCHR:
		typ = "c"
	case unix.S_IFBLK:
		typ = "b"
	default:
		return specs.LinuxDevice{}, errNotDevice
	}
	mode := os.FileMode(st.Mode & 0o777)
	uid, gid := st.Uid, st.Gid
	return specs.LinuxDevice{
		Type:     typ,
		Path:     ctrPath,
		Major:    int64(unix.Major(uint64(st.Rdev))),
		Minor:    int64(unix.Minor(uint64(st.Rdev))),
		FileMode: &mode,
		UID:      &uid,
		GID:      &gid,
	}, nil
}

// DevicesFromPath resolves a --device mapping: a device node, or a directory whose nodes are mapped under
// ctrPath. It returns the devices to create and the cgroup rules allowing them with permissions (e.g. "rwm").
func DevicesFromPath(host, ctrPath, permissions string) ([]specs.LinuxDevice, []specs.LinuxDeviceCgroup, error) {
	if ctrPath == "" {
		ctrPath = host
	}
	if permissions == "" {
		permissions = "rwm"
	}
	if strings.Trim(permissions, "rwm") != "" {
		return nil, nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid device mode: %s", permissions))
	}
	rule := func(d specs.LinuxDevice) specs.LinuxDeviceCgroup {
		return specs.LinuxDeviceCgroup{Allow: true, Type: d.Type, Major: i64(d.Major), Minor: i64(d.Minor), Access: permissions}
	}
	d, err := deviceFromPath(host, ctrPath)
	if err == nil {
		return []specs.LinuxDevice{d}, []specs.LinuxDeviceCgroup{rule(d)}, nil
	}
	if !errors.Is(err, errNotDevice) {
		return nil, nil, fmt.Errorf("error gathering device information while adding custom device %q: %w", host, errdefs.ErrInvalidArgument)
	}
	st, err := os.Stat(host)
	if err != nil || !st.IsDir() {
		return nil, nil, fmt.Errorf("error gathering device information while adding custom device %q: not a device node: %w",
			host, errdefs.ErrInvalidArgument)
	}
	var devs []specs.LinuxDevice
	var rules []specs.LinuxDeviceCgroup
	err = filepath.WalkDir(host, func(p string, e os.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(host, p)
		d, err := deviceFromPath(p, filepath.Join(ctrPath, rel))
		if err != nil {
			return nil
		}
		devs = append(devs, d)
		rules = append(rules, rule(d))
		return nil
	})
	return devs, rules, err
}

var deviceCgroupRuleRegex = regexp.MustCompile(`^([acb]) ([0-9]+|\*):([0-9]+|\*) ([rwm]{1,3})$`)

// ParseDeviceCgroupRule parses a --device-cgroup-rule such as "c 1:3 rwm" or "b *:* m".
func ParseDeviceCgroupRule(rule string) (specs.LinuxDeviceCgroup, error) {
	invalid := errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid device cgroup rule format: '%s'", rule))
	m := deviceCgroupRuleRegex.FindStringSubmatch(rule)
	if m == nil {
		return specs.LinuxDeviceCgroup{}, invalid
	}
	num := func(s string) (*int64, error) {
		if s == "*" {
			return nil, nil
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, invalid
		}
		return &n, nil
	}
	major, err := num(m[2])
	if err != nil {
		return specs.LinuxDeviceCgroup{}, err
	}
	minor, err := num(m[3])
	if err != nil {
		return specs.LinuxDeviceCgroup{}, err
	}
	return specs.LinuxDeviceCgroup{Allow: true, Type: m[1], Major: major, Minor: minor, Access: m[4]}, nil
}
