package runtime

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// copyBinary copies the executable at src to dir/name and returns its path.
func copyBinary(t *testing.T, src, dir, name string) string {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Skipf("%s: %v", src, err)
	}
	p := filepath.Join(dir, name)
	// Written next to p and renamed over it, as a package upgrade replaces a binary.
	if err := os.WriteFile(p+".new", data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(p+".new", p); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSealedBinary(t *testing.T) {
	dir := t.TempDir()
	bin := copyBinary(t, "/bin/true", dir, "rt")
	b, err := Seal(bin, filepath.Join(dir, "links"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := b.File()
	if err != nil {
		t.Fatal(err)
	}
	seals, err := unix.FcntlInt(f.Fd(), unix.F_GET_SEALS, 0)
	if err != nil || seals != runtimeSeals {
		t.Fatalf("seals = %#x, %v; want %#x", seals, err, runtimeSeals)
	}
	if _, err := f.WriteAt([]byte("x"), 0); err == nil {
		t.Fatal("wrote into the sealed copy")
	}
	if f2, _ := b.File(); f2 != f {
		t.Fatal("an unchanged binary was copied again")
	}

	exe, err := b.Exe()
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(exe) != "rt" {
		t.Errorf("Exe = %s, want a path named like the binary", exe)
	}
	if err := exec.Command(exe).Run(); err != nil {
		t.Fatalf("running the sealed true: %v", err)
	}

	// An upgrade on disk is what runs next.
	copyBinary(t, "/bin/false", dir, "rt")
	f3, err := b.File()
	if err != nil {
		t.Fatal(err)
	}
	if f3 == f {
		t.Fatal("a changed binary was not copied again")
	}
	exe, err = b.Exe()
	if err != nil {
		t.Fatal(err)
	}
	if err := exec.Command(exe).Run(); err == nil {
		t.Fatal("the old copy ran after the binary changed")
	}
	// The earlier copy stays open: a path to it may still be on its way to an exec.
	if _, err := unix.FcntlInt(f.Fd(), unix.F_GET_SEALS, 0); err != nil {
		t.Fatalf("earlier copy closed: %v", err)
	}
}

// sealedShell seals a copy of dash named name and returns it.
func sealedShell(t *testing.T, name string) *SealedBinary {
	t.Helper()
	dir := t.TempDir()
	b, err := Seal(copyBinary(t, "/bin/dash", dir, name), filepath.Join(dir, "links"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// assertRunsSealed runs cmd (a shell) and checks that its process is named name and executes the sealed copy.
func assertRunsSealed(t *testing.T, cmd *exec.Cmd, name string) {
	t.Helper()
	cmd.Args = append(cmd.Args, "-c", `cat /proc/$$/comm; readlink /proc/$$/exe`)
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 2 || lines[0] != name || !strings.HasPrefix(lines[1], "/memfd:berth-sealed:"+name) {
		t.Fatalf("comm and exe = %q, want %s and the sealed memfd", lines, name)
	}
}

// The process started from Exe runs from the sealed copy and is named like the binary, not like a descriptor.
func TestSealedBinaryProcess(t *testing.T) {
	b := sealedShell(t, "myruntime")
	exe, err := b.Exe()
	if err != nil {
		t.Fatal(err)
	}
	assertRunsSealed(t, exec.Command(exe), "myruntime")
}

func TestSealRefusesScripts(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "wrapper")
	if err := os.WriteFile(p, []byte("#!/bin/sh\nexec runc \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Seal(p, filepath.Join(dir, "links")); err == nil || !strings.Contains(err.Error(), "not an ELF binary") {
		t.Fatalf("Seal of a script = %v, want not an ELF binary", err)
	}
	if _, err := Seal(filepath.Join(dir, "missing"), filepath.Join(dir, "links")); !os.IsNotExist(err) {
		t.Fatalf("Seal of a missing file = %v, want not exist", err)
	}
}

// A child holding the copy as descriptor 4 runs it through ChildExe's link, named like the binary.
func TestSealedBinaryChildExe(t *testing.T) {
	b := sealedShell(t, "crun")
	f, err := b.File()
	if err != nil {
		t.Fatal(err)
	}
	exe, err := b.ChildExe(4)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := b.ChildExe(4); err != nil || again != exe {
		t.Fatalf("second ChildExe = %q, %v; want %q", again, err, exe)
	}
	null, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	cmd := exec.Command(exe)
	cmd.ExtraFiles = []*os.File{null, f} // fds 3 and 4
	assertRunsSealed(t, cmd, "crun")
}
