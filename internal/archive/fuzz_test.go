package archive_test

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/berth/berth/internal/archive"
)

// decodeEntries turns fuzz bytes into tar entries built from a vocabulary of hostile names and link targets,
// so the fuzzer spends its time on combinations rather than on tar checksums. OUTSIDE becomes outside.
func decodeEntries(data []byte, outside string) []entry {
	comps := []string{"a", "b", "..", ".", "", ".wh.a", ".wh..wh..opq", "outside", "secret", "dir", "OUTSIDE", "etc", ".wh.secret", "...", "a/..", "root"}
	links := []string{"..", "../..", "../outside", "/", "/etc", "OUTSIDE", "OUTSIDE/secret", "OUTSIDE/dir", "a", "a/b", "../outside/secret", ".", "b/../../outside", "/../outside/dir", "dir/../..", "secret"}
	types := []byte{tar.TypeReg, tar.TypeDir, tar.TypeSymlink, tar.TypeLink, tar.TypeFifo, tar.TypeChar, tar.TypeReg, tar.TypeSymlink}
	modes := []int64{0o644, 0o4755, 0o000, 0o1777}
	var out []entry
	for i := 0; i+4 <= len(data) && len(out) < 32; i += 4 {
		op, n1, n2, l := data[i], data[i+1], data[i+2], data[i+3]
		parts := []string{comps[n1&15], comps[n1>>4]}
		if n2&1 != 0 {
			parts = append(parts, comps[(n2>>4)&15])
		}
		name := strings.Join(parts, "/")
		if n2&2 != 0 {
			name = "/" + name
		}
		e := entry{name: strings.ReplaceAll(name, "OUTSIDE", outside), typ: types[op&7], mode: modes[(op>>3)&3]}
		switch e.typ {
		case tar.TypeSymlink, tar.TypeLink:
			e.link = strings.ReplaceAll(links[l&15], "OUTSIDE", outside)
		case tar.TypeReg:
			e.body = strings.Repeat("x", int(l&7))
		case tar.TypeChar:
			e.major, e.minor = int64(l&1), int64(l&2)
		}
		if op&0x20 != 0 {
			e.xattrs = map[string]string{"user.x": "1", "trusted.overlay.opaque": "y"}
		}
		if e.typ == tar.TypeDir && n2&4 != 0 {
			e.name += "/"
		} else if e.typ != tar.TypeDir {
			// tar cannot encode a non-directory whose name ends in a slash
			if e.name = strings.TrimRight(e.name, "/"); e.name == "" {
				e.name = "x"
			}
		}
		out = append(out, e)
	}
	return out
}

// FuzzApply asserts that no tar, however hostile, changes anything outside the extraction root.
func FuzzApply(f *testing.F) {
	f.Add([]byte{2, 0x00, 0, 5, 0, 0x90, 0, 0}, false)                   // a -> OUTSIDE; a/secret
	f.Add([]byte{2, 0x00, 0, 2, 0, 0x80, 0, 0}, false)                   // a -> ../outside; a/secret
	f.Add([]byte{3, 0x00, 0, 10, 0x18, 0x00, 0, 0}, false)               // hard link to ../outside/secret; chmod
	f.Add([]byte{2, 0x09, 0, 7, 0, 0x09, 1, 0, 5, 0x09, 0x61, 0}, false) // dir -> OUTSIDE/dir; whiteouts below
	f.Add([]byte{0, 0x22, 2, 3}, false)                                  // ../..
	seed := func(entries []entry) []byte { return mkTar(f, entries) }
	f.Add(seed([]entry{{name: "l", typ: tar.TypeSymlink, link: "../outside"}, {name: "l/secret", body: "pwned"}}), true)
	f.Add(seed([]entry{{name: "../outside/secret", body: "pwned"}}), true)
	f.Add(seed([]entry{{name: "h", typ: tar.TypeLink, link: "../outside/secret"}}), true)
	f.Add(gzipped(f, seed([]entry{{name: "d", typ: tar.TypeSymlink, link: "/"}, {name: "d/../../outside/x", body: "x"}})), true)
	f.Fuzz(func(t *testing.T, data []byte, raw bool) {
		s := newSandbox(t)
		tb := data
		if !raw {
			tb = mkTar(t, decodeEntries(data, s.outside))
		}
		_, _ = archive.Apply(context.Background(), s.root, bytes.NewReader(tb))
		s.check(t)
	})
}

// TestApplyUncompressedToRace extracts into a container root while a "container process" keeps swapping a
// directory of the destination for a symlink to the outside dir. Nothing outside may change.
func TestApplyUncompressedToRace(t *testing.T) {
	s := newSandbox(t)
	data := filepath.Join(s.root, "data")
	must(t, os.MkdirAll(filepath.Join(data, "d"), 0o755))
	rel, err := filepath.Rel(data, s.outside)
	must(t, err)
	var entries []entry
	for i := range 50 {
		entries = append(entries,
			entry{name: "d/", typ: tar.TypeDir, mode: 0o777},
			entry{name: "d/secret", body: "pwned", mode: 0o4777},
			entry{name: "d/f" + string(rune('a'+i%26)), typ: tar.TypeFifo},
			entry{name: "d/sub/x", body: "pwned", xattrs: map[string]string{"user.x": "1"}},
		)
	}
	tb := mkTar(t, entries)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		d, tmp := filepath.Join(data, "d"), filepath.Join(data, "d.tmp")
		for {
			select {
			case <-stop:
				return
			default:
			}
			_ = os.Rename(d, tmp)
			_ = os.Symlink(rel, d)
			_ = os.Symlink(s.outside, d)
			_ = os.Remove(d)
			_ = os.Rename(tmp, d)
		}
	}()
	failed := 0
	for range 40 {
		if err := archive.ApplyUncompressedTo(context.Background(), s.root, "/data", bytes.NewReader(tb), false); err != nil {
			failed++ // expected now and then: the attacker removes directories under our feet
		}
	}
	t.Logf("%d of 40 extractions failed under the race", failed)
	close(stop)
	wg.Wait()
	s.check(t)
}
