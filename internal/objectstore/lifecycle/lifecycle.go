// Package lifecycle reads S3 lifecycle configurations (PutBucketLifecycleConfiguration's XML document, checked
// as S3 checks it) and decides, as a pure function of a key's versions and the time, what their rules do: expire
// the current version, remove noncurrent versions, remove an expired delete marker, abort an old multipart upload.
// The object store's sweep applies the decisions; the S3 API uses Expiry for x-amz-expiration.
//
// A configuration's lifecycle:
//
//	cfg, err := lifecycle.Parse(body)         // *Error in S3's words (MalformedXML, InvalidArgument, …)
//	doc := cfg.Marshal()                      // what GetBucketLifecycleConfiguration returns (IDs filled in)
//	acts := cfg.Plan(versions, now)           // versions of one key, newest first
//	when, rule, ok := cfg.Expiry(current)     // x-amz-expiration of a current version
//
// Times follow S3's rules: an action due N days after an event is due at the first midnight UTC at or after the
// event plus N days; a Date is a midnight UTC.
package lifecycle

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"
)

// Configuration is a bucket's lifecycle configuration.
type Configuration struct {
	XMLName xml.Name  `xml:"LifecycleConfiguration"`
	Rules   []Rule    `xml:"Rule"`
	Unknown []unknown `xml:",any"`
}

// unknown is an element outside S3's schema: a document with one is refused (MalformedXML), as S3 refuses it.
type unknown struct {
	XMLName xml.Name
}

// Rule is one lifecycle rule.
type Rule struct {
	Expiration *Expiration `xml:"Expiration,omitempty"`
	ID         string      `xml:"ID,omitempty"`
	// Prefix is the rule-level prefix of the older form of the API (instead of Filter).
	Prefix                         *string                         `xml:"Prefix"`
	Filter                         *Filter                         `xml:"Filter"`
	Status                         string                          `xml:"Status"`
	Transitions                    []Transition                    `xml:"Transition,omitempty"`
	NoncurrentVersionTransitions   []NoncurrentVersionTransition   `xml:"NoncurrentVersionTransition,omitempty"`
	NoncurrentVersionExpiration    *NoncurrentVersionExpiration    `xml:"NoncurrentVersionExpiration,omitempty"`
	AbortIncompleteMultipartUpload *AbortIncompleteMultipartUpload `xml:"AbortIncompleteMultipartUpload,omitempty"`
	Unknown                        []unknown                       `xml:",any"`
}

// Filter selects the objects a rule applies to: one predicate, or several under And.
type Filter struct {
	Prefix                *string   `xml:"Prefix"`
	Tag                   *Tag      `xml:"Tag,omitempty"`
	ObjectSizeGreaterThan *int64    `xml:"ObjectSizeGreaterThan,omitempty"`
	ObjectSizeLessThan    *int64    `xml:"ObjectSizeLessThan,omitempty"`
	And                   *And      `xml:"And,omitempty"`
	Unknown               []unknown `xml:",any"`
}

// And combines predicates: all must hold.
type And struct {
	Prefix                *string   `xml:"Prefix,omitempty"`
	Tags                  []Tag     `xml:"Tag"`
	ObjectSizeGreaterThan *int64    `xml:"ObjectSizeGreaterThan,omitempty"`
	ObjectSizeLessThan    *int64    `xml:"ObjectSizeLessThan,omitempty"`
	Unknown               []unknown `xml:",any"`
}

// Tag is a tag a filter requires.
type Tag struct {
	Key   string `xml:"Key"`
	Value string `xml:"Value"`
}

// Expiration expires current versions (Days after creation or on a Date) or removes expired delete markers.
type Expiration struct {
	Date                      string    `xml:"Date,omitempty"`
	Days                      *int      `xml:"Days,omitempty"`
	ExpiredObjectDeleteMarker *bool     `xml:"ExpiredObjectDeleteMarker,omitempty"`
	Unknown                   []unknown `xml:",any"`
}

// NoncurrentVersionExpiration removes versions NoncurrentDays after they became noncurrent, keeping the
// NewerNoncurrentVersions newest noncurrent ones.
type NoncurrentVersionExpiration struct {
	NoncurrentDays          *int      `xml:"NoncurrentDays,omitempty"`
	NewerNoncurrentVersions *int      `xml:"NewerNoncurrentVersions,omitempty"`
	Unknown                 []unknown `xml:",any"`
}

// AbortIncompleteMultipartUpload aborts uploads DaysAfterInitiation days after they began.
type AbortIncompleteMultipartUpload struct {
	DaysAfterInitiation *int      `xml:"DaysAfterInitiation,omitempty"`
	Unknown             []unknown `xml:",any"`
}

// Transition moves current versions to another storage class. Berth has one storage class: transitions are
// checked and kept, never acted on.
type Transition struct {
	Date         string    `xml:"Date,omitempty"`
	Days         *int      `xml:"Days,omitempty"`
	StorageClass string    `xml:"StorageClass"`
	Unknown      []unknown `xml:",any"`
}

// NoncurrentVersionTransition moves noncurrent versions to another storage class (kept, never acted on).
type NoncurrentVersionTransition struct {
	NoncurrentDays          *int      `xml:"NoncurrentDays,omitempty"`
	NewerNoncurrentVersions *int      `xml:"NewerNoncurrentVersions,omitempty"`
	StorageClass            string    `xml:"StorageClass"`
	Unknown                 []unknown `xml:",any"`
}

// Error is a configuration S3 refuses, with its code (MalformedXML, InvalidArgument, InvalidRequest) and words.
type Error struct {
	Code    string
	Message string
	// ArgumentName and ArgumentValue are S3's detail elements of an InvalidArgument.
	ArgumentName, ArgumentValue string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func malformed() *Error {
	return &Error{Code: "MalformedXML", Message: "The XML you provided was not well-formed or did not validate against our published schema"}
}

func invalidArgument(msg string) *Error { return &Error{Code: "InvalidArgument", Message: msg} }

func invalidRequest(msg string) *Error { return &Error{Code: "InvalidRequest", Message: msg} }

// Limits S3 sets.
const (
	MaxRules    = 1000
	MaxIDLength = 255
	// MaxNewerNoncurrentVersions bounds NewerNoncurrentVersions.
	MaxNewerNoncurrentVersions = 100
)

// storageClasses are the classes a transition may name.
var storageClasses = map[string]bool{
	"GLACIER": true, "STANDARD_IA": true, "ONEZONE_IA": true, "INTELLIGENT_TIERING": true, "DEEP_ARCHIVE": true,
	"GLACIER_IR": true,
}

// Parse reads and checks a lifecycle configuration document. Rules without an ID get one, as S3 gives them.
func Parse(doc []byte) (*Configuration, error) {
	if len(bytes.TrimSpace(doc)) == 0 {
		return nil, malformed()
	}
	var c Configuration
	dec := xml.NewDecoder(bytes.NewReader(doc))
	if err := dec.Decode(&c); err != nil {
		return nil, malformed()
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, malformed() // trailing elements after the document
	}
	if c.XMLName.Local != "LifecycleConfiguration" || len(c.Unknown) > 0 {
		return nil, malformed()
	}
	if len(c.Rules) == 0 || len(c.Rules) > MaxRules {
		return nil, malformed()
	}
	ids := map[string]bool{}
	for i := range c.Rules {
		r := &c.Rules[i]
		if err := r.check(); err != nil {
			return nil, err
		}
		if r.ID == "" {
			r.ID = newID()
		}
		if ids[r.ID] {
			return nil, invalidArgument("Rule ID must be unique. Found same ID for more than one rule")
		}
		ids[r.ID] = true
	}
	return &c, nil
}

func newID() string {
	var b [30]byte
	rand.Read(b[:])
	return base64.StdEncoding.EncodeToString(b[:])
}

func (r *Rule) check() error {
	if len(r.Unknown) > 0 {
		return malformed()
	}
	if utf8.RuneCountInString(r.ID) > MaxIDLength {
		return invalidArgument("ID length should not exceed allowed limit of 255")
	}
	if r.Status != "Enabled" && r.Status != "Disabled" {
		return malformed()
	}
	// The rule says which objects it covers once: a Filter (the current form) or a Prefix (the older one).
	if (r.Filter == nil) == (r.Prefix == nil) {
		return malformed()
	}
	tags := false
	sized := false
	if f := r.Filter; f != nil {
		if err := f.check(); err != nil {
			return err
		}
		tags = f.Tag != nil || f.And != nil && len(f.And.Tags) > 0
		sized = f.ObjectSizeGreaterThan != nil || f.ObjectSizeLessThan != nil ||
			f.And != nil && (f.And.ObjectSizeGreaterThan != nil || f.And.ObjectSizeLessThan != nil)
	}
	if r.Expiration == nil && r.NoncurrentVersionExpiration == nil && r.AbortIncompleteMultipartUpload == nil &&
		len(r.Transitions) == 0 && len(r.NoncurrentVersionTransitions) == 0 {
		return invalidRequest("At least one action needs to be specified in a rule")
	}
	if e := r.Expiration; e != nil {
		if len(e.Unknown) > 0 {
			return malformed()
		}
		n := 0
		if e.Days != nil {
			n++
		}
		if e.Date != "" {
			n++
		}
		if e.ExpiredObjectDeleteMarker != nil {
			if n > 0 {
				return invalidRequest("ExpiredObjectDeleteMarker cannot be specified with Days or Date in a Lifecycle Expiration Policy.")
			}
			n++
			if tags {
				return invalidRequest("Tag-based filters cannot be specified with ExpiredObjectDeleteMarker.")
			}
		}
		if n != 1 {
			return malformed()
		}
		if e.Days != nil && *e.Days <= 0 {
			return invalidArgument("'Days' for Expiration action must be a positive integer")
		}
		if e.Date != "" {
			d, err := parseDate(e.Date)
			if err != nil {
				return err
			}
			e.Date = formatDate(d)
		}
	}
	if nv := r.NoncurrentVersionExpiration; nv != nil {
		if len(nv.Unknown) > 0 || nv.NoncurrentDays == nil {
			return malformed()
		}
		if *nv.NoncurrentDays <= 0 {
			return invalidArgument("'NoncurrentDays' for NoncurrentVersionExpiration action must be a positive integer")
		}
		if n := nv.NewerNoncurrentVersions; n != nil && (*n <= 0 || *n > MaxNewerNoncurrentVersions) {
			return invalidArgument("'NewerNoncurrentVersions' for NoncurrentVersionExpiration action must be a positive integer between 1 and 100")
		}
	}
	if a := r.AbortIncompleteMultipartUpload; a != nil {
		if len(a.Unknown) > 0 || a.DaysAfterInitiation == nil {
			return malformed()
		}
		if *a.DaysAfterInitiation <= 0 {
			return invalidArgument("'DaysAfterInitiation' for AbortIncompleteMultipartUpload action must be a positive integer")
		}
		if tags {
			return invalidRequest("AbortIncompleteMultipartUpload cannot be specified with Tags.")
		}
		if sized {
			return invalidRequest("AbortIncompleteMultipartUpload cannot be specified with ObjectSize filters.")
		}
	}
	for i := range r.Transitions {
		t := &r.Transitions[i]
		if len(t.Unknown) > 0 || (t.Days == nil) == (t.Date == "") {
			return malformed()
		}
		if !storageClasses[t.StorageClass] {
			return malformed()
		}
		if t.Days != nil {
			if *t.Days < 0 {
				return invalidArgument("'Days' in Transition action must be nonnegative")
			}
			if (t.StorageClass == "STANDARD_IA" || t.StorageClass == "ONEZONE_IA") && *t.Days < 30 {
				return invalidArgument(fmt.Sprintf("'Days' in Transition action must be greater than or equal to 30 for storageClass '%s'", t.StorageClass))
			}
		}
		if t.Date != "" {
			d, err := parseDate(t.Date)
			if err != nil {
				return err
			}
			t.Date = formatDate(d)
		}
	}
	for i := range r.NoncurrentVersionTransitions {
		t := &r.NoncurrentVersionTransitions[i]
		if len(t.Unknown) > 0 || t.NoncurrentDays == nil || !storageClasses[t.StorageClass] {
			return malformed()
		}
		if *t.NoncurrentDays < 0 {
			return invalidArgument("'NoncurrentDays' in NoncurrentVersionTransition action must be nonnegative")
		}
	}
	if r.Expiration != nil && r.Expiration.Days != nil {
		for _, t := range r.Transitions {
			if t.Days != nil && *t.Days >= *r.Expiration.Days {
				return invalidArgument("'Days' in the Expiration action for filter must be greater than 'Days' in the Transition action")
			}
		}
	}
	return nil
}

func (f *Filter) check() error {
	if len(f.Unknown) > 0 {
		return malformed()
	}
	n := 0
	for _, set := range []bool{f.Prefix != nil, f.Tag != nil, f.ObjectSizeGreaterThan != nil, f.ObjectSizeLessThan != nil, f.And != nil} {
		if set {
			n++
		}
	}
	if n > 1 {
		return malformed() // several predicates belong under And
	}
	if f.Tag != nil {
		if err := checkTag(*f.Tag); err != nil {
			return err
		}
	}
	gt, lt := f.ObjectSizeGreaterThan, f.ObjectSizeLessThan
	if a := f.And; a != nil {
		if len(a.Unknown) > 0 {
			return malformed()
		}
		seen := map[string]bool{}
		for _, t := range a.Tags {
			if err := checkTag(t); err != nil {
				return err
			}
			if seen[t.Key] {
				return invalidRequest("Duplicate Tag Keys are not allowed.")
			}
			seen[t.Key] = true
		}
		gt, lt = a.ObjectSizeGreaterThan, a.ObjectSizeLessThan
	}
	if gt != nil && *gt < 0 {
		return invalidArgument("'ObjectSizeGreaterThan' must be a non-negative integer")
	}
	if lt != nil && *lt <= 0 {
		return invalidArgument("'ObjectSizeLessThan' must be a positive integer")
	}
	if gt != nil && lt != nil && *gt >= *lt {
		return invalidArgument("'ObjectSizeGreaterThan' must be less than 'ObjectSizeLessThan'")
	}
	return nil
}

func checkTag(t Tag) error {
	if n := utf8.RuneCountInString(t.Key); n == 0 || n > 128 {
		return &Error{Code: "InvalidTag", Message: "The TagKey you have provided is invalid"}
	}
	if utf8.RuneCountInString(t.Value) > 256 {
		return &Error{Code: "InvalidTag", Message: "The TagValue you have provided is invalid"}
	}
	return nil
}

// parseDate reads an ISO 8601 date or date and time, which must be a midnight UTC.
func parseDate(s string) (time.Time, error) {
	var t time.Time
	var err error
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04:05.000", "2006-01-02"} {
		if t, err = time.Parse(layout, s); err == nil {
			break
		}
	}
	if err != nil {
		return t, invalidArgument("'Date' must be in ISO 8601 format")
	}
	t = t.UTC()
	if !t.Equal(t.Truncate(24 * time.Hour)) {
		return t, invalidArgument("'Date' must be at midnight GMT")
	}
	return t, nil
}

func formatDate(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// Marshal writes the configuration as GetBucketLifecycleConfiguration returns it.
func (c *Configuration) Marshal() []byte {
	type document struct {
		XMLName xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ LifecycleConfiguration"`
		Rules   []Rule   `xml:"Rule"`
	}
	out := document{Rules: c.Rules}
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	xml.NewEncoder(&buf).Encode(out) // the types encode without error
	return buf.Bytes()
}

// Version is what the rules look at in one version of a key (or a delete marker).
type Version struct {
	Key          string
	Size         int64
	Tags         map[string]string
	DeleteMarker bool
	// Modified is when the version was written.
	Modified time.Time
	// NoncurrentSince is when a newer version replaced it (zero for the current version).
	NoncurrentSince time.Time
}

// Kind is what an Action does.
type Kind int

const (
	// ExpireCurrent expires the current version: removed from an unversioned bucket, hidden behind a new delete
	// marker in a versioned one.
	ExpireCurrent Kind = iota
	// DeleteVersion removes a noncurrent version for good.
	DeleteVersion
	// RemoveDeleteMarker removes a current delete marker that has no older versions left.
	RemoveDeleteMarker
)

func (k Kind) String() string {
	switch k {
	case ExpireCurrent:
		return "expire"
	case DeleteVersion:
		return "delete-version"
	}
	return "remove-marker"
}

// Action is one thing the rules decided for a key's versions.
type Action struct {
	Kind Kind
	// Index is the version acted on, in the slice given to Plan (0 is the current version).
	Index  int
	RuleID string
}

// matches reports whether the rule's filter selects v. Delete markers have no size and no tags: a size predicate
// does not exclude them, a tag predicate does.
func (r *Rule) matches(v Version) bool {
	prefix := ""
	var tags []Tag
	var gt, lt *int64
	switch {
	case r.Prefix != nil:
		prefix = *r.Prefix
	case r.Filter != nil:
		f := r.Filter
		if f.Prefix != nil {
			prefix = *f.Prefix
		}
		if f.Tag != nil {
			tags = []Tag{*f.Tag}
		}
		gt, lt = f.ObjectSizeGreaterThan, f.ObjectSizeLessThan
		if a := f.And; a != nil {
			if a.Prefix != nil {
				prefix = *a.Prefix
			}
			tags, gt, lt = a.Tags, a.ObjectSizeGreaterThan, a.ObjectSizeLessThan
		}
	}
	if !strings.HasPrefix(v.Key, prefix) {
		return false
	}
	for _, t := range tags {
		if got, ok := v.Tags[t.Key]; !ok || got != t.Value {
			return false
		}
	}
	if !v.DeleteMarker {
		if gt != nil && v.Size <= *gt {
			return false
		}
		if lt != nil && v.Size >= *lt {
			return false
		}
	}
	return true
}

// after returns when an action due days after t falls due: t plus days, rounded up to midnight UTC.
func after(t time.Time, days int) time.Time {
	d := t.UTC().Add(time.Duration(days) * 24 * time.Hour)
	if m := d.Truncate(24 * time.Hour); !m.Equal(d) {
		return m.Add(24 * time.Hour)
	}
	return d
}

// Expiry returns when an Expiration (Days or Date) of an enabled rule expires the current version v, and which
// rule: the earliest when several do. ok is false when no rule expires it.
func (c *Configuration) Expiry(v Version) (when time.Time, ruleID string, ok bool) {
	if v.DeleteMarker {
		return time.Time{}, "", false
	}
	for i := range c.Rules {
		r := &c.Rules[i]
		e := r.Expiration
		if r.Status != "Enabled" || e == nil || !r.matches(v) {
			continue
		}
		var t time.Time
		switch {
		case e.Days != nil:
			t = after(v.Modified, *e.Days)
		case e.Date != "":
			t, _ = time.Parse(time.RFC3339Nano, e.Date)
		default:
			continue
		}
		if !ok || t.Before(when) {
			when, ruleID, ok = t, r.ID, true
		}
	}
	return when, ruleID, ok
}

// Plan decides what the enabled rules do at now to the versions of one key, given newest first (versions[0] is
// the current version or delete marker). Each version is acted on at most once.
func (c *Configuration) Plan(versions []Version, now time.Time) []Action {
	if len(versions) == 0 {
		return nil
	}
	var acts []Action
	cur := versions[0]
	if when, id, ok := c.Expiry(cur); ok && !now.Before(when) {
		acts = append(acts, Action{Kind: ExpireCurrent, Index: 0, RuleID: id})
	}
	// A delete marker with no older versions is an expired object delete marker: removed by a rule that says
	// ExpiredObjectDeleteMarker, or by an Expiration in Days once the marker is that old.
	if cur.DeleteMarker && len(versions) == 1 {
		for i := range c.Rules {
			r := &c.Rules[i]
			e := r.Expiration
			if r.Status != "Enabled" || e == nil || !r.matches(cur) {
				continue
			}
			if e.ExpiredObjectDeleteMarker != nil && *e.ExpiredObjectDeleteMarker ||
				e.Days != nil && !now.Before(after(cur.Modified, *e.Days)) {
				acts = append(acts, Action{Kind: RemoveDeleteMarker, Index: 0, RuleID: r.ID})
				break
			}
		}
	}
	// Noncurrent versions, newest first: the NewerNoncurrentVersions newest are kept whatever their age.
	for j, v := range versions[1:] {
		for i := range c.Rules {
			r := &c.Rules[i]
			nv := r.NoncurrentVersionExpiration
			if r.Status != "Enabled" || nv == nil || nv.NoncurrentDays == nil || !r.matches(v) {
				continue
			}
			if nv.NewerNoncurrentVersions != nil && j < *nv.NewerNoncurrentVersions {
				continue
			}
			if v.NoncurrentSince.IsZero() || now.Before(after(v.NoncurrentSince, *nv.NoncurrentDays)) {
				continue
			}
			acts = append(acts, Action{Kind: DeleteVersion, Index: j + 1, RuleID: r.ID})
			break
		}
	}
	return acts
}

// AbortUpload reports whether an enabled rule aborts a multipart upload of key begun at initiated, at now.
func (c *Configuration) AbortUpload(key string, initiated, now time.Time) (string, bool) {
	for i := range c.Rules {
		r := &c.Rules[i]
		a := r.AbortIncompleteMultipartUpload
		if r.Status != "Enabled" || a == nil || a.DaysAfterInitiation == nil || !r.matches(Version{Key: key}) {
			continue
		}
		if !now.Before(after(initiated, *a.DaysAfterInitiation)) {
			return r.ID, true
		}
	}
	return "", false
}

// HasNoncurrentRules reports whether any enabled rule acts on noncurrent versions or delete markers: a sweep of
// an unversioned bucket without them needs only the current versions.
func (c *Configuration) HasNoncurrentRules() bool {
	for _, r := range c.Rules {
		if r.Status == "Enabled" && (r.NoncurrentVersionExpiration != nil || r.Expiration != nil) {
			return true
		}
	}
	return false
}

// HasUploadRules reports whether any enabled rule aborts multipart uploads.
func (c *Configuration) HasUploadRules() bool {
	for _, r := range c.Rules {
		if r.Status == "Enabled" && r.AbortIncompleteMultipartUpload != nil {
			return true
		}
	}
	return false
}
