package command

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

const pullStream = `{"status":"Pulling from library/busybox","id":"latest"}
{"status":"Pulling fs layer","progressDetail":{},"id":"aaa"}
{"status":"Pulling fs layer","progressDetail":{},"id":"bbb"}
{"status":"Downloading","progressDetail":{"current":5,"total":10},"progress":"[==>  ] 5B/10B","id":"aaa"}
{"status":"Download complete","progressDetail":{},"id":"aaa"}
{"status":"Digest: sha256:abc"}
`

func TestRenderProgressPlain(t *testing.T) {
	var out bytes.Buffer
	if err := renderProgress(strings.NewReader(pullStream), &out, false, nil); err != nil {
		t.Fatal(err)
	}
	want := "latest: Pulling from library/busybox\naaa: Pulling fs layer\nbbb: Pulling fs layer\naaa: Download complete\nDigest: sha256:abc\n"
	if out.String() != want {
		t.Errorf("plain output:\n%q\nwant\n%q", out.String(), want)
	}
}

func TestRenderProgressTerminal(t *testing.T) {
	var out bytes.Buffer
	if err := renderProgress(strings.NewReader(pullStream), &out, true, nil); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	// aaa is the first layer line: with two layer lines below the header, its updates move up two lines.
	for _, want := range []string{"\x1b[2K\rlatest: Pulling from library/busybox\n", "\x1b[2A\x1b[2K\raaa: Downloading [==>  ] 5B/10B\x1b[2B\r",
		"\x1b[1A\x1b[2K\rbbb: Pulling fs layer\x1b[1B\r", "\x1b[2K\rDigest: sha256:abc\n"} {
		if !strings.Contains(s, want) {
			t.Errorf("terminal output lacks %q:\n%q", want, s)
		}
	}
}

func TestRenderProgressError(t *testing.T) {
	stream := pullStream + `{"errorDetail":{"message":"manifest unknown"},"error":"manifest unknown"}` + "\n"
	var aux []string
	err := renderProgress(strings.NewReader(stream+`{"aux":{"Tag":"x"}}`), &bytes.Buffer{}, false, func(b json.RawMessage) { aux = append(aux, string(b)) })
	if err == nil || err.Error() != "manifest unknown" {
		t.Errorf("err = %v", err)
	}
}
