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
	"sync"

	"github.com/containerd/errdefs"

	"github.com/berth/berth/internal/archive"
	"github.com/berth/berth/internal/atomicfile"
	"github.com/berth/berth/internal/buildcontext"
)

// PAXDigest and MinStoredFile are the build context manifest's format, which the CLI's side (buildcontext) owns:
// a regular file named by its sha256 in this PAX record travels without its content; files of MinStoredFile
// bytes or more are kept in the daemon's context file store for later builds to name.
const (
	PAXDigest     = buildcontext.PAXDigest
	MinStoredFile = buildcontext.MinStoredFile
)

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

// memBudget bounds how much of a context's large files one build holds in memory while it learns their digests;
// beyond it they are spooled to a temporary file in the store.
const memBudget = 128 << 20

// receiveContext unpacks the context tar r into dir. Regular files of at least MinStoredFile bytes do not go into
// dir: they are hashed as they arrive and kept in the context file store by sha256 (written only when the store
// lacks that content), and dir gets an empty placeholder with their metadata; contentOf maps it to the store.
// Everything else is re-emitted to internal/archive's safe extraction, on the other core, hashed on the way.
// With manifest, regular files carrying PAXDigest name store content instead of carrying it; when some is missing
// the error wraps errdefs.ErrFailedPrecondition.
func (b *Builder) receiveContext(ctx context.Context, r io.Reader, dir string, manifest bool) (*buildContext, error) {
	bc := &buildContext{dir: dir, digests: map[string]string{}, content: map[string]string{}}
	if err := os.MkdirAll(b.storeDir(), 0o700); err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	var missing int
	done := make(chan error, 1)
	go func() {
		err := func() error {
			tr := tar.NewReader(r)
			tw := tar.NewWriter(pw)
			buf := make([]byte, 256<<10)
			budget := memBudget
			for {
				hdr, err := tr.Next()
				if errors.Is(err, io.EOF) {
					return tw.Close()
				}
				if err != nil {
					return err
				}
				name := entryName(hdr.Name)
				delete(bc.digests, name)
				delete(bc.content, name)
				switch {
				case isReg(hdr) && manifest && hdr.PAXRecords[PAXDigest] != "":
					d := hdr.PAXRecords[PAXDigest]
					if !validHex(d) {
						return errdefs.ErrInvalidArgument.WithMessage("build context: bad digest for " + name)
					}
					bc.digests[name] = d
					if _, err := os.Stat(b.storePath(d)); err != nil {
						missing++
					} else {
						bc.content[name] = b.storePath(d)
					}
					hdr.Size = 0
				case isReg(hdr) && hdr.Size >= MinStoredFile:
					d, err := b.storeFile(tr, hdr.Size, &budget, buf)
					if err != nil {
						return err
					}
					bc.digests[name], bc.content[name] = d, b.storePath(d)
					hdr.Size = 0
				case hdr.Typeflag == tar.TypeLink:
					target := entryName(hdr.Linkname)
					if d, ok := bc.digests[target]; ok {
						bc.digests[name] = d
					}
					if c, ok := bc.content[target]; ok {
						bc.content[name] = c
					}
				}
				delete(hdr.PAXRecords, PAXDigest)
				if err := tw.WriteHeader(hdr); err != nil {
					return err
				}
				if isReg(hdr) && hdr.Size > 0 {
					h := sha256.New()
					if _, err := io.CopyBuffer(io.MultiWriter(tw, h), tr, buf); err != nil {
						return err
					}
					bc.digests[name] = hex.EncodeToString(h.Sum(nil))
				}
			}
		}()
		pw.CloseWithError(err)
		done <- err
	}()
	err := archive.ApplyUncompressedTo(ctx, dir, "/", pr, false)
	if err != nil {
		pr.CloseWithError(err)
	} else {
		io.Copy(io.Discard, pr)
	}
	rerr := <-done
	if rerr != nil && !errors.Is(rerr, io.ErrClosedPipe) {
		return nil, fmt.Errorf("build context: %w", rerr)
	}
	if err != nil {
		return nil, fmt.Errorf("build context: %w", err)
	}
	if missing > 0 {
		return nil, fmt.Errorf("%w: %d files: %w", ErrMissingContent, missing, errdefs.ErrFailedPrecondition)
	}
	return bc, nil
}

//nolint:staticcheck // old tars still say TypeRegA
func isReg(hdr *tar.Header) bool { return hdr.Typeflag == tar.TypeReg || hdr.Typeflag == tar.TypeRegA }

func validHex(d string) bool {
	if len(d) != 64 {
		return false
	}
	_, err := hex.DecodeString(d)
	return err == nil
}

const chunkSize = 1 << 20

// chunkPool recycles the chunks storeFile holds large files in.
var chunkPool = sync.Pool{New: func() any { b := make([]byte, chunkSize); return &b }}

// storeFile reads size bytes of content from r, hashing them, and makes sure the store holds that content: held
// in memory while the budget lasts (and then only written if the store lacks it), else spooled to a temporary
// file that is renamed into place. It returns the content's sha256.
func (b *Builder) storeFile(r io.Reader, size int64, budget *int, buf []byte) (string, error) {
	h := sha256.New()
	if size <= int64(*budget) {
		*budget -= int(size)
		// Read in pooled chunks, hashing each on the other core while the next one is read.
		var held [][]byte
		defer func() {
			for _, c := range held {
				chunkPool.Put(&c)
			}
		}()
		chunks := make(chan []byte, 16)
		hashed := make(chan struct{})
		go func() {
			for c := range chunks {
				h.Write(c)
			}
			close(hashed)
		}()
		var rerr error
		for left := size; left > 0; {
			c := (*chunkPool.Get().(*[]byte))[:min(left, chunkSize)]
			held = append(held, c)
			if _, rerr = io.ReadFull(r, c); rerr != nil {
				break
			}
			chunks <- c
			left -= int64(len(c))
		}
		close(chunks)
		<-hashed
		*budget += int(size)
		if rerr != nil {
			return "", rerr
		}
		d := hex.EncodeToString(h.Sum(nil))
		if _, err := os.Stat(b.storePath(d)); err == nil {
			return d, nil // the usual rebuild: nothing to write
		}
		return d, b.commitStoreFile(d, func(f io.Writer) error {
			for _, c := range held {
				if _, err := f.Write(c); err != nil {
					return err
				}
			}
			return nil
		})
	}
	// Spooled under a provisional name; the content names the file once it is all read.
	f, err := atomicfile.Create(filepath.Join(b.storeDir(), "ingest"), 0o600)
	if err != nil {
		return "", err
	}
	defer f.Close()
	if n, err := io.CopyBuffer(io.MultiWriter(f, h), io.LimitReader(r, size), buf); err != nil {
		return "", err
	} else if n < size {
		return "", io.ErrUnexpectedEOF
	}
	d := hex.EncodeToString(h.Sum(nil))
	if _, err := os.Stat(b.storePath(d)); err == nil {
		return d, nil
	}
	return d, f.CommitAs(b.storePath(d))
}

// commitStoreFile writes a store file atomically and durably; the content was hashed before. A store file
// outlives the build and is trusted by its name: it must be whole before it has that name.
func (b *Builder) commitStoreFile(d string, write func(io.Writer) error) error {
	f, err := atomicfile.Create(b.storePath(d), 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := write(f); err != nil {
		return err
	}
	return f.Commit()
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
