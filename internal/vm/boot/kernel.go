package boot

import (
	"bytes"
	"compress/gzip"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/klauspost/compress/zstd"
)

// Kernel is a Linux kernel to boot guests with, laid out as a Debian linux-image package unpacked into a
// directory: ROOT/boot/vmlinuz-RELEASE and its modules in ROOT/lib/modules/RELEASE.
type Kernel struct {
	// Image is the bzImage (vmlinuz).
	Image string
	// Release is its `uname -r`.
	Release string
	// Modules is its modules directory ("" when it has none next to it).
	Modules string
}

// FindKernel finds the kernel at path: a vmlinuz file, or a directory holding unpacked packages (the newest
// boot/vmlinuz-* under it or its subdirectories wins).
func FindKernel(path string) (Kernel, error) {
	st, err := os.Stat(path)
	if err != nil {
		return Kernel{}, fmt.Errorf("virtual machine kernel: %w: %w", err, errdefs.ErrNotFound)
	}
	image := path
	if st.IsDir() {
		var cands []string
		for _, pat := range []string{"boot/vmlinuz-*", "*/boot/vmlinuz-*"} {
			m, _ := filepath.Glob(filepath.Join(path, pat))
			cands = append(cands, m...)
		}
		if len(cands) == 0 {
			return Kernel{}, fmt.Errorf("virtual machine kernel: no boot/vmlinuz-* under %s (scripts/setup.sh unpacks Debian's linux-image-amd64 there): %w", path, errdefs.ErrNotFound)
		}
		sort.Strings(cands)
		image = cands[len(cands)-1]
	}
	k := Kernel{Image: image}
	if rel, ok := strings.CutPrefix(filepath.Base(image), "vmlinuz-"); ok {
		k.Release = rel
	} else if k.Release, err = bzImageVersion(image); err != nil {
		return Kernel{}, err
	}
	mods := filepath.Join(filepath.Dir(filepath.Dir(image)), "lib", "modules", k.Release)
	if st, err := os.Stat(mods); err == nil && st.IsDir() {
		k.Modules = mods
	} else if image == "/boot/vmlinuz-"+k.Release {
		if st, err := os.Stat("/lib/modules/" + k.Release); err == nil && st.IsDir() {
			k.Modules = "/lib/modules/" + k.Release
		}
	}
	return k, nil
}

// bzImageVersion reads the release from a bzImage's setup header (kernel_version, boot protocol 2.00+).
func bzImageVersion(path string) (string, error) {
	b, err := readHead(path, 64<<10)
	if err != nil {
		return "", err
	}
	if len(b) < 0x210 || string(b[0x202:0x206]) != "HdrS" {
		return "", fmt.Errorf("%s is not a Linux bzImage: %w", path, errdefs.ErrInvalidArgument)
	}
	off := int(binary.LittleEndian.Uint16(b[0x20e:])) + 0x200
	if off >= len(b) {
		return "", fmt.Errorf("%s: no kernel version in its header: %w", path, errdefs.ErrInvalidArgument)
	}
	v := b[off:]
	if i := bytes.IndexAny(v, " \x00"); i >= 0 {
		v = v[:i]
	}
	return string(v), nil
}

func readHead(path string, n int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, n)
	m, err := io.ReadFull(f, b)
	if err != nil && err != io.ErrUnexpectedEOF {
		return nil, err
	}
	return b[:m], nil
}

// xenNotePVH is the ELF note (owner "Xen", type XEN_ELFNOTE_PHYS32_ENTRY) of a kernel with a PVH entry point,
// which qemu boots directly from the uncompressed ELF.
const xenNotePVH = 18

// ExtractVmlinux decompresses the kernel inside a bzImage and writes it to dst when it can be booted through
// its PVH entry point; it reports false (writing nothing) when it cannot. Booting the ELF skips the kernel's own
// decompression, which under software emulation costs seconds (Debian's XZ-compressed kernel: about 3.5 s of
// CPU here, more than the rest of its boot).
func ExtractVmlinux(image, dst string) (bool, error) {
	data, err := os.ReadFile(image)
	if err != nil {
		return false, err
	}
	if len(data) < 0x250 || string(data[0x202:0x206]) != "HdrS" {
		return false, fmt.Errorf("%s is not a Linux bzImage: %w", image, errdefs.ErrInvalidArgument)
	}
	setupSects := int(data[0x1f1])
	if setupSects == 0 {
		setupSects = 4
	}
	start := (setupSects+1)*512 + int(binary.LittleEndian.Uint32(data[0x248:]))
	length := int(binary.LittleEndian.Uint32(data[0x24c:]))
	if start <= 0 || length <= 0 || start+length > len(data) {
		return false, nil
	}
	elfData, err := decompress(data[start : start+length])
	if err != nil || elfData == nil {
		return false, err
	}
	if !hasPVHNote(elfData) {
		return false, nil
	}
	tmp := dst + ".tmp"
	if err := os.WriteFile(tmp, elfData, 0o644); err != nil {
		return false, err
	}
	return true, os.Rename(tmp, dst)
}

// decompress undoes the kernel's payload compression; nil for a format it does not know (lz4, lzma, bzip2, lzo:
// the bzImage is booted then).
func decompress(p []byte) ([]byte, error) {
	switch {
	case bytes.HasPrefix(p, []byte{0xfd, '7', 'z', 'X', 'Z', 0}):
		return unxz(p)
	case bytes.HasPrefix(p, []byte{0x1f, 0x8b}):
		r, err := gzip.NewReader(bytes.NewReader(p))
		if err != nil {
			return nil, err
		}
		r.Multistream(false)
		return io.ReadAll(r)
	case bytes.HasPrefix(p, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		d, err := zstd.NewReader(bytes.NewReader(p), zstd.WithDecoderMaxMemory(1<<30))
		if err != nil {
			return nil, err
		}
		defer d.Close()
		return io.ReadAll(d)
	}
	return nil, nil
}

func hasPVHNote(b []byte) bool {
	f, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		return false
	}
	for _, p := range f.Progs {
		if p.Type != elf.PT_NOTE {
			continue
		}
		notes, err := io.ReadAll(p.Open())
		if err != nil {
			continue
		}
		for len(notes) >= 12 {
			nameSz := int(binary.LittleEndian.Uint32(notes[0:]))
			descSz := int(binary.LittleEndian.Uint32(notes[4:]))
			typ := binary.LittleEndian.Uint32(notes[8:])
			nameEnd := 12 + align4(nameSz)
			end := nameEnd + align4(descSz)
			if end > len(notes) {
				break
			}
			if typ == xenNotePVH && strings.TrimRight(string(notes[12:12+nameSz]), "\x00") == "Xen" {
				return true
			}
			notes = notes[end:]
		}
	}
	return false
}

func align4(n int) int { return (n + 3) &^ 3 }

// ErrNoModule reports a module the kernel has neither built in nor as a file.
var ErrNoModule = errors.New("kernel module not found")
