package registry

import "github.com/berth/berth/internal/content"

// BlobBackend is the registry's blob storage, for the conformance suite in the external tests.
func BlobBackend(r *Registry) content.Backend { return r.store.blobs }
