package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/containerd/errdefs"
)

// Error is a non-2xx answer from the daemon. Its text is the daemon's message; it wraps the errdefs
// category of the status, so callers test it with errors.Is(err, errdefs.ErrNotFound) or errdefs.IsNotFound.
type Error struct {
	StatusCode int
	Message    string
	category   error
}

func (e *Error) Error() string { return e.Message }

// Unwrap returns the errdefs category of the status code.
func (e *Error) Unwrap() error { return e.category }

// ConnectionError means the daemon could not be reached at all.
type ConnectionError struct {
	Host string
	Err  error
}

func (e *ConnectionError) Error() string {
	return fmt.Sprintf("Cannot connect to the Berth daemon at %s. Is the daemon running?", e.Host)
}

// Unwrap returns both the category (unavailable) and the underlying dial error.
func (e *ConnectionError) Unwrap() []error { return []error{errdefs.ErrUnavailable, e.Err} }

// IsErrConnectionFailed reports whether err means the daemon could not be reached.
func IsErrConnectionFailed(err error) bool {
	var ce *ConnectionError
	return errors.As(err, &ce)
}

// categoryFor maps an HTTP status to its errdefs category; the inverse of the daemon's mapping.
func categoryFor(status int) error {
	switch status {
	case http.StatusBadRequest:
		return errdefs.ErrInvalidArgument
	case http.StatusUnauthorized:
		return errdefs.ErrUnauthenticated
	case http.StatusForbidden:
		return errdefs.ErrPermissionDenied
	case http.StatusNotFound:
		return errdefs.ErrNotFound
	case http.StatusConflict:
		return errdefs.ErrConflict
	case http.StatusNotModified:
		return errdefs.ErrNotModified
	case http.StatusNotImplemented:
		return errdefs.ErrNotImplemented
	case http.StatusServiceUnavailable:
		return errdefs.ErrUnavailable
	case http.StatusPreconditionFailed:
		return errdefs.ErrFailedPrecondition
	case http.StatusRequestedRangeNotSatisfiable:
		return errdefs.ErrOutOfRange
	case http.StatusInternalServerError:
		return errdefs.ErrInternal
	default:
		return errdefs.ErrUnknown
	}
}

// errorFromResponse reads an error body ({"message": "..."} or plain text) into an *Error.
func errorFromResponse(resp *http.Response) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return newError(resp.StatusCode, body)
}

func newError(status int, body []byte) *Error {
	msg := ""
	var payload struct {
		Message string `json:"message"`
	}
	if len(body) > 0 && json.Unmarshal(body, &payload) == nil && payload.Message != "" {
		msg = payload.Message
	} else {
		msg = strings.TrimSpace(string(body))
	}
	if msg == "" {
		msg = fmt.Sprintf("%d %s", status, http.StatusText(status))
	}
	return &Error{StatusCode: status, Message: msg, category: categoryFor(status)}
}
