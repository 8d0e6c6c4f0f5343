package cloud

import (
	"bytes"
	"io"
	"mime"
	"net/http"
	"net/url"
)

// AWS's query protocol (EC2, IAM, STS): Action=…&Version=… in a form body or the query string. A signed request
// names its service in its credential scope; one that names none — unsigned (`aws --no-sign-request ec2 …`),
// or signed with Signature Version 2 as query clients once were (SignatureVersion=2&AWSAccessKeyId=…, which this
// endpoint does not verify for them) — would otherwise land on S3, which routes everything unnamed. The endpoint
// routes it to the query service its Version names (or, without one, the service that has its Action), as an
// anonymous caller: the service answers with its own refusal (EC2's AuthFailure, IAM's
// MissingAuthenticationToken). S3 is untouched: its anonymous requests either go to a bucket (a path or a
// virtual host), or, at "/", are a GET of the bucket list; its POST uploads are multipart/form-data.

// queryVersions are the API versions the query services' clients send, by service.
var queryVersions = map[string]string{
	"2016-11-15": "ec2",
	"2010-05-08": "iam",
	"2011-06-15": "sts",
}

// ActionServer is what a query Service may implement to be found by its Action when a request names no Version.
type ActionServer interface {
	HasAction(action string) bool
}

// queryRoute reports the query service an unsigned or SigV2 query-protocol request is for, "" when r is not
// one (or names no service registered here). A form body it reads is put back for the service (or S3) to read.
func (e *Endpoint) queryRoute(r *http.Request) string {
	if r.Header.Get("Authorization") != "" || (r.URL.Path != "/" && r.URL.Path != "") || e.virtualHostBucket(r.Host) != "" {
		return ""
	}
	q := r.URL.Query()
	if q.Has(queryAlgorithm) || q.Has(queryCredential) || q.Has(querySignature) {
		return "" // SigV4 in the query: its scope names the service
	}
	params := q
	if !q.Has("Action") {
		if r.Method != http.MethodPost || r.Body == nil || r.Body == http.NoBody {
			return ""
		}
		if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/x-www-form-urlencoded" {
			return ""
		}
		body, complete := peekBody(r, e.maxQueryBody)
		if !complete {
			return ""
		}
		form, err := url.ParseQuery(string(body))
		if err != nil || !form.Has("Action") {
			return ""
		}
		params = form
	}
	if name, ok := queryVersions[params.Get("Version")]; ok {
		return name // not registered: the endpoint answers that it does not serve it, as for a signed request
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	for name, svc := range e.services {
		if as, ok := svc.(ActionServer); ok && as.HasAction(params.Get("Action")) {
			return name
		}
	}
	return ""
}

// peekBody reads up to max bytes of r's body and puts them back in front of the rest; complete reports that
// the body ended within them.
func peekBody(r *http.Request, max int64) ([]byte, bool) {
	body := r.Body
	buf, err := io.ReadAll(io.LimitReader(body, max+1))
	rest := io.MultiReader(bytes.NewReader(buf), body)
	if err != nil {
		rest = io.MultiReader(bytes.NewReader(buf), errReader{err})
	}
	r.Body = struct {
		io.Reader
		io.Closer
	}{rest, body}
	return buf, err == nil && int64(len(buf)) <= max
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }
