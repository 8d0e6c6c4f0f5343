package logread_test

import (
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/berth/berth/internal/logger/jsonfile"
	"github.com/berth/berth/internal/logger/local"
	"github.com/berth/berth/internal/logger/logfile"
	"github.com/berth/berth/internal/logger/logread"
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

// writeRotated writes lines 1..n, alternating stdout and stderr every third line, into a log rotating every
// five records.
func writeRotated(t *testing.T, c codec, n, maxFiles int, compress bool) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ctr.log")
	w, err := logfile.NewWriter(path, c.enc, logfile.Options{MaxSize: 5 * recordSize(c), MaxFiles: maxFiles, Compress: compress, Gzip: gzipGo, Now: tick()})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= n; i++ {
		stream := "stdout"
		if i%3 == 0 {
			stream = "stderr"
		}
		w.Write(stream, []byte(line(i)+"\n"))
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func lines(from, to int, keep func(int) bool) []string {
	var out []string
	for i := from; i <= to; i++ {
		if keep == nil || keep(i) {
			out = append(out, line(i))
		}
	}
	return out
}

func readAll(t *testing.T, c codec, path string, cfg logread.ReadConfig) []string {
	t.Helper()
	var got []string
	err := logread.Read(context.Background(), path, c.dec, cfg, func(m *logfile.Message) error {
		if len(m.Attrs) != 1 || m.Attrs[0] != (logfile.Attr{Key: "team", Value: "web"}) {
			t.Errorf("attrs %v", m.Attrs)
		}
		got = append(got, strings.TrimSuffix(string(m.Line), "\n"))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// TestReadAcrossRotation reads a rotated log as `docker logs` does: every file, oldest first; tails that span
// files, plain and compressed; since and until; a stream.
func TestReadAcrossRotation(t *testing.T) {
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Second) }
	stderr := func(i int) bool { return i%3 == 0 }
	tests := []struct {
		name     string
		maxFiles int
		cfg      logread.ReadConfig
		want     []string
	}{
		{name: "all", maxFiles: 30, cfg: logread.ReadConfig{Tail: -1}, want: lines(1, 100, nil)},
		{name: "all kept", maxFiles: 4, cfg: logread.ReadConfig{Tail: -1}, want: lines(81, 100, nil)},
		{name: "tail within the current file", maxFiles: 30, cfg: logread.ReadConfig{Tail: 3}, want: lines(98, 100, nil)},
		{name: "tail across files", maxFiles: 30, cfg: logread.ReadConfig{Tail: 23}, want: lines(78, 100, nil)},
		{name: "tail of exactly whole files", maxFiles: 30, cfg: logread.ReadConfig{Tail: 15}, want: lines(86, 100, nil)},
		{name: "tail beyond what is kept", maxFiles: 4, cfg: logread.ReadConfig{Tail: 40}, want: lines(81, 100, nil)},
		{name: "tail 0", maxFiles: 30, cfg: logread.ReadConfig{Tail: 0}, want: nil},
		{name: "since", maxFiles: 30, cfg: logread.ReadConfig{Tail: -1, Since: at(57)}, want: lines(57, 100, nil)},
		{name: "since and until", maxFiles: 30, cfg: logread.ReadConfig{Tail: -1, Since: at(12), Until: at(31)}, want: lines(12, 31, nil)},
		{name: "tail and since", maxFiles: 30, cfg: logread.ReadConfig{Tail: 20, Since: at(90)}, want: lines(90, 100, nil)},
		{name: "stderr tail", maxFiles: 30, cfg: logread.ReadConfig{Tail: 12, Stderr: true}, want: lines(89, 100, stderr)},
	}
	for _, c := range codecs {
		for _, compress := range []bool{false, true} {
			for _, tc := range tests {
				t.Run(fmt.Sprintf("%s/compress=%v/%s", c.name, compress, tc.name), func(t *testing.T) {
					path := writeRotated(t, c, 100, tc.maxFiles, compress)
					tc.cfg.MaxFiles = tc.maxFiles
					got := readAll(t, c, path, tc.cfg)
					if strings.Join(got, ",") != strings.Join(tc.want, ",") {
						t.Errorf("got %d lines %v\nwant %d lines %v", len(got), got, len(tc.want), tc.want)
					}
				})
			}
		}
	}
}

// follower runs a following Read and hands over what it reads.
type follower struct {
	got  chan string
	done chan struct{}
	errc chan error
}

func follow(ctx context.Context, c codec, path string, cfg logread.ReadConfig) *follower {
	f := &follower{got: make(chan string, 100000), done: make(chan struct{}), errc: make(chan error, 1)}
	cfg.Follow, cfg.Done = true, f.done
	go func() {
		f.errc <- logread.Read(ctx, path, c.dec, cfg, func(m *logfile.Message) error {
			f.got <- strings.TrimSuffix(string(m.Line), "\n")
			return nil
		})
	}()
	return f
}

// expect reads the next lines from the follower; ctx bounds the wait so a lost line fails the test instead of
// hanging it.
func (f *follower) expect(ctx context.Context, t *testing.T, want []string) {
	t.Helper()
	for _, w := range want {
		select {
		case g := <-f.got:
			if g != w {
				t.Fatalf("followed %q, want %q", g, w)
			}
		case <-ctx.Done():
			t.Fatalf("no %q: lost", w)
		}
	}
}

// TestFollowAcrossRotation follows a log while the writer rotates it: each batch of lines is read before the
// next is written, batches rotating the file once to several times, plain and compressed, down to a single
// file (each rotation unlinks the file the reader holds). No line is lost or read twice.
func TestFollowAcrossRotation(t *testing.T) {
	defer func(d time.Duration) { logread.PollInterval = d }(logread.PollInterval)
	logread.PollInterval = 5 * time.Millisecond
	tests := []struct {
		name     string
		maxFiles int
		compress bool
		batch    int // lines per batch; a file holds 5
	}{
		{name: "one rotation per batch", maxFiles: 3, batch: 5},
		{name: "several rotations per batch", maxFiles: 6, batch: 17},
		{name: "compressed", maxFiles: 6, compress: true, batch: 17},
		{name: "single file", maxFiles: 1, batch: 5},
		{name: "lines within a file", maxFiles: 2, batch: 2},
	}
	for _, c := range codecs {
		for _, tc := range tests {
			t.Run(c.name+"/"+tc.name, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				path := filepath.Join(t.TempDir(), "ctr.log")
				w, err := logfile.NewWriter(path, c.enc, logfile.Options{MaxSize: 5 * recordSize(c), MaxFiles: tc.maxFiles, Compress: tc.compress, Gzip: gzipGo, Now: tick()})
				if err != nil {
					t.Fatal(err)
				}
				w.Write("stdout", []byte(line(1)+"\n"+line(2)+"\n"))
				f := follow(ctx, c, path, logread.ReadConfig{Tail: 1, MaxFiles: tc.maxFiles})
				f.expect(ctx, t, lines(2, 2, nil))
				next := 3
				for range 8 {
					var b []byte
					for i := next; i < next+tc.batch; i++ {
						b = append(b, line(i)+"\n"...)
					}
					w.Write("stdout", b)
					f.expect(ctx, t, lines(next, next+tc.batch-1, nil))
					next += tc.batch
				}
				w.Write("stdout", []byte(line(next)+"\n"))
				w.Close()
				close(f.done)
				f.expect(ctx, t, lines(next, next, nil))
				if err := <-f.errc; err != nil {
					t.Fatal(err)
				}
				if len(f.got) != 0 {
					t.Fatalf("read twice: %q", <-f.got)
				}
			})
		}
	}
}

// TestFollowFreeRunning follows a writer that rotates as fast as it can, with enough files kept that none is
// removed before the reader got to it: every line arrives once, in order.
func TestFollowFreeRunning(t *testing.T) {
	defer func(d time.Duration) { logread.PollInterval = d }(logread.PollInterval)
	logread.PollInterval = 5 * time.Millisecond
	for _, c := range codecs {
		for _, compress := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/compress=%v", c.name, compress), func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				defer cancel()
				const n, maxFiles = 1500, 300
				path := filepath.Join(t.TempDir(), "ctr.log")
				w, err := logfile.NewWriter(path, c.enc, logfile.Options{MaxSize: 7 * recordSize(c), MaxFiles: maxFiles, Compress: compress, Gzip: gzipGo})
				if err != nil {
					t.Fatal(err)
				}
				f := follow(ctx, c, path, logread.ReadConfig{Tail: -1, MaxFiles: maxFiles})
				for i := 1; i <= n; i++ {
					w.Write("stdout", []byte(line(i)+"\n"))
				}
				w.Close()
				close(f.done)
				if err := <-f.errc; err != nil {
					t.Fatal(err)
				}
				var got []string
				for len(f.got) > 0 {
					got = append(got, <-f.got)
				}
				want := lines(1, n, nil)
				if strings.Join(got, ",") != strings.Join(want, ",") {
					missing := map[string]bool{}
					for _, l := range want {
						missing[l] = true
					}
					for _, l := range got {
						delete(missing, l)
					}
					var m []string
					for l := range missing {
						m = append(m, l)
					}
					sort.Strings(m)
					seen := map[string]int{}
					var dups []string
					for i, l := range got {
						if j, ok := seen[l]; ok {
							dups = append(dups, fmt.Sprintf("%s at %d and %d", l, j, i))
						}
						seen[l] = i
					}
					t.Fatalf("read %d lines, want %d; missing %v; twice %v", len(got), n, first(m, 10), first(dups, 30))
				}
			})
		}
	}
}

func first(s []string, n int) []string { return s[:min(len(s), n)] }

// TestSplitLines: a line longer than MaxLine becomes parts sharing an ID and the first part's time, the last
// part marked; an unterminated line at the end is a part that is not the last.
func TestSplitLines(t *testing.T) {
	for _, c := range codecs {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "ctr.log")
			w, err := logfile.NewWriter(path, c.enc, logfile.Options{Now: tick()})
			if err != nil {
				t.Fatal(err)
			}
			long := strings.Repeat("x", logfile.MaxLine*2+10)
			w.Write("stdout", []byte(long[:100]))
			w.Write("stdout", []byte(long[100:]+"\nshort\nend"))
			w.Flush("stdout")
			w.Close()
			var got []string
			var times []time.Time
			err = logread.Read(context.Background(), path, c.dec, logread.ReadConfig{Tail: -1}, func(m *logfile.Message) error {
				got = append(got, fmt.Sprintf("%d:%v", len(m.Line), strings.HasSuffix(string(m.Line), "\n")))
				times = append(times, m.Time)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			want := []string{fmt.Sprintf("%d:false", logfile.MaxLine), fmt.Sprintf("%d:false", logfile.MaxLine), "11:true", "6:true", "3:false"}
			if strings.Join(got, " ") != strings.Join(want, " ") {
				t.Errorf("records %v, want %v", got, want)
			}
			if len(times) == 5 && !(times[0].Equal(times[1]) && times[1].Equal(times[2]) && times[3].After(times[2])) {
				t.Errorf("times %v: the parts of a line share the first part's", times)
			}
		})
	}
}

// gzipGo compresses in process (the shim runs the gzip binary; logfile's tests cover that).
func gzipGo(dst, src *os.File) error {
	zw := gzip.NewWriter(dst)
	if _, err := io.Copy(zw, src); err != nil {
		return err
	}
	return zw.Close()
}
