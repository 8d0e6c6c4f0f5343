package guest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/berth/berth/internal/vm/agent"
)

// account is a user of the root's /etc/passwd.
type account struct {
	name     string
	uid, gid int
	home     string
}

func lookupUser(name string) (account, bool) {
	f, err := os.Open("/etc/passwd")
	if err != nil {
		return account{}, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Split(sc.Text(), ":")
		if len(fs) < 7 || fs[0] != name {
			continue
		}
		uid, err1 := strconv.Atoi(fs[2])
		gid, err2 := strconv.Atoi(fs[3])
		if err1 != nil || err2 != nil {
			return account{}, false
		}
		return account{name: name, uid: uid, gid: gid, home: fs[5]}, true
	}
	return account{}, false
}

// ensureUser finds the user, creating an ordinary one (uid and gid 1000 or the next free) when the image lacks
// it, as cloud-init creates an image's default user.
func ensureUser(name string) (account, error) {
	if a, ok := lookupUser(name); ok {
		return a, nil
	}
	if name == "root" {
		return account{name: "root", home: "/root"}, nil
	}
	id := 1000
	for {
		if !idUsed("/etc/passwd", 2, id) && !idUsed("/etc/group", 2, id) {
			break
		}
		id++
	}
	home := "/home/" + name
	shell := "/bin/sh"
	if _, err := os.Stat("/bin/bash"); err == nil {
		shell = "/bin/bash"
	}
	if err := appendLine("/etc/passwd", fmt.Sprintf("%s:x:%d:%d::%s:%s", name, id, id, home, shell)); err != nil {
		return account{}, err
	}
	appendLine("/etc/group", fmt.Sprintf("%s:x:%d:", name, id))
	if _, err := os.Stat("/etc/shadow"); err == nil {
		appendLine("/etc/shadow", name+":*:19000:0:99999:7:::")
	}
	return account{name: name, uid: id, gid: id, home: home}, nil
}

func idUsed(file string, field, id int) bool {
	b, _ := os.ReadFile(file)
	for _, l := range strings.Split(string(b), "\n") {
		fs := strings.Split(l, ":")
		if len(fs) > field && fs[field] == strconv.Itoa(id) {
			return true
		}
	}
	return false
}

func appendLine(file, line string) error {
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.WriteString(line + "\n")
	return err
}

// installKeys adds keys to the user's ~/.ssh/authorized_keys (mode 0600, in a 0700 directory, owned by the
// user, as sshd's StrictModes requires), keeping the keys already there.
func installKeys(a account, keys []string) error {
	dir := filepath.Join(a.home, ".ssh")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	os.Chown(a.home, a.uid, a.gid)
	os.Chmod(dir, 0o700)
	os.Chown(dir, a.uid, a.gid)
	file := filepath.Join(dir, "authorized_keys")
	have, _ := os.ReadFile(file)
	var add bytes.Buffer
	for _, k := range keys {
		k = strings.TrimSpace(k)
		if k == "" || bytes.Contains(have, []byte(k)) {
			continue
		}
		add.WriteString(k + "\n")
	}
	if len(have) > 0 && !bytes.HasSuffix(have, []byte("\n")) {
		have = append(have, '\n')
	}
	if err := os.WriteFile(file, append(have, add.Bytes()...), 0o600); err != nil {
		return err
	}
	os.Chmod(file, 0o600)
	return os.Chown(file, a.uid, a.gid)
}

// sshServers are the SSH servers an image may have, in order of preference, with how to run them in the
// foreground logging to stderr.
var sshServers = []struct {
	path string
	args []string
}{
	{"/usr/sbin/sshd", []string{"-D", "-e"}},
	{"/usr/sbin/dropbear", []string{"-F", "-E", "-R"}},
	{"/usr/bin/dropbear", []string{"-F", "-E", "-R"}},
	{"/sbin/dropbear", []string{"-F", "-E", "-R"}},
}

// startSSH starts the image's SSH server, generating openssh's host keys first when the image has none.
func startSSH(r *reaper, console *os.File) (string, error) {
	for _, s := range sshServers {
		if _, err := os.Stat(s.path); err != nil {
			continue
		}
		if strings.HasSuffix(s.path, "sshd") {
			os.MkdirAll("/run/sshd", 0o755)
			if keys, _ := filepath.Glob("/etc/ssh/ssh_host_*_key"); len(keys) == 0 {
				for _, kg := range []string{"/usr/bin/ssh-keygen", "/bin/ssh-keygen"} {
					if _, err := os.Stat(kg); err == nil {
						r.run([]string{kg, "-A"}, nil, console)
						break
					}
				}
			}
		} else {
			os.MkdirAll("/etc/dropbear", 0o755)
		}
		argv := append([]string{s.path}, s.args...)
		_, _, err := r.start(func() (int, error) {
			return syscall.ForkExec(s.path, argv, &syscall.ProcAttr{
				Env:   []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
				Files: []uintptr{devNull(), console.Fd(), console.Fd()},
				Sys:   &syscall.SysProcAttr{Setsid: true},
			})
		})
		return s.path, err
	}
	return "", errors.New("the image has no SSH server (openssh-server or dropbear)")
}

// waitListening waits (up to d) until something listens on TCP port, so that "ready" means an SSH client gets
// an answer.
func waitListening(port int, d time.Duration) bool {
	want := fmt.Sprintf(":%04X ", port)
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
			b, _ := os.ReadFile(f)
			for _, l := range strings.Split(string(b), "\n") {
				fs := strings.Fields(l)
				// sl local_address rem_address st ...: state 0A is LISTEN
				if len(fs) > 3 && strings.HasSuffix(fs[1]+" ", want) && fs[3] == "0A" {
					return true
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

func devNull() uintptr {
	f, err := os.Open(os.DevNull)
	if err != nil {
		return 0
	}
	return f.Fd() // kept open for the life of PID 1
}

// userDataDir keeps the user data and the marks of instances that ran it.
const userDataDir = "/var/lib/berth"

// runUserData runs a user-data script once per instance ID, as root, in the background, its output going to
// /var/log/berth-user-data.log and the console.
func runUserData(r *reaper, cfg *agent.Config, console *os.File) {
	if !bytes.HasPrefix(cfg.UserData, []byte("#!")) || cfg.InstanceID == "" {
		return
	}
	done := filepath.Join(userDataDir, "instances", cfg.InstanceID, "user-data.done")
	if _, err := os.Stat(done); err == nil {
		return
	}
	os.MkdirAll(filepath.Dir(done), 0o700)
	script := filepath.Join(userDataDir, "instances", cfg.InstanceID, "user-data")
	if err := os.WriteFile(script, cfg.UserData, 0o700); err != nil {
		fmt.Fprintln(console, "berth-init: user data:", err)
		return
	}
	os.MkdirAll("/var/log", 0o755)
	logf, err := os.OpenFile("/var/log/berth-user-data.log", os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		logf = console
	}
	// Marked before it runs: a script that powers the machine off does not run again at the next boot.
	os.WriteFile(done, nil, 0o600)
	go func() {
		code, err := r.run([]string{script}, []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root"}, logf)
		fmt.Fprintf(console, "berth-init: user data exited with %d %v\n", code, errOrEmpty(err))
		if logf != console {
			logf.Close()
		}
	}()
}

func errOrEmpty(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
