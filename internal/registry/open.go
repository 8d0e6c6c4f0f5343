package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/berth/berth/internal/content"
	"github.com/containerd/errdefs"
)

// openStore opens the content store at the registry's root and brings what an earlier version or run left
// there up to date: upload sessions whose bytes were kept in _uploads/<uuid>/data move into ingests, and ingests
// no session owns (a proxy fetch, or an upload whose session is gone) are discarded.
func openStore(ctx context.Context, root string, log *slog.Logger) (*store, error) {
	cs, err := content.Open(root)
	if err != nil {
		return nil, err
	}
	s := &store{root: root, blobs: cs}
	repos, err := s.listRepos()
	if err != nil {
		return nil, err
	}
	for _, name := range repos {
		entries, err := os.ReadDir(s.repoPath(name, "_uploads"))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		for _, e := range entries {
			if err := s.migrateUpload(ctx, name, e.Name()); err != nil {
				return nil, fmt.Errorf("upload %s of %s: %w", e.Name(), name, err)
			}
		}
	}
	sts, err := cs.ListStatuses(ctx, "")
	if err != nil {
		return nil, err
	}
	for _, st := range sts {
		if rest, ok := strings.CutPrefix(st.Ref, uploadRefPrefix); ok {
			i := strings.LastIndexByte(rest, '/')
			if _, err := os.Stat(s.uploadDir(rest[:max(i, 0)], rest[i+1:])); i > 0 && err == nil {
				continue
			}
		} else if !strings.HasPrefix(st.Ref, proxyRefPrefix) {
			continue // not the registry's
		}
		log.InfoContext(ctx, "registry: discarding an unfinished ingest", "ref", st.Ref, "size", st.Offset)
		if err := cs.Abort(ctx, st.Ref); err != nil && !errdefs.IsNotFound(err) {
			return nil, err
		}
	}
	return s, nil
}

// migrateUpload moves an upload session of the earlier layout, whose bytes were in _uploads/<uuid>/data, into
// its ingest; a client can go on with it.
func (s *store) migrateUpload(ctx context.Context, name, id string) error {
	data := filepath.Join(s.uploadDir(name, id), "data")
	f, err := os.Open(data)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	w, err := s.blobs.Writer(ctx, content.WithRef(uploadRef(name, id)))
	if err != nil {
		return err
	}
	// A migration cut short left a partial copy: start it over.
	err = w.Truncate(0)
	if err == nil {
		_, err = io.Copy(w, f)
	}
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Remove(data)
}
