package content_test

import (
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
