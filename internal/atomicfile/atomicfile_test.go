package atomicfile

import (
	"errors"
	"go/parser"
	"go/token"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// syncLog replaces fsync for one test: it records what was synced ("file" for the temp file, "dir" for a
// directory, with the directory's path) and fails the calls fail says to. A power cut cannot be observed in a
// test; what can be is that the right handles are fsynced in the right order and that a failed sync loses
// nothing.
type syncLog struct {
	calls []string
	fail  func(isDir bool) error
}

func recordSyncs(t *testing.T, fail func(isDir bool) error) *syncLog {
	t.Helper()
	l := &syncLog{fail: fail}
	old := fsync
	fsync = func(f *os.File) error {
		fi, err := f.Stat()
		if err != nil {
			t.Fatalf("stat %s: %v", f.Name(), err)
		}
		if fi.IsDir() {
			l.calls = append(l.calls, "dir "+f.Name())
		} else {
			l.calls = append(l.calls, "file")
		}
		if l.fail != nil {
			if err := l.fail(fi.IsDir()); err != nil {
				return err
			}
		}
		return f.Sync()
	}
	t.Cleanup(func() { fsync = old })
	return l
}

// entries lists dir, to show that no temp file is left behind.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, de := range des {
		out = append(out, de.Name())
	}
	return out
}

var errDisk = errors.New("injected I/O error")

func TestWriteFile(t *testing.T) {
	tests := []struct {
		name     string
		old      string // content before the write; "" for no file
		oldMode  os.FileMode
		data     string
		perm     os.FileMode
		opts     []Option
		fail     func(isDir bool) error
		wantErr  bool
		want     string // content afterwards
		wantMode os.FileMode
		syncs    []string // "dir" stands for the directory's path
	}{
		{name: "new file is written, synced, then its directory", data: "new", perm: 0o644,
			want: "new", wantMode: 0o644, syncs: []string{"file", "dir"}},
		{name: "replaces old content", old: "old", oldMode: 0o600, data: "new", perm: 0o600,
			want: "new", wantMode: 0o600, syncs: []string{"file", "dir"}},
		{name: "mode is applied to a replaced file", old: "old", oldMode: 0o600, data: "new", perm: 0o640,
			want: "new", wantMode: 0o640, syncs: []string{"file", "dir"}},
		{name: "mode is not masked by the umask", data: "x", perm: 0o777,
			want: "x", wantMode: 0o777, syncs: []string{"file", "dir"}},
		{name: "empty content", old: "old", oldMode: 0o600, data: "", perm: 0o600,
			want: "", wantMode: 0o600, syncs: []string{"file", "dir"}},
		{name: "NoSync syncs nothing", old: "old", oldMode: 0o600, data: "new", perm: 0o600, opts: []Option{NoSync()},
			want: "new", wantMode: 0o600, syncs: nil},
		{name: "failed file sync keeps the old content", old: "old", oldMode: 0o600, data: "new", perm: 0o644,
			fail: func(isDir bool) error {
				if !isDir {
					return errDisk
				}
				return nil
			},
			wantErr: true, want: "old", wantMode: 0o600, syncs: []string{"file"}},
		{name: "failed file sync leaves no file where there was none", data: "new", perm: 0o644,
			fail:    func(bool) error { return errDisk },
			wantErr: true, syncs: []string{"file"}},
		{name: "failed directory sync is reported, new content in place", old: "old", oldMode: 0o600, data: "new", perm: 0o600,
			fail: func(isDir bool) error {
				if isDir {
					return errDisk
				}
				return nil
			},
			wantErr: true, want: "new", wantMode: 0o600, syncs: []string{"file", "dir"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := syscall.Umask(0o022)
			t.Cleanup(func() { syscall.Umask(old) })
			dir := t.TempDir()
			path := filepath.Join(dir, "f.json")
			if tt.old != "" || tt.oldMode != 0 {
				if err := os.WriteFile(path, []byte(tt.old), tt.oldMode); err != nil {
					t.Fatal(err)
				}
			}
			log := recordSyncs(t, tt.fail)
			err := WriteFile(path, []byte(tt.data), tt.perm, tt.opts...)
			if (err != nil) != tt.wantErr {
				t.Fatalf("WriteFile: err = %v, want error %v", err, tt.wantErr)
			}
			if tt.wantErr && !errors.Is(err, errDisk) {
				t.Errorf("WriteFile: err = %v, want the injected error wrapped", err)
			}
			var want []string
			for _, s := range tt.syncs {
				want = append(want, strings.Replace(s, "dir", "dir "+dir, 1))
			}
			if !slices.Equal(log.calls, want) {
				t.Errorf("fsync calls = %q, want %q", log.calls, want)
			}
			got, rerr := os.ReadFile(path)
			if tt.want == "" && tt.wantMode == 0 {
				if !errors.Is(rerr, os.ErrNotExist) {
					t.Errorf("file exists after a failed first write (%q, %v)", got, rerr)
				}
			} else {
				if rerr != nil {
					t.Fatal(rerr)
				}
				if string(got) != tt.want {
					t.Errorf("content = %q, want %q", got, tt.want)
				}
				fi, err := os.Stat(path)
				if err != nil {
					t.Fatal(err)
				}
				if fi.Mode().Perm() != tt.wantMode {
					t.Errorf("mode = %v, want %v", fi.Mode().Perm(), tt.wantMode)
				}
			}
			if es := entries(t, dir); len(es) > 1 || (len(es) == 1 && es[0] != "f.json") {
				t.Errorf("directory holds %q, want only f.json (no temp file)", es)
			}
		})
	}
}

func TestWriteFileErrors(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string) string // returns the path to write
		check func(t *testing.T, dir, path string)
	}{
		{
			name:  "missing directory",
			setup: func(t *testing.T, dir string) string { return filepath.Join(dir, "absent", "f") },
			check: func(t *testing.T, dir, path string) {
				if es := entries(t, dir); len(es) != 0 {
					t.Errorf("directory holds %q, want nothing", es)
				}
			},
		},
		{
			name: "target is a directory that rename cannot replace",
			setup: func(t *testing.T, dir string) string {
				p := filepath.Join(dir, "d")
				if err := os.MkdirAll(filepath.Join(p, "child"), 0o755); err != nil {
					t.Fatal(err)
				}
				return p
			},
			check: func(t *testing.T, dir, path string) {
				if es := entries(t, dir); !slices.Equal(es, []string{"d"}) {
					t.Errorf("directory holds %q, want only d (no temp file)", es)
				}
				if es := entries(t, path); !slices.Equal(es, []string{"child"}) {
					t.Errorf("target directory holds %q, want it untouched", es)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := tt.setup(t, dir)
			if err := WriteFile(path, []byte("data"), 0o600); err == nil {
				t.Fatal("WriteFile succeeded, want an error")
			}
			tt.check(t, dir, path)
		})
	}
}

// failingReader fails after its content, as a network stream cut in the middle.
type failingReader struct{ r io.Reader }

func (f failingReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, errDisk
	}
	return n, err
}

func TestFile(t *testing.T) {
	tests := []struct {
		name    string
		old     string
		write   func(t *testing.T, f *File, dir string) error // the steps after Create
		want    map[string]string                             // files in the directory afterwards
		wantErr bool
	}{
		{
			name: "streamed content is committed",
			old:  "old",
			write: func(t *testing.T, f *File, dir string) error {
				if _, err := io.Copy(f, strings.NewReader("streamed ")); err != nil {
					return err
				}
				if _, err := f.Write([]byte("content")); err != nil {
					return err
				}
				return f.Commit()
			},
			want: map[string]string{"f": "streamed content"},
		},
		{
			name: "a failed stream closed without commit keeps the old content",
			old:  "old",
			write: func(t *testing.T, f *File, dir string) error {
				_, err := io.Copy(f, failingReader{strings.NewReader("half")})
				f.Close()
				return err
			},
			want:    map[string]string{"f": "old"},
			wantErr: true,
		},
		{
			name: "CommitAs names the file after its content",
			write: func(t *testing.T, f *File, dir string) error {
				f.Write([]byte("abc"))
				return f.CommitAs(filepath.Join(dir, "by-digest"))
			},
			want: map[string]string{"by-digest": "abc"},
		},
		{
			name: "CommitAs into another directory is refused and discards",
			old:  "old",
			write: func(t *testing.T, f *File, dir string) error {
				f.Write([]byte("abc"))
				return f.CommitAs(filepath.Join(t.TempDir(), "f"))
			},
			want:    map[string]string{"f": "old"},
			wantErr: true,
		},
		{
			name: "writing after commit fails and changes nothing",
			write: func(t *testing.T, f *File, dir string) error {
				f.Write([]byte("once"))
				if err := f.Commit(); err != nil {
					t.Fatal(err)
				}
				if err := f.Close(); err != nil {
					t.Errorf("Close after Commit: %v", err)
				}
				if _, err := f.Write([]byte("twice")); err == nil {
					t.Error("Write after Commit succeeded")
				}
				return f.Commit()
			},
			want:    map[string]string{"f": "once"},
			wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "f")
			if tt.old != "" {
				if err := os.WriteFile(path, []byte(tt.old), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			f, err := Create(path, 0o600)
			if err != nil {
				t.Fatal(err)
			}
			err = tt.write(t, f, dir)
			f.Close()
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			got := map[string]string{}
			for _, name := range entries(t, dir) {
				b, err := os.ReadFile(filepath.Join(dir, name))
				if err != nil {
					t.Fatal(err)
				}
				got[name] = string(b)
			}
			if len(got) != len(tt.want) {
				t.Errorf("directory holds %q, want %q", got, tt.want)
			}
			for name, want := range tt.want {
				if got[name] != want {
					t.Errorf("%s = %q, want %q", name, got[name], want)
				}
			}
		})
	}
}

// NoReplace creates a file only where none exists: an existing file keeps its content, the commit reports
// os.ErrExist, and no temp file is left either way.
func TestNoReplace(t *testing.T) {
	tests := []struct {
		name    string
		old     string
		want    string
		wantErr error
	}{
		{name: "absent file is created", want: "new"},
		{name: "existing file is kept", old: "old", want: "old", wantErr: os.ErrExist},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "key")
			if tt.old != "" {
				if err := os.WriteFile(path, []byte(tt.old), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			err := WriteFile(path, []byte("new"), 0o600, NoReplace())
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if got := entries(t, dir); !slices.Equal(got, []string{"key"}) {
				t.Errorf("directory holds %q, want only key", got)
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tt.want || (tt.old == "" && fi.Mode().Perm() != 0o600) {
				t.Errorf("key = %q mode %v, want %q", b, fi.Mode().Perm(), tt.want)
			}
		})
	}
}

// TestLeaf holds the package to the imports the lean shim can afford: fmt alone adds 160 KB to berth-shim.
func TestLeaf(t *testing.T) {
	allowed := map[string]bool{"errors": true, "io": true, "os": true, "path/filepath": true}
	des, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, de := range des {
		name := de.Name()
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			if p := strings.Trim(imp.Path.Value, `"`); !allowed[p] {
				t.Errorf("%s imports %s; the shim links this package, keep it to %v", name, p, allowed)
			}
		}
	}
}
