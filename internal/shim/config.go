package shim

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/berth/berth/internal/atomicfile"
)

// RuntimeBinaryFD is the descriptor a shim holds Config.RuntimeBinary as (3 is the ready pipe).
const RuntimeBinaryFD = 4

// Files in a shim's state directory.
const (
	ConfigFile     = "shim.json"   // Config, written by Spawn
	SocketFile     = "shim.sock"   // the request socket
	ExitFile       = "exit"        // {"exit_code":N,"exited_at":"RFC3339Nano","oom_killed":B}, once init has exited
	PidFile        = "shim.pid"    // the shim's own pid
	InitPidFile    = "init.pid"    // the container init's pid, written by the runtime (--pid-file)
	RuntimeLogFile = "runtime.log" // the runtime's --log, JSON lines; errors are read back from it

	consoleSocketFile = "console.sock"
)

// Config is what the daemon tells a shim about its container; Spawn stores it as <state-dir>/shim.json.
type Config struct {
	ID      string `json:"id"`
	Bundle  string `json:"bundle"`  // directory holding config.json
	Runtime string `json:"runtime"` // path of the OCI runtime binary (runc, crun)
	// RuntimeBinary, when set, is a sealed copy of the runtime binary for the shim to run (runtime.SealedBinary):
	// Spawn passes it as descriptor RuntimeBinaryFD, and the shim executes it through RuntimeExe, a path that
	// resolves to that descriptor in the shim's children (a link to /proc/self/fd/4), with Runtime as argv[0].
	RuntimeBinary *os.File `json:"-"`
	RuntimeExe    string   `json:"runtime_exe,omitempty"`
	RuntimeFD     int      `json:"runtime_fd,omitempty"`   // set by Spawn
	RuntimeArgs   []string `json:"runtime_args,omitempty"` // global args before the subcommand, e.g. --systemd-cgroup
	RuntimeRoot   string   `json:"runtime_root,omitempty"` // the runtime's --root
	LogPath       string   `json:"log_path,omitempty"`     // log of the container's output; "" = none
	// LogFormat is the log's format: "json-file" (the default) or "local" (docker's drivers).
	LogFormat string `json:"log_format,omitempty"`
	// LogMaxSize, LogMaxFiles and LogCompress rotate the log as docker's max-size, max-file and compress
	// log-opts do (internal/logger/logfile.Options); a zero LogMaxSize never rotates.
	LogMaxSize  int64 `json:"log_max_size,omitempty"`
	LogMaxFiles int   `json:"log_max_files,omitempty"`
	LogCompress bool  `json:"log_compress,omitempty"`
	// LogAttrs are stored with every record (docker's labels, env and tag log-opts).
	LogAttrs map[string]string `json:"log_attrs,omitempty"`

	Tty       bool `json:"tty,omitempty"`
	Stdin     bool `json:"stdin,omitempty"`      // keep a stdin the attached clients write into
	StdinOnce bool `json:"stdin_once,omitempty"` // close the container's stdin when an attached client's stdin ends

	ConsoleWidth  uint16 `json:"console_width,omitempty"` // initial tty size; 0 leaves the runtime's default
	ConsoleHeight uint16 `json:"console_height,omitempty"`

	// HideMounts are mount points the runtime must not see: the shim runs in a private mount namespace of its
	// own and detaches them there (crun refuses a hybrid cgroup layout while the cgroup2 mount is visible).
	HideMounts []string `json:"hide_mounts,omitempty"`

	// RunDetached makes the shim start the container with `runtime run --detach` (one runtime process instead
	// of create + start). Output produced before the daemon's start request is kept and replayed to clients that
	// attach before it, so `docker run` still sees every byte.
	RunDetached bool `json:"run_detached,omitempty"`

	// OOMFile, when set, is the container cgroup's file counting OOM kills (memory.events on cgroup v2,
	// memory.oom_control on v1; the key is oom_kill in both): read when init exits, before the runtime's delete
	// removes the cgroup, so the exit record says whether the kernel killed a process for memory.
	OOMFile string `json:"oom_file,omitempty"`
}

func readConfig(dir string) (Config, error) {
	var cfg Config
	data, err := os.ReadFile(filepath.Join(dir, ConfigFile))
	if err != nil {
		return cfg, err
	}
	if cfg, err = decodeConfig(data); err != nil {
		return cfg, errors.New(ConfigFile + ": " + err.Error())
	}
	if cfg.ID == "" || cfg.Bundle == "" || cfg.Runtime == "" {
		return cfg, errors.New(ConfigFile + ": id, bundle and runtime are required")
	}
	return cfg, nil
}

// ExitRecord is the content of ExitFile.
type ExitRecord struct {
	ExitCode int       `json:"exit_code"`
	ExitedAt time.Time `json:"exited_at"`
	// OOMKilled says the kernel killed a process of the container for memory during its life.
	OOMKilled bool `json:"oom_killed,omitempty"`
}

func writeExit(dir string, code int, at time.Time, oom bool) error {
	data := []byte(`{"exit_code":` + strconv.Itoa(code) + `,"exited_at":"` + at.UTC().Format(time.RFC3339Nano) + `","oom_killed":` + strconv.FormatBool(oom) + `}`)
	// No fsync: the exit file serves a restarted daemon (the page cache outlives a daemon crash); the state
	// directory itself does not outlive a reboot.
	return atomicfile.WriteFile(filepath.Join(dir, ExitFile), data, 0o644, atomicfile.NoSync())
}

// ReadExit reads the exit file of the shim state directory stateDir. ok is false (and err nil) while the
// container has not exited, or when its shim died before recording the exit.
func ReadExit(stateDir string) (code int, exitedAt time.Time, ok bool, err error) {
	rec, ok, err := ReadExitRecord(stateDir)
	return rec.ExitCode, rec.ExitedAt, ok, err
}

// ReadExitRecord is ReadExit with everything the exit file says.
func ReadExitRecord(stateDir string) (rec ExitRecord, ok bool, err error) {
	data, err := os.ReadFile(filepath.Join(stateDir, ExitFile))
	if errors.Is(err, fs.ErrNotExist) {
		return rec, false, nil
	}
	if err != nil {
		return rec, false, err
	}
	if err := json.Unmarshal(data, &rec); err != nil {
		return rec, false, errors.New(ExitFile + ": " + err.Error())
	}
	return rec, true, nil
}

// oomKills reads the oom_kill counter of a cgroup's memory.events or memory.oom_control file (0 when it cannot).
func oomKills(file string) int {
	if file == "" {
		return 0
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "oom_kill "); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n
		}
	}
	return 0
}

// maxSockPath is the longest path that fits in sockaddr_un (108 bytes with the terminating NUL).
const maxSockPath = 107
