package registry

import (
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"

	"github.com/containerd/errdefs"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// paginate applies the spec's n and last parameters to a sorted list and
// returns the page and, when more remain, the Link header value.
func paginate(all []string, req *http.Request, path string) ([]string, string, error) {
	q := req.URL.Query()
	if last := q.Get("last"); last != "" {
		i := sort.SearchStrings(all, last)
		for i < len(all) && all[i] <= last {
			i++
		}
		all = all[i:]
	}
	s := q.Get("n")
	if s == "" {
		return all, "", nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return nil, "", newError("PAGINATION_NUMBER_INVALID", "invalid number of results requested", map[string]string{"n": s})
	}
	if len(all) <= n {
		return all, "", nil
	}
	page := all[:n]
	if n == 0 {
		return page, "", nil
	}
	v := url.Values{"n": {strconv.Itoa(n)}, "last": {page[n-1]}}
	return page, fmt.Sprintf("<%s?%s>; rel=\"next\"", path, v.Encode()), nil
}

func (r *Registry) listTags(w http.ResponseWriter, req *http.Request, rt route) error {
	tags, err := r.store.listTags(rt.name)
	if errdefs.IsNotFound(err) {
		return newError("NAME_UNKNOWN", "repository name not known to registry", map[string]string{"name": rt.name})
	}
	if err != nil {
		return err
	}
	page, link, err := paginate(tags, req, "/v2/"+rt.name+"/tags/list")
	if err != nil {
		return err
	}
	if link != "" {
		w.Header().Set("Link", link)
	}
	return writeJSON(w, http.StatusOK, "application/json", struct {
		Name string   `json:"name"`
		Tags []string `json:"tags"`
	}{rt.name, page})
}

func (r *Registry) catalog(w http.ResponseWriter, req *http.Request) error {
	repos, err := r.store.listRepos()
	if err != nil {
		return err
	}
	page, link, err := paginate(repos, req, "/v2/_catalog")
	if err != nil {
		return err
	}
	if link != "" {
		w.Header().Set("Link", link)
	}
	if page == nil {
		page = []string{}
	}
	return writeJSON(w, http.StatusOK, "application/json", struct {
		Repositories []string `json:"repositories"`
	}{page})
}

// referrers lists the manifests in the repository whose subject is the digest.
func (r *Registry) referrers(w http.ResponseWriter, req *http.Request, rt route) error {
	subject, err := parseDigest(rt.ref)
	if err != nil {
		return err
	}
	// An unknown repository has no referrers: the spec wants 200 with an
	// empty index whenever the subject is unknown.
	revs, err := r.store.listRevisions(rt.name)
	if err != nil {
		return err
	}
	filter := req.URL.Query().Get("artifactType")
	descs := []ocispec.Descriptor{}
	for _, d := range revs {
		data, mt, err := r.store.getManifest(req.Context(), rt.name, d)
		if errdefs.IsNotFound(err) {
			continue // deleted concurrently
		}
		if err != nil {
			return err
		}
		doc, _, err := parseManifest(mt, data)
		if err != nil || doc.Subject == nil || doc.Subject.Digest != subject {
			continue
		}
		at := doc.ArtifactType
		if at == "" && isImageManifest(mt) && doc.Config != nil {
			at = doc.Config.MediaType
		}
		if filter != "" && at != filter {
			continue
		}
		descs = append(descs, ocispec.Descriptor{
			MediaType: mt, Digest: d, Size: int64(len(data)), ArtifactType: at, Annotations: doc.Annotations,
		})
	}
	sort.Slice(descs, func(i, j int) bool { return descs[i].Digest < descs[j].Digest })
	if filter != "" {
		w.Header().Set("OCI-Filters-Applied", "artifactType")
	}
	return writeJSON(w, http.StatusOK, ocispec.MediaTypeImageIndex, ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: descs,
	})
}
