package vm

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/containerd/errdefs"

	"github.com/berth/berth/internal/atomicfile"
)

// A sandbox's state directory, <runtime root>/<first 12 characters of the ID> (short: unix socket paths are
// limited to 107 bytes), holds:
const (
	stateFile  = "state.json" // sandboxState
	ctlSocket  = "ctl.sock"   // the sandbox's control socket (ctl.go)
	agentSock  = "agent.sock" // qemu's end of the guest agent's channel
	qmpSock    = "qmp.sock"   // qemu's control socket
	guestFile  = "guest.json" // the guest's configuration, read by qemu into fw_cfg
	qemuLog    = "qemu.log"   // qemu's own messages
	shortIDLen = 12
)

// sandboxState is what a sandbox records of itself.
type sandboxState struct {
	ID      string `json:"id"`
	Bundle  string `json:"bundle"`
	Pid     int    `json:"pid"`      // the sandbox process
	QemuPid int    `json:"qemu_pid"` // its qemu
	Status  string `json:"status"`   // created, running, paused, stopped
}

func stateDir(root, id string) string {
	s := id
	if len(s) > shortIDLen {
		s = s[:shortIDLen]
	}
	return filepath.Join(root, s)
}

func readState(dir string) (sandboxState, error) {
	var st sandboxState
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		if os.IsNotExist(err) {
			return st, fmt.Errorf("container %s does not exist: %w", filepath.Base(dir), errdefs.ErrNotFound)
		}
		return st, err
	}
	return st, json.Unmarshal(b, &st)
}

func writeState(dir string, st sandboxState) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, stateFile), b, 0o600, atomicfile.NoSync())
}

// alive reports whether pid runs (and is not a zombie).
func alive(pid int) bool {
	if pid <= 0 || syscall.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == ')' {
			return i+2 < len(b) && b[i+2] != 'Z'
		}
	}
	return false
}
