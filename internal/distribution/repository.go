package distribution

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// maxManifest bounds a manifest read into memory, as the distribution spec suggests (4 MiB) with room to spare.
const maxManifest = 8 << 20

// manifestAccept is what a pull accepts, best first.
var manifestAccept = strings.Join([]string{
	ocispec.MediaTypeImageIndex,
	"application/vnd.docker.distribution.manifest.list.v2+json",
	ocispec.MediaTypeImageManifest,
	"application/vnd.docker.distribution.manifest.v2+json",
}, ", ")

// Repository is one repository on one registry endpoint, with credentials already negotiated for the scopes it
// was opened with.
type Repository struct {
	ep     Endpoint
	reg    name.Registry
	path   string // e.g. library/alpine
	client *http.Client
}

// Open connects to repository path on ep with credentials ac: it pings the registry and, for token auth,
// fetches a token for pull (and push when push is set) on path, plus pull on each of mountFrom (repositories
// a push may mount blobs from).
func (s *Service) Open(ctx context.Context, ep Endpoint, path string, ac Credentials, push bool, mountFrom ...string) (*Repository, error) {
	reg, err := ep.registry()
	if err != nil {
		return nil, err
	}
	action := "pull"
	if push {
		action = "push,pull"
	}
	scopes := []string{"repository:" + path + ":" + action}
	for _, m := range mountFrom {
		if m != path {
			scopes = append(scopes, "repository:"+m+":pull")
		}
	}
	pctx, cancel := withTimeout(ctx)
	defer cancel()
	tr, err := transportFor(pctx, reg, ep, ac, scopes)
	if err != nil {
		return nil, err
	}
	return &Repository{ep: ep, reg: reg, path: path, client: &http.Client{Transport: tr}}, nil
}

// transportFor pings the registry and negotiates credentials for scopes.
func transportFor(ctx context.Context, reg name.Registry, ep Endpoint, ac Credentials, scopes []string) (http.RoundTripper, error) {
	tr, err := transport.NewWithContext(ctx, reg, authenticator(ac), ep.Transport, scopes)
	if err != nil {
		var te *transport.Error
		if errors.As(err, &te) {
			return nil, translate(err)
		}
		return nil, errdefs.ErrUnavailable.WithMessage(err.Error())
	}
	return tr, nil
}

// Name is host/path, as docker's push messages name a repository.
func (r *Repository) Name() string { return r.ep.Host + "/" + r.path }

// Path is the repository's path on its registry.
func (r *Repository) Path() string { return r.path }

// Endpoint is where the repository is served.
func (r *Repository) Endpoint() Endpoint { return r.ep }

func (r *Repository) url(suffix string) string {
	return "https://" + r.reg.RegistryStr() + "/v2/" + r.path + "/" + suffix
}

func (r *Repository) do(ctx context.Context, method, u string, body io.Reader, hdr map[string]string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, errdefs.ErrUnavailable.WithMessage(err.Error())
	}
	return resp, nil
}

// Resolve fetches the manifest or index ref (a tag or a digest) names. The descriptor's digest is computed from
// the bytes received (and must equal ref when ref is a digest); its media type comes from the response.
func (r *Repository) Resolve(ctx context.Context, ref string) (ocispec.Descriptor, []byte, error) {
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	resp, err := r.do(ctx, http.MethodGet, r.url("manifests/"+ref), nil, map[string]string{"Accept": manifestAccept})
	if err != nil {
		return ocispec.Descriptor{}, nil, err
	}
	defer resp.Body.Close()
	if err := transport.CheckError(resp, http.StatusOK); err != nil {
		return ocispec.Descriptor{}, nil, translate(err)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxManifest+1))
	if err != nil {
		return ocispec.Descriptor{}, nil, errdefs.ErrUnavailable.WithMessage(err.Error())
	}
	if len(b) > maxManifest {
		return ocispec.Descriptor{}, nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("manifest %s is too large", ref))
	}
	d := digest.FromBytes(b)
	if want, err := digest.Parse(ref); err == nil {
		d = want.Algorithm().FromBytes(b)
		if d != want {
			return ocispec.Descriptor{}, nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("manifest verification failed for digest %s", want))
		}
	}
	mt := resp.Header.Get("Content-Type")
	if i := strings.IndexByte(mt, ';'); i >= 0 {
		mt = mt[:i]
	}
	var probe struct {
		MediaType string `json:"mediaType"`
	}
	if json.Unmarshal(b, &probe) == nil && probe.MediaType != "" {
		mt = probe.MediaType
	}
	return ocispec.Descriptor{MediaType: mt, Digest: d, Size: int64(len(b))}, b, nil
}

// Fetch opens blob d from byte offset. It returns the offset the stream really starts at: offset when the
// registry honoured the Range request, 0 when it sent the whole blob.
func (r *Repository) Fetch(ctx context.Context, d ocispec.Descriptor, offset int64) (io.ReadCloser, int64, error) {
	hdr := map[string]string{}
	if offset > 0 {
		hdr["Range"] = "bytes=" + strconv.FormatInt(offset, 10) + "-"
	}
	resp, err := r.do(ctx, http.MethodGet, r.url("blobs/"+d.Digest.String()), nil, hdr)
	if err != nil {
		return nil, 0, err
	}
	switch {
	case resp.StatusCode == http.StatusPartialContent && offset > 0:
		return resp.Body, offset, nil
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable && offset > 0:
		resp.Body.Close()
		return r.Fetch(ctx, d, 0)
	}
	if err := transport.CheckError(resp, http.StatusOK); err != nil {
		resp.Body.Close()
		return nil, 0, translate(err)
	}
	return resp.Body, 0, nil
}

// Exists reports whether the repository has blob d (HEAD).
func (r *Repository) Exists(ctx context.Context, d digest.Digest) (bool, error) {
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	resp, err := r.do(ctx, http.MethodHead, r.url("blobs/"+d.String()), nil, nil)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		return true, nil
	case http.StatusNotFound:
		return false, nil
	}
	return false, translate(transport.CheckError(resp, http.StatusOK))
}

// Mount asks the registry to link blob d from repository from (same registry) into this one; false when the
// registry declined (it then started an upload, which is cancelled).
func (r *Repository) Mount(ctx context.Context, d digest.Digest, from string) (bool, error) {
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	q := url.Values{"mount": {d.String()}, "from": {from}}
	resp, err := r.do(ctx, http.MethodPost, r.url("blobs/uploads/?"+q.Encode()), nil, nil)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusCreated:
		return true, nil
	case http.StatusAccepted:
		if loc, err := resp.Location(); err == nil {
			if del, err := r.do(ctx, http.MethodDelete, loc.String(), nil, nil); err == nil {
				del.Body.Close()
			}
		}
		return false, nil
	}
	return false, translate(transport.CheckError(resp, http.StatusCreated, http.StatusAccepted))
}

// PushBlob uploads the stream rd as one blob (POST, PATCH with the whole stream, PUT with the digest computed
// while sending) and returns its digest and size.
func (r *Repository) PushBlob(ctx context.Context, rd io.Reader) (digest.Digest, int64, error) {
	resp, err := r.do(ctx, http.MethodPost, r.url("blobs/uploads/"), nil, nil)
	if err := check(resp, err, http.StatusAccepted); err != nil {
		return "", 0, err
	}
	loc, err := resp.Location()
	if err != nil {
		return "", 0, fmt.Errorf("blob upload: %w", err)
	}
	h := sha256.New()
	cr := &countingReader{r: io.TeeReader(rd, h)}
	resp, err = r.do(ctx, http.MethodPatch, loc.String(), cr, map[string]string{"Content-Type": "application/octet-stream"})
	if err := check(resp, err, http.StatusAccepted, http.StatusNoContent, http.StatusCreated); err != nil {
		return "", 0, err
	}
	if l, err := resp.Location(); err == nil {
		loc = l
	}
	dg := digest.NewDigest(digest.SHA256, h)
	q := loc.Query()
	q.Set("digest", dg.String())
	loc.RawQuery = q.Encode()
	resp, err = r.do(ctx, http.MethodPut, loc.String(), http.NoBody, map[string]string{"Content-Type": "application/octet-stream"})
	if err := check(resp, err, http.StatusCreated); err != nil {
		return "", 0, err
	}
	return dg, cr.n, nil
}

// PushManifest stores manifest b under tag (or digest).
func (r *Repository) PushManifest(ctx context.Context, tag, mediaType string, b []byte) error {
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	resp, err := r.do(ctx, http.MethodPut, r.url("manifests/"+tag), bytes.NewReader(b), map[string]string{"Content-Type": mediaType})
	return check(resp, err, http.StatusCreated, http.StatusOK)
}

// check turns a failed request or an unexpected status into an error, and closes the response body.
func check(resp *http.Response, err error, codes ...int) error {
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return translate(transport.CheckError(resp, codes...))
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// translate turns a registry's error response into an error category with docker's text, e.g.
// "manifest unknown: manifest unknown" or "unauthorized: authentication required".
func translate(err error) error {
	if err == nil {
		return nil
	}
	var te *transport.Error
	if !errors.As(err, &te) {
		return err
	}
	var parts []string
	for _, d := range te.Errors {
		code := strings.ToLower(strings.ReplaceAll(string(d.Code), "_", " "))
		if d.Message != "" {
			parts = append(parts, code+": "+d.Message)
		} else {
			parts = append(parts, code)
		}
	}
	msg := strings.Join(parts, ", ")
	if msg == "" && te.StatusCode == http.StatusUnauthorized {
		msg = "unauthorized: authentication required" // a HEAD's 401 has no body to say it
	}
	if msg == "" {
		msg = fmt.Sprintf("received unexpected HTTP status: %d %s", te.StatusCode, http.StatusText(te.StatusCode))
	}
	switch te.StatusCode {
	case http.StatusUnauthorized:
		return errdefs.ErrUnauthenticated.WithMessage(msg)
	case http.StatusForbidden:
		return errdefs.ErrPermissionDenied.WithMessage(msg)
	case http.StatusNotFound:
		return errdefs.ErrNotFound.WithMessage(msg)
	case http.StatusBadRequest:
		return errdefs.ErrInvalidArgument.WithMessage(msg)
	}
	return errdefs.ErrUnknown.WithMessage(msg)
}

// Catalog lists the registry's repositories (GET /v2/_catalog, following pagination up to limit names).
func (r *Repository) Catalog(ctx context.Context, limit int) ([]string, error) {
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	var out []string
	u := "https://" + r.reg.RegistryStr() + "/v2/_catalog?n=1000"
	for u != "" && len(out) < limit {
		resp, err := r.do(ctx, http.MethodGet, u, nil, nil)
		if err != nil {
			return nil, err
		}
		var page struct {
			Repositories []string `json:"repositories"`
		}
		err = transport.CheckError(resp, http.StatusOK)
		if err == nil {
			err = json.NewDecoder(resp.Body).Decode(&page)
		}
		resp.Body.Close()
		if err != nil {
			return nil, translate(err)
		}
		out = append(out, page.Repositories...)
		u = ""
		if l := resp.Header.Get("Link"); l != "" {
			if i, j := strings.IndexByte(l, '<'), strings.IndexByte(l, '>'); i >= 0 && j > i {
				if next, err := resp.Request.URL.Parse(l[i+1 : j]); err == nil {
					u = next.String()
				}
			}
		}
	}
	return out, nil
}
