package command

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/berth/berth/internal/atomicfile"
)

// sumCache is `berth build`'s stat-keyed checksum cache: a large context file whose inode, size, mtime and ctime
// are unchanged since it was last hashed keeps its sha256, so a rebuild names it without reading it. It lives in
// the user's cache directory (berth/build-sums.json) and is rewritten atomically.
type sumCache struct {
	path    string
	entries map[string]sumEntry
	dirty   bool
}

type sumEntry struct {
	Dev, Ino     uint64
	Size         int64
	Mtime, Ctime int64
	Sha256       string
}

func openSumCache() *sumCache {
	c := &sumCache{entries: map[string]sumEntry{}}
	dir, err := os.UserCacheDir()
	if err != nil {
		return c
	}
	c.path = filepath.Join(dir, "berth", "build-sums.json")
	if b, err := os.ReadFile(c.path); err == nil {
		json.Unmarshal(b, &c.entries) // a corrupt cache is only a slower build
	}
	return c
}

func statKey(fi fs.FileInfo) (sumEntry, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return sumEntry{}, false
	}
	return sumEntry{Dev: uint64(st.Dev), Ino: st.Ino, Size: fi.Size(), Mtime: st.Mtim.Nano(), Ctime: st.Ctim.Nano()}, true
}

// sum returns the sha256 of the regular file at p, from the cache when its stat is unchanged.
func (c *sumCache) Sum(p string, fi fs.FileInfo) (string, error) {
	key, ok := statKey(fi)
	if e, hit := c.entries[p]; ok && hit && e.Sha256 != "" {
		e2 := e
		e2.Sha256 = ""
		if e2 == key {
			return e.Sha256, nil
		}
	}
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	d := hex.EncodeToString(h.Sum(nil))
	if ok {
		key.Sha256 = d
		c.entries[p] = key
		c.dirty = true
	}
	return d, nil
}

func (c *sumCache) save() {
	if c == nil || !c.dirty || c.path == "" {
		return
	}
	for p := range c.entries {
		if _, err := os.Lstat(p); err != nil {
			delete(c.entries, p) // files gone since (old contexts) are forgotten
		}
	}
	b, err := json.Marshal(c.entries)
	if err != nil {
		return
	}
	if err := os.MkdirAll(filepath.Dir(c.path), 0o700); err != nil {
		return
	}
	atomicfile.WriteFile(c.path, b, 0o600)
}
