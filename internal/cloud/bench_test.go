package cloud

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// discard is a service that drains the body.
type discard struct{}

func (discard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if _, err := io.Copy(io.Discard, r.Body); err != nil {
		w.WriteHeader(400)
	}
}
func (discard) WriteError(w http.ResponseWriter, r *http.Request, err error) {
	w.WriteHeader(AsError(err).Status)
}

// BenchmarkSigV4HeaderRequest measures the endpoint's work for one small header-signed request (parse, scope,
// canonical request, HMAC chain, signature compare), the cost every 4 KiB PUT or GET pays.
func BenchmarkSigV4HeaderRequest(b *testing.B) {
	now := time.Now()
	ep := NewEndpoint(testCreds(testKey, testSecret), WithClock(func() time.Time { return now }))
	ep.Register("s3", discard{})
	r := httptest.NewRequest("GET", "http://127.0.0.1:9000/bucket/some/key.txt", nil)
	r.Header.Set("X-Amz-Content-Sha256", emptySHA256)
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: testKey, SecretAccessKey: testSecret}, r, emptySHA256, "s3", "us-east-1", now); err != nil {
		b.Fatal(err)
	}
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		ep.ServeHTTP(w, r)
	}
	if w.Code != 200 {
		b.Fatal(w.Code)
	}
}

// BenchmarkChunkedDecode measures decoding a signed aws-chunked body (64 KiB chunks, every signature checked).
func BenchmarkChunkedDecode(b *testing.B) {
	for _, mode := range []string{payloadStreamingSigned, payloadStreamingUnsignedTrail} {
		b.Run(mode, func(b *testing.B) {
			data := bytes.Repeat([]byte("x"), 8<<20)
			s := scope{date: "20260301", region: "us-east-1", service: "s3"}
			v := &verified{key: signingKey(testSecret, s), amzDate: "20260301T000000Z", scope: s, seed: strings.Repeat("0", 64)}
			var enc bytes.Buffer
			prev := v.seed
			for off := 0; ; off += 64 << 10 {
				chunk := data[off:min(off+64<<10, len(data))]
				if mode == payloadStreamingSigned {
					sts := streamingChunkStringPrefix + "\n" + v.amzDate + "\n" + s.String() + "\n" + prev + "\n" + emptySHA256 + "\n" + hexSHA256(chunk)
					prev = fmt.Sprintf("%x", hmacSHA256(v.key, sts))
					fmt.Fprintf(&enc, "%x;chunk-signature=%s\r\n", len(chunk), prev)
				} else {
					fmt.Fprintf(&enc, "%x\r\n", len(chunk))
				}
				enc.Write(chunk)
				if len(chunk) == 0 {
					break
				}
				enc.WriteString("\r\n")
			}
			if mode == payloadStreamingUnsignedTrail {
				enc.WriteString("x-amz-checksum-crc32:AAAAAA==\r\n")
			}
			enc.WriteString("\r\n")
			body := enc.Bytes()
			declared := map[bool][]string{true: {"x-amz-checksum-crc32"}}[mode == payloadStreamingUnsignedTrail]
			buf := make([]byte, 1<<20)
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				cr := newChunkedReader(io.NopCloser(bytes.NewReader(body)), mode, v, int64(len(data)), declared, http.Header{})
				// Read as the object store reads a body: 1 MiB at a time.
				if n, err := io.CopyBuffer(struct{ io.Writer }{io.Discard}, struct{ io.Reader }{cr}, buf); err != nil || n != int64(len(data)) {
					b.Fatal(n, err)
				}
			}
		})
	}
}
