package builder

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/containerd/errdefs"

	"github.com/berth/berth/internal/archive"
)

// PAXDigest and PAXSize are the PAX records of a berth context manifest: a regular file sent without its content, named by its sha256 and size.
// Only `berth build` sends them (see ContextManifest); the docker CLI sends plain tars.
const (
	PAXDigest = "BERTH.sha256"
	PAXSize   = "BERTH.size"
)

// ContextManifest is Options.ContextManifest's query value: the context tar's large files may be references.
const ContextManifest = "manifest"

// MinStoredFile is the size from which context files are kept in the daemon's context file store, so that a
// later `berth build` may send them as references. Smaller files always travel inline.
const MinStoredFile = 1 << 20

// ErrMissingContent is the error (a failed precondition) of a manifest naming files the daemon does not have; the
// client then sends the full context.
var ErrMissingContent = errors.New("build context: content not available on the daemon, send the full context")

// buildContext is an unpacked build context. Every regular file's content digest is known from the upload
// (computed alongside the extraction, or given by a manifest), so the cache checksums never read files again.
type buildContext struct {
	dir string
	// digests maps a regular file's path relative to dir to the sha256 (hex) of its content.
	digests map[string]string
	// content maps the paths of manifest placeholders (empty files with the right metadata) to the store file
	// holding their content.
	content map[string]string
}

// digestOf returns the content digest of the file at host path p, if the upload told it.
func (bc *buildContext) digestOf(p string) (string, bool) {
	if bc == nil {
		return "", false
	}
	rel, err := filepath.Rel(bc.dir, p)
	if err != nil {
		return "", false
	}
	d, ok := bc.digests[filepath.ToSlash(rel)]
	return d, ok
}

// contentOf returns where to read the content of the file at host path p: p itself, or a store file.
func (bc *buildContext) contentOf(p string) string {
	if bc == nil || len(bc.content) == 0 {
		return p
	}
	rel, err := filepath.Rel(bc.dir, p)
	if err != nil {
		return p
	}
	if s, ok := bc.content[filepath.ToSlash(rel)]; ok {
		return s
	}
	return p
}

// entryName is a tar entry's path relative to the context root.
func entryName(name string) string {
	return strings.TrimPrefix(path.Clean("/"+name), "/")
}

// receiveContext unpacks the context tar r into dir with internal/archive's safe extraction while a second
// reader of the same bytes hashes every regular file on the other core. With manifest, regular files carrying
// PAXDigest are taken from the store; when one is missing the error wraps errdefs.ErrFailedPrecondition.
func (b *Builder) receiveContext(ctx context.Context, r io.Reader, dir string, manifest bool) (*buildContext, error) {
	bc := &buildContext{dir: dir, digests: map[string]string{}, content: map[string]string{}}
	extractR, extractW := io.Pipe()
	hashR, hashW := io.Pipe()
	hashDone := make(chan error, 1)
	var stored []string // paths worth keeping in the store
	var missing int
	go func() {
		err := func() error {
			tr := tar.NewReader(hashR)
			buf := make([]byte, 256<<10)
			for {
				hdr, err := tr.Next()
				if errors.Is(err, io.EOF) {
					return nil
				}
				if err != nil {
					return err
				}
				name := entryName(hdr.Name)
				switch hdr.Typeflag {
				case tar.TypeReg:
					if d, ok := hdr.PAXRecords[PAXDigest]; ok && manifest {
						if len(d) != 64 {
							return errdefs.ErrInvalidArgument.WithMessage("build context: bad digest for " + name)
						}
						bc.digests[name] = d
						sp := b.storePath(d)
						if _, err := os.Stat(sp); err != nil {
							missing++
							continue
						}
						bc.content[name] = sp
						continue
					}
					h := sha256.New()
					if _, err := io.CopyBuffer(h, tr, buf); err != nil {
						return err
					}
					bc.digests[name] = hex.EncodeToString(h.Sum(nil))
					delete(bc.content, name)
					if hdr.Size >= MinStoredFile {
						stored = append(stored, name)
					}
				case tar.TypeLink:
					if d, ok := bc.digests[entryName(hdr.Linkname)]; ok {
						bc.digests[name] = d
						if c, ok := bc.content[entryName(hdr.Linkname)]; ok {
							bc.content[name] = c
						}
					}
				default:
					delete(bc.digests, name)
					delete(bc.content, name)
				}
			}
		}()
		// Drain, so the copy below never blocks on a hasher that stopped early.
		io.Copy(io.Discard, hashR)
		hashDone <- err
	}()
	go func() {
		_, err := io.Copy(io.MultiWriter(extractW, hashW), r)
		extractW.CloseWithError(err)
		hashW.CloseWithError(err)
	}()
	err := archive.ApplyUncompressedTo(ctx, dir, "/", extractR, false)
	if err != nil {
		extractR.CloseWithError(err) // stops the copy, and with it the hasher
	} else if _, cerr := io.Copy(io.Discard, extractR); cerr != nil {
		// the rest of the stream (padding) still has to reach the hasher
		err = cerr
	}
	herr := <-hashDone
	if err != nil {
		return nil, fmt.Errorf("build context: %w", err)
	}
	if herr != nil {
		return nil, fmt.Errorf("build context: %w", herr)
	}
	if missing > 0 {
		return nil, fmt.Errorf("%w: %d files: %w", ErrMissingContent, missing, errdefs.ErrFailedPrecondition)
	}
	// Keep large files for later manifests: a hard link, no copy.
	for _, name := range stored {
		sp := b.storePath(bc.digests[name])
		if _, err := os.Stat(sp); err == nil {
			continue
		}
		src := filepath.Join(dir, filepath.FromSlash(name))
		if fi, err := os.Lstat(src); err != nil || !fi.Mode().IsRegular() {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(sp), 0o700); err == nil {
			os.Link(src, sp) // best effort: a lost race or a failure only costs a later full upload
		}
	}
	return bc, nil
}

// storePath is where the context file store keeps content with the given sha256.
func (b *Builder) storePath(hexDigest string) string {
	return filepath.Join(b.storeDir(), hexDigest)
}

func (b *Builder) storeDir() string { return filepath.Join(filepath.Dir(b.tmpDir), "files") }

// PruneStore removes the context file store and returns the bytes it held.
func (b *Builder) PruneStore() (int64, error) {
	var n int64
	entries, err := os.ReadDir(b.storeDir())
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return 0, err
	}
	for _, e := range entries {
		if fi, err := e.Info(); err == nil {
			n += fi.Size()
		}
		os.Remove(filepath.Join(b.storeDir(), e.Name()))
	}
	return n, nil
}
