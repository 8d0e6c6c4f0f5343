package shim

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// runtimeCmd runs the OCI runtime with the global args (RuntimeArgs, --root, --log) followed by args, with files
// as its stdin, stdout and stderr, and waits for it. A failure returns the runtime's own error message, read from
// its JSON log, so the daemon can show it the way docker does.
func (s *shim) runtimeCmd(files [3]int, args ...string) error {
	logPath := filepath.Join(s.dir, RuntimeLogFile)
	argv := make([]string, 0, 8+len(s.cfg.RuntimeArgs)+len(args))
	argv = append(argv, s.cfg.Runtime)
	argv = append(argv, s.cfg.RuntimeArgs...)
	if s.cfg.RuntimeRoot != "" {
		argv = append(argv, "--root", s.cfg.RuntimeRoot)
	}
	argv = append(argv, "--log", logPath, "--log-format", "json")
	argv = append(argv, args...)

	var off int64
	if st, err := os.Stat(logPath); err == nil {
		off = st.Size()
	}
	done, err := s.reaper.start(s.runtimeExe, argv, files)
	if err != nil {
		return errors.New("exec " + s.cfg.Runtime + ": " + err.Error())
	}
	ws := <-done
	if ws.Exited() && ws.ExitStatus() == 0 {
		return nil
	}
	if msg := lastRuntimeError(logPath, off); msg != "" {
		return errors.New(DockerWords(msg))
	}
	return errors.New(filepath.Base(s.cfg.Runtime) + " " + args[0] + " failed: " + describeStatus(ws))
}

// lastRuntimeError returns the message of the last error record the runtime logged after offset off.
// runc and crun both write {"level":"error","msg":...}.
func lastRuntimeError(path string, off int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(io.NewSectionReader(f, off, 1<<40), 1<<20))
	if err != nil {
		return ""
	}
	var msg string
	for len(data) > 0 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		var level, m string
		r := &jsonReader{b: line}
		err := r.object(func(key string) error {
			var err error
			switch key {
			case "level":
				level, err = r.str()
			case "msg":
				m, err = r.str()
			default:
				err = r.skip()
			}
			return err
		})
		if err == nil && (level == "error" || level == "fatal") {
			msg = m
		}
	}
	return strings.TrimSpace(msg)
}

// DockerWords rewrites crun's messages for a command it cannot start into runc's, which are docker's: clients read
// them (`executable file not found`, `no such file or directory`, `permission denied`) to exit 127 or 126, as a
// shell does. The rest of msg is kept as it is.
func DockerWords(msg string) string {
	const head, tail = "executable file `", "` not found in $PATH: No such file or directory"
	if i := strings.Index(msg, head); i >= 0 {
		rest := msg[i+len(head):]
		if j := strings.Index(rest, tail); j >= 0 {
			cmd, after := rest[:j], rest[j+len(tail):]
			words := `exec: "` + cmd + `": executable file not found in $PATH`
			if strings.Contains(cmd, "/") {
				words = `exec: "` + cmd + `": stat ` + cmd + `: no such file or directory`
			}
			msg = msg[:i] + words + after
		}
	}
	for _, crun := range []string{"open executable: Permission denied", "open executable: Operation not permitted"} {
		msg = strings.ReplaceAll(msg, crun, "open executable: permission denied")
	}
	return msg
}

func describeStatus(ws syscall.WaitStatus) string {
	if ws.Signaled() {
		return "killed by signal " + strconv.Itoa(int(ws.Signal()))
	}
	return "exit status " + strconv.Itoa(ws.ExitStatus())
}
