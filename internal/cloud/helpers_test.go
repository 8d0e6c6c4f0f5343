package cloud

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containerd/errdefs"
)

// staticCreds is a Credentials over a fixed map: access key ID -> identity and secret.
type staticCreds map[string]struct {
	id     Identity
	secret string
}

func (c staticCreds) Lookup(_ context.Context, akid string) (Identity, string, error) {
	e, ok := c[akid]
	if !ok {
		return Identity{}, "", fmt.Errorf("access key %s: %w", akid, errdefs.ErrNotFound)
	}
	return e.id, e.secret, nil
}

func testCreds(pairs ...string) staticCreds {
	c := staticCreds{}
	for i := 0; i+1 < len(pairs); i += 2 {
		c[pairs[i]] = struct {
			id     Identity
			secret string
		}{Identity{AccountID: "111122223333", ARN: "arn:aws:iam::111122223333:root", UserID: "111122223333"}, pairs[i+1]}
	}
	return c
}

// seen is what the recording service saw of one request.
type seen struct {
	info    RequestInfo
	body    []byte
	readErr error
	trailer http.Header
	length  int64
	header  http.Header
}

// recorder is a trivial service: it reads the body, remembers what it saw, answers 200 with the body's SHA-256,
// and renders errors as S3's <Error>.
type recorder struct {
	mu   sync.Mutex
	last *seen
	n    int
}

func (s *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	sn := &seen{info: InfoFrom(r.Context()), body: body, readErr: err, trailer: r.Trailer.Clone(), length: r.ContentLength, header: r.Header.Clone()}
	s.mu.Lock()
	s.last, s.n = sn, s.n+1
	s.mu.Unlock()
	if err != nil {
		s.WriteError(w, r, err)
		return
	}
	sum := sha256.Sum256(body)
	w.Header().Set("ETag", `"`+hex.EncodeToString(sum[:16])+`"`)
	if r.Method == http.MethodGet {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write(body)
	}
}

func (s *recorder) WriteError(w http.ResponseWriter, r *http.Request, err error) {
	e := AsError(err)
	info := InfoFrom(r.Context())
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(e.Status)
	_ = writeS3Error(w, e, info.RequestID, info.HostID)
}

func (s *recorder) seen() *seen {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

func (s *recorder) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

// s3ErrorDoc is S3's <Error>, as the tests read it back.
type s3ErrorDoc struct {
	Code      string `xml:"Code"`
	Message   string `xml:"Message"`
	RequestID string `xml:"RequestId"`
	Extra     []struct {
		XMLName xml.Name
		Value   string `xml:",chardata"`
	} `xml:",any"`
}

func parseS3Error(t *testing.T, body []byte) s3ErrorDoc {
	t.Helper()
	var d s3ErrorDoc
	if err := xml.Unmarshal(body, &d); err != nil {
		t.Fatalf("error body %q: %v", body, err)
	}
	return d
}

func fixedClock(t time.Time) func() time.Time { return func() time.Time { return t } }

func mustTime(s string) time.Time {
	t, err := time.Parse(amzDateFormat, s)
	if err != nil {
		panic(err)
	}
	return t
}

// rawRequest builds a server-side request as net/http would hand it to a handler.
func rawRequest(method, target string, headers [][2]string, body string) *http.Request {
	path, query, _ := strings.Cut(target, "?")
	r := &http.Request{
		Method: method, RequestURI: target, URL: &url.URL{Path: path, RawQuery: query},
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: http.Header{},
		Body: io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body)), RemoteAddr: "192.0.2.10:4711",
	}
	for _, h := range headers {
		if strings.EqualFold(h[0], "Host") {
			r.Host = h[1]
			continue
		}
		r.Header.Add(h[0], h[1])
	}
	return r
}
