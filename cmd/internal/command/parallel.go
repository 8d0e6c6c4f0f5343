package command

import (
	"context"
	"errors"
	"fmt"
)

// forEachContainer runs op on every name (up to 50 at once, as docker does), prints each name that
// succeeded in argument order, and returns the failures joined (printed one per line, exit status 1).
// skip lets a command ignore some errors (rm -f of a missing container).
func (c *CLI) forEachContainer(ctx context.Context, names []string, op func(ctx context.Context, name string) error, skip func(error) bool) error {
	results := make([]chan error, len(names))
	sem := make(chan struct{}, 50)
	for i, name := range names {
		results[i] = make(chan error, 1)
		go func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			results[i] <- op(ctx, name)
		}()
	}
	var errs []error
	for i, name := range names {
		if err := <-results[i]; err != nil {
			if skip != nil && skip(err) {
				continue
			}
			errs = append(errs, err)
			continue
		}
		fmt.Fprintln(c.out, name)
	}
	return errors.Join(errs...)
}
