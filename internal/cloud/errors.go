package cloud

import (
	"net/http"
	"strings"
	"time"
)

// The authentication errors, worded as S3 words them (S3's are the most detailed and the most often read: the
// aws CLI prints them, s3-tests compare them). queryServiceError rewords them for the query-protocol services
// (IAM, STS, EC2), which share AWS's common errors.

const (
	codeAccessDenied                = "AccessDenied"
	codeInvalidAccessKeyID          = "InvalidAccessKeyId"
	codeSignatureDoesNotMatch       = "SignatureDoesNotMatch"
	codeRequestTimeTooSkewed        = "RequestTimeTooSkewed"
	codeAuthorizationHeaderMalform  = "AuthorizationHeaderMalformed"
	codeAuthorizationQueryParams    = "AuthorizationQueryParametersError"
	codeInvalidArgument             = "InvalidArgument"
	codeInvalidRequest              = "InvalidRequest"
	codeMissingSecurityHeader       = "MissingSecurityHeader"
	codeContentSHA256Mismatch       = "XAmzContentSHA256Mismatch"
	codeIncompleteBody              = "IncompleteBody"
	codeMalformedTrailer            = "MalformedTrailerError"
	codeMissingContentLength        = "MissingContentLength"
	codeNotImplemented              = "NotImplemented"
	codeEntityTooLarge              = "EntityTooLarge"
	msgSignatureDoesNotMatchS3      = "The request signature we calculated does not match the signature you provided. Check your key and signing method."
	msgSignatureDoesNotMatchQuery   = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
	msgMissingDate                  = "AWS authentication requires a valid Date or x-amz-date header"
	msgAuthHeaderMalformedPrefix    = "The authorization header is malformed; "
	msgCredentialMalformed          = "the Credential is mal-formed; expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\"."
	msgQueryCredentialParsePrefix   = "Error parsing the X-Amz-Credential parameter; "
	msgPresignMissingParams         = "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters."
	msgRequestExpired               = "Request has expired"
	msgInvalidAccessKeyID           = "The AWS Access Key Id you provided does not exist in our records."
	msgRequestTimeTooSkewed         = "The difference between the request time and the current time is too large."
	msgContentSHA256Mismatch        = "The provided 'x-amz-content-sha256' header does not match what was computed."
	msgIncompleteBody               = "You did not provide the number of bytes specified by the Content-Length HTTP header."
	msgMalformedTrailer             = "The request contained trailing data that was not well-formed or did not conform to our published schema."
	msgMissingContentLength         = "You must provide the Content-Length HTTP header."
	msgOnlyOneAuth                  = "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified"
	msgUnsupportedAuthorizationType = "Unsupported Authorization Type"
	msgHeadersNotSigned             = "There were headers present in the request which were not signed"
	serverTimeFormat                = "2006-01-02T15:04:05Z"
)

func newError(status int, code, msg string, extra ...[2]string) *Error {
	return &Error{Code: code, Message: msg, Status: status, Extra: extra}
}

func errAccessDenied(msg string, extra ...[2]string) *Error {
	return newError(http.StatusForbidden, codeAccessDenied, msg, extra...)
}

func errMissingDate() *Error { return errAccessDenied(msgMissingDate) }

func errInvalidAccessKeyID(akid string) *Error {
	return newError(http.StatusForbidden, codeInvalidAccessKeyID, msgInvalidAccessKeyID, [2]string{"AWSAccessKeyId", akid})
}

// errSignatureDoesNotMatch carries what S3 returns to help a client debug its signer: the string to sign and the
// canonical request (never the secret or the expected signature).
func errSignatureDoesNotMatch(akid, sts, provided, creq string) *Error {
	extra := [][2]string{{"AWSAccessKeyId", akid}, {"StringToSign", sts}, {"SignatureProvided", provided}, {"StringToSignBytes", hexBytes(sts)}}
	if creq != "" {
		extra = append(extra, [2]string{"CanonicalRequest", creq}, [2]string{"CanonicalRequestBytes", hexBytes(creq)})
	}
	return newError(http.StatusForbidden, codeSignatureDoesNotMatch, msgSignatureDoesNotMatchS3, extra...)
}

func errRequestTimeTooSkewed(requestTime string, now time.Time) *Error {
	return newError(http.StatusForbidden, codeRequestTimeTooSkewed, msgRequestTimeTooSkewed,
		[2]string{"RequestTime", requestTime}, [2]string{"ServerTime", now.UTC().Format(serverTimeFormat)},
		[2]string{"MaxAllowedSkewMilliseconds", maxSkewMillis})
}

func errAuthHeaderMalformed(detail string) *Error {
	return newError(http.StatusBadRequest, codeAuthorizationHeaderMalform, msgAuthHeaderMalformedPrefix+detail)
}

func errAuthQuery(msg string, extra ...[2]string) *Error {
	return newError(http.StatusBadRequest, codeAuthorizationQueryParams, msg, extra...)
}

func errWrongRegion(got, want string, query bool) *Error {
	detail := "the region '" + got + "' is wrong; expecting '" + want + "'"
	if query {
		return errAuthQuery(msgQueryCredentialParsePrefix+detail, [2]string{"Region", want})
	}
	e := errAuthHeaderMalformed(detail)
	e.Extra = [][2]string{{"Region", want}}
	return e
}

func errInvalidArgument(msg, name, value string) *Error {
	return newError(http.StatusBadRequest, codeInvalidArgument, msg, [2]string{"ArgumentName", name}, [2]string{"ArgumentValue", value})
}

func errContentSHA256Mismatch(client, computed string) *Error {
	return newError(http.StatusBadRequest, codeContentSHA256Mismatch, msgContentSHA256Mismatch,
		[2]string{"ClientComputedContentSHA256", client}, [2]string{"S3ComputedContentSHA256", computed})
}

func errIncompleteBody() *Error {
	return newError(http.StatusBadRequest, codeIncompleteBody, msgIncompleteBody)
}

func errMalformedTrailer() *Error {
	return newError(http.StatusBadRequest, codeMalformedTrailer, msgMalformedTrailer)
}

func errMissingContentLength() *Error {
	return newError(http.StatusLengthRequired, codeMissingContentLength, msgMissingContentLength)
}

func errNotImplemented(msg string) *Error {
	return newError(http.StatusNotImplemented, codeNotImplemented, msg)
}

func hexBytes(s string) string {
	const digits = "0123456789abcdef"
	var b strings.Builder
	b.Grow(len(s) * 3)
	for i := 0; i < len(s); i++ {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteByte(digits[s[i]>>4])
		b.WriteByte(digits[s[i]&15])
	}
	return b.String()
}

// queryServiceError rewords an S3-worded authentication error in the common errors of AWS's query-protocol
// services, as IAM and STS answer the same failures.
func queryServiceError(e *Error) *Error {
	extra := func(name string) string {
		for _, kv := range e.Extra {
			if kv[0] == name {
				return kv[1]
			}
		}
		return ""
	}
	switch e.Code {
	case codeInvalidAccessKeyID:
		return newError(http.StatusForbidden, "InvalidClientTokenId", "The security token included in the request is invalid.")
	case codeSignatureDoesNotMatch, codeContentSHA256Mismatch:
		return newError(http.StatusForbidden, codeSignatureDoesNotMatch, msgSignatureDoesNotMatchQuery)
	case codeRequestTimeTooSkewed:
		return newError(http.StatusForbidden, codeSignatureDoesNotMatch, skewMessage(extra("RequestTime"), extra("ServerTime")))
	case codeAuthorizationHeaderMalform, codeAuthorizationQueryParams, codeInvalidArgument, codeMissingSecurityHeader:
		msg := strings.TrimPrefix(e.Message, msgAuthHeaderMalformedPrefix)
		if r := extra("Region"); r != "" {
			msg = "Credential should be scoped to a valid region. "
		}
		return newError(http.StatusBadRequest, "IncompleteSignature", msg)
	case codeAccessDenied:
		switch e.Message {
		case msgMissingDate:
			return newError(http.StatusBadRequest, "IncompleteSignature", "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
		case msgRequestExpired:
			return newError(http.StatusBadRequest, "RequestExpired", "Request has expired.")
		}
		return newError(http.StatusForbidden, "AccessDenied", e.Message)
	}
	return &Error{Code: e.Code, Message: e.Message, Status: e.Status}
}

// skewMessage words a clock skew as IAM and STS do: "Signature expired: T is now earlier than L (NOW - 15 min.)".
func skewMessage(requestTime, serverTime string) string {
	now, err := time.Parse(serverTimeFormat, serverTime)
	if err != nil {
		return "Signature expired"
	}
	req, err := time.Parse(amzDateFormat, requestTime)
	if err != nil {
		req, err = http.ParseTime(requestTime)
		if err != nil {
			return "Signature expired"
		}
		requestTime = req.UTC().Format(amzDateFormat)
	}
	if req.After(now) {
		return "Signature not yet current: " + requestTime + " is still later than " + now.Add(maxClockSkew).Format(amzDateFormat) +
			" (" + now.Format(amzDateFormat) + " + 15 min.)"
	}
	return "Signature expired: " + requestTime + " is now earlier than " + now.Add(-maxClockSkew).Format(amzDateFormat) +
		" (" + now.Format(amzDateFormat) + " - 15 min.)"
}
