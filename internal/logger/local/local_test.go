package local

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth/berth/internal/logger/logfile"
	"github.com/berth/berth/internal/logger/logread"
)

// TestReadDockerFiles reads a log dockerd 20.10's local driver wrote (max-size=2k, max-file=3, compressed):
// what `docker logs` printed of it, byte for byte (a 20000-byte line split in parts, an unterminated last one).
func TestReadDockerFiles(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"container.log", "container.log.1.gz", "container.log.2.gz"} {
		b, err := os.ReadFile(filepath.Join("testdata/docker-20.10", name))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, name), b, 0o640)
	}
	want, _ := os.ReadFile("testdata/docker-20.10/logs.stdout")
	// docker 20.10's reader dropped the newline ending a split line (its last part); moby fixed that since
	// (daemon/logger/local/read.go appends it when PLogMetaData.Last), and Berth reads as docker does now.
	want = bytes.Replace(want, []byte("xtail no newline"), []byte("x\ntail no newline"), 1)
	read := func(tail int) []byte {
		var got bytes.Buffer
		err := logread.Read(context.Background(), filepath.Join(dir, "container.log"), Decoder{}, logread.ReadConfig{Tail: tail, MaxFiles: 3}, func(m *logfile.Message) error {
			if m.Stream != "stdout" || m.Time.Year() < 2020 {
				t.Errorf("record %+v", m)
			}
			got.Write(m.Line)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return got.Bytes()
	}
	if got := read(-1); !bytes.Equal(got, want) {
		t.Errorf("read %d bytes, docker logs printed %d; starts %q", len(got), len(want), got[:min(len(got), 60)])
	}
	if got := read(1); string(got) != "tail no newline" {
		t.Errorf("tail 1: %q", got)
	}
}

// TestEncodeAsDocker re-encodes every record of docker's files: the bytes must be docker's own.
func TestEncodeAsDocker(t *testing.T) {
	var data []byte
	for _, name := range []string{"container.log.2.gz", "container.log.1.gz", "container.log"} {
		b, err := os.ReadFile(filepath.Join("testdata/docker-20.10", name))
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(name, ".gz") {
			zr, err := gzip.NewReader(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			if b, err = io.ReadAll(zr); err != nil {
				t.Fatal(err)
			}
		}
		data = append(data, b...)
	}
	n := 0
	for len(data) > 0 {
		l, err := Decoder{}.Split(data)
		if err != nil || l == 0 {
			t.Fatalf("Split = %d, %v", l, err)
		}
		rec := data[:l]
		data = data[l:]
		var m logfile.Message
		if !(Decoder{}).Decode(rec, &m) {
			t.Fatalf("record %d does not decode", n)
		}
		if m.Complete() {
			m.Line = m.Line[:len(m.Line)-1]
		}
		if again := NewEncoder(nil).Append(nil, &m); !bytes.Equal(again, rec) {
			t.Errorf("record %d:\ndocker %x\nberth  %x", n, rec, again)
		}
		n++
	}
	if n < 10 {
		t.Fatalf("only %d records", n)
	}
}

func TestRoundTrip(t *testing.T) {
	ts := time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)
	tests := []struct {
		name     string
		msg      logfile.Message
		attrs    map[string]string
		wantLine string
	}{
		{name: "line", msg: logfile.Message{Stream: "stdout", Line: []byte("hello"), Time: ts}, wantLine: "hello\n"},
		{name: "empty line", msg: logfile.Message{Stream: "stderr", Time: ts}, wantLine: "\n"},
		{name: "part of a line", msg: logfile.Message{Stream: "stdout", Line: []byte("part"), Time: ts, Partial: &logfile.Partial{ID: "x", Ordinal: 1}}, wantLine: "part"},
		{name: "last part", msg: logfile.Message{Stream: "stdout", Line: []byte("end"), Time: ts, Partial: &logfile.Partial{ID: "x", Ordinal: 2, Last: true}}, wantLine: "end\n"},
		{name: "attrs", msg: logfile.Message{Stream: "stdout", Line: []byte("a"), Time: ts}, attrs: map[string]string{"team": "web", "env": "prod"}, wantLine: "a\n"},
		{name: "long", msg: logfile.Message{Stream: "stdout", Line: bytes.Repeat([]byte("y"), 20000), Time: ts}, wantLine: strings.Repeat("y", 20000) + "\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := NewEncoder(tc.attrs).Append([]byte("prefix"), &tc.msg)
			rec = rec[len("prefix"):]
			n, err := Decoder{}.Split(append(rec, 0, 0, 0))
			if err != nil || n != len(rec) {
				t.Fatalf("Split = %d, %v; want %d", n, err, len(rec))
			}
			if n, _ := (Decoder{}).Split(rec[:len(rec)-1]); n != 0 {
				t.Fatalf("Split of a cut record = %d", n)
			}
			var m logfile.Message
			if !(Decoder{}).Decode(rec, &m) {
				t.Fatal("Decode failed")
			}
			if m.Stream != tc.msg.Stream || !m.Time.Equal(ts) || string(m.Line) != tc.wantLine {
				t.Errorf("decoded %q %v %q", m.Stream, m.Time, m.Line)
			}
			var attrs []string
			for _, a := range m.Attrs {
				attrs = append(attrs, a.Key+"="+a.Value)
			}
			if len(tc.attrs) > 0 && strings.Join(attrs, ",") != "env=prod,team=web" {
				t.Errorf("attrs %q", attrs)
			}
		})
	}
}

func TestTailOffset(t *testing.T) {
	e := NewEncoder(nil)
	var file []byte
	var starts []int64
	for i := range 5 {
		starts = append(starts, int64(len(file)))
		file = e.Append(file, &logfile.Message{Stream: "stdout", Line: bytes.Repeat([]byte("z"), i*10), Time: time.Unix(int64(i), 0)})
	}
	whole := int64(len(file))
	tests := []struct {
		name      string
		data      []byte
		n         int
		wantOff   int64
		wantFound int
	}{
		{name: "last 2", data: file, n: 2, wantOff: starts[3], wantFound: 2},
		{name: "all", data: file, n: 5, wantOff: 0, wantFound: 5},
		{name: "more than all", data: file, n: 9, wantOff: 0, wantFound: 5},
		{name: "none", data: file, n: 0, wantOff: whole, wantFound: 0},
		{name: "empty", data: nil, n: 3, wantOff: 0, wantFound: 0},
		// A record being written: it counts, and reading starts at its beginning.
		{name: "cut last record", data: file[:whole-3], n: 2, wantOff: starts[3], wantFound: 2},
		{name: "cut, only the cut one", data: file[:whole-3], n: 1, wantOff: starts[4], wantFound: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			off, found, err := Decoder{}.TailOffset(bytes.NewReader(tc.data), int64(len(tc.data)), tc.n)
			if err != nil || off != tc.wantOff || found != tc.wantFound {
				t.Errorf("TailOffset = %d, %d, %v; want %d, %d", off, found, err, tc.wantOff, tc.wantFound)
			}
		})
	}
}
