// Command s3load is the S3 load generator of bench/s3.sh, standing in for minio's warp (which the Go module proxy
// does not serve): N concurrent clients with the AWS SDK for Go v2, each with its own connection, PUT objects of a
// fixed size for a while, then GET the objects the PUT phase wrote for as long; it prints one JSON line per phase
// with operations per second, bytes per second and per-operation latency percentiles, as warp's summary does.
// It also fills a bucket with many small keys (-op fill) and times listings of a prefix (-op list).
//
// Like warp, it keeps the client's own work small so that the server is what is measured: payloads are sent as
// UNSIGNED-PAYLOAD and no additional checksums are computed or validated (the server still computes the ETag's
// MD5). Every object's content is distinct (a unique header in front of random bytes): a server that stores
// identical content once would otherwise skip the disk.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go/middleware"
)

type options struct {
	endpoint, accessKey, secretKey, region string
	bucket, prefix, op                     string
	clients                                int
	size                                   int64
	duration                               time.Duration
	maxObjects                             int
	keys, groups, repeat                   int
	cleanup                                bool
}

func main() {
	var o options
	flag.StringVar(&o.endpoint, "endpoint", "http://127.0.0.1:9000", "S3 endpoint URL")
	flag.StringVar(&o.accessKey, "access-key", os.Getenv("AWS_ACCESS_KEY_ID"), "access key ID")
	flag.StringVar(&o.secretKey, "secret-key", os.Getenv("AWS_SECRET_ACCESS_KEY"), "secret access key")
	flag.StringVar(&o.region, "region", "us-east-1", "region to sign for")
	flag.StringVar(&o.bucket, "bucket", "bench", "bucket (created if missing)")
	flag.StringVar(&o.prefix, "prefix", "obj", "key prefix")
	flag.StringVar(&o.op, "op", "putget", "putget: a PUT phase then a GET phase; fill: write -keys empty objects in -groups prefixes; list: list -prefix -repeat times")
	flag.IntVar(&o.clients, "clients", 8, "concurrent clients")
	flag.Int64Var(&o.size, "size", 4096, "object size in bytes")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "length of each phase")
	flag.IntVar(&o.maxObjects, "max-objects", 0, "stop the PUT phase after this many objects (0: no limit)")
	flag.IntVar(&o.keys, "keys", 100000, "fill: number of keys")
	flag.IntVar(&o.groups, "groups", 10, "fill: number of prefixes the keys are spread over (PREFIX/gNN/)")
	flag.IntVar(&o.repeat, "repeat", 5, "list: number of listings")
	flag.BoolVar(&o.cleanup, "cleanup", false, "putget: delete the objects written after the GET phase (not timed)")
	flag.Parse()
	if err := run(context.Background(), o); err != nil {
		fmt.Fprintln(os.Stderr, "s3load:", err)
		os.Exit(1)
	}
}

func newClient(o options) *s3.Client {
	httpClient := awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
		t.MaxIdleConns = 4 * o.clients
		t.MaxIdleConnsPerHost = 4 * o.clients
		t.DisableCompression = true
	})
	return s3.New(s3.Options{
		Region:                     o.region,
		BaseEndpoint:               aws.String(o.endpoint),
		UsePathStyle:               true,
		Credentials:                credentials.NewStaticCredentialsProvider(o.accessKey, o.secretKey, ""),
		HTTPClient:                 httpClient,
		RetryMaxAttempts:           1, // an error is counted, not hidden by a retry
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
		APIOptions:                 []func(*middleware.Stack) error{v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware},
	})
}

func run(ctx context.Context, o options) error {
	c := newClient(o)
	switch o.op {
	case "putget":
		if err := ensureBucket(ctx, c, o.bucket); err != nil {
			return err
		}
		keys, err := putPhase(ctx, c, o)
		if err != nil {
			return err
		}
		if err := getPhase(ctx, c, o, keys); err != nil {
			return err
		}
		if o.cleanup {
			return deleteKeys(ctx, c, o.bucket, keys)
		}
		return nil
	case "fill":
		if err := ensureBucket(ctx, c, o.bucket); err != nil {
			return err
		}
		return fill(ctx, c, o)
	case "list":
		return list(ctx, c, o)
	}
	return fmt.Errorf("unknown -op %q", o.op)
}

func ensureBucket(ctx context.Context, c *s3.Client, bucket string) error {
	if _, err := c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &bucket}); err == nil {
		return nil
	}
	_, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &bucket})
	return err
}

// result is one phase's summary line.
type result struct {
	Op        string  `json:"op"`
	Clients   int     `json:"clients"`
	Size      int64   `json:"size"`
	Ops       int     `json:"ops"`
	Errors    int64   `json:"errors"`
	Seconds   float64 `json:"seconds"`
	OpsPerSec float64 `json:"ops_per_s"`
	MiBPerSec float64 `json:"mib_per_s"`
	P50       float64 `json:"p50_ms"`
	P90       float64 `json:"p90_ms"`
	P99       float64 `json:"p99_ms"`
	Max       float64 `json:"max_ms"`
	FirstErr  string  `json:"first_error,omitempty"`
}

func summarize(op string, o options, lat []time.Duration, errs int64, firstErr error, elapsed time.Duration) result {
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		i := int(p * float64(len(lat)-1))
		return float64(lat[i].Microseconds()) / 1000
	}
	r := result{Op: op, Clients: o.clients, Size: o.size, Ops: len(lat), Errors: errs, Seconds: elapsed.Seconds(),
		P50: pct(0.50), P90: pct(0.90), P99: pct(0.99), Max: pct(1)}
	r.OpsPerSec = float64(len(lat)) / elapsed.Seconds()
	r.MiBPerSec = r.OpsPerSec * float64(o.size) / (1 << 20)
	if firstErr != nil {
		r.FirstErr = firstErr.Error()
	}
	return r
}

func emit(r result) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	fmt.Println(string(b))
	if r.Errors > 0 {
		return fmt.Errorf("%s: %d errors, the first: %s", r.Op, r.Errors, r.FirstErr)
	}
	return nil
}

// errorCounter keeps the count and the first of a phase's errors.
type errorCounter struct {
	n     atomic.Int64
	once  sync.Once
	first error
}

func (e *errorCounter) add(err error) {
	e.n.Add(1)
	e.once.Do(func() { e.first = err })
}

// payload is one client's object buffer: random bytes whose first 16 bytes are rewritten before each PUT, so no
// two objects of a run have the same content.
type payload struct {
	buf   []byte
	nonce uint64
}

func newPayload(size int64) (*payload, error) {
	p := &payload{buf: make([]byte, size)}
	if _, err := rand.Read(p.buf); err != nil {
		return nil, err
	}
	var n [8]byte
	rand.Read(n[:])
	p.nonce = binary.LittleEndian.Uint64(n[:])
	return p, nil
}

func (p *payload) next(seq uint64) io.ReadSeeker {
	var h [16]byte
	binary.LittleEndian.PutUint64(h[:8], p.nonce)
	binary.LittleEndian.PutUint64(h[8:], seq)
	copy(p.buf, h[:min(len(p.buf), 16)])
	return bytes.NewReader(p.buf)
}

// putPhase runs o.clients writers until o.duration has passed (or o.maxObjects were written) and returns the keys
// written.
func putPhase(ctx context.Context, c *s3.Client, o options) ([]string, error) {
	payloads := make([]*payload, o.clients)
	for i := range payloads {
		p, err := newPayload(o.size)
		if err != nil {
			return nil, err
		}
		payloads[i] = p
	}
	var (
		mu    sync.Mutex
		keys  []string
		lat   []time.Duration
		errs  errorCounter
		count atomic.Int64
		wg    sync.WaitGroup
	)
	start := time.Now()
	deadline := start.Add(o.duration)
	for i := 0; i < o.clients; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			var mine []string
			var my []time.Duration
			for seq := uint64(0); time.Now().Before(deadline); seq++ {
				if o.maxObjects > 0 && count.Add(1) > int64(o.maxObjects) {
					break
				}
				key := fmt.Sprintf("%s/c%02d/%08d", o.prefix, i, seq)
				t0 := time.Now()
				_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: &o.bucket, Key: &key, Body: payloads[i].next(seq),
					ContentLength: aws.Int64(o.size)})
				if err != nil {
					errs.add(err)
					continue
				}
				my = append(my, time.Since(t0))
				mine = append(mine, key)
			}
			mu.Lock()
			keys = append(keys, mine...)
			lat = append(lat, my...)
			mu.Unlock()
		}(i)
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := emit(summarize("put", o, lat, errs.n.Load(), errs.first, elapsed)); err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, errors.New("put: no object written")
	}
	return keys, nil
}

// getPhase runs o.clients readers over the keys for o.duration, each starting at its own offset.
func getPhase(ctx context.Context, c *s3.Client, o options, keys []string) error {
	var (
		mu   sync.Mutex
		lat  []time.Duration
		errs errorCounter
		wg   sync.WaitGroup
	)
	start := time.Now()
	deadline := start.Add(o.duration)
	for i := 0; i < o.clients; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			var my []time.Duration
			buf := make([]byte, 1<<20)
			for n := i * len(keys) / o.clients; time.Now().Before(deadline); n++ {
				key := keys[n%len(keys)]
				t0 := time.Now()
				out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: &o.bucket, Key: &key})
				if err != nil {
					errs.add(err)
					continue
				}
				got, err := io.CopyBuffer(io.Discard, onlyReader{out.Body}, buf)
				out.Body.Close()
				if err == nil && got != o.size {
					err = fmt.Errorf("GET %s: %d bytes, want %d", key, got, o.size)
				}
				if err != nil {
					errs.add(err)
					continue
				}
				my = append(my, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, my...)
			mu.Unlock()
		}(i)
	}
	wg.Wait()
	return emit(summarize("get", o, lat, errs.n.Load(), errs.first, time.Since(start)))
}

// deleteKeys removes keys with DeleteObjects, 1,000 at a time.
func deleteKeys(ctx context.Context, c *s3.Client, bucket string, keys []string) error {
	for len(keys) > 0 {
		n := min(len(keys), 1000)
		ids := make([]types.ObjectIdentifier, n)
		for i, k := range keys[:n] {
			ids[i] = types.ObjectIdentifier{Key: aws.String(k)}
		}
		out, err := c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: &bucket, Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)}})
		if err != nil {
			return fmt.Errorf("cleanup: %w", err)
		}
		if len(out.Errors) > 0 {
			return fmt.Errorf("cleanup: %s: %s", aws.ToString(out.Errors[0].Key), aws.ToString(out.Errors[0].Message))
		}
		keys = keys[n:]
	}
	return nil
}

// onlyReader hides a body's WriteTo so that CopyBuffer uses the given buffer.
type onlyReader struct{ io.Reader }

// fill writes o.keys empty objects named PREFIX/gNN/kNNNNNNN, spread evenly over o.groups prefixes.
func fill(ctx context.Context, c *s3.Client, o options) error {
	var (
		next atomic.Int64
		errs errorCounter
		mu   sync.Mutex
		lat  []time.Duration
		wg   sync.WaitGroup
	)
	start := time.Now()
	for i := 0; i < o.clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var my []time.Duration
			for {
				n := int(next.Add(1)) - 1
				if n >= o.keys {
					break
				}
				key := fmt.Sprintf("%s/g%02d/k%08d", o.prefix, n%o.groups, n)
				t0 := time.Now()
				if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: &o.bucket, Key: &key, Body: strings.NewReader(""),
					ContentLength: aws.Int64(0)}); err != nil {
					errs.add(err)
					continue
				}
				my = append(my, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, my...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	o.size = 0
	return emit(summarize("fill", o, lat, errs.n.Load(), errs.first, time.Since(start)))
}

// list lists every key under o.prefix with ListObjectsV2 (1,000 per page), o.repeat times, and reports the keys
// seen and the time per whole listing.
func list(ctx context.Context, c *s3.Client, o options) error {
	var lat []time.Duration
	var errs errorCounter
	keys := 0
	start := time.Now()
	for r := 0; r < o.repeat; r++ {
		t0 := time.Now()
		n := 0
		p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: &o.bucket, Prefix: &o.prefix, MaxKeys: aws.Int32(1000)})
		var err error
		for p.HasMorePages() {
			var page *s3.ListObjectsV2Output
			if page, err = p.NextPage(ctx); err != nil {
				break
			}
			n += len(page.Contents)
		}
		if err != nil {
			errs.add(err)
			continue
		}
		lat = append(lat, time.Since(t0))
		keys = n
	}
	o.clients = 1
	o.size = int64(keys) // the keys per listing, reported in the size field
	r := summarize("list", o, lat, errs.n.Load(), errs.first, time.Since(start))
	return emit(r)
}
