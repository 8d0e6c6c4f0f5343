package objectstore

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// setClock is a clock a scenario sets; each reading advances it by a millisecond so writes stay ordered.
type setClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *setClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(time.Millisecond)
	return c.now
}

func (c *setClock) set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

// TestLifecycleScenarios runs the scripts under testdata/lifecycle against a store whose clock the script sets.
// Each line is a command, optionally followed by "=> want":
//
//	clock RFC3339                            set the store's clock
//	versioning Enabled|Suspended
//	rules XML                                the bucket's lifecycle rules (the <Rule> elements)
//	put KEY BODY [tags K=V&…] [as LABEL]     LABEL names the version written
//	delete KEY[@VERSION] [as LABEL]          LABEL names the delete marker added
//	upload KEY                               start a multipart upload
//	sweep => expired=N versions=N markers=N uploads=N
//	versions => KEY@VERSION=BODY|DM[*] ...   every version, in listing order (? for an unlabelled one); * marks
//	                                         the latest
//	list => KEY ...                          the current keys
//	uploads => KEY ...                       the uploads in progress
func TestLifecycleScenarios(t *testing.T) {
	files, err := filepath.Glob("testdata/lifecycle/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenarios: %v", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txt"), func(t *testing.T) {
			runLifecycleScenario(t, file)
		})
	}
}

func runLifecycleScenario(t *testing.T, file string) {
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ctx := context.Background()
	clock := &setClock{now: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
	s := newTestStore(t, WithClock(clock.Now))
	mustBucket(t, s, "bkt")
	labels := map[string]string{}
	// ref names a version by its label; a version the sweep wrote (a delete marker) has none: "?".
	ref := func(id string) string {
		if id == NullVersion {
			return id
		}
		for l, v := range labels {
			if v == id {
				return l
			}
		}
		return "?"
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		cmd, want, _ := strings.Cut(text, "=>")
		args := strings.Fields(cmd)
		wants := strings.Fields(want)
		fail := func(format string, a ...any) {
			t.Helper()
			t.Fatalf("%s:%d: %s: "+format, append([]any{filepath.Base(file), line, text}, a...)...)
		}
		switch args[0] {
		case "clock":
			at, err := time.Parse(time.RFC3339, args[1])
			if err != nil {
				fail("%v", err)
			}
			clock.set(at)
		case "versioning":
			if err := s.SetVersioning(ctx, "bkt", Versioning(args[1])); err != nil {
				fail("%v", err)
			}
		case "rules":
			rules := strings.TrimSpace(strings.TrimPrefix(cmd, "rules"))
			doc := `<LifecycleConfiguration>` + rules + `</LifecycleConfiguration>`
			if err := s.PutBucketConfig(ctx, "bkt", ConfigLifecycle, []byte(doc)); err != nil {
				fail("%v", err)
			}
		case "put":
			in := PutObjectInput{Bucket: "bkt", Key: args[1], Body: strings.NewReader(args[2]), Size: int64(len(args[2])), Owner: alice}
			for i := 3; i+1 < len(args); i += 2 {
				if args[i] == "tags" {
					in.Subresources = map[string][]byte{SubresourceTagging: []byte(args[i+1])}
				}
			}
			info, err := s.PutObject(ctx, in)
			if err != nil {
				fail("%v", err)
			}
			for i := 3; i+1 < len(args); i += 2 {
				if args[i] == "as" {
					labels[args[i+1]] = info.VersionID
				}
			}
		case "delete":
			key, v, _ := strings.Cut(args[1], "@")
			if id, ok := labels[v]; ok {
				v = id
			}
			out, err := s.DeleteObject(ctx, DeleteObjectInput{Bucket: "bkt", Key: key, VersionID: v, Owner: alice})
			if err != nil {
				fail("%v", err)
			}
			if len(args) == 4 && args[2] == "as" {
				labels[args[3]] = out.VersionID
			}
		case "upload":
			if _, err := s.CreateMultipartUpload(ctx, CreateUploadInput{Bucket: "bkt", Key: args[1], Owner: alice}); err != nil {
				fail("%v", err)
			}
		case "sweep":
			res, err := s.ApplyLifecycle(ctx)
			if err != nil {
				fail("%v", err)
			}
			got := fmt.Sprintf("expired=%d versions=%d markers=%d uploads=%d", res.Expired, res.VersionsDeleted, res.MarkersRemoved, res.UploadsAborted)
			if got != strings.Join(wants, " ") {
				fail("got %s", got)
			}
		case "versions":
			page, err := s.ListObjectVersions(ctx, "bkt", ListVersionsInput{})
			if err != nil {
				fail("%v", err)
			}
			var got []string
			for _, v := range page.Versions {
				body := "DM"
				if !v.DeleteMarker {
					b, err := read(s, "bkt", v.Key, GetOptions{VersionID: v.VersionID})
					if err != nil {
						fail("read %s@%s: %v", v.Key, v.VersionID, err)
					}
					body = string(b)
				}
				item := v.Key + "@" + ref(v.VersionID) + "=" + body
				if v.IsLatest {
					item += "*"
				}
				got = append(got, item)
			}
			if strings.Join(got, " ") != strings.Join(wants, " ") {
				fail("versions\n got %v\nwant %v", got, wants)
			}
		case "list":
			page, err := s.ListObjects(ctx, "bkt", ListObjectsInput{})
			if err != nil {
				fail("%v", err)
			}
			var got []string
			for _, o := range page.Objects {
				got = append(got, o.Key)
			}
			if strings.Join(got, " ") != strings.Join(wants, " ") {
				fail("list got %v, want %v", got, wants)
			}
		case "uploads":
			page, err := s.ListMultipartUploads(ctx, "bkt", ListUploadsInput{})
			if err != nil {
				fail("%v", err)
			}
			var got []string
			for _, u := range page.Uploads {
				got = append(got, u.Key)
			}
			if strings.Join(got, " ") != strings.Join(wants, " ") {
				fail("uploads got %v, want %v", got, wants)
			}
		default:
			fail("unknown command")
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	// Whatever the pass removed, the blobs' reference counts still match the index.
	if err := s.Check(ctx); err != nil {
		t.Fatalf("Check after the scenario: %v", err)
	}
}

// TestLifecycleBatches expires more keys than one transaction scans, in a bucket that also holds keys no rule
// touches.
func TestLifecycleBatches(t *testing.T) {
	ctx := context.Background()
	clock := &setClock{now: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
	s := newTestStore(t, WithClock(clock.Now))
	mustBucket(t, s, "bkt")
	n := keysPerTx*2 + 17
	for i := range n {
		put(t, s, "bkt", fmt.Sprintf("tmp/%05d", i), []byte("x"))
		put(t, s, "bkt", fmt.Sprintf("keep/%05d", i), []byte("y"))
	}
	rules := `<LifecycleConfiguration><Rule><ID>tmp</ID><Filter><Prefix>tmp/</Prefix></Filter><Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule></LifecycleConfiguration>`
	if err := s.PutBucketConfig(ctx, "bkt", ConfigLifecycle, []byte(rules)); err != nil {
		t.Fatal(err)
	}
	clock.set(time.Date(2025, 3, 3, 0, 0, 0, 0, time.UTC))
	res, err := s.ApplyLifecycle(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Expired != n {
		t.Fatalf("expired %d, want %d", res.Expired, n)
	}
	page, err := s.ListObjects(ctx, "bkt", ListObjectsInput{Prefix: "tmp/"})
	if err != nil || len(page.Objects) != 0 {
		t.Fatalf("tmp/ still holds %d keys (%v)", len(page.Objects), err)
	}
	var kept int
	for after := ""; ; {
		page, err := s.ListObjects(ctx, "bkt", ListObjectsInput{Prefix: "keep/", After: after})
		if err != nil {
			t.Fatal(err)
		}
		kept += len(page.Objects)
		if !page.IsTruncated {
			break
		}
		after = page.Next
	}
	if kept != n {
		t.Fatalf("keep/ holds %d keys, want %d", kept, n)
	}
}

// TestLifecycleRacingWrites overwrites keys while a pass expires them: a pass decides again inside the
// transaction that acts, so a key rewritten before its turn is kept, and one rewritten after is written anew.
// Whatever the interleaving, every rewritten key ends with its new content and every other key is gone.
func TestLifecycleRacingWrites(t *testing.T) {
	ctx := context.Background()
	clock := &setClock{now: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
	s := newTestStore(t, WithClock(clock.Now))
	mustBucket(t, s, "bkt")
	const n = 600
	for i := range n {
		put(t, s, "bkt", fmt.Sprintf("k%04d", i), []byte("old"))
	}
	rules := `<LifecycleConfiguration><Rule><ID>all</ID><Filter/><Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule></LifecycleConfiguration>`
	if err := s.PutBucketConfig(ctx, "bkt", ConfigLifecycle, []byte(rules)); err != nil {
		t.Fatal(err)
	}
	clock.set(time.Date(2025, 3, 3, 0, 0, 0, 0, time.UTC))
	done := make(chan error, 1)
	go func() {
		var err error
		for i := 0; i < n && err == nil; i += 3 {
			data := []byte("new")
			_, err = s.PutObject(ctx, PutObjectInput{Bucket: "bkt", Key: fmt.Sprintf("k%04d", i), Body: bytes.NewReader(data), Size: 3, Owner: alice})
		}
		done <- err
	}()
	if _, err := s.ApplyLifecycle(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for i := range n {
		key := fmt.Sprintf("k%04d", i)
		got, err := read(s, "bkt", key, GetOptions{})
		switch {
		case i%3 == 0 && (err != nil || string(got) != "new"):
			t.Fatalf("%s, rewritten: %q %v", key, got, err)
		case i%3 != 0 && !errors.Is(err, ErrNoSuchKey):
			t.Fatalf("%s, not rewritten: %q %v", key, got, err)
		}
	}
	if err := s.Check(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestLifecyclePassFollowsRuleChanges: a pass applies a bucket's rules only while the bucket has them. Rules
// deleted or replaced after the pass read them (someone stopping a rule that expires too much), or a bucket
// deleted and created again under the name (by another account, with objects of its own), are not acted on.
func TestLifecyclePassFollowsRuleChanges(t *testing.T) {
	ctx := context.Background()
	expireAll := []byte(`<LifecycleConfiguration><Rule><ID>all</ID><Filter/><Status>Enabled</Status><Expiration><Date>2020-01-01T00:00:00Z</Date></Expiration></Rule></LifecycleConfiguration>`)
	expireTmp := []byte(`<LifecycleConfiguration><Rule><ID>tmp</ID><Filter><Prefix>tmp/</Prefix></Filter><Status>Enabled</Status><Expiration><Date>2020-01-01T00:00:00Z</Date></Expiration></Rule></LifecycleConfiguration>`)
	tests := []struct {
		name    string
		between func(t *testing.T, s *Store) // what happens after the pass read the rules
		expired int
		left    []string
	}{
		{name: "rules unchanged", between: func(*testing.T, *Store) {}, expired: 2},
		{name: "rules deleted", between: func(t *testing.T, s *Store) {
			if err := s.DeleteBucketConfig(ctx, "bkt", ConfigLifecycle); err != nil {
				t.Fatal(err)
			}
		}, left: []string{"keep", "tmp/x"}},
		{name: "rules narrowed", between: func(t *testing.T, s *Store) {
			if err := s.PutBucketConfig(ctx, "bkt", ConfigLifecycle, expireTmp); err != nil {
				t.Fatal(err)
			}
		}, left: []string{"keep", "tmp/x"}},
		{name: "bucket created again with the same rules", between: func(t *testing.T, s *Store) {
			for _, k := range []string{"keep", "tmp/x"} {
				if _, err := s.DeleteObject(ctx, DeleteObjectInput{Bucket: "bkt", Key: k}); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.DeleteBucket(ctx, "bkt"); err != nil {
				t.Fatal(err)
			}
			mustBucket(t, s, "bkt")
			if err := s.PutBucketConfig(ctx, "bkt", ConfigLifecycle, expireAll); err != nil {
				t.Fatal(err)
			}
			put(t, s, "bkt", "new", []byte("another owner's"))
		}, left: []string{"new"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestStore(t)
			mustBucket(t, s, "bkt")
			put(t, s, "bkt", "keep", []byte("k"))
			put(t, s, "bkt", "tmp/x", []byte("x"))
			if err := s.PutBucketConfig(ctx, "bkt", ConfigLifecycle, expireAll); err != nil {
				t.Fatal(err)
			}
			rules, err := s.lifecycleRules()
			if err != nil || len(rules) != 1 {
				t.Fatalf("rules %v, %v", rules, err)
			}
			tc.between(t, s)
			res, err := s.applyRules(ctx, rules, s.now())
			if err != nil {
				t.Fatal(err)
			}
			if res.Expired != tc.expired {
				t.Errorf("expired %d, want %d", res.Expired, tc.expired)
			}
			out, err := s.ListObjects(ctx, "bkt", ListObjectsInput{})
			if err != nil {
				t.Fatal(err)
			}
			var left []string
			for _, o := range out.Objects {
				left = append(left, o.Key)
			}
			if strings.Join(left, " ") != strings.Join(tc.left, " ") {
				t.Errorf("left %q, want %q", left, tc.left)
			}
		})
	}
}
