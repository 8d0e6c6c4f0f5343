package cloud

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
)

// Body readers: what a service reads is the payload the client signed, checked as it streams. A check that fails
// surfaces as a read error wrapping an *Error, before io.EOF, so a service that fails on a read error never
// commits what it read.

// sha256Reader checks a body against the x-amz-content-sha256 the signature covered. The check runs on the read
// that delivers the body's last byte (by Content-Length), not only at EOF: a service that reads exactly
// ContentLength bytes (io.CopyN) must see a mismatch too.
type sha256Reader struct {
	body io.ReadCloser
	h    hash.Hash
	want string
	left int64 // bytes still to come; -1 when the length is unknown (chunked transfer)
	err  error
	// read is set by the first Read; taken when the service took the check over (TakeSHA256Check).
	read, taken bool
}

var _ PayloadSHA256 = (*sha256Reader)(nil)

// TakeSHA256Check implements PayloadSHA256.
func (s *sha256Reader) TakeSHA256Check() ([32]byte, bool) {
	var want [32]byte
	if s.read || s.taken {
		return want, false
	}
	if n, err := hex.Decode(want[:], []byte(s.want)); err != nil || n != len(want) {
		return want, false // checkPayloadValue vetted it: never here
	}
	s.taken = true
	return want, true
}

func newSHA256Reader(body io.ReadCloser, want string, length int64) *sha256Reader {
	return &sha256Reader{body: body, h: sha256.New(), want: strings.ToLower(want), left: length}
}

func (s *sha256Reader) Read(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	s.read = true
	n, err := s.body.Read(p)
	if !s.taken {
		s.h.Write(p[:n])
	}
	if s.left >= 0 {
		s.left -= int64(n)
	}
	if err != nil && err != io.EOF {
		s.err = bodyReadError(err)
		return 0, s.err
	}
	if s.taken && (err == io.EOF || s.left == 0) {
		s.err = io.EOF
		return n, nil
	}
	if err == io.EOF || s.left == 0 {
		if got := hex.EncodeToString(s.h.Sum(nil)); got != s.want {
			s.err = errContentSHA256Mismatch(s.want, got)
			return 0, s.err
		}
		s.err = io.EOF
		return n, nil
	}
	return n, nil
}

func (s *sha256Reader) Close() error { return s.body.Close() }

// bodyReadError turns a client that stopped sending early into S3's IncompleteBody.
func bodyReadError(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return errIncompleteBody()
	}
	return err
}

// chunkedReader decodes an aws-chunked body (STREAMING-* payloads):
//
//	SIZE-HEX[;chunk-signature=SIG]\r\n DATA \r\n … 0[;chunk-signature=SIG]\r\n [TRAILER:VALUE\r\n …] \r\n
//
// Signed variants chain each chunk's signature to the previous one, starting from the request's ("seed")
// signature; a chunk's signature is checked as soon as its last byte is read, before those bytes are returned.
// Trailing headers (x-amz-checksum-* declared in x-amz-trailer) land in the request's Trailer at EOF, their
// own signature checked for the signed-trailer variant.
type chunkedReader struct {
	body    io.ReadCloser
	br      *bufio.Reader
	signed  bool
	trailer bool // a trailer section is expected (…-TRAILER variants)
	// the signature chain
	key     []byte
	amzDate string
	scope   scope
	prevSig string
	akid    string

	chunkHash hash.Hash
	chunkSig  string
	remaining int64 // bytes left in the current chunk
	started   bool
	decoded   int64 // bytes still to come, from x-amz-decoded-content-length
	declared  map[string]bool
	trailers  http.Header // the request's Trailer, filled at EOF
	err       error
}

func newChunkedReader(body io.ReadCloser, mode string, v *verified, decodedLength int64, declared []string, trailers http.Header) *chunkedReader {
	c := &chunkedReader{
		body:     body,
		br:       bufio.NewReaderSize(body, 64<<10),
		signed:   mode == payloadStreamingSigned || mode == payloadStreamingSignedTrailer,
		trailer:  mode == payloadStreamingSignedTrailer || mode == payloadStreamingUnsignedTrail,
		decoded:  decodedLength,
		declared: map[string]bool{},
		trailers: trailers,
	}
	for _, d := range declared {
		c.declared[strings.ToLower(d)] = true
	}
	if v != nil {
		c.key, c.amzDate, c.scope, c.prevSig, c.akid = v.key, v.amzDate, v.scope, v.seed, v.identity.AccessKeyID
	}
	if c.signed {
		c.chunkHash = sha256.New()
	}
	return c
}

func (c *chunkedReader) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	if c.remaining == 0 {
		if err := c.nextChunk(); err != nil {
			c.err = err
			return 0, err
		}
		if c.err != nil { // the final chunk
			return 0, c.err
		}
	}
	if int64(len(p)) > c.remaining {
		p = p[:c.remaining]
	}
	n, err := c.br.Read(p)
	c.remaining -= int64(n)
	c.decoded -= int64(n)
	if c.signed {
		c.chunkHash.Write(p[:n])
	}
	if err != nil {
		if err == io.EOF {
			err = errIncompleteBody()
		}
		c.err = bodyReadError(err)
		return 0, c.err
	}
	if c.remaining == 0 {
		// The chunk is complete: check its framing and signature before handing over its last bytes.
		if err := c.endChunk(); err != nil {
			c.err = err
			return 0, err
		}
		// With the payload complete, read the final chunk and the trailer now, so that a service reading exactly
		// ContentLength bytes still has every signature checked and r.Trailer filled.
		if c.decoded == 0 {
			if err := c.nextChunk(); err != nil {
				c.err = err
				return 0, err
			}
		}
	}
	return n, nil
}

func (c *chunkedReader) Close() error { return c.body.Close() }

// readLine reads one CRLF-terminated line of chunk framing, bounded so a client cannot make it buffer forever.
func (c *chunkedReader) readLine() (string, error) {
	var line []byte
	for {
		frag, err := c.br.ReadSlice('\n')
		line = append(line, frag...)
		if len(line) > defaultStreamingChunkLineLimit {
			return "", errIncompleteBody()
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
				return "", errIncompleteBody()
			}
			return "", err
		}
		break
	}
	return strings.TrimSuffix(strings.TrimSuffix(string(line), "\n"), "\r"), nil
}

func (c *chunkedReader) endChunk() error {
	line, err := c.readLine()
	if err != nil {
		return err
	}
	if line != "" {
		return errIncompleteBody()
	}
	return c.checkChunkSignature()
}

func (c *chunkedReader) checkChunkSignature() error {
	if !c.signed {
		return nil
	}
	sts := streamingChunkStringPrefix + "\n" + c.amzDate + "\n" + c.scope.String() + "\n" + c.prevSig + "\n" +
		emptySHA256 + "\n" + hex.EncodeToString(c.chunkHash.Sum(nil))
	c.chunkHash.Reset()
	want := hmacSHA256(c.key, sts)
	got, err := hex.DecodeString(c.chunkSig)
	if err != nil || !hmac.Equal(want, got) {
		return errSignatureDoesNotMatch(c.akid, sts, c.chunkSig, "")
	}
	c.prevSig = c.chunkSig
	return nil
}

// nextChunk reads a chunk header; at the final (empty) chunk it reads the trailer and sets c.err to io.EOF.
func (c *chunkedReader) nextChunk() error {
	line, err := c.readLine()
	if err != nil {
		return err
	}
	sizeHex, ext, _ := strings.Cut(line, ";")
	size, perr := strconv.ParseInt(strings.TrimSpace(sizeHex), 16, 64)
	if perr != nil || size < 0 {
		return errIncompleteBody()
	}
	c.chunkSig = ""
	for _, e := range strings.Split(ext, ";") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(e), "chunk-signature="); ok {
			c.chunkSig = v
		}
	}
	if c.signed && c.chunkSig == "" {
		return errSignatureDoesNotMatch(c.akid, "", "", "")
	}
	if size > c.decoded {
		return errIncompleteBody()
	}
	c.started = true
	if size > 0 {
		c.remaining = size
		return nil
	}
	// The final chunk: its signature covers no data.
	if err := c.checkChunkSignature(); err != nil {
		return err
	}
	if c.decoded != 0 {
		return errIncompleteBody()
	}
	if err := c.readTrailer(); err != nil {
		return err
	}
	// Nothing may follow the framing.
	if _, err := c.br.ReadByte(); err != io.EOF {
		return errIncompleteBody()
	}
	c.err = io.EOF
	return nil
}

// readTrailer reads the trailing headers up to the empty line that ends the body.
func (c *chunkedReader) readTrailer() error {
	var names []string
	got := http.Header{}
	var sig string
	blankSeen := false
	for {
		line, err := c.readLine()
		if err != nil {
			if c.trailer {
				return errMalformedTrailer()
			}
			return err
		}
		if line == "" {
			// Some encoders end the final chunk with an empty data line before the trailer; the empty line
			// ends the trailer only once the declared headers have come.
			if c.trailer && len(names) == 0 && sig == "" && len(c.declared) > 0 && !blankSeen {
				blankSeen = true
				continue
			}
			break
		}
		if !c.trailer {
			return errMalformedTrailer()
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			return errMalformedTrailer()
		}
		name, value = strings.ToLower(strings.TrimSpace(name)), strings.TrimSpace(value)
		if name == trailerSignatureName {
			sig = value
			continue
		}
		if !c.declared[name] || got.Get(name) != "" {
			return errMalformedTrailer()
		}
		got.Set(name, value)
		names = append(names, name)
	}
	if len(names) != len(c.declared) {
		return errMalformedTrailer()
	}
	if c.signed && c.trailer {
		sort.Strings(names)
		var canon bytes.Buffer
		for _, n := range names {
			canon.WriteString(n + ":" + got.Get(n) + "\n")
		}
		sts := streamingTrailerStringPrefix + "\n" + c.amzDate + "\n" + c.scope.String() + "\n" + c.prevSig + "\n" + hexSHA256(canon.Bytes())
		want := hmacSHA256(c.key, sts)
		gotSig, err := hex.DecodeString(sig)
		if err != nil || !hmac.Equal(want, gotSig) {
			return errSignatureDoesNotMatch(c.akid, sts, sig, "")
		}
	}
	for k, v := range got {
		c.trailers[k] = v
	}
	return nil
}

// readSmallBody reads a body whose hash the signature covers (query-protocol forms), at most limit bytes, and
// puts it back for the service.
func readSmallBody(r *http.Request, limit int64) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, bodyReadError(err)
	}
	if int64(len(body)) > limit {
		return nil, newError(http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", "Request body must be less than "+strconv.FormatInt(limit, 10)+" bytes")
	}
	r.Body.Close()
	r.Body = io.NopCloser(bytes.NewReader(body))
	return body, nil
}
