package boot

import (
	"bufio"
	"bytes"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// Module is a kernel module to load in the guest, uncompressed.
type Module struct {
	Name string
	Data []byte
}

// ModuleName is a module's canonical name: the kernel treats '-' and '_' in names alike.
func ModuleName(s string) string {
	s = filepath.Base(s)
	for _, ext := range []string{".xz", ".zst", ".gz"} {
		s = strings.TrimSuffix(s, ext)
	}
	return strings.ReplaceAll(strings.TrimSuffix(s, ".ko"), "-", "_")
}

// ResolveModules returns the modules of dir (a kernel's lib/modules/RELEASE) that required and optional name,
// with their dependencies, in an order that loads dependencies first. Modules the kernel has built in
// (modules.builtin) are left out; a required module the kernel has neither built in nor as a file is an error
// wrapping ErrNoModule, an optional one is skipped.
func ResolveModules(dir string, required, optional []string) ([]Module, error) {
	builtin := map[string]bool{}
	if b, err := os.ReadFile(filepath.Join(dir, "modules.builtin")); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			builtin[ModuleName(sc.Text())] = true
		}
	}
	files := map[string]string{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.Contains(d.Name(), ".ko") {
			files[ModuleName(d.Name())] = p
		}
		return nil
	})
	r := &resolver{files: files, builtin: builtin, seen: map[string]bool{}}
	for _, n := range required {
		if err := r.add(ModuleName(n), true); err != nil {
			return nil, err
		}
	}
	for _, n := range optional {
		if err := r.add(ModuleName(n), false); err != nil {
			return nil, err
		}
	}
	return r.order, nil
}

type resolver struct {
	files   map[string]string
	builtin map[string]bool
	seen    map[string]bool
	order   []Module
}

func (r *resolver) add(name string, required bool) error {
	if r.seen[name] || r.builtin[name] {
		return nil
	}
	path, ok := r.files[name]
	if !ok {
		if required {
			return fmt.Errorf("%s: %w", name, ErrNoModule)
		}
		return nil
	}
	r.seen[name] = true
	data, err := readModule(path)
	if err != nil {
		return fmt.Errorf("module %s: %w", name, err)
	}
	deps, soft := modinfo(data)
	for _, d := range deps {
		if err := r.add(ModuleName(d), true); err != nil {
			return err
		}
	}
	for _, d := range soft {
		// A soft dependency may name an alias (crypto-crc32c): the generic implementation stands in for it.
		d = ModuleName(strings.TrimPrefix(d, "crypto-"))
		if _, ok := r.files[d]; !ok {
			d += "_generic"
		}
		if err := r.add(d, false); err != nil {
			return err
		}
	}
	r.order = append(r.order, Module{Name: name, Data: stripSignature(data)})
	return nil
}

func readModule(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	switch {
	case strings.HasSuffix(path, ".xz"):
		r, err := xz.NewReader(bytes.NewReader(b))
		if err != nil {
			return nil, err
		}
		return io.ReadAll(r)
	case strings.HasSuffix(path, ".zst"):
		d, err := zstd.NewReader(bytes.NewReader(b))
		if err != nil {
			return nil, err
		}
		defer d.Close()
		return io.ReadAll(d)
	}
	return b, nil
}

// sigMagic ends a signed module: its PKCS#7 signature, a struct module_signature (12 bytes: lengths of the
// signer and key id, the signature's length big-endian in the last four) and this string follow the ELF.
const sigMagic = "~Module signature appended~\n"

// stripSignature removes a module's appended signature. The guest kernel does not enforce signatures (Debian's
// does only under UEFI Secure Boot), and these modules come from the host's own copy of the kernel's package;
// verifying an RSA signature per module costs about a tenth of a container's boot under software emulation.
// The guest logs once that its kernel is tainted by an unsigned module.
func stripSignature(b []byte) []byte {
	if len(b) < len(sigMagic)+12 || !bytes.HasSuffix(b, []byte(sigMagic)) {
		return b
	}
	info := b[len(b)-len(sigMagic)-12 : len(b)-len(sigMagic)]
	n := int(binary.BigEndian.Uint32(info[8:])) + int(info[3]) + int(info[4])
	end := len(b) - len(sigMagic) - 12 - n
	if end <= 0 {
		return b
	}
	return b[:end]
}

// modinfo reads a module's dependencies and its "pre:" soft dependencies from its .modinfo section.
func modinfo(data []byte) (deps, soft []string) {
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return nil, nil
	}
	s := f.Section(".modinfo")
	if s == nil {
		return nil, nil
	}
	b, err := s.Data()
	if err != nil {
		return nil, nil
	}
	for _, kv := range strings.Split(string(b), "\x00") {
		if v, ok := strings.CutPrefix(kv, "depends="); ok && v != "" {
			deps = append(deps, strings.Split(v, ",")...)
		}
		if v, ok := strings.CutPrefix(kv, "softdep="); ok {
			if pre, ok := strings.CutPrefix(strings.TrimSpace(v), "pre:"); ok {
				pre, _, _ = strings.Cut(pre, "post:")
				soft = append(soft, strings.Fields(pre)...)
			}
		}
	}
	return deps, soft
}
