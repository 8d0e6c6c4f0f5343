package s3api

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/berth/berth/internal/cloud"
	"github.com/berth/berth/internal/objectstore"
)

// statusOf is S3's HTTP status for each error code, and messages S3's default wording of it.
var statusOf = map[string]int{
	"AccessControlListNotSupported":           http.StatusBadRequest,
	"AccessDenied":                            http.StatusForbidden,
	"AccessForbidden":                         http.StatusForbidden,
	"BadRequest":                              http.StatusBadRequest,
	"InvalidBucketAclWithObjectOwnership":     http.StatusBadRequest,
	"InvalidTag":                              http.StatusBadRequest,
	"MalformedACLError":                       http.StatusBadRequest,
	"MalformedPolicy":                         http.StatusBadRequest,
	"MissingSecurityHeader":                   http.StatusBadRequest,
	"NoSuchBucketPolicy":                      http.StatusNotFound,
	"NoSuchCORSConfiguration":                 http.StatusNotFound,
	"NoSuchLifecycleConfiguration":            http.StatusNotFound,
	"NoSuchPublicAccessBlockConfiguration":    http.StatusNotFound,
	"NoSuchTagSet":                            http.StatusNotFound,
	"OwnershipControlsNotFoundError":          http.StatusNotFound,
	"UnexpectedContent":                       http.StatusBadRequest,
	"UnresolvableGrantByEmailAddress":         http.StatusBadRequest,
	"BadDigest":                               http.StatusBadRequest,
	"BucketAlreadyExists":                     http.StatusConflict,
	"BucketAlreadyOwnedByYou":                 http.StatusConflict,
	"BucketNotEmpty":                          http.StatusConflict,
	"ConditionalRequestConflict":              http.StatusConflict,
	"EntityTooLarge":                          http.StatusBadRequest,
	"EntityTooSmall":                          http.StatusBadRequest,
	"IllegalLocationConstraintException":      http.StatusBadRequest,
	"IllegalVersioningConfigurationException": http.StatusBadRequest,
	"IncompleteBody":                          http.StatusBadRequest,
	"InternalError":                           http.StatusInternalServerError,
	"InvalidArgument":                         http.StatusBadRequest,
	"InvalidBucketName":                       http.StatusBadRequest,
	"InvalidDigest":                           http.StatusBadRequest,
	"InvalidLocationConstraint":               http.StatusBadRequest,
	"InvalidPart":                             http.StatusBadRequest,
	"InvalidPartNumber":                       http.StatusRequestedRangeNotSatisfiable,
	"InvalidPartOrder":                        http.StatusBadRequest,
	"InvalidRange":                            http.StatusRequestedRangeNotSatisfiable,
	"InvalidRequest":                          http.StatusBadRequest,
	"InvalidStorageClass":                     http.StatusBadRequest,
	"KeyTooLongError":                         http.StatusBadRequest,
	"MalformedXML":                            http.StatusBadRequest,
	"MaxMessageLengthExceeded":                http.StatusBadRequest,
	"MetadataTooLarge":                        http.StatusBadRequest,
	"MethodNotAllowed":                        http.StatusMethodNotAllowed,
	"MissingContentLength":                    http.StatusLengthRequired,
	"MissingRequestBodyError":                 http.StatusBadRequest,
	"NoSuchBucket":                            http.StatusNotFound,
	"NoSuchKey":                               http.StatusNotFound,
	"NoSuchUpload":                            http.StatusNotFound,
	"NoSuchVersion":                           http.StatusNotFound,
	"NotImplemented":                          http.StatusNotImplemented,
	"NotModified":                             http.StatusNotModified,
	"OperationAborted":                        http.StatusConflict,
	"PreconditionFailed":                      http.StatusPreconditionFailed,
	"ServiceUnavailable":                      http.StatusServiceUnavailable,
	"XAmzContentSHA256Mismatch":               http.StatusBadRequest,
}

var messages = map[string]string{
	"AccessDenied":            "Access Denied",
	"BadDigest":               "The Content-MD5 you specified did not match what we received.",
	"BucketAlreadyExists":     "The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again.",
	"BucketAlreadyOwnedByYou": "Your previous request to create the named bucket succeeded and you already own it.",
	"BucketNotEmpty":          "The bucket you tried to delete is not empty",
	"EntityTooLarge":          "Your proposed upload exceeds the maximum allowed size",
	"EntityTooSmall":          "Your proposed upload is smaller than the minimum allowed object size.",
	"IncompleteBody":          "You did not provide the number of bytes specified by the Content-Length HTTP header.",
	"InternalError":           "We encountered an internal error. Please try again.",
	"InvalidArgument":         "Invalid Argument",
	"InvalidBucketName":       "The specified bucket is not valid.",
	"InvalidDigest":           "The Content-MD5 you specified is not valid.",
	"InvalidPart":             "One or more of the specified parts could not be found.  The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.",
	"InvalidPartOrder":        "The list of parts was not in ascending order. The parts list must be specified in order by part number.",
	"InvalidRange":            "The requested range is not satisfiable",
	"InvalidRequest":          "Invalid Request",
	"KeyTooLongError":         "Your key is too long",
	"MalformedXML":            "The XML you provided was not well-formed or did not validate against our published schema",
	"MethodNotAllowed":        "The specified method is not allowed against this resource.",
	"MissingContentLength":    "You must provide the Content-Length HTTP header.",
	"NoSuchBucket":            "The specified bucket does not exist",
	"NoSuchKey":               "The specified key does not exist.",
	"NoSuchUpload":            "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.",
	"NoSuchVersion":           "The specified version does not exist.",
	"NotImplemented":          "A header you provided implies functionality that is not implemented",
	"OperationAborted":        "A conflicting conditional operation is currently in progress against this resource. Please try again.",
	"PreconditionFailed":      "At least one of the preconditions you specified did not hold",
}

// s3Error makes an error with S3's status and default message for code.
func s3Error(code, message string, extra ...[2]string) *cloud.Error {
	if message == "" {
		message = messages[code]
	}
	status, ok := statusOf[code]
	if !ok {
		status = http.StatusBadRequest
	}
	return &cloud.Error{Code: code, Message: message, Status: status, Extra: extra}
}

// toCloudError turns an engine error (or a cloud.Error, or anything else: InternalError) into what is sent.
func toCloudError(err error) *cloud.Error {
	var ce *cloud.Error
	if errors.As(err, &ce) {
		c := *ce
		if c.Status == 0 {
			c.Status = statusOf[c.Code]
		}
		return &c
	}
	var oe *objectstore.Error
	if errors.As(err, &oe) {
		e := s3Error(oe.Code, oe.Message, oe.Extra...)
		if oe.Code == objectstore.ErrCorrupt.Code {
			e.Message = messages["InternalError"]
			e.Extra = nil
		}
		return e
	}
	return cloud.AsError(err)
}

// writeErrorDoc sends e: its status, and for anything but HEAD S3's <Error> document (no namespace), the elements
// S3 adds for the code between <Message> and <Resource>.
func writeErrorDoc(w http.ResponseWriter, head bool, e *cloud.Error, requestID, hostID string) {
	h := w.Header()
	h.Del("Content-Length")
	h.Del("ETag")
	h.Set("Content-Type", "application/xml")
	w.WriteHeader(e.Status)
	if head {
		return
	}
	var b strings.Builder
	b.WriteString(xml.Header)
	b.WriteString("<Error>")
	el := func(name, value string) {
		b.WriteString("<" + name + ">")
		xml.EscapeText(&b, []byte(value))
		b.WriteString("</" + name + ">")
	}
	el("Code", e.Code)
	el("Message", e.Message)
	for _, kv := range e.Extra {
		el(kv[0], kv[1])
	}
	if e.Resource != "" {
		el("Resource", e.Resource)
	}
	el("RequestId", requestID)
	el("HostId", hostID)
	b.WriteString("</Error>")
	io.WriteString(w, b.String())
}

// newRequestID returns a request ID as S3 shapes it (16 upper-case hex digits) and an x-amz-id-2.
func newRequestID() (string, string) {
	var b [40]byte
	rand.Read(b[:])
	return strings.ToUpper(hex.EncodeToString(b[:8])), base64.StdEncoding.EncodeToString(b[8:])
}

// invalidArgument is S3's InvalidArgument with the argument's name and value.
func invalidArgument(msg, name, value string) *cloud.Error {
	return s3Error("InvalidArgument", msg, [2]string{"ArgumentName", name}, [2]string{"ArgumentValue", value})
}

func malformedXML() *cloud.Error { return s3Error("MalformedXML", "") }
