// Package mount describes filesystem mounts as data and performs them: the currency in which the snapshot store
// hands out a container's root filesystem and in which a task runtime receives it (an OCI runtime mounts it on
// the host; a VM runtime shares or copies it into the guest).
package mount

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// Mount is one mount, as mount(8) takes it: mount -t Type -o Options Source TARGET.
type Mount struct {
	// Type is the filesystem type ("overlay", "bind", "tmpfs", ...).
	Type string
	// Source is the device or directory; "overlay" or "tmpfs" for those.
	Source string
	// Options are mount(8)'s options: flags ("ro", "rbind", "nosuid") and data ("lowerdir=...").
	Options []string
}

// Overlay describes an overlayfs of lowers (top first), upper and work.
func Overlay(lowers []string, upper, work string) Mount {
	return Mount{Type: "overlay", Source: "overlay", Options: []string{
		"lowerdir=" + strings.Join(lowers, ":"), "upperdir=" + upper, "workdir=" + work,
	}}
}

// Bind describes a recursive bind mount of dir.
func Bind(dir string, readonly bool) Mount {
	opts := []string{"rbind"}
	if readonly {
		opts = append(opts, "ro")
	}
	return Mount{Type: "bind", Source: dir, Options: opts}
}

// BindSource returns the directory m binds, and whether m is a bind mount of one.
func (m Mount) BindSource() (string, bool) {
	return m.Source, m.Type == "bind"
}

// overlayDirs returns an overlay mount's lower (top first), upper and work directories.
func (m Mount) overlayDirs() (lowers []string, upper, work string, err error) {
	for _, o := range m.Options {
		k, v, _ := strings.Cut(o, "=")
		switch k {
		case "lowerdir":
			lowers = strings.Split(v, ":")
		case "upperdir":
			upper = v
		case "workdir":
			work = v
		}
	}
	if len(lowers) == 0 {
		return nil, "", "", fmt.Errorf("mount: overlay without lowerdir")
	}
	return lowers, upper, work, nil
}

// flags maps mount(8)'s flag options to mount(2) flags; what is not a flag is data.
var flags = map[string]uintptr{
	"ro": unix.MS_RDONLY, "rw": 0, "nosuid": unix.MS_NOSUID, "nodev": unix.MS_NODEV, "noexec": unix.MS_NOEXEC,
	"bind": unix.MS_BIND, "rbind": unix.MS_BIND | unix.MS_REC, "noatime": unix.MS_NOATIME, "relatime": unix.MS_RELATIME,
}

// Mount mounts m on target. An overlay whose lower directories do not fit mount(2)'s one page of options goes
// through the new mount API, one lower directory at a time.
func (m Mount) Mount(target string) error {
	if m.Type == "overlay" {
		lowers, upper, work, err := m.overlayDirs()
		if err != nil {
			return err
		}
		return mountOverlay(target, lowers, upper, work)
	}
	var fl uintptr
	var data []string
	for _, o := range m.Options {
		if f, ok := flags[o]; ok {
			fl |= f
		} else {
			data = append(data, o)
		}
	}
	typ := m.Type
	if fl&unix.MS_BIND != 0 {
		typ = ""
	}
	if err := unix.Mount(m.Source, target, typ, fl&^unix.MS_RDONLY, strings.Join(data, ",")); err != nil {
		return fmt.Errorf("mount: %s on %s: %w", m.Source, target, err)
	}
	if fl&unix.MS_BIND != 0 && fl&unix.MS_RDONLY != 0 {
		// A bind mount is made read-only by a remount.
		if err := unix.Mount("", target, "", fl|unix.MS_REMOUNT, ""); err != nil {
			unix.Unmount(target, unix.MNT_DETACH)
			return fmt.Errorf("mount: remounting %s read-only: %w", target, err)
		}
	}
	return nil
}

// All mounts ms on target in order (each over the previous, as a stack); on error it undoes what it mounted.
func All(ms []Mount, target string) error {
	for i, m := range ms {
		if err := m.Mount(target); err != nil {
			for range i {
				Unmount(target)
			}
			return err
		}
	}
	return nil
}
