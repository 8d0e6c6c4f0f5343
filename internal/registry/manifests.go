package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Docker's media types, accepted alongside the OCI ones.
const (
	mediaTypeDockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	mediaTypeDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
	mediaTypeDockerForeignLayer = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
)

// maxManifestSize is the spec's minimum a registry must accept.
const maxManifestSize = 4 << 20

// manifestDoc is the union of the fields of image manifests and indexes that
// the registry validates or reports.
type manifestDoc struct {
	SchemaVersion int                  `json:"schemaVersion"`
	MediaType     string               `json:"mediaType,omitempty"`
	ArtifactType  string               `json:"artifactType,omitempty"`
	Config        *ocispec.Descriptor  `json:"config,omitempty"`
	Layers        []ocispec.Descriptor `json:"layers,omitempty"`
	Manifests     []ocispec.Descriptor `json:"manifests,omitempty"`
	Subject       *ocispec.Descriptor  `json:"subject,omitempty"`
	Annotations   map[string]string    `json:"annotations,omitempty"`
}

func isImageManifest(mt string) bool {
	return mt == ocispec.MediaTypeImageManifest || mt == mediaTypeDockerManifest
}

func isIndex(mt string) bool {
	return mt == ocispec.MediaTypeImageIndex || mt == mediaTypeDockerManifestList
}

func manifestInvalid(msg string) *apiError {
	return newError("MANIFEST_INVALID", "manifest invalid", msg)
}

func manifestUnknown(ref string) *apiError {
	return newError("MANIFEST_UNKNOWN", "manifest unknown to registry", map[string]string{"reference": ref})
}

// resolve turns a tag or digest reference into a digest stored in the repository.
func (r *Registry) resolve(name, ref string) (digest.Digest, error) {
	if strings.Contains(ref, ":") {
		d, err := parseDigest(ref)
		if err != nil {
			return "", err
		}
		return d, nil
	}
	if !validTag(ref) {
		// No manifest can have this name, so it is unknown (as in the
		// reference registry); TAG_INVALID is for pushes.
		return "", manifestUnknown(ref)
	}
	d, err := r.store.resolveTag(name, ref)
	if errdefs.IsNotFound(err) {
		return "", manifestUnknown(ref)
	}
	return d, err
}

func (r *Registry) getManifest(w http.ResponseWriter, req *http.Request, rt route) error {
	d, err := r.resolve(rt.name, rt.ref)
	if err != nil {
		return err
	}
	data, mt, err := r.store.getManifest(req.Context(), rt.name, d)
	if errdefs.IsNotFound(err) {
		return manifestUnknown(rt.ref)
	}
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", mt)
	w.Header().Set("Docker-Content-Digest", d.String())
	w.Header().Set("Etag", `"`+d.String()+`"`)
	w.Header().Set("Content-Length", fmt.Sprint(len(data)))
	w.WriteHeader(http.StatusOK)
	if req.Method != http.MethodHead {
		_, _ = w.Write(data)
	}
	return nil
}

// parseManifest validates the body and returns its document and media type.
func parseManifest(contentType string, data []byte) (*manifestDoc, string, error) {
	var doc manifestDoc
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, "", manifestInvalid("manifest is not valid JSON: " + err.Error())
	}
	mt := ""
	if contentType != "" {
		parsed, _, err := mime.ParseMediaType(contentType)
		if err != nil {
			return nil, "", manifestInvalid("bad Content-Type")
		}
		mt = parsed
	}
	switch {
	case mt == "" || mt == "application/json":
		mt = doc.MediaType
	case doc.MediaType != "" && doc.MediaType != mt:
		return nil, "", manifestInvalid(fmt.Sprintf("mediaType %q does not match Content-Type %q", doc.MediaType, mt))
	}
	if mt == "" {
		// OCI allows the field to be omitted; infer from the shape.
		if doc.Manifests != nil {
			mt = ocispec.MediaTypeImageIndex
		} else {
			mt = ocispec.MediaTypeImageManifest
		}
	}
	if doc.SchemaVersion != 2 {
		return nil, "", manifestInvalid("schemaVersion must be 2")
	}
	check := func(what string, d ocispec.Descriptor) error {
		if err := d.Digest.Validate(); err != nil {
			return manifestInvalid(fmt.Sprintf("%s has invalid digest %q", what, d.Digest))
		}
		return nil
	}
	switch {
	case isImageManifest(mt):
		if doc.Config == nil {
			return nil, "", manifestInvalid("image manifest has no config")
		}
		if err := check("config", *doc.Config); err != nil {
			return nil, "", err
		}
		for i, l := range doc.Layers {
			if err := check(fmt.Sprintf("layer %d", i), l); err != nil {
				return nil, "", err
			}
		}
	case isIndex(mt):
		for i, m := range doc.Manifests {
			if err := check(fmt.Sprintf("manifest %d", i), m); err != nil {
				return nil, "", err
			}
		}
	default:
		return nil, "", manifestInvalid(fmt.Sprintf("unsupported manifest media type %q", mt))
	}
	if doc.Subject != nil {
		if err := check("subject", *doc.Subject); err != nil {
			return nil, "", err
		}
	}
	return &doc, mt, nil
}

// checkReferences requires every referenced blob or child manifest to be in the repository.
func (r *Registry) checkReferences(ctx context.Context, name, mt string, doc *manifestDoc) error {
	unknown := func(d digest.Digest) error {
		return newError("MANIFEST_BLOB_UNKNOWN", "manifest references an unknown blob", map[string]string{"digest": d.String()})
	}
	if isIndex(mt) {
		for _, m := range doc.Manifests {
			if !r.store.hasManifest(name, m.Digest) {
				return unknown(m.Digest)
			}
		}
		return nil
	}
	refs := append([]ocispec.Descriptor{*doc.Config}, doc.Layers...)
	for _, d := range refs {
		if d.MediaType == mediaTypeDockerForeignLayer || len(d.URLs) > 0 {
			continue // fetched from elsewhere by design
		}
		if _, err := r.store.statBlob(ctx, name, d.Digest); errdefs.IsNotFound(err) {
			return unknown(d.Digest)
		} else if err != nil {
			return err
		}
	}
	return nil
}

func (r *Registry) putManifest(w http.ResponseWriter, req *http.Request, rt route) error {
	data, err := io.ReadAll(io.LimitReader(req.Body, maxManifestSize+1))
	if err != nil {
		return err
	}
	if len(data) > maxManifestSize {
		return &apiError{status: http.StatusRequestEntityTooLarge, code: "SIZE_INVALID", msg: "manifest too large"}
	}
	var tags []string
	d := digest.SHA256.FromBytes(data)
	if strings.Contains(rt.ref, ":") {
		want, err := parseDigest(rt.ref)
		if err != nil {
			return err
		}
		if d = want.Algorithm().FromBytes(data); d != want {
			return newError("DIGEST_INVALID", "manifest digest does not match reference", map[string]string{"digest": d.String(), "reference": want.String()})
		}
		// A push by digest may tag it too: ?tag=a&tag=b (distribution-spec 1.1+dev).
		tags = req.URL.Query()["tag"]
	} else {
		tags = []string{rt.ref}
	}
	for _, t := range tags {
		if !validTag(t) {
			return newError("TAG_INVALID", "invalid tag", map[string]string{"tag": t})
		}
	}
	doc, mt, err := parseManifest(req.Header.Get("Content-Type"), data)
	if err != nil {
		return err
	}
	release := r.holdWrites()
	err = r.checkReferences(req.Context(), rt.name, mt, doc)
	if err == nil {
		err = r.store.putManifest(req.Context(), rt.name, tags, d, mt, data)
		r.touchManifest(d)
	}
	release()
	if err != nil {
		return err
	}
	r.log.InfoContext(req.Context(), "manifest stored", "repository", rt.name, "reference", rt.ref, "digest", d, "mediaType", mt)
	if doc.Subject != nil {
		w.Header().Set("OCI-Subject", doc.Subject.Digest.String())
	}
	if strings.Contains(rt.ref, ":") {
		for _, t := range tags {
			w.Header().Add("OCI-Tag", t)
		}
	}
	w.Header().Set("Location", "/v2/"+rt.name+"/manifests/"+d.String())
	w.Header().Set("Docker-Content-Digest", d.String())
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusCreated)
	return nil
}

func (r *Registry) deleteManifest(w http.ResponseWriter, req *http.Request, rt route) error {
	if strings.Contains(rt.ref, ":") {
		d, err := parseDigest(rt.ref)
		if err != nil {
			return err
		}
		err = r.store.deleteManifest(rt.name, d)
		if errdefs.IsNotFound(err) {
			return manifestUnknown(rt.ref)
		} else if err != nil {
			return err
		}
	} else {
		if !validTag(rt.ref) {
			return newError("TAG_INVALID", "invalid tag", map[string]string{"tag": rt.ref})
		}
		if err := r.store.deleteTag(rt.name, rt.ref); errdefs.IsNotFound(err) {
			return manifestUnknown(rt.ref)
		} else if err != nil {
			return err
		}
	}
	r.log.InfoContext(req.Context(), "manifest deleted", "repository", rt.name, "reference", rt.ref)
	w.WriteHeader(http.StatusAccepted)
	return nil
}
