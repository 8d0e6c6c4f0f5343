package command

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
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
	tmp, err := os.CreateTemp(dir, ".berth_temp_")
	if err != nil {
		return fmt.Errorf("failed to create a temporary file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, r); err != nil {
		tmp.Close()
		return fmt.Errorf("failed to write to %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
