package lifecycle

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

func doc(rules ...string) string {
	return `<LifecycleConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">` + strings.Join(rules, "") + `</LifecycleConfiguration>`
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name string
		doc  string
		code string // "" when accepted
		msg  string
	}{
		{"expiration days with filter prefix", doc(`<Rule><ID>r</ID><Filter><Prefix>logs/</Prefix></Filter><Status>Enabled</Status><Expiration><Days>30</Days></Expiration></Rule>`), "", ""},
		{"legacy rule prefix", doc(`<Rule><ID>r</ID><Prefix>logs/</Prefix><Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule>`), "", ""},
		{"empty filter covers all", doc(`<Rule><Filter></Filter><Status>Disabled</Status><Expiration><Days>1</Days></Expiration></Rule>`), "", ""},
		{"and of prefix, tags and sizes", doc(`<Rule><ID>r</ID><Filter><And><Prefix>a/</Prefix><Tag><Key>k</Key><Value>v</Value></Tag><Tag><Key>k2</Key><Value>v</Value></Tag><ObjectSizeGreaterThan>10</ObjectSizeGreaterThan><ObjectSizeLessThan>100</ObjectSizeLessThan></And></Filter><Status>Enabled</Status><NoncurrentVersionExpiration><NoncurrentDays>3</NoncurrentDays><NewerNoncurrentVersions>2</NewerNoncurrentVersions></NoncurrentVersionExpiration></Rule>`), "", ""},
		{"date at midnight", doc(`<Rule><ID>r</ID><Filter/><Status>Enabled</Status><Expiration><Date>2017-09-27T00:00:00Z</Date></Expiration></Rule>`), "", ""},
		{"date only", doc(`<Rule><ID>r</ID><Filter/><Status>Enabled</Status><Expiration><Date>2017-09-27</Date></Expiration></Rule>`), "", ""},
		{"abort uploads", doc(`<Rule><ID>r</ID><Filter><Prefix></Prefix></Filter><Status>Enabled</Status><AbortIncompleteMultipartUpload><DaysAfterInitiation>7</DaysAfterInitiation></AbortIncompleteMultipartUpload></Rule>`), "", ""},
		{"transitions are kept", doc(`<Rule><ID>r</ID><Filter/><Status>Enabled</Status><Transition><Days>30</Days><StorageClass>STANDARD_IA</StorageClass></Transition><Transition><Days>90</Days><StorageClass>GLACIER</StorageClass></Transition><Expiration><Days>365</Days></Expiration></Rule>`), "", ""},
		{"expired object delete marker", doc(`<Rule><ID>r</ID><Filter><Prefix>x</Prefix></Filter><Status>Enabled</Status><Expiration><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration></Rule>`), "", ""},

		{"empty body", ``, "MalformedXML", ""},
		{"not xml", `{"Rules": []}`, "MalformedXML", ""},
		{"no rules", doc(), "MalformedXML", ""},
		{"wrong root", `<Lifecycle><Rule/></Lifecycle>`, "MalformedXML", ""},
		{"status lower case", doc(`<Rule><ID>r</ID><Filter/><Status>enabled</Status><Expiration><Days>1</Days></Expiration></Rule>`), "MalformedXML", ""},
		{"no filter nor prefix", doc(`<Rule><ID>r</ID><Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule>`), "MalformedXML", ""},
		{"filter and prefix", doc(`<Rule><ID>r</ID><Prefix>a</Prefix><Filter/><Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule>`), "MalformedXML", ""},
		{"two predicates without and", doc(`<Rule><ID>r</ID><Filter><Prefix>a</Prefix><Tag><Key>k</Key><Value>v</Value></Tag></Filter><Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule>`), "MalformedXML", ""},
		{"unknown element", doc(`<Rule><ID>r</ID><Filter/><Status>Enabled</Status><Expiration><Days>1</Days></Expiration><Expire/></Rule>`), "MalformedXML", ""},
		{"days not a number", doc(`<Rule><ID>r</ID><Filter/><Status>Enabled</Status><Expiration><Days>x</Days></Expiration></Rule>`), "MalformedXML", ""},
		{"no action", doc(`<Rule><ID>r</ID><Filter/><Status>Enabled</Status></Rule>`), "InvalidRequest", "At least one action needs to be specified in a rule"},
		{"id too long", doc(`<Rule><ID>` + strings.Repeat("a", 256) + `</ID><Filter/><Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule>`), "InvalidArgument", "ID length should not exceed allowed limit of 255"},
		{"same id", doc(`<Rule><ID>r</ID><Prefix>a</Prefix><Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule>`, `<Rule><ID>r</ID><Prefix>b</Prefix><Status>Enabled</Status><Expiration><Days>2</Days></Expiration></Rule>`), "InvalidArgument", "Rule ID must be unique. Found same ID for more than one rule"},
		{"days zero", doc(`<Rule><ID>r</ID><Filter/><Status>Enabled</Status><Expiration><Days>0</Days></Expiration></Rule>`), "InvalidArgument", "'Days' for Expiration action must be a positive integer"},
		{"date not midnight", doc(`<Rule><ID>r</ID><Filter/><Status>Enabled</Status><Expiration><Date>2023-02-18T01:00:00Z</Date></Expiration></Rule>`), "InvalidArgument", "'Date' must be at midnight GMT"},
		{"date not iso", doc(`<Rule><ID>r</ID><Filter/><Status>Enabled</Status><Expiration><Date>20200101</Date></Expiration></Rule>`), "InvalidArgument", "'Date' must be in ISO 8601 format"},
		{"days and date", doc(`<Rule><ID>r</ID><Filter/><Status>Enabled</Status><Expiration><Days>1</Days><Date>2017-09-27</Date></Expiration></Rule>`), "MalformedXML", ""},
		{"marker with days", doc(`<Rule><ID>r</ID><Filter/><Status>Enabled</Status><Expiration><Days>1</Days><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration></Rule>`), "InvalidRequest", "ExpiredObjectDeleteMarker cannot be specified with Days or Date in a Lifecycle Expiration Policy."},
		{"marker with tags", doc(`<Rule><ID>r</ID><Filter><Tag><Key>k</Key><Value>v</Value></Tag></Filter><Status>Enabled</Status><Expiration><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration></Rule>`), "InvalidRequest", "Tag-based filters cannot be specified with ExpiredObjectDeleteMarker."},
		{"abort with tags", doc(`<Rule><ID>r</ID><Filter><Tag><Key>k</Key><Value>v</Value></Tag></Filter><Status>Enabled</Status><AbortIncompleteMultipartUpload><DaysAfterInitiation>1</DaysAfterInitiation></AbortIncompleteMultipartUpload></Rule>`), "InvalidRequest", "AbortIncompleteMultipartUpload cannot be specified with Tags."},
		{"noncurrent days zero", doc(`<Rule><ID>r</ID><Filter/><Status>Enabled</Status><NoncurrentVersionExpiration><NoncurrentDays>0</NoncurrentDays></NoncurrentVersionExpiration></Rule>`), "InvalidArgument", "'NoncurrentDays' for NoncurrentVersionExpiration action must be a positive integer"},
		{"newer noncurrent too many", doc(`<Rule><ID>r</ID><Filter/><Status>Enabled</Status><NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays><NewerNoncurrentVersions>101</NewerNoncurrentVersions></NoncurrentVersionExpiration></Rule>`), "InvalidArgument", "'NewerNoncurrentVersions' for NoncurrentVersionExpiration action must be a positive integer between 1 and 100"},
		{"duplicate tag keys", doc(`<Rule><ID>r</ID><Filter><And><Tag><Key>k</Key><Value>1</Value></Tag><Tag><Key>k</Key><Value>2</Value></Tag></And></Filter><Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule>`), "InvalidRequest", "Duplicate Tag Keys are not allowed."},
		{"size bounds crossed", doc(`<Rule><ID>r</ID><Filter><And><ObjectSizeGreaterThan>100</ObjectSizeGreaterThan><ObjectSizeLessThan>10</ObjectSizeLessThan></And></Filter><Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule>`), "InvalidArgument", "'ObjectSizeGreaterThan' must be less than 'ObjectSizeLessThan'"},
		{"transition to IA too soon", doc(`<Rule><ID>r</ID><Filter/><Status>Enabled</Status><Transition><Days>10</Days><StorageClass>STANDARD_IA</StorageClass></Transition></Rule>`), "InvalidArgument", "'Days' in Transition action must be greater than or equal to 30 for storageClass 'STANDARD_IA'"},
		{"transition to an unknown class", doc(`<Rule><ID>r</ID><Filter/><Status>Enabled</Status><Transition><Days>10</Days><StorageClass>COLD</StorageClass></Transition></Rule>`), "MalformedXML", ""},
		{"expiration before transition", doc(`<Rule><ID>r</ID><Filter/><Status>Enabled</Status><Transition><Days>90</Days><StorageClass>GLACIER</StorageClass></Transition><Expiration><Days>30</Days></Expiration></Rule>`), "InvalidArgument", "'Days' in the Expiration action for filter must be greater than 'Days' in the Transition action"},
		{"tag key too long", doc(`<Rule><ID>r</ID><Filter><Tag><Key>` + strings.Repeat("k", 129) + `</Key><Value>v</Value></Tag></Filter><Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule>`), "InvalidTag", "The TagKey you have provided is invalid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse([]byte(tc.doc))
			if tc.code == "" {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				// What GET returns parses back to the same rules.
				again, err := Parse(cfg.Marshal())
				if err != nil {
					t.Fatalf("Parse(Marshal()): %v\n%s", err, cfg.Marshal())
				}
				if !reflect.DeepEqual(again.Rules, cfg.Rules) {
					t.Fatalf("round trip changed the rules:\n%+v\n%+v", cfg.Rules, again.Rules)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.Code != tc.code || (tc.msg != "" && e.Message != tc.msg) {
				t.Fatalf("Parse = %v, want %s: %s", err, tc.code, tc.msg)
			}
		})
	}
}

func TestParseFillsIDsAndNormalisesDates(t *testing.T) {
	cfg, err := Parse([]byte(doc(`<Rule><Filter/><Status>Enabled</Status><Expiration><Date>2030-01-01</Date></Expiration></Rule>`)))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Rules[0].ID == "" {
		t.Fatal("a rule without an ID got none")
	}
	if got := cfg.Rules[0].Expiration.Date; got != "2030-01-01T00:00:00.000Z" {
		t.Fatalf("Date = %q", got)
	}
	out := string(cfg.Marshal())
	if !strings.Contains(out, `<LifecycleConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">`) || strings.Contains(out, "Unknown") {
		t.Fatalf("Marshal = %s", out)
	}
}

func day(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func mustParse(t *testing.T, rules ...string) *Configuration {
	t.Helper()
	cfg, err := Parse([]byte(doc(rules...)))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestExpiry(t *testing.T) {
	cfg := mustParse(t,
		`<Rule><ID>logs</ID><Filter><Prefix>logs/</Prefix></Filter><Status>Enabled</Status><Expiration><Days>3</Days></Expiration></Rule>`,
		`<Rule><ID>soon</ID><Filter><And><Prefix>logs/</Prefix><Tag><Key>tmp</Key><Value>1</Value></Tag></And></Filter><Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule>`,
		`<Rule><ID>off</ID><Filter/><Status>Disabled</Status><Expiration><Days>1</Days></Expiration></Rule>`,
		`<Rule><ID>big</ID><Filter><ObjectSizeGreaterThan>1000</ObjectSizeGreaterThan></Filter><Status>Enabled</Status><Expiration><Date>2030-01-01</Date></Expiration></Rule>`,
	)
	created := day("2014-01-15T10:30:00Z")
	for _, tc := range []struct {
		name string
		v    Version
		when string
		rule string
	}{
		// S3's example: created 10:30 on the 15th with 3 days: due at midnight after the 18th, 10:30.
		{"days round up to midnight", Version{Key: "logs/a", Modified: created}, "2014-01-19T00:00:00Z", "logs"},
		{"earliest rule wins", Version{Key: "logs/a", Modified: created, Tags: map[string]string{"tmp": "1"}}, "2014-01-17T00:00:00Z", "soon"},
		{"a tag value must match", Version{Key: "logs/a", Modified: created, Tags: map[string]string{"tmp": "2"}}, "2014-01-19T00:00:00Z", "logs"},
		{"created at midnight", Version{Key: "logs/a", Modified: day("2014-01-15T00:00:00Z")}, "2014-01-18T00:00:00Z", "logs"},
		{"size filter", Version{Key: "x", Size: 1001, Modified: created}, "2030-01-01T00:00:00Z", "big"},
		{"size equal to the bound is not greater", Version{Key: "x", Size: 1000, Modified: created}, "", ""},
		{"disabled rules do nothing", Version{Key: "other", Modified: created}, "", ""},
		{"delete markers do not expire", Version{Key: "logs/a", DeleteMarker: true, Modified: created}, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			when, rule, ok := cfg.Expiry(tc.v)
			if tc.when == "" {
				if ok {
					t.Fatalf("Expiry = %v %s, want none", when, rule)
				}
				return
			}
			if !ok || !when.Equal(day(tc.when)) || rule != tc.rule {
				t.Fatalf("Expiry = %v %s %v, want %s %s", when, rule, ok, tc.when, tc.rule)
			}
		})
	}
}

func TestPlan(t *testing.T) {
	cfg := mustParse(t,
		`<Rule><ID>cur</ID><Filter><Prefix>c/</Prefix></Filter><Status>Enabled</Status><Expiration><Days>2</Days></Expiration></Rule>`,
		`<Rule><ID>old</ID><Filter><Prefix>n/</Prefix></Filter><Status>Enabled</Status><NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays><NewerNoncurrentVersions>1</NewerNoncurrentVersions></NoncurrentVersionExpiration></Rule>`,
		`<Rule><ID>dm</ID><Filter><Prefix>m/</Prefix></Filter><Status>Enabled</Status><Expiration><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration></Rule>`,
	)
	t0 := day("2025-03-01T12:00:00Z")
	v := func(key string, modified, noncurrent time.Time, marker bool) Version {
		return Version{Key: key, Modified: modified, NoncurrentSince: noncurrent, DeleteMarker: marker}
	}
	for _, tc := range []struct {
		name     string
		versions []Version
		now      string
		want     string
	}{
		{"current not yet due", []Version{v("c/a", t0, time.Time{}, false)}, "2025-03-03T23:59:59Z", ""},
		{"current due", []Version{v("c/a", t0, time.Time{}, false)}, "2025-03-04T00:00:00Z", "expire@0(cur)"},
		{"other prefixes untouched", []Version{v("x/a", t0, time.Time{}, false)}, "2026-01-01T00:00:00Z", ""},
		{"newest noncurrent kept", []Version{
			v("n/a", t0.Add(3*time.Hour), time.Time{}, false),
			v("n/a", t0.Add(2*time.Hour), t0.Add(3*time.Hour), false),
			v("n/a", t0.Add(time.Hour), t0.Add(2*time.Hour), false),
			v("n/a", t0, t0.Add(time.Hour), false),
		}, "2025-03-03T00:00:00Z", "delete-version@2(old) delete-version@3(old)"},
		{"noncurrent not yet due", []Version{
			v("n/a", t0.Add(3*time.Hour), time.Time{}, false),
			v("n/a", t0.Add(2*time.Hour), t0.Add(3*time.Hour), false),
			v("n/a", t0.Add(time.Hour), t0.Add(2*time.Hour), false),
		}, "2025-03-02T23:00:00Z", ""},
		{"lone delete marker removed", []Version{v("m/a", t0, time.Time{}, true)}, "2025-03-01T12:00:01Z", "remove-marker@0(dm)"},
		{"delete marker with versions kept", []Version{v("m/a", t0, time.Time{}, true), v("m/a", t0.Add(-time.Hour), t0, false)}, "2026-01-01T00:00:00Z", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, a := range cfg.Plan(tc.versions, day(tc.now)) {
				got = append(got, fmt.Sprintf("%s@%d(%s)", a.Kind, a.Index, a.RuleID))
			}
			if strings.Join(got, " ") != tc.want {
				t.Fatalf("Plan = %v, want %s", got, tc.want)
			}
		})
	}

	// An Expiration in Days also removes an expired delete marker once it is that old.
	days := mustParse(t, `<Rule><ID>d</ID><Filter/><Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule>`)
	lone := []Version{v("k", t0, time.Time{}, true)}
	if acts := days.Plan(lone, day("2025-03-02T00:00:00Z")); len(acts) != 0 {
		t.Fatalf("a young marker was removed: %v", acts)
	}
	if acts := days.Plan(lone, day("2025-03-03T00:00:00Z")); len(acts) != 1 || acts[0].Kind != RemoveDeleteMarker {
		t.Fatalf("an old marker was not removed: %v", acts)
	}
}

func TestAbortUpload(t *testing.T) {
	cfg := mustParse(t, `<Rule><ID>mpu</ID><Filter><Prefix>up/</Prefix></Filter><Status>Enabled</Status><AbortIncompleteMultipartUpload><DaysAfterInitiation>7</DaysAfterInitiation></AbortIncompleteMultipartUpload></Rule>`)
	started := day("2025-03-01T12:00:00Z")
	if _, ok := cfg.AbortUpload("up/a", started, day("2025-03-08T23:59:59Z")); ok {
		t.Fatal("aborted before the midnight after 7 days")
	}
	if id, ok := cfg.AbortUpload("up/a", started, day("2025-03-09T00:00:00Z")); !ok || id != "mpu" {
		t.Fatalf("AbortUpload = %s %v", id, ok)
	}
	if _, ok := cfg.AbortUpload("other/a", started, day("2026-01-01T00:00:00Z")); ok {
		t.Fatal("aborted an upload outside the prefix")
	}
}
