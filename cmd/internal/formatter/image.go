package formatter

import (
	"sort"
	"strconv"
	"time"

	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/image"
)

const (
	defaultImageTableFormat           = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{if .CreatedSince }}{{.CreatedSince}}{{else}}N/A{{end}}\t{{.Size}}"
	defaultImageTableFormatWithDigest = "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{if .CreatedSince }}{{.CreatedSince}}{{else}}N/A{{end}}\t{{.Size}}"
)

// ImageHeader titles the image fields.
var ImageHeader = Header{
	"ID":           "IMAGE ID",
	"Repository":   "REPOSITORY",
	"Tag":          "TAG",
	"Digest":       "DIGEST",
	"CreatedSince": "CREATED",
	"CreatedAt":    "CREATED AT",
	"Size":         "SIZE",
	"Containers":   "CONTAINERS",
	"SharedSize":   "SHARED SIZE",
	"UniqueSize":   "UNIQUE SIZE",
}

// NewImageFormat resolves `images`' --format.
func NewImageFormat(source string, quiet, digests bool) Format {
	switch source {
	case "", TableFormatKey:
		switch {
		case quiet:
			return DefaultQuietFormat
		case digests:
			return defaultImageTableFormatWithDigest
		default:
			return defaultImageTableFormat
		}
	}
	if quiet {
		return DefaultQuietFormat
	}
	f := Format(source)
	if f.IsTable() && digests && !f.Contains("{{.Digest}}") {
		f += `\t{{.Digest}}`
	}
	return f
}

// ImageRow is one repository:tag of an image, as `images` templates see it.
type ImageRow struct {
	I      image.Summary
	Trunc  bool
	repo   string
	tag    string
	digest string
}

// ImageRows expands images into one row per repository and tag ("<none>" for untagged images);
// with digests, one row per digest as well.
func ImageRows(list []image.Summary, trunc, digests bool) []any {
	var rows []any
	add := func(img image.Summary, repo, tag, digest string) {
		rows = append(rows, &ImageRow{I: img, Trunc: trunc, repo: repo, tag: tag, digest: digest})
	}
	for _, img := range list {
		if isDangling(img) {
			add(img, "<none>", "<none>", "<none>")
			continue
		}
		repoTags := map[string][]string{}
		repoDigests := map[string][]string{}
		for _, s := range img.RepoTags {
			ref, err := reference.ParseNormalizedNamed(s)
			if err != nil {
				continue
			}
			if nt, ok := ref.(reference.NamedTagged); ok {
				name := reference.FamiliarName(ref)
				repoTags[name] = append(repoTags[name], nt.Tag())
			}
		}
		for _, s := range img.RepoDigests {
			ref, err := reference.ParseNormalizedNamed(s)
			if err != nil {
				continue
			}
			if c, ok := ref.(reference.Canonical); ok {
				name := reference.FamiliarName(ref)
				repoDigests[name] = append(repoDigests[name], c.Digest().String())
			}
		}
		for _, repo := range sortedKeys(repoTags) {
			ds := repoDigests[repo]
			delete(repoDigests, repo)
			if !digests {
				ds = nil
			}
			for _, tag := range repoTags[repo] {
				if len(ds) == 0 {
					add(img, repo, tag, "<none>")
					continue
				}
				for _, d := range ds {
					add(img, repo, tag, d)
				}
			}
		}
		for _, repo := range sortedKeys(repoDigests) {
			if digests {
				for _, d := range repoDigests[repo] {
					add(img, repo, "<none>", d)
				}
			} else {
				add(img, repo, "<none>", "")
			}
		}
	}
	return rows
}

func isDangling(img image.Summary) bool {
	if len(img.RepoTags) == 0 && len(img.RepoDigests) == 0 {
		return true
	}
	return len(img.RepoTags) == 1 && img.RepoTags[0] == "<none>:<none>" &&
		len(img.RepoDigests) == 1 && img.RepoDigests[0] == "<none>@<none>"
}

func sortedKeys(m map[string][]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// MarshalJSON encodes the row's fields.
func (r *ImageRow) MarshalJSON() ([]byte, error) { return MarshalJSON(r) }

// ID is the image ID without "sha256:", 12 characters when truncating.
func (r *ImageRow) ID() string {
	if r.Trunc {
		return TruncateID(r.I.ID)
	}
	return r.I.ID
}

// Repository is the familiar repository name or "<none>".
func (r *ImageRow) Repository() string { return r.repo }

// Tag is the tag or "<none>".
func (r *ImageRow) Tag() string { return r.tag }

// Digest is the repository digest or "<none>".
func (r *ImageRow) Digest() string { return r.digest }

// CreatedSince is how long ago the image was created.
func (r *ImageRow) CreatedSince() string {
	if r.I.Created <= 0 {
		return ""
	}
	return Ago(time.Unix(r.I.Created, 0))
}

// CreatedAt is the creation time in Go's default format.
func (r *ImageRow) CreatedAt() string { return time.Unix(r.I.Created, 0).String() }

// Size is the image's size ("7.8MB").
func (r *ImageRow) Size() string { return Size(r.I.Size) }

// Containers counts the containers using the image, or "N/A".
func (r *ImageRow) Containers() string {
	if r.I.Containers == -1 {
		return "N/A"
	}
	return strconv.FormatInt(r.I.Containers, 10)
}

// SharedSize is the size shared with other images, or "N/A".
func (r *ImageRow) SharedSize() string {
	if r.I.SharedSize == -1 {
		return "N/A"
	}
	return HumanSize(r.I.SharedSize)
}

// UniqueSize is the size only this image uses, or "N/A".
func (r *ImageRow) UniqueSize() string {
	if r.I.Size == -1 || r.I.SharedSize == -1 {
		return "N/A"
	}
	return HumanSize(r.I.Size - r.I.SharedSize)
}
