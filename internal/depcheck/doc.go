// Package depcheck holds the test that keeps Berth's imports pointing down, as go-containerregistry's
// depcheck tests do: the rows of packages (docs/design.md's picture, as data) that a package may import from,
// and what each binary may link, so that `berth` stays a thin client of the API and berth-shim stays small.
// It has no code of its own: `go test ./internal/depcheck` reads the module's import graph with `go list`.
package depcheck
