package server

import (
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/berth/berth/internal/image"
)

func TestProgressStreamWireFormat(t *testing.T) {
	rec := httptest.NewRecorder()
	ps := newProgressStream(rec)
	ps.send(image.Progress{ID: "latest", Status: "Pulling from library/busybox", Plain: true})
	ps.send(image.Progress{ID: "0123456789ab", Status: "Pulling fs layer"})
	ps.send(image.Progress{ID: "0123456789ab", Status: "Downloading", Current: 1000000, Total: 4000000})
	ps.send(image.Progress{Status: "Digest: sha256:abc"})
	ps.send(image.Progress{Aux: image.PushResult{Tag: "latest", Digest: "sha256:abc", Size: 527}})
	ps.fail(errors.New("unauthorized: authentication required"))

	if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("status %d, content type %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	want := []string{
		`{"status":"Pulling from library/busybox","id":"latest"}`,
		`{"status":"Pulling fs layer","progressDetail":{},"id":"0123456789ab"}`,
		`{"status":"Downloading","progressDetail":{"current":1000000,"total":4000000},"progress":"[============\u003e                                      ]      1MB/4MB","id":"0123456789ab"}`,
		`{"status":"Digest: sha256:abc"}`,
		`{"progressDetail":{},"aux":{"Tag":"latest","Digest":"sha256:abc","Size":527}}`,
		`{"errorDetail":{"message":"unauthorized: authentication required"},"error":"unauthorized: authentication required"}`,
	}
	got := strings.Split(strings.TrimSpace(rec.Body.String()), "\n")
	if len(got) != len(want) {
		t.Fatalf("got %d lines:\n%s", len(got), rec.Body.String())
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("line %d:\n got %s\nwant %s", i, got[i], want[i])
		}
	}
}

// An error before any progress is a plain error response with the category's status.
func TestProgressStreamEarlyError(t *testing.T) {
	rec := httptest.NewRecorder()
	newProgressStream(rec).fail(errors.New("boom"))
	if rec.Code != 500 || !strings.Contains(rec.Body.String(), `"message":"boom"`) {
		t.Errorf("early error: %d %s", rec.Code, rec.Body.String())
	}
}
