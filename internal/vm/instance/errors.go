package instance

import (
	"errors"

	"github.com/containerd/errdefs"
)

// Error is an error of the instance service: an EC2 error code (what the EC2 API answers) and its message, in
// an error category (what Berth's own API maps to a status). errors.Is(err, errdefs.ErrNotFound) works on it.
type Error struct {
	Code    string
	Message string
	cat     error
}

func (e *Error) Error() string { return e.Message }

// Unwrap returns the error's category.
func (e *Error) Unwrap() error { return e.cat }

// EC2 error codes the service produces.
const (
	CodeInvalidParameterValue     = "InvalidParameterValue"
	CodeMissingParameter          = "MissingParameter"
	CodeInvalidAMIIDNotFound      = "InvalidAMIID.NotFound"
	CodeInvalidAMIIDMalformed     = "InvalidAMIID.Malformed"
	CodeInvalidInstanceIDNotFound = "InvalidInstanceID.NotFound"
	CodeInvalidInstanceIDMalf     = "InvalidInstanceID.Malformed"
	CodeIncorrectInstanceState    = "IncorrectInstanceState"
	CodeInvalidKeyPairNotFound    = "InvalidKeyPair.NotFound"
	CodeInvalidKeyPairDuplicate   = "InvalidKeyPair.Duplicate"
	CodeInvalidKeyFormat          = "InvalidKey.Format"
	CodeInvalidGroupNotFound      = "InvalidGroup.NotFound"
	CodeInvalidGroupDuplicate     = "InvalidGroup.Duplicate"
	CodeInvalidGroupReserved      = "InvalidGroup.Reserved"
	CodeInvalidPermissionDup      = "InvalidPermission.Duplicate"
	CodeInvalidPermissionNotFound = "InvalidPermission.NotFound"
	CodeInvalidPermissionMalf     = "InvalidPermission.Malformed"
	CodeDependencyViolation       = "DependencyViolation"
	CodeCannotDelete              = "CannotDelete"
	CodeInsufficientCapacity      = "InsufficientInstanceCapacity"
	CodeInternalError             = "InternalError"
)

var (
	errInvalid            = errdefs.ErrInvalidArgument
	errNotFound           = errdefs.ErrNotFound
	errExists             = errdefs.ErrAlreadyExists
	errConflict           = errdefs.ErrConflict
	errFailedPrecondition = errdefs.ErrFailedPrecondition
)

func newError(code, msg string, cat error) *Error { return &Error{Code: code, Message: msg, cat: cat} }

// CodeOf returns err's EC2 code, or InternalError.
func CodeOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternalError
}
