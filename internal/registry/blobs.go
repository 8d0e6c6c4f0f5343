package registry

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"

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
	f, err := r.store.openBlob(rt.name, d)
	if errdefs.IsNotFound(err) {
		return newError("BLOB_UNKNOWN", "blob unknown to registry", map[string]string{"digest": d.String()})
	}
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Docker-Content-Digest", d.String())
	w.Header().Set("Etag", `"`+d.String()+`"`)
	w.Header().Set("Cache-Control", blobCacheControl)
	// ServeContent handles HEAD, Range and Content-Length.
	http.ServeContent(w, req, "", fi.ModTime(), f)
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

// uploadState is what the registry keeps in memory about an upload session.
type uploadState struct {
	mu sync.Mutex // serialises requests on the session
	// hash is the running sha256 of the bytes appended in order by this
	// process, so a commit need not read the upload again.
	hash runningHash
}

// lockUpload serialises requests on one upload session and returns its state.
func (r *Registry) lockUpload(id string) (*uploadState, func()) {
	m, _ := r.uploads.LoadOrStore(id, &uploadState{})
	st := m.(*uploadState)
	st.mu.Lock()
	return st, st.mu.Unlock
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
		switch err := r.mount(rt.name, from, d); {
		case err == nil:
			r.log.InfoContext(req.Context(), "blob mounted", "repository", rt.name, "from", from, "digest", d)
			blobCreated(w, rt.name, d)
			return nil
		case !errdefs.IsNotFound(err):
			return err
		}
		// Not mountable: fall through to an ordinary upload session.
	}
	var want digest.Digest
	if s := q.Get("digest"); s != "" {
		d, err := parseDigest(s)
		if err != nil {
			return err
		}
		want = d
	}
	id, err := r.store.newUpload(rt.name)
	if err != nil {
		return err
	}
	if want == "" {
		setUploadHeaders(w, rt.name, id, 0)
		w.WriteHeader(http.StatusAccepted)
		return nil
	}
	// Monolithic upload: the whole blob is the POST body.
	st, unlock := r.lockUpload(id)
	defer unlock()
	defer r.uploads.Delete(id)
	if _, err := r.store.appendUpload(rt.name, id, req.Body, -1, &st.hash); err != nil {
		_ = r.store.cancelUpload(rt.name, id)
		return err
	}
	return r.commit(w, req, rt.name, id, want, &st.hash)
}

// mount links blob d into repository name from repository from or, when from
// is empty, from whichever repository holds it (the spec's automatic content
// discovery; authorize already dropped the mount if the client may not read
// every repository).
func (r *Registry) mount(name, from string, d digest.Digest) error {
	defer r.holdWrites()()
	var err error
	if from != "" {
		_, err = r.store.statBlob(from, d)
	} else {
		_, err = r.store.statContent(d)
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

func (r *Registry) commit(w http.ResponseWriter, req *http.Request, name, id string, d digest.Digest, h *runningHash) error {
	release := r.holdWrites()
	n, err := r.store.commitUpload(name, id, d, h)
	if err == nil {
		r.touchBlobs(d)
	}
	release()
	switch {
	case errdefs.IsNotFound(err):
		return newError("BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry", map[string]string{"uuid": id})
	case errdefs.IsInvalidArgument(err):
		return newError("DIGEST_INVALID", "provided digest did not match uploaded content", map[string]string{"digest": d.String()})
	case err != nil:
		return err
	}
	r.log.InfoContext(req.Context(), "blob committed", "repository", name, "digest", d, "size", n)
	blobCreated(w, name, d)
	return nil
}

// uploadID validates the upload id and checks the session exists.
func (r *Registry) uploadID(rt route) (int64, error) {
	if !validUploadID(rt.ref) {
		return 0, newError("BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry", map[string]string{"uuid": rt.ref})
	}
	size, err := r.store.uploadSize(rt.name, rt.ref)
	if errdefs.IsNotFound(err) {
		return 0, newError("BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry", map[string]string{"uuid": rt.ref})
	}
	return size, err
}

func (r *Registry) uploadStatus(w http.ResponseWriter, req *http.Request, rt route) error {
	size, err := r.uploadID(rt)
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

// appendChunk writes the request body to the upload, enforcing Content-Range.
func (r *Registry) appendChunk(req *http.Request, rt route, size int64, h *runningHash) (int64, error) {
	want := int64(-1)
	if cr := req.Header.Get("Content-Range"); cr != "" {
		start, end, ok := parseContentRange(cr)
		if !ok || start != size {
			return 0, &apiError{status: http.StatusRequestedRangeNotSatisfiable, code: "BLOB_UPLOAD_INVALID",
				msg: "chunk does not continue at the current offset", detail: map[string]any{"offset": size, "range": cr}}
		}
		want = end - start + 1
	}
	n, err := r.store.appendUpload(rt.name, rt.ref, req.Body, want, h)
	if errdefs.IsInvalidArgument(err) {
		return 0, &apiError{status: http.StatusRequestedRangeNotSatisfiable, code: "BLOB_UPLOAD_INVALID",
			msg: "chunk length does not match Content-Range", detail: map[string]any{"offset": size}}
	}
	return n, err
}

func (r *Registry) patchUpload(w http.ResponseWriter, req *http.Request, rt route) error {
	if !validUploadID(rt.ref) {
		return newError("BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry", map[string]string{"uuid": rt.ref})
	}
	st, unlock := r.lockUpload(rt.ref)
	defer unlock()
	size, err := r.uploadID(rt)
	if err != nil {
		return err
	}
	n, err := r.appendChunk(req, rt, size, &st.hash)
	if err != nil {
		return err
	}
	setUploadHeaders(w, rt.name, rt.ref, n)
	w.WriteHeader(http.StatusAccepted)
	return nil
}

func (r *Registry) putUpload(w http.ResponseWriter, req *http.Request, rt route) error {
	if !validUploadID(rt.ref) {
		return newError("BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry", map[string]string{"uuid": rt.ref})
	}
	d, err := parseDigest(req.URL.Query().Get("digest"))
	if err != nil {
		return err
	}
	st, unlock := r.lockUpload(rt.ref)
	defer unlock()
	defer r.uploads.Delete(rt.ref)
	size, err := r.uploadID(rt)
	if err != nil {
		return err
	}
	if _, err := r.appendChunk(req, rt, size, &st.hash); err != nil {
		return err
	}
	return r.commit(w, req, rt.name, rt.ref, d, &st.hash)
}

func (r *Registry) cancelUpload(w http.ResponseWriter, req *http.Request, rt route) error {
	if !validUploadID(rt.ref) {
		return newError("BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry", map[string]string{"uuid": rt.ref})
	}
	_, unlock := r.lockUpload(rt.ref)
	defer unlock()
	defer r.uploads.Delete(rt.ref)
	if err := r.store.cancelUpload(rt.name, rt.ref); errdefs.IsNotFound(err) {
		return newError("BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry", map[string]string{"uuid": rt.ref})
	} else if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
