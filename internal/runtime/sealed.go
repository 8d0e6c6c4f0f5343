package runtime

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// SealedBinary is an in-memory copy of a runtime binary that nothing can write to: a memfd with the seals
// F_SEAL_SEAL, F_SEAL_SHRINK, F_SEAL_GROW and F_SEAL_WRITE.
//
// runc and crun protect the host's binary from a container that would overwrite it through /proc/self/exe
// (CVE-2019-5736): a runtime not already running from such a memfd copies itself into one and re-executes,
// on every invocation (crun: ~2.5 ms of each call here). Run from a SealedBinary, the runtime finds itself
// sealed and skips the copy, with the same protection. Berth makes the copy once per binary and makes a new one
// when the file on disk changes (a package upgrade), so a start always runs what is installed.
//
//	b, err := runtime.Seal("/usr/bin/crun", "/run/berth/runtime-bin")
//	exe, err := b.Exe()          // /run/berth/runtime-bin/crun, a link to this process's descriptor
//	f, err := b.File()           // the copy itself, for a child to inherit as descriptor 4,
//	exe4, err := b.ChildExe(4)   // and the path that runs it there: runtime-bin/fd4/crun -> /proc/self/fd/4
type SealedBinary struct {
	path    string
	linkDir string

	mu         sync.Mutex
	file       *os.File
	key        fileKey
	retired    []*os.File // earlier copies: a path built from their fd may still be on its way to exec
	link       string     // Exe's link and the copy it points to
	linkFile   *os.File
	childLinks map[string]bool // ChildExe's links made so far
}

type fileKey struct {
	dev, ino     uint64
	size         int64
	mtime, ctime syscall.Timespec
	mode         uint32
}

func keyOf(st *syscall.Stat_t) fileKey {
	return fileKey{dev: st.Dev, ino: st.Ino, size: st.Size, mtime: st.Mtim, ctime: st.Ctim, mode: st.Mode}
}

// runtimeSeals are the seals runc's and crun's cloned-binary check requires, all of them.
const runtimeSeals = unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE

// Seal copies the executable at path into a sealed memfd. Only ELF binaries are sealed: a script run from a
// memfd path cannot find itself again once the descriptor is closed on exec. Exe links to the copy from
// linkDir, under the binary's own name.
func Seal(path, linkDir string) (*SealedBinary, error) {
	if err := os.MkdirAll(linkDir, 0o700); err != nil {
		return nil, err
	}
	b := &SealedBinary{path: path, linkDir: linkDir}
	if _, err := b.File(); err != nil {
		return nil, err
	}
	return b, nil
}

// Exe returns a path that executes the sealed copy as it is now, from this process or its children: a link
// named like the binary (the name the kernel gives the process) to this process's descriptor of the copy.
func (b *SealedBinary) Exe() (string, error) {
	f, err := b.File()
	if err != nil {
		return "", err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.link == "" || b.linkFile != f {
		link := filepath.Join(b.linkDir, filepath.Base(b.path))
		if err := LinkFD(link, fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), f.Fd())); err != nil {
			return "", err
		}
		b.link, b.linkFile = link, f
	}
	return b.link, nil
}

// ChildExe returns a path that executes the sealed copy in a child process that holds it as descriptor fd: a
// link named like the binary to /proc/self/fd/<fd>, the same for every such child. The link is made once.
func (b *SealedBinary) ChildExe(fd int) (string, error) {
	link := filepath.Join(b.linkDir, "fd"+strconv.Itoa(fd), filepath.Base(b.path))
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.childLinks[link] {
		return link, nil
	}
	if err := os.MkdirAll(filepath.Dir(link), 0o700); err != nil {
		return "", err
	}
	if err := LinkFD(link, "/proc/self/fd/"+strconv.Itoa(fd)); err != nil {
		return "", err
	}
	if b.childLinks == nil {
		b.childLinks = map[string]bool{}
	}
	b.childLinks[link] = true
	return link, nil
}

// LinkFD makes link a symbolic link to target (a /proc/.../fd/N path), replacing what was there atomically.
// Executed through the link, a process is named after the link, not after the descriptor's number.
func LinkFD(link, target string) error {
	if cur, err := os.Readlink(link); err == nil && cur == target {
		return nil
	}
	tmp := link + ".tmp"
	os.Remove(tmp)
	if err := os.Symlink(target, tmp); err != nil {
		return err
	}
	return os.Rename(tmp, link)
}

// File returns the sealed copy of the binary as it is on disk now; the copy stays open as long as b exists.
func (b *SealedBinary) File() (*os.File, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(b.path, &st); err != nil {
		return nil, &os.PathError{Op: "stat", Path: b.path, Err: err}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.file != nil && b.key == keyOf(&st) {
		return b.file, nil
	}
	f, key, err := sealCopy(b.path)
	if err != nil {
		return nil, err
	}
	if b.file != nil {
		b.retired = append(b.retired, b.file)
	}
	b.file, b.key = f, key
	return f, nil
}

func sealCopy(path string) (*os.File, fileKey, error) {
	src, err := os.Open(path)
	if err != nil {
		return nil, fileKey{}, err
	}
	defer src.Close()
	var st syscall.Stat_t
	if err := syscall.Fstat(int(src.Fd()), &st); err != nil {
		return nil, fileKey{}, &os.PathError{Op: "stat", Path: path, Err: err}
	}
	magic := make([]byte, 4)
	if _, err := io.ReadFull(src, magic); err != nil || !bytes.Equal(magic, []byte("\x7fELF")) {
		return nil, fileKey{}, fmt.Errorf("%s: not an ELF binary", path)
	}
	if _, err := src.Seek(0, io.SeekStart); err != nil {
		return nil, fileKey{}, err
	}
	name := "berth-sealed:" + filepath.Base(path)
	// MFD_EXEC keeps the copy executable where vm.memfd_noexec would otherwise refuse; kernels before 6.3
	// do not know the flag.
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING|unix.MFD_EXEC)
	if errors.Is(err, unix.EINVAL) {
		fd, err = unix.MemfdCreate(name, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	}
	if err != nil {
		return nil, fileKey{}, fmt.Errorf("memfd for %s: %w", path, err)
	}
	f := os.NewFile(uintptr(fd), name)
	if _, err := io.Copy(f, src); err != nil {
		f.Close()
		return nil, fileKey{}, fmt.Errorf("copy %s: %w", path, err)
	}
	if _, err := unix.FcntlInt(f.Fd(), unix.F_ADD_SEALS, runtimeSeals); err != nil {
		f.Close()
		return nil, fileKey{}, fmt.Errorf("seal copy of %s: %w", path, err)
	}
	return f, keyOf(&st), nil
}
