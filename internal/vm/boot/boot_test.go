package boot

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// x86ish regenerates the input of testdata/x86.xz: near calls and jumps (E8, E9 and an offset), the patterns
// xz's x86 filter rewrites, between runs of other bytes. The file was made with
// `xz --format=xz --x86 --lzma2=preset=6 --check=crc32` (xz-utils 5.4), as Linux compresses its kernel.
func x86ish() []byte {
	var b []byte
	s := uint32(1)
	next := func() uint32 { s = s*1103515245 + 12345; return s >> 8 }
	for len(b) < 32<<10 {
		switch next() % 5 {
		case 0:
			off := next() % 4096
			b = append(b, 0xe8, byte(off), byte(off>>8), 0, 0)
		case 1:
			u := uint32(-int32(next() % 4096))
			b = append(b, 0xe9, byte(u), byte(u>>8), byte(u>>16), byte(u>>24))
		default:
			for i := next() % 12; i > 0; i-- {
				b = append(b, byte(next()))
			}
		}
	}
	return b[:32<<10]
}

func TestUnxz(t *testing.T) {
	want := x86ish()
	if sum := sha256.Sum256(want); hex.EncodeToString(sum[:]) != "b7e660d1043a596213e34b03cf2f80777cc5041dd50a001ccd59cad5c0e46a4d" {
		t.Fatal("the generator no longer makes testdata/x86.xz's input")
	}
	in, err := os.ReadFile("testdata/x86.xz")
	if err != nil {
		t.Fatal(err)
	}
	got, err := unxz(in)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("decompressed %d bytes that differ from the original's %d", len(got), len(want))
	}
	for _, tt := range []struct {
		name string
		in   []byte
	}{
		{name: "not xz", in: []byte("hello world, this is not xz")},
		{name: "truncated header", in: in[:14]},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := unxz(tt.in); err == nil {
				t.Error("no error")
			}
		})
	}
}

// readCPIO parses a newc archive: names, modes, device numbers and contents, in order.
func readCPIO(t *testing.T, b []byte) []Entry {
	t.Helper()
	var out []Entry
	field := func(h []byte, i int) uint32 {
		v, err := strconv.ParseUint(string(h[6+8*i:14+8*i]), 16, 32)
		if err != nil {
			t.Fatalf("header field %d: %v", i, err)
		}
		return uint32(v)
	}
	for off := 0; ; {
		h := b[off : off+110]
		if string(h[:6]) != "070701" {
			t.Fatalf("bad magic at %d", off)
		}
		mode, size, nameSize := field(h, 1), field(h, 6), field(h, 11)
		name := string(b[off+110 : off+110+int(nameSize)-1])
		off = align4(off + 110 + int(nameSize))
		if name == "TRAILER!!!" {
			if off != len(b) {
				t.Errorf("%d bytes after the trailer", len(b)-off)
			}
			return out
		}
		e := Entry{Name: name, Data: append([]byte(nil), b[off:off+int(size)]...), Major: field(h, 9), Minor: field(h, 10)}
		e.Mode = fs.FileMode(mode & 0o777)
		switch mode & 0o170000 {
		case 0o040000:
			e.Mode |= fs.ModeDir
		case 0o020000:
			e.Mode |= fs.ModeDevice | fs.ModeCharDevice
		case 0o120000:
			e.Mode |= fs.ModeSymlink
		}
		out = append(out, e)
		off = align4(off + int(size))
	}
}

func TestStripSignature(t *testing.T) {
	elf := []byte("\x7fELF module body")
	sig := bytes.Repeat([]byte{0xaa}, 40)
	info := []byte{0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 40} // PKCS#7, no signer or key id, 40 bytes of signature
	signed := append(append(append(append([]byte{}, elf...), sig...), info...), sigMagic...)
	tests := []struct {
		name string
		in   []byte
		want []byte
	}{
		{name: "signed", in: signed, want: elf},
		{name: "unsigned", in: elf, want: elf},
		{name: "a length beyond the file", in: append(append([]byte("x"), []byte{0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1, 0}...), sigMagic...),
			want: append(append([]byte("x"), []byte{0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1, 0}...), sigMagic...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := stripSignature(tt.in); !bytes.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestWriteCPIO(t *testing.T) {
	entries := []Entry{
		{Name: "dev", Mode: fs.ModeDir | 0o755},
		{Name: "/dev/console", Mode: fs.ModeDevice | fs.ModeCharDevice | 0o600, Major: 5, Minor: 1},
		{Name: "init", Mode: 0o755, Data: []byte("#!/bin/sh\n")},
		{Name: "bin/sh", Mode: fs.ModeSymlink | 0o777, Data: []byte("busybox")},
		{Name: "empty", Mode: 0o644},
	}
	var buf bytes.Buffer
	if err := WriteCPIO(&buf, entries); err != nil {
		t.Fatal(err)
	}
	got := readCPIO(t, buf.Bytes())
	if len(got) != len(entries) {
		t.Fatalf("%d entries back, want %d", len(got), len(entries))
	}
	for i, e := range entries {
		g := got[i]
		wantName := strings.TrimPrefix(e.Name, "/")
		if g.Name != wantName || g.Mode != e.Mode || g.Major != e.Major || g.Minor != e.Minor || !bytes.Equal(g.Data, e.Data) {
			t.Errorf("entry %d: got %+v, want %+v", i, g, e)
		}
	}
	for _, bad := range []Entry{{Name: "", Mode: 0o644}, {Name: "fifo", Mode: fs.ModeNamedPipe | 0o644}} {
		if err := WriteCPIO(io.Discard, []Entry{bad}); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}

// fakeBzImage is a bzImage header (boot protocol 2.x) with a version string and payload.
func fakeBzImage(version string, payload []byte) []byte {
	b := make([]byte, 5*512)
	b[0x1f1] = 4 // setup sectors
	copy(b[0x202:], "HdrS")
	binary.LittleEndian.PutUint16(b[0x20e:], 0x300-0x200)
	copy(b[0x300:], version+" (debian-kernel@lists.debian.org) #1 SMP\x00")
	binary.LittleEndian.PutUint32(b[0x248:], 0)
	binary.LittleEndian.PutUint32(b[0x24c:], uint32(len(payload)))
	return append(b, payload...)
}

func TestFindKernel(t *testing.T) {
	root := t.TempDir()
	pkg := filepath.Join(root, "linux-image-6.1.0-9-amd64")
	os.MkdirAll(filepath.Join(pkg, "boot"), 0o755)
	os.MkdirAll(filepath.Join(pkg, "lib", "modules", "6.1.0-9-amd64"), 0o755)
	os.WriteFile(filepath.Join(pkg, "boot", "vmlinuz-6.1.0-9-amd64"), fakeBzImage("6.1.0-9-amd64", nil), 0o644)
	bare := filepath.Join(root, "kernel.bin")
	os.WriteFile(bare, fakeBzImage("6.6.6-test", nil), 0o644)
	notKernel := filepath.Join(root, "notes.txt")
	os.WriteFile(notKernel, bytes.Repeat([]byte("x"), 4096), 0o644)
	tests := []struct {
		name    string
		path    string
		want    Kernel
		wantErr string
	}{
		{name: "a directory of unpacked packages", path: root, want: Kernel{Image: filepath.Join(pkg, "boot", "vmlinuz-6.1.0-9-amd64"),
			Release: "6.1.0-9-amd64", Modules: filepath.Join(pkg, "lib", "modules", "6.1.0-9-amd64")}},
		{name: "the package itself", path: pkg, want: Kernel{Image: filepath.Join(pkg, "boot", "vmlinuz-6.1.0-9-amd64"),
			Release: "6.1.0-9-amd64", Modules: filepath.Join(pkg, "lib", "modules", "6.1.0-9-amd64")}},
		{name: "a bare bzImage: its release from its header", path: bare, want: Kernel{Image: bare, Release: "6.6.6-test"}},
		{name: "not a kernel", path: notKernel, wantErr: "not a Linux bzImage"},
		{name: "nothing there", path: filepath.Join(root, "none"), wantErr: "no such file"},
		{name: "an empty directory", path: t.TempDir(), wantErr: "no boot/vmlinuz-*"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := FindKernel(tt.path)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
	// A payload that is not a known compression: the bzImage is booted as it is.
	ok, err := ExtractVmlinux(bare, filepath.Join(root, "vmlinux"))
	if ok || err != nil {
		t.Errorf("extract of an empty payload: %v, %v", ok, err)
	}
}

// requireKernel returns the kernel scripts/test.sh prepared, or skips (fails when it said it did).
func requireKernel(t *testing.T) Kernel {
	t.Helper()
	path := os.Getenv("BERTH_TEST_KERNEL")
	if path == "" {
		if os.Getenv("BERTH_TEST_REQUIRE_VM") != "" {
			t.Fatal("BERTH_TEST_KERNEL is not set but BERTH_TEST_REQUIRE_VM is")
		}
		t.Skip("needs BERTH_TEST_KERNEL (scripts/test.sh unpacks Debian's kernel)")
	}
	k, err := FindKernel(path)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// On Debian's kernel: the ELF comes out with its PVH note, the modules with their dependencies first, and the
// initramfs holds the init and each module.
func TestDebianKernel(t *testing.T) {
	k := requireKernel(t)
	if k.Modules == "" {
		t.Fatalf("no modules found next to %s", k.Image)
	}
	dst := filepath.Join(t.TempDir(), "vmlinux")
	ok, err := ExtractVmlinux(k.Image, dst)
	if err != nil || !ok {
		t.Fatalf("extract: %v, %v", ok, err)
	}
	b, _ := os.ReadFile(dst)
	if !bytes.HasPrefix(b, []byte("\x7fELF")) || !hasPVHNote(b) {
		t.Error("the extracted kernel is not an ELF with a PVH entry point")
	}
	mods, err := ResolveModules(k.Modules, ContainerProfile.Required, nil)
	if err != nil {
		t.Fatal(err)
	}
	pos := map[string]int{}
	for i, m := range mods {
		pos[m.Name] = i
	}
	for _, dep := range [][2]string{{"virtio", "virtio_mmio"}, {"9pnet", "9pnet_virtio"}, {"netfs", "9p"}, {"virtio_ring", "virtio_console"}} {
		a, okA := pos[dep[0]]
		b, okB := pos[dep[1]]
		if okB && (!okA || a > b) {
			t.Errorf("%s must load before %s: order %v", dep[0], dep[1], pos)
		}
	}
	if _, err := ResolveModules(k.Modules, []string{"no_such_module"}, nil); err == nil {
		t.Error("a missing required module is not an error")
	}
	init := filepath.Join(t.TempDir(), "init")
	os.WriteFile(init, []byte("\x7fELF fake init"), 0o755)
	var buf bytes.Buffer
	if err := BuildInitramfs(&buf, k, init, ContainerProfile); err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	var order string
	for _, e := range readCPIO(t, buf.Bytes()) {
		names[e.Name] = true
		if e.Name == "lib/modules/berth/order" {
			order = string(e.Data)
		}
	}
	for _, want := range []string{"init", "dev/console", "lib/modules/berth/9p.ko", "lib/modules/berth/virtio_console.ko"} {
		if !names[want] {
			t.Errorf("initramfs lacks %s", want)
		}
	}
	if !strings.HasSuffix(order, fmt.Sprintf("%s.ko\n", mods[len(mods)-1].Name)) {
		t.Errorf("order file %q does not end with the last module", order)
	}
}
