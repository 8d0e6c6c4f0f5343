package registry

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/berth/berth/internal/content"
	"github.com/containerd/errdefs"
	"github.com/opencontainers/go-digest"
)

// blobCacheControl lets HTTP caches keep blobs: their content never changes
// under a digest (the reference registry sends the same).
const blobCacheControl = "max-age=31536000"

func (r *Registry) getBlob(w http.ResponseWriter, req *http.Request, rt route) error {
	d, err := parseDigest(rt.ref)
	if err != nil {
		return err
	}
	rs, closer, info, err := r.store.openBlob(req.Context(), rt.name, d)
	if errdefs.IsNotFound(err) {
		return newError("BLOB_UNKNOWN", "blob unknown to registry", map[string]string{"digest": d.String()})
	}
	if err != nil {
		return err
	}
	defer closer.Close()
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Docker-Content-Digest", d.String())
	w.Header().Set("Etag", `"`+d.String()+`"`)
	w.Header().Set("Cache-Control", blobCacheControl)
	// ServeContent handles HEAD, Range and Content-Length.
	http.ServeContent(w, req, "", info.CreatedAt, rs)
	return nil
}

func (r *Registry) deleteBlob(w http.ResponseWriter, req *http.Request, rt route) error {
	d, err := parseDigest(rt.ref)
	if err != nil {
		return err
	}
	if err := r.store.unlinkBlob(rt.name, d); errdefs.IsNotFound(err) {
		return newError("BLOB_UNKNOWN", "blob unknown to registry", map[string]string{"digest": d.String()})
	} else if err != nil {
		return err
	}
	r.log.InfoContext(req.Context(), "blob unlinked", "repository", rt.name, "digest", d)
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// lockUpload serialises requests on one upload session; call the returned func to unlock.
func (r *Registry) lockUpload(id string) func() {
	m, _ := r.uploads.LoadOrStore(id, &sync.Mutex{})
	mu := m.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

func uploadLocation(name, id string) string { return "/v2/" + name + "/blobs/uploads/" + id }

func setUploadHeaders(w http.ResponseWriter, name, id string, size int64) {
	w.Header().Set("Location", uploadLocation(name, id))
	w.Header().Set("Docker-Upload-UUID", id)
	w.Header().Set("Range", fmt.Sprintf("0-%d", max(size-1, 0)))
	w.Header().Set("Content-Length", "0")
}

func blobCreated(w http.ResponseWriter, name string, d digest.Digest) {
	w.Header().Set("Location", "/v2/"+name+"/blobs/"+d.String())
	w.Header().Set("Docker-Content-Digest", d.String())
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusCreated)
}

func (r *Registry) startUpload(w http.ResponseWriter, req *http.Request, rt route) error {
	q := req.URL.Query()
	if m := q.Get("mount"); m != "" {
		d, err := parseDigest(m)
		if err != nil {
			return err
		}
		from := q.Get("from")
		if from != "" {
			if err := validateName(from); err != nil {
				return err
			}
		}
		switch err := r.mount(req.Context(), rt.name, from, d); {
		case err == nil:
			r.log.InfoContext(req.Context(), "blob mounted", "repository", rt.name, "from", from, "digest", d)
			blobCreated(w, rt.name, d)
			return nil
		case !errdefs.IsNotFound(err):
			return err
		}
		// Not mountable: fall through to an ordinary upload session.
	}
	if s := q.Get("digest"); s != "" {
		// Monolithic upload: the whole blob is the POST body, written and committed without a session.
		d, err := parseDigest(s)
		if err != nil {
			return err
		}
		cw, err := r.store.blobs.Writer(req.Context(), content.WithExpectedDigest(d))
		if err != nil {
			return err
		}
		defer cw.Close()
		if _, err := io.Copy(cw, req.Body); err != nil {
			return err
		}
		return r.commit(w, req, rt.name, "", cw, d)
	}
	id, err := r.store.newUpload(req.Context(), rt.name)
	if err != nil {
		return err
	}
	setUploadHeaders(w, rt.name, id, 0)
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// mount links blob d into repository name from repository from or, when from
// is empty, from whichever repository holds it (the spec's automatic content
// discovery; authorize already dropped the mount if the client may not read
// every repository).
func (r *Registry) mount(ctx context.Context, name, from string, d digest.Digest) error {
	defer r.holdWrites()()
	var err error
	if from != "" {
		_, err = r.store.statBlob(ctx, from, d)
	} else {
		_, err = r.store.statContent(ctx, d)
	}
	if err != nil {
		return err
	}
	if err := r.store.linkBlob(name, d); err != nil {
		return err
	}
	r.touchBlobs(d)
	return nil
}

// commitBlob verifies what cw holds against d (and size, unless negative) and links the blob into repository
// name: a blob that is there already counts, one that does not match is discarded (ErrFailedPrecondition). It
// holds off a GC sweep from the commit to the link (see gcState).
func (r *Registry) commitBlob(ctx context.Context, name string, cw content.Writer, size int64, d digest.Digest) error {
	defer r.holdWrites()()
	if err := cw.Commit(ctx, size, d); err != nil && !errdefs.IsAlreadyExists(err) {
		return err
	}
	if err := r.store.linkBlob(name, d); err != nil {
		return err
	}
	r.touchBlobs(d)
	return nil
}

// commit ends an upload: commitBlob, then the end of the upload session id (if any) and the answer.
func (r *Registry) commit(w http.ResponseWriter, req *http.Request, name, id string, cw content.Writer, d digest.Digest) error {
	n := cw.Size()
	err := r.commitBlob(req.Context(), name, cw, -1, d)
	if id != "" && (err == nil || errdefs.IsFailedPrecondition(err)) {
		if eerr := r.store.endUpload(name, id); err == nil {
			err = eerr
		}
	}
	switch {
	case errdefs.IsFailedPrecondition(err):
		return newError("DIGEST_INVALID", "provided digest did not match uploaded content", map[string]string{"digest": d.String()})
	case err != nil:
		return err
	}
	r.log.InfoContext(req.Context(), "blob committed", "repository", name, "digest", d, "size", n)
	blobCreated(w, name, d)
	return nil
}

// uploadID validates the upload id and checks the session exists.
func (r *Registry) uploadID(req *http.Request, rt route) (int64, error) {
	if !validUploadID(rt.ref) {
		return 0, uploadUnknown(rt.ref)
	}
	size, err := r.store.uploadSize(req.Context(), rt.name, rt.ref)
	if errdefs.IsNotFound(err) {
		return 0, uploadUnknown(rt.ref)
	}
	return size, err
}

func uploadUnknown(id string) error {
	return newError("BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry", map[string]string{"uuid": id})
}

func (r *Registry) uploadStatus(w http.ResponseWriter, req *http.Request, rt route) error {
	size, err := r.uploadID(req, rt)
	if err != nil {
		return err
	}
	setUploadHeaders(w, rt.name, rt.ref, size)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// parseContentRange parses the spec's "<start>-<end>" chunk range.
func parseContentRange(s string) (start, end int64, ok bool) {
	s = strings.TrimPrefix(s, "bytes ")
	a, b, found := strings.Cut(s, "-")
	if !found {
		return 0, 0, false
	}
	start, err1 := strconv.ParseInt(a, 10, 64)
	end, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil || start < 0 || end < start {
		return 0, 0, false
	}
	return start, end, true
}

// appendChunk writes the request body to the upload's writer, enforcing Content-Range.
func appendChunk(req *http.Request, cw content.Writer) (int64, error) {
	want := int64(-1)
	size := cw.Size()
	if cr := req.Header.Get("Content-Range"); cr != "" {
		start, end, ok := parseContentRange(cr)
		if !ok || start != size {
			return 0, &apiError{status: http.StatusRequestedRangeNotSatisfiable, code: "BLOB_UPLOAD_INVALID",
				msg: "chunk does not continue at the current offset", detail: map[string]any{"offset": size, "range": cr}}
		}
		want = end - start + 1
	}
	n, err := appendUpload(cw, req.Body, want)
	if errdefs.IsInvalidArgument(err) {
		return 0, &apiError{status: http.StatusRequestedRangeNotSatisfiable, code: "BLOB_UPLOAD_INVALID",
			msg: "chunk length does not match Content-Range", detail: map[string]any{"offset": size}}
	}
	return n, err
}

// resumeUpload checks the session exists and opens its ingest; d, when set, is the digest the upload ends with.
func (r *Registry) resumeUpload(req *http.Request, rt route, d digest.Digest) (content.Writer, error) {
	if _, err := r.uploadID(req, rt); err != nil {
		return nil, err
	}
	return r.store.openUpload(req.Context(), rt.name, rt.ref, d)
}

func (r *Registry) patchUpload(w http.ResponseWriter, req *http.Request, rt route) error {
	if !validUploadID(rt.ref) {
		return uploadUnknown(rt.ref)
	}
	defer r.lockUpload(rt.ref)()
	cw, err := r.resumeUpload(req, rt, "")
	if err != nil {
		return err
	}
	defer cw.Close()
	n, err := appendChunk(req, cw)
	if err != nil {
		return err
	}
	setUploadHeaders(w, rt.name, rt.ref, n)
	w.WriteHeader(http.StatusAccepted)
	return nil
}

func (r *Registry) putUpload(w http.ResponseWriter, req *http.Request, rt route) error {
	if !validUploadID(rt.ref) {
		return uploadUnknown(rt.ref)
	}
	d, err := parseDigest(req.URL.Query().Get("digest"))
	if err != nil {
		return err
	}
	defer r.lockUpload(rt.ref)()
	defer r.uploads.Delete(rt.ref)
	cw, err := r.resumeUpload(req, rt, d)
	if err != nil {
		return err
	}
	defer cw.Close()
	if _, err := appendChunk(req, cw); err != nil {
		return err
	}
	return r.commit(w, req, rt.name, rt.ref, cw, d)
}

func (r *Registry) cancelUpload(w http.ResponseWriter, req *http.Request, rt route) error {
	if !validUploadID(rt.ref) {
		return uploadUnknown(rt.ref)
	}
	defer r.lockUpload(rt.ref)()
	defer r.uploads.Delete(rt.ref)
	if err := r.store.cancelUpload(req.Context(), rt.name, rt.ref); errdefs.IsNotFound(err) {
		return uploadUnknown(rt.ref)
	} else if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
