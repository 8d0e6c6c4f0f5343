package command

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// cutReader yields its content, then fails: a daemon connection lost in the middle of `save -o`.
type cutReader struct{ r io.Reader }

func (c cutReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if err == io.EOF {
		return n, errors.New("connection reset")
	}
	return n, err
}

func TestWriteArchive(t *testing.T) {
	tests := []struct {
		name    string
		file    string // relative to the temp dir
		old     string // existing content; "" for none
		r       io.Reader
		want    string // the file's content afterwards ("" and no old: absent)
		wantErr string
	}{
		{name: "writes the archive 0644", file: "out.tar", r: strings.NewReader("tar bytes"), want: "tar bytes"},
		{name: "replaces an existing file", file: "out.tar", old: "old", r: strings.NewReader("new"), want: "new"},
		{name: "a cut stream keeps the old file", file: "out.tar", old: "old", r: cutReader{strings.NewReader("half")},
			want: "old", wantErr: "failed to write to"},
		{name: "a missing directory is docker's error", file: "nodir/out.tar", r: strings.NewReader("x"),
			wantErr: "directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, tt.file)
			if tt.old != "" {
				if err := os.WriteFile(path, []byte(tt.old), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			c := NewCLI(nil, &bytes.Buffer{}, &bytes.Buffer{})
			err := c.writeArchive(path, tt.r)
			if tt.wantErr == "" && err != nil {
				t.Fatalf("writeArchive: %v", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("writeArchive: %v, want an error with %q", err, tt.wantErr)
			}
			got, rerr := os.ReadFile(path)
			if tt.want == "" {
				if rerr == nil {
					t.Errorf("file written after an error: %q", got)
				}
			} else if string(got) != tt.want {
				t.Errorf("content = %q, want %q", got, tt.want)
			}
			if tt.wantErr == "" {
				if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o644 {
					t.Errorf("mode = %v (%v), want 0644", fi.Mode().Perm(), err)
				}
			}
			des, _ := os.ReadDir(dir)
			for _, de := range des {
				if de.Name() != filepath.Base(tt.file) {
					t.Errorf("left behind: %s", de.Name())
				}
			}
		})
	}
}
