package ec2api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/containerd/errdefs"

	"github.com/berth/berth/internal/cloud"
)

// Error is an EC2 error: its code ("InvalidInstanceID.NotFound") and message, in EC2's words. Backends return it
// for the failures EC2 names; the API answers it with Status (400 when zero).
type Error struct {
	Code    string
	Message string
	Status  int
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func (e *Error) status() int {
	if e.Status != 0 {
		return e.Status
	}
	return statusOf(e.Code)
}

// Errorf returns an *Error with code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// EC2's error codes (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html).
const (
	CodeAuthFailure                 = "AuthFailure"
	CodeUnauthorizedOperation       = "UnauthorizedOperation"
	CodeDryRunOperation             = "DryRunOperation"
	CodeInvalidAction               = "InvalidAction"
	CodeMissingAction               = "MissingAction"
	CodeUnknownParameter            = "UnknownParameter"
	CodeMissingParameter            = "MissingParameter"
	CodeInvalidParameterValue       = "InvalidParameterValue"
	CodeInvalidParameterCombination = "InvalidParameterCombination"
	CodeInvalidParameter            = "InvalidParameter"
	CodeUnsupportedOperation        = "UnsupportedOperation"
	CodeInvalidNextToken            = "InvalidNextToken"
	CodeInvalidID                   = "InvalidID"
	CodeInvalidAMIIDNotFound        = "InvalidAMIID.NotFound"
	CodeInvalidAMIIDMalformed       = "InvalidAMIID.Malformed"
	CodeInvalidInstanceIDNotFound   = "InvalidInstanceID.NotFound"
	CodeInvalidInstanceIDMalformed  = "InvalidInstanceID.Malformed"
	CodeInvalidKeyPairNotFound      = "InvalidKeyPair.NotFound"
	CodeInvalidKeyPairDuplicate     = "InvalidKeyPair.Duplicate"
	CodeInvalidKeyFormat            = "InvalidKey.Format"
	CodeInvalidGroupNotFound        = "InvalidGroup.NotFound"
	CodeInvalidGroupDuplicate       = "InvalidGroup.Duplicate"
	CodeInvalidGroupIDMalformed     = "InvalidGroupId.Malformed"
	CodeInvalidPermissionDuplicate  = "InvalidPermission.Duplicate"
	CodeInvalidPermissionNotFound   = "InvalidPermission.NotFound"
	CodeIncorrectInstanceState      = "IncorrectInstanceState"
	CodeInvalidInstanceType         = "InvalidInstanceType"
	CodeInstanceLimitExceeded       = "InstanceLimitExceeded"
	CodeTagLimitExceeded            = "TagLimitExceeded"
	CodeIdempotentParameterMismatch = "IdempotentParameterMismatch"
	CodeInternalError               = "InternalError"
	CodeInsufficientCapacity        = "InsufficientInstanceCapacity"
	CodeUnavailable                 = "Unavailable"
)

// statusOf is the HTTP status EC2 answers a code with: 400 for client errors but a few.
func statusOf(code string) int {
	switch code {
	case CodeAuthFailure:
		return http.StatusUnauthorized
	case CodeUnauthorizedOperation:
		return http.StatusForbidden
	case CodeDryRunOperation:
		return http.StatusPreconditionFailed
	case CodeInternalError, CodeInsufficientCapacity:
		return http.StatusInternalServerError
	case CodeUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusBadRequest
}

// The messages EC2 answers with, word for word where EC2's own are known.
const (
	msgAuthFailure   = "AWS was not able to validate the provided access credentials"
	msgDryRun        = "Request would have succeeded, but DryRun flag is set."
	msgInternalError = "An internal error has occurred"
)

func errMissing(param string) *Error {
	return Errorf(CodeMissingParameter, "The request must contain the parameter %s", param)
}

func errInvalidValue(format string, args ...any) *Error {
	return Errorf(CodeInvalidParameterValue, format, args...)
}

func errUnsupported(format string, args ...any) *Error {
	return Errorf(CodeUnsupportedOperation, format, args...)
}

func errInstanceMalformed(id string) *Error {
	return Errorf(CodeInvalidInstanceIDMalformed, "Invalid id: %q", id)
}

func errInstancesNotFound(ids []string) *Error {
	if len(ids) == 1 {
		return Errorf(CodeInvalidInstanceIDNotFound, "The instance ID '%s' does not exist", ids[0])
	}
	return Errorf(CodeInvalidInstanceIDNotFound, "The instance IDs '%s' do not exist", strings.Join(ids, ", "))
}

func errAMIMalformed(id string) *Error {
	return Errorf(CodeInvalidAMIIDMalformed, "Invalid id: %q (expecting \"ami-...\")", id)
}

func errAMINotFound(ids []string) *Error {
	return Errorf(CodeInvalidAMIIDNotFound, "The image id '[%s]' does not exist", strings.Join(ids, ", "))
}

func errKeyPairNotFound(ref string) *Error {
	return Errorf(CodeInvalidKeyPairNotFound, "The key pair '%s' does not exist", ref)
}

func errKeyPairIDNotFound(id string) *Error {
	return Errorf(CodeInvalidKeyPairNotFound, "The key pair ID '%s' does not exist", id)
}

func errGroupNotFound(ref string) *Error {
	if strings.HasPrefix(ref, "sg-") {
		return Errorf(CodeInvalidGroupNotFound, "The security group '%s' does not exist", ref)
	}
	return Errorf(CodeInvalidGroupNotFound, "The security group '%s' does not exist in default VPC", ref)
}

func errGroupMalformed(id string) *Error {
	return Errorf(CodeInvalidGroupIDMalformed, "Invalid id: %q (expecting \"sg-...\")", id)
}

// toEC2Error turns any error into the EC2 error the client gets, and reports whether it is one EC2 names (an
// unnamed one is logged by the caller, never shown).
func toEC2Error(err error) (*Error, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e, true
	}
	var ce *cloud.Error
	if errors.As(err, &ce) {
		return fromCloudError(ce), true
	}
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return &Error{Code: CodeUnavailable, Message: "The request was canceled or timed out before it completed."}, true
	case errdefs.IsInvalidArgument(err):
		return &Error{Code: CodeInvalidParameterValue, Message: err.Error()}, true
	}
	return &Error{Code: CodeInternalError, Message: msgInternalError}, false
}

// fromCloudError words the endpoint's authentication failures as EC2 does: an unknown key or a bad signature is
// AuthFailure (EC2 says no more, unlike IAM); the others keep the query services' words.
func fromCloudError(ce *cloud.Error) *Error {
	switch ce.Code {
	case "InvalidClientTokenId", "InvalidAccessKeyId":
		return &Error{Code: CodeAuthFailure, Message: msgAuthFailure, Status: http.StatusUnauthorized}
	case "SignatureDoesNotMatch":
		if !strings.HasPrefix(ce.Message, "Signature ") { // not a clock skew ("Signature expired: …")
			return &Error{Code: CodeAuthFailure, Message: msgAuthFailure, Status: http.StatusUnauthorized}
		}
	}
	return &Error{Code: ce.Code, Message: ce.Message, Status: ce.Status}
}
