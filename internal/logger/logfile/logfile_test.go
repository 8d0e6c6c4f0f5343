package logfile_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth/berth/internal/logger/jsonfile"
	"github.com/berth/berth/internal/logger/local"
	"github.com/berth/berth/internal/logger/logfile"
)

var t0 = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// codec is one driver's format.
type codec struct {
	name string
	enc  logfile.Encoder
	dec  logfile.Decoder
}

var codecs = []codec{
	{"json-file", jsonfile.NewEncoder(map[string]string{"team": "web"}), jsonfile.Decoder{}},
	{"local", local.NewEncoder(map[string]string{"team": "web"}), local.Decoder{}},
}

// tick is a clock that advances a second per call.
func tick() func() time.Time {
	t := t0
	return func() time.Time {
		t = t.Add(time.Second)
		return t
	}
}

func line(i int) string { return fmt.Sprintf("line %03d", i) }

// recordSize is the size of the record of line(i) in c's format (the same for every i here).
func recordSize(c codec) int64 {
	return int64(len(c.enc.Append(nil, &logfile.Message{Stream: "stdout", Line: []byte(line(1)), Time: t0})))
}

// decodeFile returns the lines in one file of a log, decompressing a .gz, and the gzip header's lastTime.
func decodeFile(t *testing.T, c codec, name string) ([]string, string) {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	var last string
	if strings.HasSuffix(name, ".gz") {
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var meta struct{ LastTime string }
		if err := json.Unmarshal(zr.Header.Extra, &meta); err != nil {
			t.Errorf("%s: gzip extra %q: %v", name, zr.Header.Extra, err)
		}
		last = meta.LastTime
		if data, err = io.ReadAll(zr); err != nil {
			t.Fatal(err)
		}
	}
	var out []string
	for len(data) > 0 {
		n, err := c.dec.Split(data)
		if err != nil || n == 0 {
			t.Fatalf("%s: bad record framing at %q", name, data[:min(len(data), 20)])
		}
		var m logfile.Message
		if !c.dec.Decode(data[:n], &m) {
			t.Fatalf("%s: bad record %q", name, data[:n])
		}
		out = append(out, strings.TrimSuffix(string(m.Line), "\n"))
		data = data[n:]
	}
	return out, last
}

// TestRotation writes lines 1..10 (or more) and checks which files hold which lines afterwards, as docker's
// json-file and local drivers leave them: rotation before a record once the file has reached max-size, the
// current file renamed to .1 and the others up, the oldest removed, a single file replaced, .gz with the time
// of the file's last record.
func TestRotation(t *testing.T) {
	tests := []struct {
		name     string
		maxRecs  int64 // MaxSize in records (0: unlimited); -1: one byte
		maxFiles int
		compress bool
		lines    int
		reopen   int // close and reopen the writer after this many lines (0: never)
		want     map[string][]int
		wantLast map[string]int // .gz file -> the line whose time its header carries
	}{
		{name: "no max size", maxFiles: 3, lines: 10, want: map[string][]int{"": {1, 2, 3, 4, 5, 6, 7, 8, 9, 10}}},
		{name: "one file is replaced", maxRecs: 3, maxFiles: 1, lines: 10, want: map[string][]int{"": {10}}},
		{name: "max-file 0 is one file", maxRecs: 3, maxFiles: 0, lines: 8, want: map[string][]int{"": {7, 8}}},
		{name: "three files", maxRecs: 3, maxFiles: 3, lines: 10,
			want: map[string][]int{"": {10}, ".1": {7, 8, 9}, ".2": {4, 5, 6}}},
		{name: "full current file is not rotated before the next record", maxRecs: 3, maxFiles: 3, lines: 9,
			want: map[string][]int{"": {7, 8, 9}, ".1": {4, 5, 6}, ".2": {1, 2, 3}}},
		{name: "compressed", maxRecs: 3, maxFiles: 3, compress: true, lines: 10,
			want:     map[string][]int{"": {10}, ".1.gz": {7, 8, 9}, ".2.gz": {4, 5, 6}},
			wantLast: map[string]int{".1.gz": 9, ".2.gz": 6}},
		{name: "compressed, files not yet all used", maxRecs: 4, maxFiles: 5, compress: true, lines: 10,
			want:     map[string][]int{"": {9, 10}, ".1.gz": {5, 6, 7, 8}, ".2.gz": {1, 2, 3, 4}},
			wantLast: map[string]int{".1.gz": 8, ".2.gz": 4}},
		{name: "a record larger than max-size", maxRecs: -1, maxFiles: 2, lines: 5,
			want: map[string][]int{"": {5}, ".1": {4}}},
		{name: "reopened writer counts what the file holds", maxRecs: 3, maxFiles: 4, lines: 8, reopen: 2,
			want: map[string][]int{"": {7, 8}, ".1": {4, 5, 6}, ".2": {1, 2, 3}}},
	}
	for _, c := range codecs {
		for _, tc := range tests {
			t.Run(c.name+"/"+tc.name, func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "ctr.log")
				opts := logfile.Options{MaxFiles: tc.maxFiles, Compress: tc.compress, Gzip: gzipBinary, Now: tick()}
				switch {
				case tc.maxRecs > 0:
					opts.MaxSize = tc.maxRecs * recordSize(c)
				case tc.maxRecs < 0:
					opts.MaxSize = 1
				}
				w, err := logfile.NewWriter(path, c.enc, opts)
				if err != nil {
					t.Fatal(err)
				}
				for i := 1; i <= tc.lines; i++ {
					if err := w.Write("stdout", []byte(line(i)+"\n")); err != nil {
						t.Fatal(err)
					}
					if i == tc.reopen {
						w.Close()
						if w, err = logfile.NewWriter(path, c.enc, opts); err != nil {
							t.Fatal(err)
						}
					}
				}
				if err := w.Close(); err != nil { // waits for the last compression
					t.Fatal(err)
				}
				entries, _ := os.ReadDir(filepath.Dir(path))
				got := map[string][]int{}
				for _, e := range entries {
					suffix := strings.TrimPrefix(e.Name(), "ctr.log")
					lines, last := decodeFile(t, c, filepath.Join(filepath.Dir(path), e.Name()))
					for _, l := range lines {
						var n int
						fmt.Sscanf(l, "line %d", &n)
						got[suffix] = append(got[suffix], n)
					}
					if want, ok := tc.wantLast[suffix]; ok {
						// the clock ticks once per Write: line i was stamped t0 + i seconds
						if wantTime := t0.Add(time.Duration(want) * time.Second).Format(time.RFC3339Nano); last != wantTime {
							t.Errorf("%s: lastTime %q, want %q", suffix, last, wantTime)
						}
					}
					if st, _ := e.Info(); st.Mode().Perm() != logfile.Perm {
						t.Errorf("%s: mode %v", e.Name(), st.Mode())
					}
				}
				if fmt.Sprint(got) != fmt.Sprint(tc.want) {
					t.Errorf("files:\n got %v\nwant %v", got, tc.want)
				}
			})
		}
	}
}

// gzipBinary compresses as the shim does: through the host's gzip.
func gzipBinary(dst, src *os.File) error {
	cmd := exec.Command("gzip", "-c", "-1", "-n")
	cmd.Stdin, cmd.Stdout = src, dst
	return cmd.Run()
}

// gzipGo compresses in process, with a header full of what regzip must drop.
func gzipGo(dst, src *os.File) error {
	zw := gzip.NewWriter(dst)
	zw.Name, zw.Comment, zw.Extra, zw.ModTime = "ctr.log.1", "a comment", []byte("xx"), time.Unix(1e9, 0)
	if _, err := io.Copy(zw, src); err != nil {
		return err
	}
	return zw.Close()
}

// gzipNamed is gzip run on a named file: its name is in the header.
func gzipNamed(dst, src *os.File) error {
	cmd := exec.Command("gzip", "-c", "-9", src.Name())
	cmd.Stdout = dst
	return cmd.Run()
}

// TestCompressedHeader: whatever header the compressor writes, a rotated file gets docker's (no name, the last
// record's time in the extra field) and decompresses to the file's records.
func TestCompressedHeader(t *testing.T) {
	c := codecs[0]
	for _, tc := range []struct {
		name string
		gz   func(dst, src *os.File) error
	}{{"gzip -n", gzipBinary}, {"gzip with a name", gzipNamed}, {"compress/gzip", gzipGo}} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "ctr.log")
			w, err := logfile.NewWriter(path, c.enc, logfile.Options{MaxSize: 1, MaxFiles: 2, Compress: true, Gzip: tc.gz, Now: tick()})
			if err != nil {
				t.Fatal(err)
			}
			w.Write("stdout", []byte(line(1)+"\n"+line(2)+"\n"))
			w.Close()
			b, err := os.ReadFile(path + ".1.gz")
			if err != nil {
				t.Fatal(err)
			}
			zr, err := gzip.NewReader(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(zr)
			if err != nil {
				t.Fatalf("decompressing: %v", err)
			}
			want := `{"lastTime":"2024-01-01T00:00:01Z"}`
			if zr.Name != "" || zr.Comment != "" || string(zr.Extra) != want || !zr.ModTime.IsZero() || zr.OS != 255 {
				t.Errorf("header: name %q comment %q extra %q time %v os %d", zr.Name, zr.Comment, zr.Extra, zr.ModTime, zr.OS)
			}
			if !bytes.Contains(body, []byte(line(1))) {
				t.Errorf("content %q", body)
			}
			if _, err := os.Stat(path + ".1"); !os.IsNotExist(err) {
				t.Errorf("the uncompressed file is left: %v", err)
			}
		})
	}
}

// TestSortedKeys: the encoders' key order is the sort package's.
func TestSortedKeys(t *testing.T) {
	for _, tc := range []struct {
		name string
		m    map[string]string
		want string
	}{
		{"none", nil, ""},
		{"one", map[string]string{"a": ""}, "a"},
		{"several", map[string]string{"team": "", "FOO": "", "a.b": "", "Z": "", "": "", "é": ""}, ",FOO,Z,a.b,team,é"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := strings.Join(logfile.SortedKeys(tc.m), ","); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
