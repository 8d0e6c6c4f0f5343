package jsonfile

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berth/berth/internal/logger/logfile"
	"github.com/berth/berth/internal/logger/logread"
)

var t0 = time.Date(2024, 1, 1, 0, 0, 0, 123456789, time.UTC)

// clock starts at t0 and advances a second per call; set overrides it while not nil.
type clock struct {
	tick time.Time
	set  func() time.Time
}

func (c *clock) now() time.Time {
	if c.set != nil {
		return c.set()
	}
	c.tick = c.tick.Add(time.Second)
	return c.tick
}

// newTestWriter returns a json-file writer whose clock starts at t0 and advances a second per Write.
func newTestWriter(t *testing.T) (*logfile.Writer, string, *clock) {
	t.Helper()
	return newTestWriterAt(t, filepath.Join(t.TempDir(), "ctr-json.log"), nil)
}

func newTestWriterAt(t *testing.T, path string, attrs map[string]string) (*logfile.Writer, string, *clock) {
	t.Helper()
	c := &clock{tick: t0.Add(-time.Second)}
	w, err := logfile.NewWriter(path, NewEncoder(attrs), logfile.Options{Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	return w, path, c
}

// Message, ReadConfig and Read as the package had them before logfile took the files over.
type (
	Message    = logfile.Message
	ReadConfig = logread.ReadConfig
)

const MaxRecord = logfile.MaxLine

var PollInterval = &logread.PollInterval

func Read(ctx context.Context, path string, cfg ReadConfig, fn func(Message) error) error {
	return logread.Read(ctx, path, Decoder{}, cfg, func(m *logfile.Message) error { return fn(*m) })
}

func tailOffset(r interface {
	ReadAt([]byte, int64) (int, error)
}, size int64, n int) (int64, error) {
	off, _, err := Decoder{}.TailOffset(r, size, n)
	return off, err
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) == 0 {
		return nil
	}
	if data[len(data)-1] != '\n' {
		t.Fatalf("log does not end with a newline: %q", data)
	}
	return strings.Split(string(data[:len(data)-1]), "\n")
}

func TestWriterFormat(t *testing.T) {
	w, path, c := newTestWriter(t)
	w.Write("stdout", []byte("hello\n"))
	w.Write("stderr", []byte("a \"q\" \\ <b> & \t\x01\r\xff \u2028 é\n"))
	c.set = func() time.Time { return time.Date(2024, 1, 1, 0, 0, 2, 500000000, time.FixedZone("x", 3600)) }
	w.Write("stdout", []byte("x\n"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	want := []string{
		`{"log":"hello\n","stream":"stdout","time":"2024-01-01T00:00:00.123456789Z"}`,
		`{"log":"a \"q\" \\ \u003cb\u003e \u0026 \u0009\u0001\r\ufffd \u2028 é\n","stream":"stderr","time":"2024-01-01T00:00:01.123456789Z"}`,
		// docker's RFC3339Nano: UTC, trailing zeros dropped
		`{"log":"x\n","stream":"stdout","time":"2023-12-31T23:00:02.5Z"}`,
	}
	got := readLines(t, path)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("log:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, l := range got {
		var m struct{ Log, Stream string }
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Errorf("not JSON: %s: %v", l, err)
		}
	}
}

func TestWriterLines(t *testing.T) {
	long := strings.Repeat("x", MaxRecord)
	tests := []struct {
		name   string
		writes []string // "stream:data"; "flush:stream" flushes
		want   []string // "stream:log"
	}{
		{name: "lines in one write", writes: []string{"stdout:a\nb\nc"},
			want: []string{"stdout:a\n", "stdout:b\n"}},
		{name: "line across writes", writes: []string{"stdout:ab", "stdout:c\nd\n"},
			want: []string{"stdout:abc\n", "stdout:d\n"}},
		{name: "partial at EOF", writes: []string{"stdout:no newline", "flush:stdout"},
			want: []string{"stdout:no newline"}},
		{name: "streams buffered apart", writes: []string{"stdout:o1", "stderr:e1\n", "stdout:o2\n"},
			want: []string{"stderr:e1\n", "stdout:o1o2\n"}},
		{name: "16K without newline is one partial record", writes: []string{"stdout:" + long},
			want: []string{"stdout:" + long}},
		{name: "16K-1 and newline fit one record", writes: []string{"stdout:" + long[1:] + "\n"},
			want: []string{"stdout:" + long[1:] + "\n"}},
		{name: "16K and newline", writes: []string{"stdout:" + long + "\n"},
			want: []string{"stdout:" + long, "stdout:\n"}},
		{name: "long line split", writes: []string{"stdout:" + long + long[:100], "stdout:" + long[:50] + "\nz\n"},
			want: []string{"stdout:" + long, "stdout:" + long[:150] + "\n", "stdout:z\n"}},
		{name: "empty line", writes: []string{"stdout:\n"}, want: []string{"stdout:\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, path, _ := newTestWriter(t)
			for _, wr := range tt.writes {
				stream, data, _ := strings.Cut(wr, ":")
				if stream == "flush" {
					w.Flush(data)
					continue
				}
				if err := w.Write(stream, []byte(data)); err != nil {
					t.Fatal(err)
				}
			}
			var got []string
			for _, l := range readLines(t, path) {
				var m struct{ Log, Stream string }
				if err := json.Unmarshal([]byte(l), &m); err != nil {
					t.Fatal(err)
				}
				got = append(got, m.Stream+":"+m.Log)
			}
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("records %q\nwant %q", short(got), short(tt.want))
			}
			w.Close()
		})
	}
}

func short(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		if len(s) > 40 {
			s = fmt.Sprintf("%s...(%d bytes)", s[:20], len(s))
		}
		out[i] = s
	}
	return out
}

// A partial line's record is stamped with the time its first byte arrived.
func TestWriterPartialTime(t *testing.T) {
	w, path, _ := newTestWriter(t)
	w.Write("stdout", []byte("a"))
	w.Write("stdout", []byte("b\n"))
	w.Close()
	var got []Message
	Read(context.Background(), path, ReadConfig{Tail: -1}, func(m Message) error {
		got = append(got, m)
		return nil
	})
	if len(got) != 1 || string(got[0].Line) != "ab\n" || !got[0].Time.Equal(t0) {
		t.Errorf("got %+v", got)
	}
}

// writeLog writes n stdout/stderr lines "line <i>", one second apart from t0.
func writeLog(t *testing.T, n int) string {
	t.Helper()
	w, path, _ := newTestWriter(t)
	for i := 0; i < n; i++ {
		stream := "stdout"
		if i%3 == 2 {
			stream = "stderr"
		}
		w.Write(stream, []byte(fmt.Sprintf("line %d\n", i)))
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func collect(t *testing.T, path string, cfg ReadConfig) []string {
	t.Helper()
	var got []string
	err := Read(context.Background(), path, cfg, func(m Message) error {
		got = append(got, strings.TrimSuffix(string(m.Line), "\n"))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func lines(from, to int, keep func(int) bool) []string {
	var out []string
	for i := from; i < to; i++ {
		if keep == nil || keep(i) {
			out = append(out, fmt.Sprintf("line %d", i))
		}
	}
	return out
}

func TestRead(t *testing.T) {
	const n = 3000 // ~250 KB: several tail blocks
	path := writeLog(t, n)
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Second) }
	stdout := func(i int) bool { return i%3 != 2 }
	stderr := func(i int) bool { return i%3 == 2 }
	tests := []struct {
		name string
		cfg  ReadConfig
		want []string
	}{
		{name: "all", cfg: ReadConfig{Tail: -1}, want: lines(0, n, nil)},
		{name: "tail 0", cfg: ReadConfig{Tail: 0}, want: nil},
		{name: "tail 1", cfg: ReadConfig{Tail: 1}, want: lines(n-1, n, nil)},
		{name: "tail 1000", cfg: ReadConfig{Tail: 1000}, want: lines(n-1000, n, nil)},
		{name: "tail more than all", cfg: ReadConfig{Tail: n + 5}, want: lines(0, n, nil)},
		{name: "tail exactly all", cfg: ReadConfig{Tail: n}, want: lines(0, n, nil)},
		{name: "stdout", cfg: ReadConfig{Tail: -1, Stdout: true}, want: lines(0, n, stdout)},
		{name: "stderr", cfg: ReadConfig{Tail: -1, Stderr: true}, want: lines(0, n, stderr)},
		// like docker, tail counts both streams before the stream filter
		{name: "tail 6 stderr", cfg: ReadConfig{Tail: 6, Stderr: true}, want: lines(n-6, n, stderr)},
		{name: "since", cfg: ReadConfig{Tail: -1, Since: at(2990)}, want: lines(2990, n, nil)},
		{name: "until", cfg: ReadConfig{Tail: -1, Until: at(9)}, want: lines(0, 10, nil)},
		{name: "since until", cfg: ReadConfig{Tail: -1, Since: at(100), Until: at(104)}, want: lines(100, 105, nil)},
		{name: "tail then since", cfg: ReadConfig{Tail: 10, Since: at(n - 5)}, want: lines(n-5, n, nil)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := collect(t, path, tt.cfg)
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("got %d lines %q..., want %d lines", len(got), first(got, 3), len(tt.want))
			}
		})
	}
}

func first(s []string, n int) []string {
	if len(s) < n {
		return s
	}
	return s[:n]
}

func TestReadErrors(t *testing.T) {
	path := writeLog(t, 5)
	stop := errors.New("stop")
	calls := 0
	err := Read(context.Background(), path, ReadConfig{Tail: -1}, func(Message) error {
		calls++
		return stop
	})
	if err != stop || calls != 1 {
		t.Errorf("Read = %v after %d calls; want fn's error after 1", err, calls)
	}
	if err := Read(context.Background(), filepath.Join(t.TempDir(), "none"), ReadConfig{}, nil); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	// Corrupt records are skipped.
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("garbage\n")
	f.Close()
	if got := collect(t, path, ReadConfig{Tail: 2}); len(got) != 1 || got[0] != "line 4" {
		t.Errorf("with garbage: %q", got)
	}
}

// countingReaderAt counts the bytes read through it.
type countingReaderAt struct {
	r *os.File
	n atomic.Int64
}

func (c *countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	c.n.Add(int64(n))
	return n, err
}

func TestTailReadsFromTheEnd(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big.log")
	line := []byte(`{"log":"` + strings.Repeat("y", 90) + `\n","stream":"stdout","time":"2024-01-01T00:00:00Z"}` + "\n")
	big := bytes.Repeat(line, 200000) // ~27 MB
	if err := os.WriteFile(path, big, 0o644); err != nil {
		t.Fatal(err)
	}
	f, _ := os.Open(path)
	defer f.Close()
	c := &countingReaderAt{r: f}
	off, err := tailOffset(c, int64(len(big)), 10)
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(len(big) - 10*len(line)); off != want {
		t.Errorf("offset %d, want %d", off, want)
	}
	if c.n.Load() > 64*1024 {
		t.Errorf("tail 10 read %d bytes", c.n.Load())
	}
	// A record being written (no newline yet) counts as the last one.
	off, _ = tailOffset(bytes.NewReader(append(line, `{"log"`...)), int64(len(line)+6), 1)
	if off != int64(len(line)) {
		t.Errorf("partial last record: offset %d", off)
	}
}

func TestFollow(t *testing.T) {
	defer func(d time.Duration) { *PollInterval = d }(*PollInterval)
	*PollInterval = 10 * time.Millisecond
	w, path, _ := newTestWriter(t)
	w.Write("stdout", []byte("old 1\nold 2\n"))

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan struct{})
	got := make(chan string, 100)
	errc := make(chan error, 1)
	go func() {
		errc <- Read(ctx, path, ReadConfig{Tail: 1, Follow: true, Done: done}, func(m Message) error {
			got <- m.Stream + ":" + string(m.Line)
			return nil
		})
	}()
	expect := func(want string) {
		t.Helper()
		select {
		case g := <-got:
			if g != want {
				t.Fatalf("got %q, want %q", g, want)
			}
		case <-ctx.Done():
			t.Fatalf("timeout waiting for %q", want)
		}
	}
	expect("stdout:old 2\n")
	w.Write("stderr", []byte("new 1\n"))
	expect("stderr:new 1\n")

	// A record appended in two writes (the reader may see half of it) arrives once, whole.
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"log":"half`)
	time.Sleep(50 * time.Millisecond)
	f.WriteString(` and half\n","stream":"stdout","time":"2024-01-01T00:00:00Z"}` + "\n")
	f.Close()
	expect("stdout:half and half\n")

	// The writer finishes: what it wrote last is still delivered, then Read returns nil.
	w.Write("stdout", []byte("last"))
	w.Close()
	close(done)
	expect("stdout:last")
	if err := <-errc; err != nil {
		t.Fatalf("Read after Done: %v", err)
	}
}

func TestFollowCancel(t *testing.T) {
	path := writeLog(t, 2)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	n := 0
	go func() {
		errc <- Read(ctx, path, ReadConfig{Tail: -1, Follow: true}, func(Message) error {
			n++
			return nil
		})
	}()
	time.Sleep(50 * time.Millisecond)
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) || n != 2 {
			t.Errorf("Read = %v after %d messages", err, n)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Read did not stop on cancel")
	}
}

func TestFollowUntil(t *testing.T) {
	w, path, _ := newTestWriter(t)
	w.Write("stdout", []byte("a\n"))
	w.Write("stdout", []byte("b\n"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var got []string
	// The second record is past Until: a follow stops there instead of waiting.
	err := Read(ctx, path, ReadConfig{Tail: -1, Follow: true, Until: t0}, func(m Message) error {
		got = append(got, string(m.Line))
		return nil
	})
	if err != nil || strings.Join(got, "") != "a\n" {
		t.Errorf("Read = %v, %q", err, got)
	}
}

func TestWriterAppendsAndCloses(t *testing.T) {
	w, path, _ := newTestWriter(t)
	w.Write("stdout", []byte("1\n"))
	w.Close()
	if err := w.Write("stdout", []byte("x\n")); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Write after Close: %v", err)
	}
	w2, _, _ := newTestWriterAt(t, path, nil)
	w2.Write("stdout", []byte("2\n"))
	w2.Close()
	if got := collect(t, path, ReadConfig{Tail: -1}); strings.Join(got, ",") != "1,2" {
		t.Errorf("after reopen: %q", got)
	}
	st, _ := os.Stat(path)
	if st.Mode().Perm() != 0o640 {
		t.Errorf("mode %v", st.Mode())
	}
}
