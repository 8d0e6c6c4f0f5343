package objectstore

import (
	"errors"
	"fmt"
	"time"

	"github.com/containerd/errdefs"
)

// Error is an S3 error condition. Code is S3's word for it (the s3api package maps it to S3's status and default
// message); Message, when set, is the client-facing message for this occurrence; Extra are the elements S3 adds to
// its error document for the code (<ArgumentName>, <ActualObjectSize>, …). Every Error wraps an errdefs category,
// and errors.Is matches any two Errors with the same Code, so
//
//	errors.Is(err, objectstore.ErrInvalidArgument)   // any InvalidArgument, whatever its message
//	errors.Is(err, errdefs.ErrInvalidArgument)       // the category
type Error struct {
	Code     string
	Message  string
	Extra    [][2]string
	category error
}

func (e *Error) Error() string {
	if e.Message != "" {
		return e.Code + ": " + e.Message
	}
	return e.Code
}

// Unwrap returns the errdefs category.
func (e *Error) Unwrap() error { return e.category }

// Is matches Errors with the same Code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// With returns a copy of e with a client-facing message.
func (e *Error) With(format string, args ...any) *Error {
	c := *e
	c.Message = fmt.Sprintf(format, args...)
	return &c
}

// WithExtra returns a copy of e with an extra element for the error document.
func (e *Error) WithExtra(name, value string) *Error {
	c := *e
	c.Extra = append(append([][2]string(nil), e.Extra...), [2]string{name, value})
	return &c
}

func code(c string, category error) *Error { return &Error{Code: c, category: category} }

// The S3 conditions the engine reports.
var (
	ErrNoSuchBucket             = code("NoSuchBucket", errdefs.ErrNotFound)
	ErrNoSuchKey                = code("NoSuchKey", errdefs.ErrNotFound)
	ErrNoSuchVersion            = code("NoSuchVersion", errdefs.ErrNotFound)
	ErrNoSuchUpload             = code("NoSuchUpload", errdefs.ErrNotFound)
	ErrBucketNotEmpty           = code("BucketNotEmpty", errdefs.ErrConflict)
	ErrBucketAlreadyExists      = code("BucketAlreadyExists", errdefs.ErrAlreadyExists)
	ErrBucketAlreadyOwnedByYou  = code("BucketAlreadyOwnedByYou", errdefs.ErrAlreadyExists)
	ErrInvalidBucketName        = code("InvalidBucketName", errdefs.ErrInvalidArgument)
	ErrKeyTooLong               = code("KeyTooLongError", errdefs.ErrInvalidArgument)
	ErrInvalidArgument          = code("InvalidArgument", errdefs.ErrInvalidArgument)
	ErrInvalidRequest           = code("InvalidRequest", errdefs.ErrInvalidArgument)
	ErrInvalidPart              = code("InvalidPart", errdefs.ErrInvalidArgument)
	ErrInvalidPartOrder         = code("InvalidPartOrder", errdefs.ErrInvalidArgument)
	ErrEntityTooSmall           = code("EntityTooSmall", errdefs.ErrInvalidArgument)
	ErrEntityTooLarge           = code("EntityTooLarge", errdefs.ErrInvalidArgument)
	ErrIncompleteBody           = code("IncompleteBody", errdefs.ErrInvalidArgument)
	ErrBadDigest                = code("BadDigest", errdefs.ErrInvalidArgument)
	ErrInvalidDigest            = code("InvalidDigest", errdefs.ErrInvalidArgument)
	ErrMalformedXML             = code("MalformedXML", errdefs.ErrInvalidArgument)
	ErrPreconditionFailed       = code("PreconditionFailed", errdefs.ErrFailedPrecondition)
	ErrNotModified              = code("NotModified", errdefs.ErrNotModified)
	ErrInvalidRange             = code("InvalidRange", errdefs.ErrOutOfRange)
	ErrMethodNotAllowed         = code("MethodNotAllowed", errdefs.ErrFailedPrecondition)
	ErrConditionalRequestFailed = code("ConditionalRequestConflict", errdefs.ErrConflict)
	// ErrContentSHA256Mismatch is a body whose SHA-256 is not the one its request's signature covers.
	ErrContentSHA256Mismatch = code("XAmzContentSHA256Mismatch", errdefs.ErrInvalidArgument)
	// ErrVersionChanged is a change to a version that another write replaced after the caller looked at it
	// (SubresourceInput.Of); S3's word for a conflicting operation in progress.
	ErrVersionChanged = code("OperationAborted", errdefs.ErrConflict)
	ErrAccessDenied   = code("AccessDenied", errdefs.ErrPermissionDenied)
	ErrNotImplemented = code("NotImplemented", errdefs.ErrNotImplemented)
	// ErrCorrupt is content that no longer matches its checksum (bit rot, a truncated file): a read stops with it
	// rather than hand out wrong bytes.
	ErrCorrupt = code("InternalError", errdefs.ErrDataLoss)
)

// ObjectError is an error about a particular version: a delete marker met by a GET (ErrNoSuchKey or
// ErrMethodNotAllowed), a failed precondition (ErrNotModified carries the ETag and Last-Modified S3 returns with a
// 304). Info describes the version.
type ObjectError struct {
	Info ObjectInfo
	Err  error
}

func (e *ObjectError) Error() string {
	return fmt.Sprintf("object %q version %s: %v", e.Info.Key, e.Info.VersionID, e.Err)
}

func (e *ObjectError) Unwrap() error { return e.Err }

// ObjectInfoOf returns the version an error is about, if it is an ObjectError.
func ObjectInfoOf(err error) (ObjectInfo, bool) {
	var oe *ObjectError
	if errors.As(err, &oe) {
		return oe.Info, true
	}
	return ObjectInfo{}, false
}

func noSuchBucket(name string) error {
	return ErrNoSuchBucket.WithExtra("BucketName", name)
}

func noSuchKey(key string) error { return ErrNoSuchKey.WithExtra("Key", key) }

func noSuchUpload(id string) error { return ErrNoSuchUpload.WithExtra("UploadId", id) }

func noSuchVersion(key, version string) error {
	return ErrNoSuchVersion.WithExtra("Key", key).WithExtra("VersionId", version)
}

func invalidVersion(version string) error {
	return ErrInvalidArgument.With("Invalid version id specified").
		WithExtra("ArgumentName", "versionId").WithExtra("ArgumentValue", version)
}

// checkConditions evaluates read preconditions against a version, in S3's precedence.
func checkConditions(c Conditions, etag string, modified time.Time) error {
	modified = modified.Truncate(time.Second)
	if c.IfMatch != "" {
		if !etagMatches(c.IfMatch, etag) {
			return ErrPreconditionFailed.WithExtra("Condition", "If-Match")
		}
	} else if !c.IfUnmodifiedSince.IsZero() && modified.After(c.IfUnmodifiedSince) {
		return ErrPreconditionFailed.WithExtra("Condition", "If-Unmodified-Since")
	}
	if c.IfNoneMatch != "" {
		if etagMatches(c.IfNoneMatch, etag) {
			return ErrNotModified
		}
	} else if !c.IfModifiedSince.IsZero() && !modified.After(c.IfModifiedSince) {
		return ErrNotModified
	}
	return nil
}

// etagMatches reports whether an If-Match / If-None-Match list names etag ("*" names any).
func etagMatches(list, etag string) bool {
	for _, item := range splitList(list) {
		if item == "*" || trimETag(item) == etag {
			return true
		}
	}
	return false
}

func splitList(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			item := s[start:i]
			for len(item) > 0 && (item[0] == ' ' || item[0] == '\t') {
				item = item[1:]
			}
			for len(item) > 0 && (item[len(item)-1] == ' ' || item[len(item)-1] == '\t') {
				item = item[:len(item)-1]
			}
			if item != "" {
				out = append(out, item)
			}
			start = i + 1
		}
	}
	return out
}

// trimETag removes a weak prefix and quotes from an ETag as a client sends it.
func trimETag(s string) string {
	if len(s) > 2 && s[0] == 'W' && s[1] == '/' {
		s = s[2:]
	}
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		s = s[1 : len(s)-1]
	}
	return s
}
