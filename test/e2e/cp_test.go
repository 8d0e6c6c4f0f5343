package e2e

import (
	"bytes"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// describeTree lists what is under dir as "path/", "path -> target" or "path: content", sorted: what a user
// sees of a copy.
func describeTree(t *testing.T, dir string) string {
	t.Helper()
	var lines []string
	filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			lines = append(lines, "error: "+err.Error())
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		switch {
		case e.Type()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			lines = append(lines, rel+" -> "+target)
		case e.IsDir():
			lines = append(lines, rel+"/")
		default:
			b, _ := os.ReadFile(p)
			lines = append(lines, rel+": "+strings.TrimSpace(string(b)))
		}
		return nil
	})
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// TestCpSymlinks runs the same `docker cp` commands against Berth and a real dockerd, with and without -L, in
// both directions, through links to files and directories, relative and absolute, dangling and pointing out
// of the container: the copies must come out the same, and nothing may reach the host outside the copy.
func TestCpSymlinks(t *testing.T) {
	requireRoot(t)
	dockerd, err := exec.LookPath("dockerd")
	if err != nil {
		t.Fatal("dockerd is not installed (scripts/test.sh installs docker.io)")
	}
	d := startDaemon(t)
	d.importBusybox(t)
	real := startDockerd(t, d, dockerd, "--bridge", "none", "--iptables=false", "--ip6tables=false", "--ip-forward=false", "--ip-masq=false")
	if r := real(bytes.NewReader(busyboxTar(t)), "import", "-c", `CMD ["sh"]`, "-", "busybox:latest"); r.Code != 0 {
		t.Fatalf("docker import: %s", r)
	}
	berth := func(stdin io.Reader, args ...string) result { return d.dockerR(stdin, args...) }

	// A host directory the container's links aim at: a copy must never read or write it.
	secretDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(secretDir, "secret"), []byte("host secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	climb := strings.Repeat("../", 12) + strings.TrimPrefix(secretDir, "/")
	setup := strings.Join([]string{
		"mkdir -p /data/dir /links",
		"echo file content > /data/file.txt",
		"echo inner > /data/dir/inner.txt",
		"ln -s ../data/file.txt /links/rel-file",
		"ln -s /data/file.txt /links/abs-file",
		"ln -s ../data/dir /links/rel-dir",
		"ln -s /data/dir /links/abs-dir",
		"ln -s " + climb + "/secret /links/escape",
		"ln -s " + secretDir + "/secret /links/escape-abs",
		"ln -s " + climb + " /links/escape-dir",
		"ln -s /nonexistent /links/dangling",
	}, " && ")
	// The container's side after the copies in: every path with its type, link target or content.
	const listing = `find /data /links | sort | while read p; do if [ -L "$p" ]; then echo "$p -> $(readlink "$p")"; elif [ -d "$p" ]; then echo "$p/"; else echo "$p: $(cat "$p")"; fi; done`

	hostFile := filepath.Join(t.TempDir(), "host.txt")
	os.WriteFile(hostFile, []byte("from the host\n"), 0o644)
	hostDir := filepath.Join(t.TempDir(), "hostdir")
	writeTree(t, hostDir, map[string]string{"a.txt": "a", "sub/b.txt": "b"})

	type step struct {
		name string
		args []string // "ctr" is the container; "OUT" a fresh host directory's entry "out"
	}
	from := []step{
		{"link to a file, relative", []string{"cp", "ctr:/links/rel-file", "OUT"}},
		{"link to a file, relative, -L", []string{"cp", "-L", "ctr:/links/rel-file", "OUT"}},
		{"link to a file, absolute", []string{"cp", "ctr:/links/abs-file", "OUT"}},
		{"link to a file, absolute, -L", []string{"cp", "-L", "ctr:/links/abs-file", "OUT"}},
		{"link to a dir, relative", []string{"cp", "ctr:/links/rel-dir", "OUT"}},
		{"link to a dir, relative, -L", []string{"cp", "-L", "ctr:/links/rel-dir", "OUT"}},
		{"link to a dir, absolute, -L", []string{"cp", "-L", "ctr:/links/abs-dir", "OUT"}},
		{"link to a dir with a slash", []string{"cp", "ctr:/links/abs-dir/", "OUT"}},
		{"link to a dir with /.", []string{"cp", "ctr:/links/rel-dir/.", "OUT"}},
		{"a dir's contents", []string{"cp", "ctr:/data/dir/.", "OUT"}},
		{"a dir of links", []string{"cp", "ctr:/links", "OUT"}},
		{"a dir of links, -L", []string{"cp", "-L", "ctr:/links", "OUT"}},
		{"link out of the root", []string{"cp", "ctr:/links/escape", "OUT"}},
		{"link out of the root, -L", []string{"cp", "-L", "ctr:/links/escape", "OUT"}},
		{"absolute link out of the root, -L", []string{"cp", "-L", "ctr:/links/escape-abs", "OUT"}},
		{"dir link out of the root, -L", []string{"cp", "-L", "ctr:/links/escape-dir", "OUT"}},
		{"dir link out of the root with a slash", []string{"cp", "ctr:/links/escape-dir/", "OUT"}},
		{"dangling link", []string{"cp", "ctr:/links/dangling", "OUT"}},
		{"dangling link, -L", []string{"cp", "-L", "ctr:/links/dangling", "OUT"}},
	}
	to := []step{
		{"file onto a link to a file, absolute", []string{"cp", hostFile, "ctr:/links/abs-file"}},
		{"file onto a link to a file, relative", []string{"cp", hostFile, "ctr:/links/rel-file"}},
		{"file onto a link to a dir", []string{"cp", hostFile, "ctr:/links/abs-dir"}},
		{"dir onto a link to a dir", []string{"cp", hostDir, "ctr:/links/rel-dir"}},
		{"file into a link to a dir with a slash", []string{"cp", hostFile, "ctr:/links/rel-dir/"}},
		{"file onto a link out of the root", []string{"cp", hostFile, "ctr:/links/escape"}},
		{"file onto an absolute link out of the root", []string{"cp", hostFile, "ctr:/links/escape-abs"}},
		{"file into a dir link out of the root", []string{"cp", hostFile, "ctr:/links/escape-dir/"}},
		{"file onto a dangling link", []string{"cp", hostFile, "ctr:/links/dangling"}},
	}

	daemons := []struct {
		name string
		cli  func(io.Reader, ...string) result
	}{{"dockerd", real}, {"berth", berth}}
	type outcome struct {
		ok   bool
		tree string
	}
	results := map[string]map[string]outcome{}
	for _, dm := range daemons {
		results[dm.name] = map[string]outcome{}
		run := func(args ...string) result { return dm.cli(nil, args...) }
		if r := run("run", "-d", "--network", "none", "--name", "ctr", "busybox", "sleep", "1000"); r.Code != 0 {
			t.Fatalf("%s: run: %s", dm.name, r)
		}
		if r := run("exec", "ctr", "sh", "-c", setup); r.Code != 0 {
			t.Fatalf("%s: setup: %s", dm.name, r)
		}
		for _, s := range from {
			dir := t.TempDir()
			args := append([]string{}, s.args...)
			for i, a := range args {
				args[i] = strings.Replace(a, "OUT", filepath.Join(dir, "out"), 1)
			}
			r := run(args...)
			results[dm.name]["from: "+s.name] = outcome{ok: r.Code == 0, tree: describeTree(t, dir)}
			if r.Code != 0 {
				t.Logf("%s: docker %s: %s", dm.name, strings.Join(s.args, " "), strings.TrimSpace(r.Stderr))
			}
		}
		for _, s := range to {
			r := run(s.args...)
			out := run("exec", "ctr", "sh", "-c", listing)
			results[dm.name]["to: "+s.name] = outcome{ok: r.Code == 0, tree: out.Stdout}
			if r.Code != 0 {
				t.Logf("%s: docker %s: %s", dm.name, strings.Join(s.args, " "), strings.TrimSpace(r.Stderr))
			}
		}
		run("rm", "-f", "ctr")
	}
	compare := func(prefix string, steps []step) {
		for _, s := range steps {
			key := prefix + s.name
			want, got := results["dockerd"][key], results["berth"][key]
			if want != got {
				t.Errorf("%s (docker %s):\ndockerd: ok=%v\n%s\nberth: ok=%v\n%s", key, strings.Join(s.args, " "), want.ok, want.tree, got.ok, got.tree)
			}
		}
	}
	compare("from: ", from)
	compare("to: ", to)
	// The copies that followed links out of the root failed, and the host's files are as they were.
	for _, key := range []string{"from: link out of the root, -L", "from: absolute link out of the root, -L", "to: file onto a link out of the root", "to: file onto an absolute link out of the root"} {
		if results["berth"][key].ok {
			t.Errorf("%s: succeeded", key)
		}
	}
	if entries, _ := os.ReadDir(secretDir); len(entries) != 1 {
		t.Errorf("the host directory changed: %v", entries)
	}
	if b, _ := os.ReadFile(filepath.Join(secretDir, "secret")); string(b) != "host secret\n" {
		t.Errorf("the host file changed: %q", b)
	}
}
