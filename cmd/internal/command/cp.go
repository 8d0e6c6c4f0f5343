package command

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync/atomic"

	"github.com/berth/berth/client"
	"github.com/berth/berth/cmd/internal/archive"
	"github.com/berth/berth/cmd/internal/cli"
	"github.com/berth/berth/cmd/internal/formatter"
	"github.com/spf13/cobra"
)

type cpOptions struct {
	followLink bool
	copyUIDGID bool
	quiet      bool
}

func newCopyCommand(c *CLI) *cobra.Command {
	var opts cpOptions
	cmd := &cobra.Command{
		Use: `cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-
	berth cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH`,
		Short: "Copy files/folders between a container and the local filesystem",
		Long: `Copy files/folders between a container and the local filesystem

Use '-' as the source to read a tar archive from stdin
and extract it to a directory destination in a container.
Use '-' as the destination to stream a tar archive of a
container source to stdout.`,
		Args:        cli.ExactArgs(2),
		Annotations: map[string]string{"aliases": joinAliases("container cp", "cp")},
		RunE: func(cmd *cobra.Command, args []string) error {
			if args[0] == "" {
				return errors.New("source can not be empty")
			}
			if args[1] == "" {
				return errors.New("destination can not be empty")
			}
			if !cmd.Flags().Changed("quiet") {
				opts.quiet = !c.out.IsTerminal()
			}
			return runCopy(cmd.Context(), c, &opts, args[0], args[1])
		},
	}
	flags := cmd.Flags()
	flags.BoolVarP(&opts.followLink, "follow-link", "L", false, "Always follow symbol link in SRC_PATH")
	flags.BoolVarP(&opts.copyUIDGID, "archive", "a", false, "Archive mode (copy all uid/gid information)")
	flags.BoolVarP(&opts.quiet, "quiet", "q", false, "Suppress progress output during copy. Progress output is automatically suppressed if no terminal is attached")
	return cmd
}

func runCopy(ctx context.Context, c *CLI, opts *cpOptions, src, dst string) error {
	srcContainer, srcPath := splitCpArg(src)
	dstContainer, dstPath := splitCpArg(dst)
	switch {
	case srcContainer != "" && dstContainer != "":
		return errors.New("copying between containers is not supported")
	case srcContainer != "":
		return copyFromContainer(ctx, c, opts, srcContainer, srcPath, dstPath)
	case dstContainer != "":
		return copyToContainer(ctx, c, opts, srcPath, dstContainer, dstPath)
	default:
		return errors.New("must specify at least one container source")
	}
}

// splitCpArg splits CONTAINER:PATH; a local path containing ':' must start with '/' or '.'.
func splitCpArg(arg string) (container, p string) {
	if filepath.IsAbs(arg) {
		return "", arg
	}
	ctr, p, ok := strings.Cut(arg, ":")
	if !ok || strings.HasPrefix(ctr, ".") {
		return "", arg
	}
	return ctr, p
}

func hasTrailingSep(p string) bool { return strings.HasSuffix(p, "/") }

func endsWithDot(p string) bool { return p == "." || strings.HasSuffix(p, "/.") }

// containerPath makes a container path absolute: docker reads relative ones from the root.
func containerPath(p string) string {
	if !strings.HasPrefix(p, "/") {
		return "/" + p
	}
	return p
}

// countingReader counts the bytes read through it.
type countingReader struct {
	io.Reader
	n atomic.Int64
}

func (r *countingReader) Read(b []byte) (int, error) {
	n, err := r.Reader.Read(b)
	r.n.Add(int64(n))
	return n, err
}

func copyFromContainer(ctx context.Context, c *CLI, opts *cpOptions, ctr, srcPath, dstPath string) error {
	apiClient, err := c.Client()
	if err != nil {
		return err
	}
	srcPath = containerPath(srcPath)
	// With -L, copy what a symlink points to, under the link's name.
	rebaseName := ""
	if opts.followLink {
		if st, err := apiClient.ContainerStatPath(ctx, ctr, srcPath); err == nil && st.Mode&os.ModeSymlink != 0 {
			target := st.LinkTarget
			if !path.IsAbs(target) {
				target = path.Join(path.Dir(strings.TrimSuffix(srcPath, "/")), target)
			}
			rebaseName = path.Base(strings.TrimSuffix(srcPath, "/"))
			srcPath = target
		}
	}
	body, stat, err := apiClient.CopyFromContainer(ctx, ctr, srcPath)
	if err != nil {
		return err
	}
	defer body.Close()
	if dstPath == "-" {
		_, err := io.Copy(c.out, body)
		return err
	}

	srcName := rebaseName
	if srcName == "" {
		srcName = path.Base(strings.TrimSuffix(srcPath, "/"))
	}
	absDst, err := filepath.Abs(dstPath)
	if err != nil {
		return err
	}
	srcIsDir := stat.Mode.IsDir()
	var extractDir, newName string
	fi, statErr := os.Lstat(absDst)
	if statErr == nil && fi.Mode()&os.ModeSymlink != 0 {
		fi, statErr = os.Stat(absDst)
	}
	switch {
	case statErr != nil && !errors.Is(statErr, os.ErrNotExist):
		return statErr
	case statErr != nil: // destination does not exist
		if !srcIsDir && hasTrailingSep(dstPath) {
			return fmt.Errorf("destination directory %q does not exist", dstPath)
		}
		extractDir, newName = filepath.Dir(absDst), filepath.Base(absDst)
		if _, err := os.Stat(extractDir); err != nil {
			return err
		}
	case fi.IsDir():
		extractDir, newName = absDst, srcName
		if srcIsDir && endsWithDot(srcPath) {
			newName = ""
		}
	default: // destination is a file
		if srcIsDir {
			return fmt.Errorf("cannot copy directory %q to file %q", srcPath, dstPath)
		}
		extractDir, newName = filepath.Dir(absDst), filepath.Base(absDst)
	}

	counter := &countingReader{Reader: body}
	if err := archive.Extract(counter, extractDir, archive.Rebase("", newName)); err != nil {
		return err
	}
	if !opts.quiet {
		size := counter.n.Load()
		if !srcIsDir {
			size = stat.Size
		}
		fmt.Fprintf(c.err, "Successfully copied %s to %s\n", formatter.Size(size), absDst)
	}
	return nil
}

func copyToContainer(ctx context.Context, c *CLI, opts *cpOptions, srcPath, ctr, dstPath string) error {
	apiClient, err := c.Client()
	if err != nil {
		return err
	}
	dstPath = containerPath(dstPath)
	// Stat the destination to know whether it is a directory; follow a symlink once.
	dstExists, dstIsDir := false, false
	resolved := dstPath
	if st, err := apiClient.ContainerStatPath(ctx, ctr, dstPath); err == nil {
		if st.Mode&os.ModeSymlink != 0 {
			target := st.LinkTarget
			if !path.IsAbs(target) {
				target = path.Join(path.Dir(strings.TrimSuffix(dstPath, "/")), target)
			}
			resolved = target
			st, err = apiClient.ContainerStatPath(ctx, ctr, target)
			if err != nil {
				st.Mode = 0
			}
			dstExists = err == nil
		} else {
			dstExists = true
		}
		dstIsDir = dstExists && st.Mode.IsDir()
	}

	if srcPath == "-" {
		if !dstIsDir {
			return fmt.Errorf("destination \"%s:%s\" must be a directory", ctr, dstPath)
		}
		return apiClient.CopyToContainer(ctx, ctr, resolved, c.in, client.CopyToContainerOptions{CopyUIDGID: opts.copyUIDGID})
	}

	absSrc, err := filepath.Abs(srcPath)
	if err != nil {
		return err
	}
	stat := os.Lstat
	if opts.followLink {
		stat = os.Stat
	}
	fi, err := stat(absSrc)
	if err != nil {
		return err
	}
	srcIsDir := fi.IsDir()

	var uploadDir, name string
	switch {
	case dstExists && dstIsDir:
		uploadDir, name = resolved, filepath.Base(absSrc)
		if srcIsDir && endsWithDot(srcPath) {
			name = ""
		}
	case dstExists:
		if srcIsDir {
			return fmt.Errorf("cannot copy directory %q to file \"%s:%s\"", srcPath, ctr, dstPath)
		}
		uploadDir, name = path.Dir(resolved), path.Base(resolved)
	default:
		if !srcIsDir && hasTrailingSep(dstPath) {
			return fmt.Errorf("destination directory \"%s:%s\" does not exist", ctr, dstPath)
		}
		uploadDir, name = path.Dir(resolved), path.Base(strings.TrimSuffix(resolved, "/"))
	}

	tarball, err := archive.Tar(absSrc, name, opts.followLink)
	if err != nil {
		return err
	}
	defer tarball.Close()
	var content io.Reader = tarball
	size := contentSize(absSrc, fi)
	if err := apiClient.CopyToContainer(ctx, ctr, uploadDir, content, client.CopyToContainerOptions{CopyUIDGID: opts.copyUIDGID}); err != nil {
		return err
	}
	if !opts.quiet {
		fmt.Fprintf(c.err, "Successfully copied %s to %s:%s\n", formatter.Size(size), ctr, resolved)
	}
	return nil
}

// contentSize sums the sizes of the regular files under p.
func contentSize(p string, fi os.FileInfo) int64 {
	if !fi.IsDir() {
		if fi.Mode().IsRegular() {
			return fi.Size()
		}
		return 0
	}
	var total int64
	_ = filepath.WalkDir(p, func(_ string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				total += info.Size()
			}
		}
		return nil
	})
	return total
}
