package content_test

import (
	"context"
	"testing"

	"github.com/berth/berth/internal/content"
	"github.com/berth/berth/internal/content/testsuite"
)

func TestConformance(t *testing.T) {
	testsuite.Run(t, func(t *testing.T, root string) content.Backend {
		s, err := content.Open(root)
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// directStore asks for O_DIRECT on every write, so the whole suite runs through the O_DIRECT writer too.
type directStore struct{ *content.Store }

func (d directStore) Writer(ctx context.Context, opts ...content.WriterOpt) (content.Writer, error) {
	return d.Store.Writer(ctx, append(opts, content.WithDirectIO())...)
}

func TestConformanceDirectIO(t *testing.T) {
	testsuite.Run(t, func(t *testing.T, root string) content.Backend {
		s, err := content.Open(root)
		if err != nil {
			t.Fatal(err)
		}
		return directStore{s}
	})
}
