package registry

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// apiError is an error in the distribution spec's wire form. Only handlers
// build them; the store reports errdefs categories.
type apiError struct {
	status int
	code   string
	msg    string
	detail any
	// challenge, if set, is sent as WWW-Authenticate (401 responses).
	challenge string
}

func (e *apiError) Error() string { return fmt.Sprintf("%s: %s", e.code, e.msg) }

func (e *apiError) write(w http.ResponseWriter) {
	type wireErr struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Detail  any    `json:"detail,omitempty"`
	}
	b, _ := json.Marshal(struct {
		Errors []wireErr `json:"errors"`
	}{[]wireErr{{Code: e.code, Message: e.msg, Detail: e.detail}}})
	if e.challenge != "" {
		w.Header().Set("WWW-Authenticate", e.challenge)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", fmt.Sprint(len(b)))
	w.WriteHeader(e.status)
	_, _ = w.Write(b)
}

// statuses maps the spec's error codes to their HTTP statuses.
var statuses = map[string]int{
	"BLOB_UNKNOWN":              http.StatusNotFound,
	"BLOB_UPLOAD_INVALID":       http.StatusBadRequest,
	"BLOB_UPLOAD_UNKNOWN":       http.StatusNotFound,
	"DIGEST_INVALID":            http.StatusBadRequest,
	"MANIFEST_BLOB_UNKNOWN":     http.StatusBadRequest,
	"MANIFEST_INVALID":          http.StatusBadRequest,
	"MANIFEST_UNKNOWN":          http.StatusNotFound,
	"NAME_INVALID":              http.StatusBadRequest,
	"NAME_UNKNOWN":              http.StatusNotFound,
	"SIZE_INVALID":              http.StatusBadRequest,
	"TAG_INVALID":               http.StatusBadRequest,
	"PAGINATION_NUMBER_INVALID": http.StatusBadRequest,
	"UNSUPPORTED":               http.StatusMethodNotAllowed,
}

func newError(code, msg string, detail any) *apiError {
	return &apiError{status: statuses[code], code: code, msg: msg, detail: detail}
}

func errUnsupported(req *http.Request) *apiError {
	return newError("UNSUPPORTED", "the operation is unsupported", map[string]string{"method": req.Method, "path": req.URL.Path})
}
