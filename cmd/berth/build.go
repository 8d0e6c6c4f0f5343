package main

import (
	"archive/tar"
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/containerd/errdefs"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
	"github.com/spf13/cobra"

	"github.com/berth/berth/client"
	"github.com/berth/berth/internal/builder"
)

func newBuildCommand(c *cli) *cobra.Command {
	var (
		opts      client.ImageBuildOptions
		tags      = newListOpts(nil)
		buildArgs = newListOpts(nil)
		labels    = newListOpts(nil)
		iidfile   string
		file      string
	)
	cmd := &cobra.Command{
		Use:         "build [OPTIONS] PATH | -",
		Short:       "Build an image from a Dockerfile",
		Args:        exactArgs(1),
		Annotations: map[string]string{"aliases": joinAliases("image build", "build", "builder build")},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Tags = tags.Values()
			opts.BuildArgs = map[string]*string{}
			for _, a := range buildArgs.Values() {
				k, v, ok := strings.Cut(a, "=")
				if !ok {
					// --build-arg NAME takes the value from the environment, or none.
					if ev, set := os.LookupEnv(k); set {
						opts.BuildArgs[k] = &ev
					} else {
						opts.BuildArgs[k] = nil
					}
					continue
				}
				opts.BuildArgs[k] = &v
			}
			opts.Labels = map[string]string{}
			for _, l := range labels.Values() {
				k, v, _ := strings.Cut(l, "=")
				opts.Labels[k] = v
			}
			if iidfile != "" {
				if err := os.Remove(iidfile); err != nil && !errors.Is(err, fs.ErrNotExist) {
					return fmt.Errorf("Removing image ID file: %w", err)
				}
			}
			apiClient, err := c.Client()
			if err != nil {
				return err
			}
			var resp io.ReadCloser
			if args[0] == "-" {
				opts.Dockerfile = file
				if resp, err = apiClient.ImageBuild(cmd.Context(), c.in, opts); err != nil {
					return err
				}
			} else {
				name, err := contextDockerfile(args[0], file)
				if err != nil {
					return err
				}
				if file == "-" {
					// -f -: the Dockerfile comes from stdin and travels inside the context tar
					if name.data, err = io.ReadAll(c.in); err != nil {
						return err
					}
				}
				opts.Dockerfile = name.inContext
				send := func(sums *sumCache) (io.ReadCloser, error) {
					pr, pw := io.Pipe()
					go func() { pw.CloseWithError(writeBuildContext(pw, args[0], name, sums)) }()
					o := opts
					o.Manifest = sums != nil
					resp, err := apiClient.ImageBuild(cmd.Context(), pr, o)
					if err != nil {
						pr.CloseWithError(err) // stops the writer when the daemon answered early
					}
					return resp, err
				}
				// First a manifest naming large files by digest; the full context when the daemon lacks some
				// (first build, pruned store) or is not Berth (404).
				sums := openSumCache()
				resp, err = send(sums)
				sums.save()
				if errors.Is(err, errdefs.ErrFailedPrecondition) || errors.Is(err, errdefs.ErrNotFound) && strings.Contains(err.Error(), "page not found") {
					resp, err = send(nil)
				}
				if err != nil {
					return err
				}
			}
			defer resp.Close()
			id, err := displayBuild(resp, c.out, opts.Quiet)
			if err != nil {
				return err
			}
			if opts.Quiet {
				fmt.Fprintln(c.out, id)
			}
			if iidfile != "" && id != "" {
				if err := os.WriteFile(iidfile, []byte(id), 0o666); err != nil {
					return err
				}
			}
			return nil
		},
	}
	flags := cmd.Flags()
	flags.VarP(tags, "tag", "t", `Name and optionally a tag in the "name:tag" format`)
	flags.StringVarP(&file, "file", "f", "", `Name of the Dockerfile (Default is "PATH/Dockerfile")`)
	flags.Var(buildArgs, "build-arg", "Set build-time variables")
	flags.Var(labels, "label", "Set metadata for an image")
	flags.StringVar(&opts.Target, "target", "", "Set the target build stage to build.")
	flags.BoolVar(&opts.NoCache, "no-cache", false, "Do not use cache when building the image")
	flags.BoolVar(&opts.PullParent, "pull", false, "Always attempt to pull a newer version of the image")
	flags.BoolVarP(&opts.Quiet, "quiet", "q", false, "Suppress the build output and print image ID on success")
	flags.StringVar(&iidfile, "iidfile", "", "Write the image ID to the file")
	flags.StringVar(&opts.NetworkMode, "network", "default", "Set the networking mode for the RUN instructions during build")
	flags.StringVar(&opts.Platform, "platform", os.Getenv("DOCKER_DEFAULT_PLATFORM"), "Set platform if server is multi-platform capable")
	flags.Bool("rm", true, "Remove intermediate containers after a successful build")
	flags.Bool("force-rm", false, "Always remove intermediate containers")
	return cmd
}

// dockerfileName is where the Dockerfile is on the host and under which name it goes into the context.
type dockerfileName struct {
	host      string // host path
	inContext string // name in the context tar
	outside   bool   // not under the context directory: added as an extra entry
	data      []byte // the Dockerfile's content when it is read from stdin (-f -)
}

// contextDockerfile finds the Dockerfile like the docker CLI: -f relative to the current directory, default
// PATH/Dockerfile; one outside the context is sent as ".dockerfile.<random>".
func contextDockerfile(dir, file string) (dockerfileName, error) {
	absDir, err := filepath.Abs(dir)
	if err != nil {
		return dockerfileName{}, err
	}
	if fi, err := os.Stat(absDir); err != nil {
		return dockerfileName{}, fmt.Errorf("unable to prepare context: path %q not found", dir)
	} else if !fi.IsDir() {
		return dockerfileName{}, fmt.Errorf("unable to prepare context: context must be a directory: %s", dir)
	}
	if file == "-" {
		return dockerfileName{inContext: randomDockerfileName(), outside: true}, nil
	}
	host := filepath.Join(absDir, "Dockerfile")
	if file != "" {
		if host, err = filepath.Abs(file); err != nil {
			return dockerfileName{}, err
		}
	}
	if _, err := os.Stat(host); err != nil {
		return dockerfileName{}, fmt.Errorf("unable to prepare context: unable to evaluate symlinks in Dockerfile path: lstat %s: no such file or directory", host)
	}
	rel, err := filepath.Rel(absDir, host)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return dockerfileName{host: host, inContext: randomDockerfileName(), outside: true}, nil
	}
	return dockerfileName{host: host, inContext: filepath.ToSlash(rel)}, nil
}

// randomDockerfileName names a Dockerfile from outside the context inside the context tar, as the docker CLI does.
func randomDockerfileName() string {
	b := make([]byte, 10)
	rand.Read(b)
	return ".dockerfile." + hex.EncodeToString(b)
}

// writeBuildContext tars dir to w without what .dockerignore excludes (the Dockerfile and .dockerignore are always
// sent), owned by root, symlinks as symlinks.
//
// With sums, regular files of at least builder.MinStoredFile bytes go without content, named by their sha256 in
// PAX records (a manifest for Berth's /berth/build).
func writeBuildContext(w io.Writer, dir string, df dockerfileName, sums *sumCache) error {
	var excludes []string
	if f, err := os.Open(filepath.Join(dir, ".dockerignore")); err == nil {
		excludes, err = ignorefile.ReadAll(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("error reading .dockerignore: %w", err)
		}
	}
	pm, err := patternmatcher.New(excludes)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(w, 256<<10)
	tw := tar.NewWriter(bw)
	buf := make([]byte, 256<<10)
	add := func(p, name string, fi fs.FileInfo) error {
		link := ""
		if fi.Mode()&fs.ModeSymlink != 0 {
			var err error
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		hdr, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return nil // sockets and the like are not sent
		}
		hdr.Name = name
		if fi.IsDir() {
			hdr.Name += "/"
		}
		hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = 0, 0, "", ""
		hdr.Format = tar.FormatPAX
		if sums != nil && fi.Mode().IsRegular() && fi.Size() >= builder.MinStoredFile {
			d, err := sums.sum(p, fi)
			if err != nil {
				return err
			}
			hdr.Size = 0
			hdr.PAXRecords = map[string]string{builder.PAXDigest: d}
			return tw.WriteHeader(hdr)
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			_, err = io.CopyBuffer(tw, f, buf)
			f.Close()
			return err
		}
		return nil
	}
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == "." {
			return nil
		}
		rel = filepath.ToSlash(rel)
		if rel != ".dockerignore" && rel != df.inContext {
			skip, err := pm.MatchesOrParentMatches(rel)
			if err != nil {
				return err
			}
			if skip {
				if d.IsDir() && !pm.Exclusions() {
					return fs.SkipDir
				}
				return nil
			}
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if rel == ".dockerignore" && df.outside && fi.Mode().IsRegular() {
			return nil // written below, with the Dockerfile's name added
		}
		return add(p, rel, fi)
	})
	if err != nil {
		return err
	}
	if df.outside {
		// Like the docker CLI: .dockerignore lists the extra Dockerfile, so the daemon keeps it out of `COPY .`.
		ignore, err := os.ReadFile(filepath.Join(dir, ".dockerignore"))
		if err != nil {
			ignore = []byte(".dockerignore")
		}
		ignore = append(ignore, []byte("\n"+df.inContext+"\n")...)
		hdr := &tar.Header{Name: ".dockerignore", Mode: 0o644, Size: int64(len(ignore)), Typeflag: tar.TypeReg, ModTime: time.Now(), Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := tw.Write(ignore); err != nil {
			return err
		}
	}
	if df.data != nil {
		hdr := &tar.Header{Name: df.inContext, Mode: 0o644, Size: int64(len(df.data)), Typeflag: tar.TypeReg, ModTime: time.Now(), Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := tw.Write(df.data); err != nil {
			return err
		}
	} else if df.outside {
		fi, err := os.Stat(df.host)
		if err != nil {
			return err
		}
		if err := add(df.host, df.inContext, fi); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return bw.Flush()
}

// displayBuild prints a build's message stream and returns the image ID from its aux message. A failed RUN's
// exit code becomes the command's.
func displayBuild(r io.Reader, out io.Writer, quiet bool) (string, error) {
	dec := json.NewDecoder(bufio.NewReader(r))
	var id string
	for {
		var m struct {
			Stream      string `json:"stream"`
			Error       string `json:"error"`
			ErrorDetail *struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
			} `json:"errorDetail"`
			Aux *struct {
				ID string `json:"ID"`
			} `json:"aux"`
		}
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return id, nil
			}
			return id, err
		}
		if m.ErrorDetail != nil && m.ErrorDetail.Message != "" {
			code := m.ErrorDetail.Code
			if code == 0 {
				code = 1
			}
			return id, statusError{Status: m.ErrorDetail.Message, Code: code}
		}
		if m.Error != "" {
			return id, statusError{Status: m.Error, Code: 1}
		}
		if m.Aux != nil {
			id = m.Aux.ID
			continue
		}
		if !quiet && m.Stream != "" {
			fmt.Fprint(out, m.Stream)
		}
	}
}
