package jsonfile

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth/berth/internal/logger/logfile"
	"github.com/berth/berth/internal/logger/logread"
)

// TestReadDockerFiles reads a log dockerd 20.10 wrote (max-size=2k, max-file=3, compress=true, labels and env
// attributes): what `docker logs` printed of it, byte for byte, and its attributes.
func TestReadDockerFiles(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"ctr-json.log", "ctr-json.log.1.gz", "ctr-json.log.2.gz"} {
		b, err := os.ReadFile(filepath.Join("testdata/docker-20.10", name))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, name), b, 0o640)
	}
	want, _ := os.ReadFile("testdata/docker-20.10/logs.stdout")
	var got bytes.Buffer
	var attrs []string
	err := logread.Read(context.Background(), filepath.Join(dir, "ctr-json.log"), Decoder{}, logread.ReadConfig{Tail: -1, MaxFiles: 3}, func(m *logfile.Message) error {
		got.Write(m.Line)
		var kv []string
		for _, a := range m.Attrs {
			kv = append(kv, a.Key+"="+a.Value)
		}
		attrs = append(attrs, strings.Join(kv, ","))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Errorf("read %d bytes, docker logs printed %d:\n%q\n...\n%q", got.Len(), len(want), first(strings.Split(got.String(), "\n"), 3), got.Bytes()[max(0, got.Len()-40):])
	}
	for _, a := range attrs {
		if a != "FOO=bar,team=web" {
			t.Fatalf("attrs %q", a)
		}
	}
	// The last two records, across the rotated files.
	var tail []string
	logread.Read(context.Background(), filepath.Join(dir, "ctr-json.log"), Decoder{}, logread.ReadConfig{Tail: 3, MaxFiles: 3}, func(m *logfile.Message) error {
		tail = append(tail, string(m.Line[:min(len(m.Line), 4)]))
		return nil
	})
	if strings.Join(tail, "|") != "xxxx|xxxx|tail" {
		t.Errorf("tail 3: %q", tail)
	}
}

func TestEncoderAttrs(t *testing.T) {
	w, path, _ := newTestWriterAt(t, filepath.Join(t.TempDir(), "a.log"), map[string]string{"team": "web", "A\"b": "<x>", "FOO": "bar"})
	w.Write("stdout", []byte("hi\n"))
	w.Close()
	got := readLines(t, path)
	want := `{"log":"hi\n","stream":"stdout","attrs":{"A\"b":"\u003cx\u003e","FOO":"bar","team":"web"},"time":"2024-01-01T00:00:00.123456789Z"}`
	if len(got) != 1 || got[0] != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
}
