package store_test

import (
	"testing"

	"github.com/berth/berth/internal/cluster/store"
	"github.com/berth/berth/internal/cluster/store/storetest"
)

func TestMemoryConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Backend { return store.NewMemoryBackend() })
}

// A small history compacts on its own, as etcd's auto-compaction does: the suite passes all the same.
func TestMemoryConformanceSmallHistory(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Backend { return store.NewMemoryBackend(store.WithHistory(200)) })
}
