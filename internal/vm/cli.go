package vm

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"

	"github.com/berth/berth/internal/atomicfile"
)

// RuntimeMain is the berth-vm binary: the part of the OCI runtime command line that berth-shim uses, so that
// the shim keeps a VM-isolated container's stdio, log and exit status exactly as it does a runc container's.
//
//	berth-vm [--root DIR] [--log FILE] [--log-format json] run --bundle DIR --pid-file FILE --detach [--console-socket SOCK] ID
//	berth-vm [--root DIR] delete [--force] ID
//	berth-vm [--root DIR] state ID
//	berth-vm [--root DIR] kill [--all] ID [SIGNAL]
//
// run starts the container's sandbox process (the same binary, "sandbox" subcommand), which becomes the
// container's init as the shim sees it, and returns once the container's process runs in the machine. Errors
// are written to the --log file as runc writes them ({"level":"error","msg":...}), which the shim reports.
func RuntimeMain(args []string) int {
	g := flag.NewFlagSet("berth-vm", flag.ContinueOnError)
	root := g.String("root", "/run/berth/vm", "state directory")
	logPath := g.String("log", "", "log file")
	g.String("log-format", "json", "log format")
	g.SetOutput(io.Discard)
	if err := g.Parse(args); err != nil {
		fmt.Fprintln(os.Stderr, "berth-vm:", err)
		return 2
	}
	rest := g.Args()
	if len(rest) == 0 {
		fmt.Fprintln(os.Stderr, "usage: berth-vm [--root DIR] [--log FILE] run|delete|state|kill ...")
		return 2
	}
	fail := func(err error) int {
		logError(*logPath, err)
		fmt.Fprintln(os.Stderr, "berth-vm:", err)
		return 1
	}
	cmd, args := rest[0], rest[1:]
	f := flag.NewFlagSet(cmd, flag.ContinueOnError)
	f.SetOutput(io.Discard)
	bundle := f.String("bundle", ".", "")
	pidFile := f.String("pid-file", "", "")
	f.Bool("detach", false, "")
	consoleSocket := f.String("console-socket", "", "")
	f.Bool("force", false, "")
	all := f.Bool("all", false, "")
	stateDirFlag := f.String("state", "", "")
	f.String("format", "", "")
	if err := f.Parse(args); err != nil {
		return fail(err)
	}
	if f.NArg() < 1 {
		return fail(fmt.Errorf("%s: a container ID is required", cmd))
	}
	id := f.Arg(0)
	switch cmd {
	case "run":
		if err := run(*root, id, *bundle, *pidFile, *consoleSocket); err != nil {
			return fail(err)
		}
		return 0
	case "sandbox":
		ready := os.NewFile(3, "ready")
		return runSandbox(id, *bundle, *stateDirFlag, ready)
	case "delete":
		if err := deleteSandbox(stateDir(*root, id)); err != nil {
			return fail(err)
		}
		return 0
	case "state":
		st, err := readState(stateDir(*root, id))
		if err != nil {
			return fail(err)
		}
		if !alive(st.Pid) {
			st.Status = "stopped"
		}
		json.NewEncoder(os.Stdout).Encode(st)
		return 0
	case "kill":
		sig := syscall.SIGTERM
		if f.NArg() > 1 {
			n, err := strconv.Atoi(f.Arg(1))
			if err != nil {
				return fail(fmt.Errorf("kill: invalid signal %q", f.Arg(1)))
			}
			sig = syscall.Signal(n)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := newCtlClient(stateDir(*root, id)).do(ctx, ctlRequest{Op: "kill", Signal: int(sig), All: *all}); err != nil {
			return fail(err)
		}
		return 0
	case "start":
		return 0 // run --detach already started it
	}
	return fail(fmt.Errorf("unsupported command %q", cmd))
}

// run starts the sandbox of container id and waits until its process runs.
func run(root, id, bundle, pidFile, consoleSocket string) error {
	dir := stateDir(root, id)
	if st, err := readState(dir); err == nil && st.ID != id {
		return fmt.Errorf("container %s: state directory %s belongs to %s", id, dir, st.ID)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	bundle, _ = filepath.Abs(bundle)
	pr, pw, err := os.Pipe()
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command(self, "--root", root, "sandbox", "--bundle", bundle, "--state", dir, id)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.ExtraFiles = []*os.File{pw}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	var master *os.File
	if consoleSocket != "" {
		m, slave, err := pty.Open()
		if err != nil {
			return err
		}
		defer slave.Close()
		master = m
		cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
		cmd.SysProcAttr.Setctty, cmd.SysProcAttr.Ctty = true, 0
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start sandbox: %w", err)
	}
	pw.Close()
	if master != nil {
		err := sendConsole(consoleSocket, master)
		master.Close()
		if err != nil {
			cmd.Process.Kill()
			return fmt.Errorf("console socket: %w", err)
		}
	}
	// The sandbox outlives this process: the shim, our parent and its subreaper, inherits and reaps it.
	line, err := bufio.NewReader(pr).ReadString('\n')
	pr.Close()
	line = strings.TrimSpace(line)
	if line != "ok" {
		cmd.Process.Kill()
		cmd.Wait()
		deleteSandbox(dir)
		msg, _ := strings.CutPrefix(line, "error ")
		if err != nil && msg == "" {
			msg = "the sandbox exited before the container started"
		}
		return errors.New(msg)
	}
	if pidFile != "" {
		if err := atomicfile.WriteFile(pidFile, []byte(strconv.Itoa(cmd.Process.Pid)), 0o644, atomicfile.NoSync()); err != nil {
			return err
		}
	}
	cmd.Process.Release()
	return nil
}

// sendConsole passes the pty master to the shim, as runc does with --console-socket.
func sendConsole(path string, f *os.File) error {
	c, err := net.Dial("unix", path)
	if err != nil {
		return err
	}
	defer c.Close()
	uc := c.(*net.UnixConn)
	_, _, err = uc.WriteMsgUnix([]byte(f.Name()), unix.UnixRights(int(f.Fd())), nil)
	return err
}

// deleteSandbox kills what is left of a sandbox (its process, its qemu) and removes its state directory.
func deleteSandbox(dir string) error {
	st, err := readState(dir)
	if err == nil {
		for _, pid := range []int{st.Pid, st.QemuPid} {
			if alive(pid) && isOurs(pid, st.ID) {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) && (alive(st.Pid) && isOurs(st.Pid, st.ID) || alive(st.QemuPid) && isOurs(st.QemuPid, st.ID)) {
			time.Sleep(10 * time.Millisecond)
		}
	}
	if err := os.RemoveAll(dir); err != nil && !os.IsNotExist(err) {
		return err
	}
	return nil
}

// isOurs reports whether pid is this sandbox's process or its qemu (and not a reused pid): its command line
// names the container or its state directory.
func isOurs(pid int, id string) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return false
	}
	short := id
	if len(short) > shortIDLen {
		short = short[:shortIDLen]
	}
	return strings.Contains(string(b), id) || strings.Contains(string(b), "berth-vm-"+short)
}

// logError appends a runc-style JSON error record to the log file the shim reads errors from.
func logError(path string, err error) {
	if path == "" {
		return
	}
	f, ferr := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if ferr != nil {
		return
	}
	defer f.Close()
	b, _ := json.Marshal(map[string]string{"level": "error", "msg": err.Error(), "time": time.Now().UTC().Format(time.RFC3339Nano)})
	f.Write(append(b, '\n'))
}
