// Package buildcontext prepares a build context as the docker CLI does: it finds the Dockerfile (inside the
// context directory or outside it), applies .dockerignore and writes the tar that POST /build takes. `berth build`
// and `berth compose build` share it.
package buildcontext

import (
	"archive/tar"
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// PAXDigest is the PAX record of a berth context manifest naming a regular file sent without its content by its
// sha256. Only `berth build` sends it, to POST /berth/build (the builder's Options.ContextManifest); the docker
// CLI sends plain tars. The format is this package's: the builder, which receives it, imports it from here, so
// the CLI links no part of the engine.
const PAXDigest = "BERTH.sha256"

// MinStoredFile is the size from which context files are kept in the daemon's context file store, so that a
// later `berth build` may send them as references. Smaller files always travel inline.
const MinStoredFile = 1 << 20

// Dockerfile is where the Dockerfile is on the host and under which name it goes into the context.
type Dockerfile struct {
	Host      string // host path
	InContext string // name in the context tar: POST /build's dockerfile parameter
	Outside   bool   // not under the context directory: added as an extra entry
	Data      []byte // the Dockerfile's content when it comes from elsewhere (stdin, `-f -`)
}

// Summer names a large regular file by its sha256 (a cache keyed on the file's stat); see Write.
type Summer interface {
	Sum(path string, fi fs.FileInfo) (string, error)
}

// Locate finds the Dockerfile like the docker CLI: -f relative to the current directory, default
// PATH/Dockerfile; one outside the context is sent as ".dockerfile.<random>".
func Locate(dir, file string) (Dockerfile, error) {
	absDir, err := filepath.Abs(dir)
	if err != nil {
		return Dockerfile{}, err
	}
	if fi, err := os.Stat(absDir); err != nil {
		return Dockerfile{}, fmt.Errorf("unable to prepare context: path %q not found", dir)
	} else if !fi.IsDir() {
		return Dockerfile{}, fmt.Errorf("unable to prepare context: context must be a directory: %s", dir)
	}
	if file == "-" {
		return Dockerfile{InContext: randomDockerfileName(), Outside: true}, nil
	}
	host := filepath.Join(absDir, "Dockerfile")
	if file != "" {
		if host, err = filepath.Abs(file); err != nil {
			return Dockerfile{}, err
		}
	}
	if _, err := os.Stat(host); err != nil {
		return Dockerfile{}, fmt.Errorf("unable to prepare context: unable to evaluate symlinks in Dockerfile path: lstat %s: no such file or directory", host)
	}
	rel, err := filepath.Rel(absDir, host)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return Dockerfile{Host: host, InContext: randomDockerfileName(), Outside: true}, nil
	}
	return Dockerfile{Host: host, InContext: filepath.ToSlash(rel)}, nil
}

// randomDockerfileName names a Dockerfile from outside the context inside the context tar, as the docker CLI does.
func randomDockerfileName() string {
	b := make([]byte, 10)
	rand.Read(b)
	return ".dockerfile." + hex.EncodeToString(b)
}

// Write tars dir to w without what .dockerignore excludes (the Dockerfile and .dockerignore are always
// sent), owned by root, symlinks as symlinks.
//
// With sums, regular files of at least MinStoredFile bytes go without content, named by their sha256 in
// PAX records (a manifest for Berth's /berth/build).
func Write(w io.Writer, dir string, df Dockerfile, sums Summer) error {
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
		if sums != nil && fi.Mode().IsRegular() && fi.Size() >= MinStoredFile {
			d, err := sums.Sum(p, fi)
			if err != nil {
				return err
			}
			hdr.Size = 0
			hdr.PAXRecords = map[string]string{PAXDigest: d}
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
		if rel != ".dockerignore" && rel != df.InContext {
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
		if rel == ".dockerignore" && df.Outside && fi.Mode().IsRegular() {
			return nil // written below, with the Dockerfile's name added
		}
		return add(p, rel, fi)
	})
	if err != nil {
		return err
	}
	if df.Outside {
		// Like the docker CLI: .dockerignore lists the extra Dockerfile, so the daemon keeps it out of `COPY .`.
		ignore, err := os.ReadFile(filepath.Join(dir, ".dockerignore"))
		if err != nil {
			ignore = []byte(".dockerignore")
		}
		ignore = append(ignore, []byte("\n"+df.InContext+"\n")...)
		hdr := &tar.Header{Name: ".dockerignore", Mode: 0o644, Size: int64(len(ignore)), Typeflag: tar.TypeReg, ModTime: time.Now(), Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := tw.Write(ignore); err != nil {
			return err
		}
	}
	if df.Data != nil {
		hdr := &tar.Header{Name: df.InContext, Mode: 0o644, Size: int64(len(df.Data)), Typeflag: tar.TypeReg, ModTime: time.Now(), Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := tw.Write(df.Data); err != nil {
			return err
		}
	} else if df.Outside {
		fi, err := os.Stat(df.Host)
		if err != nil {
			return err
		}
		if err := add(df.Host, df.InContext, fi); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return bw.Flush()
}
