package command

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/berth/berth/internal/atomicfile"
)

var errRefuseTerminal = errors.New("cowardly refusing to save to a terminal. Use the -o flag or redirect")

// writeArchive copies r to path, atomically (temp file, fsync, rename), or to stdout when path is empty
// and stdout is not a terminal.
func (c *CLI) writeArchive(path string, r io.Reader) error {
	if path == "" {
		_, err := io.Copy(c.out, r)
		return err
	}
	dir := filepath.Dir(path)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return fmt.Errorf("failed to save to %s: directory %s does not exist", path, dir)
	}
	f, err := atomicfile.Create(path, 0o644)
	if err != nil {
		return fmt.Errorf("failed to create a temporary file: %w", err)
	}
	defer f.Close()
	if _, err := io.Copy(f, r); err != nil {
		return fmt.Errorf("failed to write to %s: %w", path, err)
	}
	return f.Commit()
}
