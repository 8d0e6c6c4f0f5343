package volume

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// mountOpts are a local volume's --opt type/device/o, parsed for mount(2).
type mountOpts struct {
	typ, device string
	flags       uintptr
	data        string
}

// mountFlags are the mount(8) option words that are flags rather than filesystem data.
var mountFlags = map[string]struct {
	clear bool
	flag  uintptr
}{
	"ro":          {false, unix.MS_RDONLY},
	"rw":          {true, unix.MS_RDONLY},
	"bind":        {false, unix.MS_BIND},
	"rbind":       {false, unix.MS_BIND | unix.MS_REC},
	"nosuid":      {false, unix.MS_NOSUID},
	"suid":        {true, unix.MS_NOSUID},
	"nodev":       {false, unix.MS_NODEV},
	"dev":         {true, unix.MS_NODEV},
	"noexec":      {false, unix.MS_NOEXEC},
	"exec":        {true, unix.MS_NOEXEC},
	"sync":        {false, unix.MS_SYNCHRONOUS},
	"async":       {true, unix.MS_SYNCHRONOUS},
	"dirsync":     {false, unix.MS_DIRSYNC},
	"noatime":     {false, unix.MS_NOATIME},
	"atime":       {true, unix.MS_NOATIME},
	"nodiratime":  {false, unix.MS_NODIRATIME},
	"diratime":    {true, unix.MS_NODIRATIME},
	"relatime":    {false, unix.MS_RELATIME},
	"norelatime":  {true, unix.MS_RELATIME},
	"strictatime": {false, unix.MS_STRICTATIME},
	"mand":        {false, unix.MS_MANDLOCK},
	"nomand":      {true, unix.MS_MANDLOCK},
	"defaults":    {false, 0},
}

// parseOptions validates the local driver's options as Docker does (only type, device and o; type and device go
// together; o needs device) and parses them. No options: nil, a plain directory volume.
func parseOptions(opts map[string]string) (*mountOpts, error) {
	if len(opts) == 0 {
		return nil, nil
	}
	for k := range opts {
		switch k {
		case "type", "device", "o":
		case "size":
			return nil, fmt.Errorf("quota size option: %w", errdefs.ErrNotImplemented)
		default:
			return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid option: %q", k))
		}
	}
	for opt, needs := range map[string]string{"device": "type", "type": "device", "o": "device"} {
		if _, ok := opts[opt]; ok {
			if _, ok := opts[needs]; !ok {
				return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("missing required option: %q", needs))
			}
		}
	}
	mo := &mountOpts{typ: opts["type"], device: opts["device"]}
	var data []string
	for _, w := range strings.Split(opts["o"], ",") {
		if w == "" {
			continue
		}
		if f, ok := mountFlags[w]; ok {
			if f.clear {
				mo.flags &^= f.flag
			} else {
				mo.flags |= f.flag
			}
			continue
		}
		data = append(data, w)
	}
	mo.data = strings.Join(data, ",")
	if mo.flags&unix.MS_BIND != 0 && !strings.HasPrefix(mo.device, "/") {
		return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("bind device %q must be an absolute path", mo.device))
	}
	return mo, nil
}

// mount mounts mo on target. A read-only bind needs a second, remounting call.
func (mo *mountOpts) mount(target string) error {
	typ := mo.typ
	if mo.flags&unix.MS_BIND != 0 && typ == "" {
		typ = "none"
	}
	if err := unix.Mount(mo.device, target, typ, mo.flags, mo.data); err != nil {
		return fmt.Errorf("mount %s:%s, type: %s, flags: %#x, data: %q: %w", mo.device, target, typ, mo.flags, mo.data, err)
	}
	if mo.flags&unix.MS_BIND != 0 && mo.flags&unix.MS_RDONLY != 0 {
		if err := unix.Mount("", target, "", mo.flags|unix.MS_REMOUNT, ""); err != nil {
			_ = unix.Unmount(target, unix.MNT_DETACH)
			return fmt.Errorf("remount %s read-only: %w", target, err)
		}
	}
	return nil
}

// Mount prepares a volume for a container and returns the directory to bind into it. Volumes with type/device/o
// options are mounted on first use; every Mount must be paired with an Unmount.
func (s *Store) Mount(ctx context.Context, name string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.load("mount", name)
	if err != nil {
		return "", err
	}
	path := s.dataPath(name)
	mo, err := parseOptions(m.Options)
	if err != nil || mo == nil {
		return path, err
	}
	if s.mounts[name] == 0 {
		mounted, err := mountinfo.Mounted(path)
		if err != nil {
			return "", fmt.Errorf("mount %s: %w", name, err)
		}
		if !mounted { // still mounted after a daemon restart: reuse it
			if err := mo.mount(path); err != nil {
				return "", fmt.Errorf("failed to mount local volume %s: %w", name, err)
			}
			slog.Debug("volume mounted", "volume", name, "type", mo.typ)
		}
	}
	s.mounts[name]++
	return path, nil
}

// Unmount releases a Mount; the last release of a volume with mount options unmounts it.
func (s *Store) Unmount(ctx context.Context, name string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.load("unmount", name)
	if err != nil {
		return err
	}
	if mo, err := parseOptions(m.Options); err != nil || mo == nil {
		return err
	}
	if s.mounts[name] > 1 {
		s.mounts[name]--
		return nil
	}
	return s.unmountAll(name)
}

// unmountAll unmounts a volume's data directory if mounted and forgets its users. Callers hold s.mu.
func (s *Store) unmountAll(name string) error {
	delete(s.mounts, name)
	path := s.dataPath(name)
	for {
		mounted, err := mountinfo.Mounted(path)
		if err != nil {
			if errors.Is(err, unix.ENOENT) {
				return nil
			}
			return err
		}
		if !mounted {
			return nil
		}
		if err := unix.Unmount(path, 0); err != nil {
			if errors.Is(err, unix.EINVAL) {
				return nil
			}
			return fmt.Errorf("unmount %s: %w", path, err)
		}
		slog.Debug("volume unmounted", "volume", name)
	}
}
