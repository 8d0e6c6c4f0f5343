package objectstore

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode"
)

// TestVersioningScenarios runs the scripts under testdata/versioning. Each line is a command, optionally followed
// by "=> want":
//
//	versioning Enabled|Suspended
//	put KEY BODY [as LABEL]                  LABEL names the version written
//	get KEY[@VERSION] => BODY | CODE [marker] VERSION is a label, null, or a literal ID
//	delete KEY[@VERSION] => deleted|marker [as LABEL]
//	versions => KEY@VERSION=BODY|DM[*] ...   every version, in listing order; * marks the latest
//	list => KEY ...                          the current keys
func TestVersioningScenarios(t *testing.T) {
	files, err := filepath.Glob("testdata/versioning/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenarios: %v", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txt"), func(t *testing.T) {
			runScenario(t, file)
		})
	}
}

func runScenario(t *testing.T, file string) {
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ctx := context.Background()
	s := newTestStore(t)
	mustBucket(t, s, "bkt")
	labels := map[string]string{}
	version := func(ref string) string {
		if id, ok := labels[ref]; ok {
			return id
		}
		return ref
	}
	splitRef := func(arg string) (string, string) {
		key, ref, _ := strings.Cut(arg, "@")
		if ref == "" {
			return key, ""
		}
		return key, version(ref)
	}
	sc := bufio.NewScanner(f)
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
		case "versioning":
			if err := s.SetVersioning(ctx, "bkt", Versioning(args[1])); err != nil {
				fail("%v", err)
			}
		case "put":
			info := put(t, s, "bkt", args[1], []byte(args[2]))
			if len(args) == 5 && args[3] == "as" {
				labels[args[4]] = info.VersionID
			}
		case "get":
			key, v := splitRef(args[1])
			got, err := read(s, "bkt", key, GetOptions{VersionID: v})
			if len(wants) == 0 {
				fail("no expectation")
			}
			if unicode.IsUpper(rune(wants[0][0])) {
				if codeOf(err) != wants[0] {
					fail("error %v, want %s", err, wants[0])
				}
				info, isMarker := ObjectInfoOf(err)
				if (len(wants) > 1 && wants[1] == "marker") != (isMarker && info.DeleteMarker) {
					fail("delete marker info = %+v (%v)", info, isMarker)
				}
				continue
			}
			if err != nil || string(got) != wants[0] {
				fail("got %q, %v; want %q", got, err, wants[0])
			}
		case "delete":
			key, v := splitRef(args[1])
			out, err := s.DeleteObject(ctx, DeleteObjectInput{Bucket: "bkt", Key: key, VersionID: v, Owner: alice})
			if err != nil {
				fail("%v", err)
			}
			if len(wants) > 0 && (wants[0] == "marker") != out.DeleteMarker {
				fail("DeleteMarker = %v", out.DeleteMarker)
			}
			if len(wants) == 3 && wants[1] == "as" {
				labels[wants[2]] = out.VersionID
			}
		case "versions":
			page, err := s.ListObjectVersions(ctx, "bkt", ListVersionsInput{})
			if err != nil {
				fail("%v", err)
			}
			var got []string
			for _, v := range page.Versions {
				ref := v.VersionID
				for l, id := range labels {
					if id == v.VersionID && v.VersionID != NullVersion {
						ref = l
					}
				}
				body := "DM"
				if !v.DeleteMarker {
					b, err := read(s, "bkt", v.Key, GetOptions{VersionID: v.VersionID})
					if err != nil {
						fail("read %s@%s: %v", v.Key, v.VersionID, err)
					}
					body = string(b)
				}
				item := v.Key + "@" + ref + "=" + body
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
		default:
			fail("unknown command")
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
}
