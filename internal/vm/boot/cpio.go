package boot

import (
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
)

// Entry is one file of an initramfs: a directory, a regular file, a symlink or a character device. Writing
// the archive needs no privileges (device nodes are only described), which is why Berth writes its own.
type Entry struct {
	// Name is the path inside the archive, without a leading slash.
	Name string
	// Mode is the permission bits and the type (fs.ModeDir, fs.ModeSymlink, fs.ModeDevice|fs.ModeCharDevice;
	// none for a regular file).
	Mode fs.FileMode
	// Data is a regular file's content, or a symlink's target.
	Data []byte
	// Major and Minor number a character device.
	Major, Minor uint32
}

// cpio newc (SVR4 without checksums), the format the kernel unpacks an initramfs from.
const (
	newcMagic = "070701"
	trailer   = "TRAILER!!!"
)

// WriteCPIO writes entries as a newc archive. Parents must come before their children.
func WriteCPIO(w io.Writer, entries []Entry) error {
	cw := &countWriter{w: w}
	for i, e := range entries {
		name := strings.TrimPrefix(path.Clean("/"+e.Name), "/")
		if name == "" || name == "." {
			return fmt.Errorf("cpio: entry %d has no name", i)
		}
		mode, err := cpioMode(e.Mode)
		if err != nil {
			return fmt.Errorf("cpio: %s: %w", name, err)
		}
		size := len(e.Data)
		if e.Mode.IsDir() || e.Mode&fs.ModeDevice != 0 {
			size = 0
		}
		if err := writeHeader(cw, uint32(i+1), mode, uint32(size), e.Major, e.Minor, name); err != nil {
			return err
		}
		if size > 0 {
			if _, err := cw.Write(e.Data); err != nil {
				return err
			}
		}
		if err := cw.pad(); err != nil {
			return err
		}
	}
	if err := writeHeader(cw, 0, 0, 0, 0, 0, trailer); err != nil {
		return err
	}
	return cw.pad()
}

func cpioMode(m fs.FileMode) (uint32, error) {
	perm := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		perm |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		perm |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		perm |= 0o1000
	}
	switch {
	case m.IsDir():
		return 0o040000 | perm, nil
	case m&fs.ModeSymlink != 0:
		return 0o120000 | perm, nil
	case m&fs.ModeCharDevice != 0:
		return 0o020000 | perm, nil
	case m.IsRegular():
		return 0o100000 | perm, nil
	}
	return 0, fmt.Errorf("unsupported file type %v", m.Type())
}

func writeHeader(w *countWriter, ino, mode, size, major, minor uint32, name string) error {
	nlink := uint32(1)
	if mode&0o170000 == 0o040000 {
		nlink = 2
	}
	// ino mode uid gid nlink mtime filesize devmajor devminor rdevmajor rdevminor namesize check
	h := fmt.Sprintf("%s%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x", newcMagic,
		ino, mode, 0, 0, nlink, 0, size, 0, 0, major, minor, len(name)+1, 0)
	if _, err := io.WriteString(w, h+name+"\x00"); err != nil {
		return err
	}
	return w.pad()
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// pad aligns to 4 bytes, as newc requires after the header and name and after the data.
func (c *countWriter) pad() error {
	if r := c.n % 4; r != 0 {
		_, err := c.Write(make([]byte, 4-r))
		return err
	}
	return nil
}
