package oci

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/containerd/errdefs"
	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

const (
	passwdPath = "/etc/passwd"
	groupPath  = "/etc/group"

	// maxID is the largest uid/gid Docker (libcontainer) accepts.
	maxID = 1<<31 - 1
	// maxIDFileSize bounds how much of a container's passwd/group file is read.
	maxIDFileSize = 16 << 20
)

var errRange = errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("uids and gids must be in range 0-%d", maxID))

type passwdEntry struct {
	name     string
	uid, gid int
	home     string
}

type groupEntry struct {
	name    string
	gid     int
	members []string
}

// readRootfsFile reads path inside rootfs with every symlink resolved inside rootfs, so a link such as
// /etc/passwd -> /host/secret can never leave it. A missing file (or a non-regular one) yields nil, nil.
func readRootfsFile(rootfs, path string) ([]byte, error) {
	h, err := pathrs.OpenInRoot(rootfs, path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.ENOTDIR) {
			return nil, nil
		}
		return nil, fmt.Errorf("open %s in rootfs: %w", path, err)
	}
	defer h.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(h.Fd()), &st); err != nil {
		return nil, fmt.Errorf("stat %s in rootfs: %w", path, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		// A FIFO or device here would block or do worse; treat it as absent.
		return nil, nil
	}
	f, err := pathrs.Reopen(h, unix.O_RDONLY)
	if err != nil {
		return nil, fmt.Errorf("open %s in rootfs: %w", path, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxIDFileSize))
	if err != nil {
		return nil, fmt.Errorf("read %s in rootfs: %w", path, err)
	}
	return data, nil
}

// parsePasswd parses passwd(5) lines, skipping comments and malformed entries (a bad uid must never become 0).
func parsePasswd(data []byte) []passwdEntry {
	var out []passwdEntry
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, ":")
		if len(f) < 4 {
			continue
		}
		uid, err1 := strconv.Atoi(f[2])
		gid, err2 := strconv.Atoi(f[3])
		if err1 != nil || err2 != nil {
			continue
		}
		e := passwdEntry{name: f[0], uid: uid, gid: gid}
		if len(f) > 5 {
			e.home = f[5]
		}
		out = append(out, e)
	}
	return out
}

// parseGroup parses group(5) lines, skipping comments and malformed entries.
func parseGroup(data []byte) []groupEntry {
	var out []groupEntry
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, ":")
		if len(f) < 3 {
			continue
		}
		gid, err := strconv.Atoi(f[2])
		if err != nil {
			continue
		}
		e := groupEntry{name: f[0], gid: gid}
		if len(f) > 3 && f[3] != "" {
			for _, m := range strings.Split(f[3], ",") {
				if m = strings.TrimSpace(m); m != "" {
					e.members = append(e.members, m)
				}
			}
		}
		out = append(out, e)
	}
	return out
}

// ResolveUser resolves a Docker --user value ("", "uid", "name", "uid:gid", "name:group", ...) against the
// rootfs's /etc/passwd and /etc/group the way Docker (libcontainer) does: names must exist, numbers need not; an
// implicit group brings the user's supplementary groups; groupAdd (--group-add) appends further groups.
func ResolveUser(rootfs, userSpec string, groupAdd []string) (specs.User, error) {
	passwdData, err := readRootfsFile(rootfs, passwdPath)
	if err != nil {
		return specs.User{}, err
	}
	groupData, err := readRootfsFile(rootfs, groupPath)
	if err != nil {
		return specs.User{}, err
	}
	users := parsePasswd(passwdData)
	groups := parseGroup(groupData)

	userArg, groupArg, _ := strings.Cut(userSpec, ":")
	uidArg, uidErr := strconv.Atoi(userArg)
	gidArg, gidErr := strconv.Atoi(groupArg)

	uid, gid := 0, 0
	var matched string
	idx := slices.IndexFunc(users, func(u passwdEntry) bool {
		switch {
		case userArg == "":
			return u.uid == 0
		case uidErr == nil:
			return u.uid == uidArg
		default:
			return u.name == userArg
		}
	})
	switch {
	case idx >= 0:
		matched, uid, gid = users[idx].name, users[idx].uid, users[idx].gid
	case userArg != "":
		if uidErr != nil {
			return specs.User{}, errdefs.ErrInvalidArgument.WithMessage(
				fmt.Sprintf("unable to find user %s: no matching entries in passwd file", userArg))
		}
		if uidArg < 0 || uidArg > maxID {
			return specs.User{}, errRange
		}
		uid = uidArg
	}

	var sgids []int
	if groupArg != "" {
		gi := slices.IndexFunc(groups, func(g groupEntry) bool {
			if gidErr == nil {
				return g.gid == gidArg
			}
			return g.name == groupArg
		})
		switch {
		case gi >= 0:
			gid = groups[gi].gid
		case gidErr != nil:
			return specs.User{}, errdefs.ErrInvalidArgument.WithMessage(
				fmt.Sprintf("unable to find group %s: no matching entries in group file", groupArg))
		case gidArg < 0 || gidArg > maxID:
			return specs.User{}, errRange
		default:
			gid = gidArg
		}
	} else if matched != "" {
		// Supplementary groups only come with the implicit form, as in Docker.
		for _, g := range groups {
			if slices.Contains(g.members, matched) {
				sgids = append(sgids, g.gid)
			}
		}
	}

	extra, err := additionalGroups(groupAdd, groups)
	if err != nil {
		return specs.User{}, err
	}

	u := specs.User{UID: uint32(uid), GID: uint32(gid), AdditionalGids: []uint32{uint32(gid)}}
	for _, g := range append(sgids, extra...) {
		if !slices.Contains(u.AdditionalGids, uint32(g)) {
			u.AdditionalGids = append(u.AdditionalGids, uint32(g))
		}
	}
	return u, nil
}

// additionalGroups resolves --group-add values: a group name or gid from /etc/group, or any numeric gid.
func additionalGroups(add []string, groups []groupEntry) ([]int, error) {
	var out []int
	for _, ag := range add {
		gi := slices.IndexFunc(groups, func(g groupEntry) bool { return g.name == ag || strconv.Itoa(g.gid) == ag })
		if gi >= 0 {
			out = append(out, groups[gi].gid)
			continue
		}
		gid, err := strconv.ParseInt(ag, 10, 64)
		if err != nil {
			return nil, errdefs.ErrInvalidArgument.WithMessage(
				fmt.Sprintf("Unable to find group %s: no matching entries in group file", ag))
		}
		if gid < 0 || gid > maxID {
			return nil, errRange
		}
		out = append(out, int(gid))
	}
	return out, nil
}
