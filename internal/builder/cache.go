package builder

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/berth/berth/internal/atomicfile"
)

// Cache is the build cache index: a step's key (parent image, instruction after expansion, checksum of the files
// a COPY or ADD reads) to the image the step made. It is a JSON file under the data root, rewritten atomically.
// An entry whose image is gone is dropped when it is looked up (see Builder.lookup), so it never serves a
// deleted image.
type Cache struct {
	path string
	mu   sync.Mutex
	m    map[string]string
}

// OpenCache loads the index in dir, creating dir if needed.
func OpenCache(dir string) (*Cache, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	c := &Cache{path: filepath.Join(dir, "cache.json"), m: map[string]string{}}
	b, err := os.ReadFile(c.path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if len(b) > 0 {
		if err := json.Unmarshal(b, &c.m); err != nil {
			c.m = map[string]string{} // a corrupt index only costs a rebuild
		}
	}
	return c, nil
}

// CacheKey is the key of a step: its parent image ID, its created_by (the instruction after expansion, with the
// build args a RUN sees) and the checksum of its sources ("" for steps that read no files).
func CacheKey(parentID, createdBy, sources string) string {
	h := sha256.New()
	for _, s := range []string{parentID, createdBy, sources} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Get returns the image ID cached for key.
func (c *Cache) Get(key string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	id, ok := c.m[key]
	return id, ok
}

// Put records that key made image id.
func (c *Cache) Put(key, id string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[key] = id
	return c.saveLocked()
}

// Drop forgets the given keys.
func (c *Cache) Drop(keys ...string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, k := range keys {
		delete(c.m, k)
	}
	return c.saveLocked()
}

// Sweep drops the entries whose image no longer exists.
func (c *Cache) Sweep(exists func(id string) bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := len(c.m)
	for k, id := range c.m {
		if !exists(id) {
			delete(c.m, k)
		}
	}
	if len(c.m) == n {
		return nil
	}
	return c.saveLocked()
}

// Prune empties the index and returns the keys it held.
func (c *Cache) Prune() ([]string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var keys []string
	for k := range c.m {
		keys = append(keys, k)
	}
	c.m = map[string]string{}
	return keys, c.saveLocked()
}

func (c *Cache) saveLocked() error {
	b, err := json.Marshal(c.m)
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(c.path, b, 0o600)
}
