package oci

import (
	"bufio"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/containerd/errdefs"
)

// knownCapabilities lists the Linux capabilities by number (index = capability bit).
var knownCapabilities = []string{
	"CAP_CHOWN",
	"CAP_DAC_OVERRIDE",
	"CAP_DAC_READ_SEARCH",
	"CAP_FOWNER",
	"CAP_FSETID",
	"CAP_KILL",
	"CAP_SETGID",
	"CAP_SETUID",
	"CAP_SETPCAP",
	"CAP_LINUX_IMMUTABLE",
	"CAP_NET_BIND_SERVICE",
	"CAP_NET_BROADCAST",
	"CAP_NET_ADMIN",
	"CAP_NET_RAW",
	"CAP_IPC_LOCK",
	"CAP_IPC_OWNER",
	"CAP_SYS_MODULE",
	"CAP_SYS_RAWIO",
	"CAP_SYS_CHROOT",
	"CAP_SYS_PTRACE",
	"CAP_SYS_PACCT",
	"CAP_SYS_ADMIN",
	"CAP_SYS_BOOT",
	"CAP_SYS_NICE",
	"CAP_SYS_RESOURCE",
	"CAP_SYS_TIME",
	"CAP_SYS_TTY_CONFIG",
	"CAP_MKNOD",
	"CAP_LEASE",
	"CAP_AUDIT_WRITE",
	"CAP_AUDIT_CONTROL",
	"CAP_SETFCAP",
	"CAP_MAC_OVERRIDE",
	"CAP_MAC_ADMIN",
	"CAP_SYSLOG",
	"CAP_WAKE_ALARM",
	"CAP_BLOCK_SUSPEND",
	"CAP_AUDIT_READ",
	"CAP_PERFMON",
	"CAP_BPF",
	"CAP_CHECKPOINT_RESTORE",
}

// DefaultCapabilities returns Docker's default capability set for a non-privileged container, in Docker's order.
func DefaultCapabilities() []string {
	return []string{
		"CAP_CHOWN",
		"CAP_DAC_OVERRIDE",
		"CAP_FSETID",
		"CAP_FOWNER",
		"CAP_MKNOD",
		"CAP_NET_RAW",
		"CAP_SETGID",
		"CAP_SETUID",
		"CAP_SETFCAP",
		"CAP_SETPCAP",
		"CAP_NET_BIND_SERVICE",
		"CAP_SYS_CHROOT",
		"CAP_KILL",
		"CAP_AUDIT_WRITE",
	}
}

// AllCapabilities returns every capability this package knows, in bit order.
func AllCapabilities() []string { return slices.Clone(knownCapabilities) }

// capAll is the pseudo-capability of --cap-add ALL / --cap-drop ALL.
const capAll = "ALL"

// normalizeCapabilities upper-cases names and adds the CAP_ prefix ("net_admin" -> "CAP_NET_ADMIN"); "ALL" stays.
func normalizeCapabilities(in []string) ([]string, error) {
	out := make([]string, 0, len(in))
	for _, c := range in {
		c = strings.ToUpper(strings.TrimSpace(c))
		if c == capAll {
			out = append(out, c)
			continue
		}
		if !strings.HasPrefix(c, "CAP_") {
			c = "CAP_" + c
		}
		if !slices.Contains(knownCapabilities, c) {
			return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("unknown capability: %q", c))
		}
		out = append(out, c)
	}
	return out, nil
}

// TweakCapabilities applies --cap-add/--cap-drop (and --privileged) to base the way Docker does: privileged gets
// everything; cap-add ALL is everything minus cap-drop; cap-drop ALL keeps only cap-add; otherwise drop then add.
// "Everything" is available (the capabilities the daemon holds). The result never holds a capability outside
// available, since the runtime could not grant it; such requests are dropped with a warning.
func TweakCapabilities(base, add, drop []string, privileged bool, available []string) ([]string, error) {
	if privileged {
		return sortCaps(available), nil
	}
	capAdd, err := normalizeCapabilities(add)
	if err != nil {
		return nil, err
	}
	capDrop, err := normalizeCapabilities(drop)
	if err != nil {
		return nil, err
	}

	var caps []string
	switch {
	case slices.Contains(capAdd, capAll):
		for _, c := range available {
			if !slices.Contains(capDrop, c) {
				caps = append(caps, c)
			}
		}
	case slices.Contains(capDrop, capAll):
		caps = append(caps, capAdd...)
	default:
		for _, c := range base {
			if !slices.Contains(capDrop, c) {
				caps = append(caps, c)
			}
		}
		caps = append(caps, capAdd...)
	}

	out := make([]string, 0, len(caps))
	for _, c := range caps {
		if slices.Contains(out, c) {
			continue
		}
		if !slices.Contains(available, c) {
			slog.Warn("capability not held by the daemon; not granting it", "capability", c)
			continue
		}
		out = append(out, c)
	}
	return out, nil
}

// sortCaps returns a copy of caps deduplicated and in capability-bit order (unknown names last, sorted).
func sortCaps(caps []string) []string {
	out := slices.Clone(caps)
	slices.SortFunc(out, func(a, b string) int {
		ia, ib := slices.Index(knownCapabilities, a), slices.Index(knownCapabilities, b)
		switch {
		case ia >= 0 && ib >= 0:
			return ia - ib
		case ia >= 0:
			return -1
		case ib >= 0:
			return 1
		}
		return strings.Compare(a, b)
	})
	return slices.Compact(out)
}

// CurrentCapabilities returns the capabilities this process can hand to a container: its bounding set from
// /proc/self/status, intersected with its effective set when that is not empty (a root daemon has both equal).
func CurrentCapabilities() ([]string, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return nil, fmt.Errorf("read capabilities: %w", err)
	}
	defer f.Close()

	var bnd, eff uint64
	var haveBnd bool
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		switch key {
		case "CapBnd":
			if bnd, err = strconv.ParseUint(strings.TrimSpace(val), 16, 64); err != nil {
				return nil, fmt.Errorf("parse CapBnd %q: %w", val, err)
			}
			haveBnd = true
		case "CapEff":
			if eff, err = strconv.ParseUint(strings.TrimSpace(val), 16, 64); err != nil {
				return nil, fmt.Errorf("parse CapEff %q: %w", val, err)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read capabilities: %w", err)
	}
	if !haveBnd {
		return nil, fmt.Errorf("read capabilities: no CapBnd in /proc/self/status: %w", errdefs.ErrNotImplemented)
	}
	mask := bnd
	if eff != 0 {
		mask &= eff
	}
	return capsFromMask(mask), nil
}

// capsFromMask names the bits set in mask; bits this package has no name for are skipped.
func capsFromMask(mask uint64) []string {
	var out []string
	for i, name := range knownCapabilities {
		if mask&(1<<uint(i)) != 0 {
			out = append(out, name)
		}
	}
	return out
}
