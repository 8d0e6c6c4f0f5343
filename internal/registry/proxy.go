package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/berth/berth/internal/content"
	"github.com/containerd/errdefs"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// ProxyConfig turns the registry into a pull-through cache of another
// registry, like the reference registry's proxy.remoteurl.
//
// In proxy mode:
//   - a manifest by tag is looked up upstream on every request (a HEAD, then a
//     GET only when the digest changed) and served from the cache when the
//     upstream cannot be reached;
//   - a manifest by digest and a blob are served from the cache, or fetched
//     once, verified against their digest and stored; a blob is streamed to the
//     client while it is fetched, but its last chunk is held back until the
//     digest matched, so a client never receives the whole of tampered content;
//   - concurrent requests for a blob being fetched follow that fetch, reading
//     what it has written (and verified, for the last chunk) as it goes;
//   - pushes and deletes are refused (405 UNSUPPORTED).
type ProxyConfig struct {
	// RemoteURL is the upstream registry, e.g. https://registry-1.docker.io.
	RemoteURL string
	// Username and Password authenticate to the upstream (basic or token
	// auth, whichever it asks for); empty means anonymous.
	Username, Password string
	// Transport reaches the upstream; nil means http.DefaultTransport.
	Transport http.RoundTripper
}

// WithProxy serves as a pull-through cache of cfg.RemoteURL.
func WithProxy(cfg ProxyConfig) Option {
	return func(r *Registry) {
		p, err := newProxy(cfg)
		if err != nil {
			r.optErr = err
			return
		}
		r.proxy = p
	}
}

type proxy struct {
	scheme string
	reg    name.Registry
	auth   authn.Authenticator
	base   http.RoundTripper

	mu         sync.Mutex
	transports map[string]http.RoundTripper // per repository: token scopes are per repository
	fetches    map[string]*blobFetch        // "<repo>@<digest>" -> fetch in flight
}

// blobFetch is one upstream blob download in flight. Other requests for the
// blob follow it: they read its ingest as it grows, never past safe (the
// bytes before the chunk held back until the digest is verified), and abort
// when the fetch fails. When done is closed they look in the cache again.
type blobFetch struct {
	done chan struct{}

	mu       sync.Mutex
	cond     *sync.Cond // signalled on every change below
	ref      string     // the content ingest, once the upstream answered 200
	size     int64      // the upstream's Content-Length, or -1
	safe     int64      // bytes followers may send
	verified bool       // all bytes are safe
	failed   bool       // the fetch was abandoned: followers abort
}

func newBlobFetch() *blobFetch {
	f := &blobFetch{done: make(chan struct{}), size: -1}
	f.cond = sync.NewCond(&f.mu)
	return f
}

// update changes the fetch's state under its lock and wakes followers.
func (f *blobFetch) update(change func()) {
	f.mu.Lock()
	change()
	f.mu.Unlock()
	f.cond.Broadcast()
}

func newProxy(cfg ProxyConfig) (*proxy, error) {
	u, err := url.Parse(cfg.RemoteURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
		return nil, fmt.Errorf("proxy remote URL %q: want http(s)://host[:port]: %w", cfg.RemoteURL, errdefs.ErrInvalidArgument)
	}
	var opts []name.Option
	if u.Scheme == "http" {
		opts = append(opts, name.Insecure)
	}
	reg, err := name.NewRegistry(u.Host, opts...)
	if err != nil {
		return nil, fmt.Errorf("proxy remote URL %q: %v: %w", cfg.RemoteURL, err, errdefs.ErrInvalidArgument)
	}
	auth := authn.Anonymous
	if cfg.Username != "" || cfg.Password != "" {
		auth = authn.FromConfig(authn.AuthConfig{Username: cfg.Username, Password: cfg.Password})
	}
	base := cfg.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	return &proxy{
		scheme: u.Scheme, reg: reg, auth: auth, base: base,
		transports: map[string]http.RoundTripper{}, fetches: map[string]*blobFetch{},
	}, nil
}

// errUpstreamUnreachable marks failures that let a cached manifest be served
// instead: the upstream could not be reached or failed (5xx, 429).
var errUpstreamUnreachable = errors.New("upstream registry unreachable")

// transport returns an authenticated round tripper for one repository.
func (p *proxy) transport(ctx context.Context, repo string) (http.RoundTripper, error) {
	p.mu.Lock()
	t := p.transports[repo]
	p.mu.Unlock()
	if t != nil {
		return t, nil
	}
	t, err := transport.NewWithContext(ctx, p.reg, p.auth, p.base, []string{"repository:" + repo + ":pull"})
	if err != nil {
		var te *transport.Error
		if errors.As(err, &te) && te.StatusCode != http.StatusTooManyRequests && te.StatusCode < 500 {
			return nil, &apiError{status: te.StatusCode, code: "UNAUTHORIZED", msg: "upstream registry refused the proxy's credentials"}
		}
		return nil, fmt.Errorf("%w: %v", errUpstreamUnreachable, err)
	}
	p.mu.Lock()
	p.transports[repo] = t
	p.mu.Unlock()
	return t, nil
}

// do sends one request for repo's path upstream. Transport failures, 5xx and
// 429 are errUpstreamUnreachable; other statuses are left to the caller.
func (p *proxy) do(ctx context.Context, method, repo, path string, hdr http.Header) (*http.Response, error) {
	t, err := p.transport(ctx, repo)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, method, p.scheme+"://"+p.reg.RegistryStr()+path, nil)
	if err != nil {
		return nil, err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := t.RoundTrip(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errUpstreamUnreachable, err)
	}
	if resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests {
		resp.Body.Close()
		return nil, fmt.Errorf("%w: %s %s: %s", errUpstreamUnreachable, method, path, resp.Status)
	}
	return resp, nil
}

// upstreamError relays a 4xx answer of the upstream to the client.
func upstreamError(resp *http.Response) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return &relayedError{status: resp.StatusCode, contentType: resp.Header.Get("Content-Type"), body: body}
}

// relayedError is an upstream error response passed through unchanged.
type relayedError struct {
	status      int
	contentType string
	body        []byte
}

func (e *relayedError) Error() string { return fmt.Sprintf("upstream answered %d", e.status) }

// manifestAccept is every manifest type the registry stores; the cache asks
// for all of them so that what it keeps is the upstream's own document.
var manifestAccept = strings.Join([]string{
	ocispec.MediaTypeImageManifest, ocispec.MediaTypeImageIndex, mediaTypeDockerManifest, mediaTypeDockerManifestList,
}, ", ")

// serveProxy handles a /v2/ repository request in proxy mode.
func (r *Registry) serveProxy(w http.ResponseWriter, req *http.Request, rt route) error {
	read := req.Method == http.MethodGet || req.Method == http.MethodHead
	switch {
	case !read:
		return errUnsupported(req)
	case rt.kind == "manifest":
		return r.proxyManifest(w, req, rt)
	case rt.kind == "blob":
		return r.proxyBlob(w, req, rt)
	case rt.kind == "tags":
		return r.proxyTags(w, req, rt)
	case rt.kind == "referrers":
		return r.referrers(w, req, rt)
	}
	return errUnsupported(req)
}

func (r *Registry) proxyManifest(w http.ResponseWriter, req *http.Request, rt route) error {
	ctx := req.Context()
	byDigest := strings.Contains(rt.ref, ":")
	var want digest.Digest
	if byDigest {
		d, err := parseDigest(rt.ref)
		if err != nil {
			return err
		}
		if r.store.hasManifest(rt.name, d) {
			return r.getManifest(w, req, rt) // content-addressed: never stale
		}
		want = d
	} else if !validTag(rt.ref) {
		return manifestUnknown(rt.ref)
	}
	err := r.refreshManifest(ctx, rt.name, rt.ref, want)
	var ue *relayedError
	switch {
	case err == nil:
	case errors.Is(err, errUpstreamUnreachable) && !byDigest:
		if _, terr := r.store.resolveTag(rt.name, rt.ref); terr != nil {
			return err
		}
		r.log.WarnContext(ctx, "upstream unreachable, serving cached manifest", "repository", rt.name, "tag", rt.ref, "error", err)
	case errors.As(err, &ue) && ue.status == http.StatusNotFound:
		return manifestUnknown(rt.ref)
	default:
		return err
	}
	return r.getManifest(w, req, rt)
}

// refreshManifest makes the cache hold the upstream's current manifest for
// ref (a tag, or the digest want).
func (r *Registry) refreshManifest(ctx context.Context, repo, ref string, want digest.Digest) error {
	path := "/v2/" + repo + "/manifests/" + ref
	hdr := http.Header{"Accept": {manifestAccept}}
	if want == "" {
		// Revalidate: a HEAD says whether the tag still points at what we hold.
		resp, err := r.proxy.do(ctx, http.MethodHead, repo, path, hdr)
		if err != nil {
			return err
		}
		resp.Body.Close()
		// A failed HEAD has no body to relay: the GET below fetches the error.
		if d, err := digest.Parse(resp.Header.Get("Docker-Content-Digest")); err == nil && resp.StatusCode == http.StatusOK {
			if cur, err := r.store.resolveTag(repo, ref); err == nil && cur == d && r.store.hasManifest(repo, d) {
				return nil
			}
		}
	}
	resp, err := r.proxy.do(ctx, http.MethodGet, repo, path, hdr)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return upstreamError(resp)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxManifestSize+1))
	if err != nil {
		return fmt.Errorf("%w: reading manifest: %v", errUpstreamUnreachable, err)
	}
	if len(data) > maxManifestSize {
		return manifestInvalid("upstream manifest too large")
	}
	d := want
	if d == "" {
		d = digest.SHA256.FromBytes(data)
		if h, err := digest.Parse(resp.Header.Get("Docker-Content-Digest")); err == nil && h.Algorithm().Available() {
			d = h
		}
	}
	if got := d.Algorithm().FromBytes(data); got != d {
		r.log.ErrorContext(ctx, "upstream manifest does not match its digest", "repository", repo, "reference", ref, "want", d, "got", got)
		return &apiError{status: http.StatusBadGateway, code: "DIGEST_INVALID",
			msg: "upstream manifest does not match its digest", detail: map[string]string{"digest": d.String()}}
	}
	_, mt, err := parseManifest(resp.Header.Get("Content-Type"), data)
	if err != nil {
		return err
	}
	var tags []string
	if want == "" {
		tags = []string{ref}
	}
	release := r.holdWrites()
	err = r.store.putManifest(ctx, repo, tags, d, mt, data)
	r.touchManifest(d)
	release()
	if err == nil {
		r.log.InfoContext(ctx, "manifest cached", "repository", repo, "reference", ref, "digest", d)
	}
	return err
}

func (r *Registry) proxyBlob(w http.ResponseWriter, req *http.Request, rt route) error {
	ctx := req.Context()
	d, err := parseDigest(rt.ref)
	if err != nil {
		return err
	}
	for {
		if _, err := r.store.statBlob(ctx, rt.name, d); err == nil {
			return r.getBlob(w, req, rt)
		}
		if req.Method == http.MethodHead {
			return r.proxyBlobHead(w, req, rt, d)
		}
		key := rt.name + "@" + d.String()
		r.proxy.mu.Lock()
		f := r.proxy.fetches[key]
		if f == nil {
			f = newBlobFetch()
			r.proxy.fetches[key] = f
			r.proxy.mu.Unlock()
			// fetchBlob panics to abort a response it started: release the
			// followers on every path.
			defer func() {
				r.proxy.mu.Lock()
				delete(r.proxy.fetches, key)
				r.proxy.mu.Unlock()
				f.update(func() {
					if !f.verified {
						f.failed = true
					}
				})
				close(f.done)
			}()
			return r.fetchBlob(w, req, rt.name, d, f)
		}
		r.proxy.mu.Unlock()
		// Another request is fetching it: follow it, or, if it ends before
		// there is anything to follow, look in the cache (and fetch) again.
		if served, err := r.followFetch(w, req, d, f); served || err != nil {
			return err
		}
		select {
		case <-f.done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// followFetch streams a blob another request is fetching, as far as that
// fetch has made it safe, to w. It reports false, having sent nothing, when
// the fetch ended before its ingest could be opened, or the content store
// cannot read unfinished ingests.
func (r *Registry) followFetch(w http.ResponseWriter, req *http.Request, d digest.Digest, f *blobFetch) (bool, error) {
	ctx := req.Context()
	stop := context.AfterFunc(ctx, func() { f.update(func() {}) }) // wake the wait below
	defer stop()
	ip, ok := r.store.blobs.(content.IngestProvider)
	if !ok {
		return false, nil
	}
	f.mu.Lock()
	for f.ref == "" && !f.failed && !f.verified && ctx.Err() == nil {
		f.cond.Wait()
	}
	ref, size := f.ref, f.size
	f.mu.Unlock()
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	if ref == "" {
		return false, nil
	}
	file, err := ip.IngestReaderAt(ctx, ref)
	if err != nil {
		return false, nil // committed meanwhile: the cache has it
	}
	defer file.Close()
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Docker-Content-Digest", d.String())
	w.Header().Set("Etag", `"`+d.String()+`"`)
	w.Header().Set("Cache-Control", blobCacheControl)
	if size >= 0 {
		w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
	}
	w.WriteHeader(http.StatusOK)
	var sent int64
	for {
		f.mu.Lock()
		for f.safe <= sent && !f.verified && !f.failed && ctx.Err() == nil {
			f.cond.Wait()
		}
		safe, verified, failed := f.safe, f.verified, f.failed
		f.mu.Unlock()
		if failed || ctx.Err() != nil {
			panic(http.ErrAbortHandler) // a broken transfer, never a complete one
		}
		if safe > sent {
			n, err := io.Copy(w, io.NewSectionReader(file, sent, safe-sent))
			sent += n
			if err != nil {
				return true, nil // the client left
			}
		}
		if verified && sent >= safe {
			return true, nil
		}
	}
}

func (r *Registry) proxyBlobHead(w http.ResponseWriter, req *http.Request, rt route, d digest.Digest) error {
	resp, err := r.proxy.do(req.Context(), http.MethodHead, rt.name, "/v2/"+rt.name+"/blobs/"+d.String(), nil)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return newError("BLOB_UNKNOWN", "blob unknown to registry", map[string]string{"digest": d.String()})
	}
	if resp.StatusCode != http.StatusOK {
		return &relayedError{status: resp.StatusCode, contentType: "application/json"}
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Docker-Content-Digest", d.String())
	if resp.ContentLength >= 0 {
		w.Header().Set("Content-Length", strconv.FormatInt(resp.ContentLength, 10))
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// proxyChunk is how much of a blob is read, stored and sent at a time; the
// last chunk read is held back until the digest is verified.
const proxyChunk = 1 << 20

// fetchBlob downloads d from the upstream into an ingest of the content store,
// streaming it to w, and commits it only if it matches d. The download goes on
// if the client leaves, so the blob is fetched once.
func (r *Registry) fetchBlob(w http.ResponseWriter, req *http.Request, repo string, d digest.Digest, fl *blobFetch) error {
	ctx := context.WithoutCancel(req.Context())
	resp, err := r.proxy.do(ctx, http.MethodGet, repo, "/v2/"+repo+"/blobs/"+d.String(), nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		return newError("BLOB_UNKNOWN", "blob unknown to registry", map[string]string{"digest": d.String()})
	default:
		return upstreamError(resp)
	}
	// Named, so that followers can read it; one fetch per repository and digest at a time.
	ref := proxyRefPrefix + repo + "@" + d.String()
	cw, err := r.store.blobs.Writer(ctx, content.WithRef(ref), content.WithExpectedDigest(d))
	if err != nil {
		return err
	}
	committed := false
	defer func() {
		if !committed {
			cw.Close()
			_ = r.store.blobs.Abort(ctx, ref)
		}
	}()
	if err := cw.Truncate(0); err != nil { // what an earlier fetch of it left
		return err
	}
	fl.update(func() { fl.ref, fl.size = ref, resp.ContentLength })

	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Docker-Content-Digest", d.String())
	w.Header().Set("Etag", `"`+d.String()+`"`)
	w.Header().Set("Cache-Control", blobCacheControl)
	if resp.ContentLength >= 0 {
		w.Header().Set("Content-Length", strconv.FormatInt(resp.ContentLength, 10))
	}
	w.WriteHeader(http.StatusOK)
	clientOK := true
	send := func(b []byte) {
		if clientOK {
			if _, err := w.Write(b); err != nil {
				clientOK = false
			}
		}
	}
	// From here on the status is sent: a failure aborts the response so the
	// client sees a broken transfer, never a complete one.
	fail := func(err error) error {
		r.log.ErrorContext(ctx, "proxy blob fetch failed", "repository", repo, "digest", d, "error", err)
		panic(http.ErrAbortHandler)
	}
	bufs := [2][]byte{make([]byte, proxyChunk), make([]byte, proxyChunk)}
	var held []byte
	var n int64
	for i := 0; ; i++ {
		b := bufs[i%2]
		m, rerr := io.ReadFull(resp.Body, b)
		if m > 0 {
			if _, err := cw.Write(b[:m]); err != nil {
				return fail(err)
			}
			n += int64(m)
			if held != nil {
				send(held)
			}
			held = b[:m]
			fl.update(func() { fl.safe = n - int64(m) })
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			return fail(rerr)
		}
	}
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		return fail(fmt.Errorf("upstream sent %d bytes of %d", n, resp.ContentLength))
	}
	// The commit verifies the digest: the held-back chunk goes out only if it matched.
	committed = true // whatever the commit returns, the writer is done with
	if err := r.commitBlob(ctx, repo, cw, n, d); err != nil {
		_ = r.store.blobs.Abort(ctx, ref) // kept by a commit that failed for another reason than a mismatch
		return fail(err)
	}
	fl.update(func() { fl.safe, fl.verified = n, true })
	r.log.InfoContext(ctx, "blob cached", "repository", repo, "digest", d, "size", n)
	send(held)
	return nil
}

// proxyTags relays the upstream's tag list, or lists the cached tags when the
// upstream cannot be reached.
func (r *Registry) proxyTags(w http.ResponseWriter, req *http.Request, rt route) error {
	path := "/v2/" + rt.name + "/tags/list"
	if req.URL.RawQuery != "" {
		path += "?" + req.URL.RawQuery
	}
	resp, err := r.proxy.do(req.Context(), http.MethodGet, rt.name, path, nil)
	if errors.Is(err, errUpstreamUnreachable) {
		return r.listTags(w, req, rt)
	}
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return upstreamError(resp)
	}
	for _, k := range []string{"Content-Type", "Content-Length", "Link"} {
		if v := resp.Header.Get(k); v != "" {
			w.Header().Set(k, v)
		}
	}
	w.WriteHeader(http.StatusOK)
	_, _ = io.Copy(w, resp.Body)
	return nil
}
