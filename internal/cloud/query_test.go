package cloud

import (
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// actionRecorder is a query service that has the actions it is given.
type actionRecorder struct {
	recorder
	actions []string
}

func (s *actionRecorder) HasAction(a string) bool {
	for _, x := range s.actions {
		if x == a {
			return true
		}
	}
	return false
}

// Unsigned and SigV2 requests of the query protocol go to the query service they name, anonymous, with their
// body intact; everything else unsigned goes to S3 as before (its POST uploads, its bucket requests).
func TestQueryRouting(t *testing.T) {
	ec2Form := url.Values{"Action": {"DescribeRegions"}, "Version": {"2016-11-15"}}.Encode()
	sigV2 := url.Values{"Action": {"DescribeInstances"}, "Version": {"2016-11-15"}, "AWSAccessKeyId": {docKey},
		"SignatureVersion": {"2"}, "SignatureMethod": {"HmacSHA256"}, "Timestamp": {"2026-01-02T03:04:05Z"}, "Signature": {"c2lnbmF0dXJl"}}.Encode()
	form := [2]string{"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"}
	tests := []struct {
		name    string
		method  string
		target  string
		headers [][2]string
		body    string
		want    string // the service that got it; "none" for the endpoint's own "not served" answer
		// refused: S3's signature check refused it (S3's error, the service not called)
		refused bool
	}{
		{name: "unsigned EC2 form (aws --no-sign-request)", method: "POST", target: "/", headers: [][2]string{form}, body: ec2Form, want: "ec2"},
		{name: "unsigned EC2 query", method: "GET", target: "/?" + ec2Form, want: "ec2"},
		{name: "SigV2 EC2 query", method: "GET", target: "/?" + sigV2, want: "ec2"},
		{name: "SigV2 EC2 form", method: "POST", target: "/", headers: [][2]string{form}, body: sigV2, want: "ec2"},
		{name: "unsigned IAM form", method: "POST", target: "/", headers: [][2]string{form}, body: "Action=ListUsers&Version=2010-05-08", want: "iam"},
		{name: "no Version: the service with the action", method: "POST", target: "/", headers: [][2]string{form}, body: "Action=DescribeRegions", want: "ec2"},
		{name: "a query service not served here", method: "POST", target: "/", headers: [][2]string{form}, body: "Action=GetCallerIdentity&Version=2011-06-15", want: "none"},
		{name: "an action nobody has", method: "POST", target: "/", headers: [][2]string{form}, body: "Action=Frobnicate", want: "s3"},
		{name: "a form without an action", method: "POST", target: "/", headers: [][2]string{form}, body: "a=b", want: "s3"},
		{name: "a form to a bucket", method: "POST", target: "/bucket", headers: [][2]string{form}, body: ec2Form, want: "s3"},
		{name: "a form to a virtual-host bucket", method: "POST", target: "/", headers: [][2]string{form, {"Host", "bucket.s3.localhost:9000"}}, body: ec2Form, want: "s3"},
		{name: "an S3 POST upload", method: "POST", target: "/", headers: [][2]string{{"Host", "bucket.s3.localhost"}, {"Content-Type", "multipart/form-data; boundary=x"}},
			body: "--x\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nAction=DescribeRegions\r\n--x--\r\n", want: "s3"},
		{name: "multipart at the root", method: "POST", target: "/", headers: [][2]string{{"Content-Type", "multipart/form-data; boundary=x"}}, body: ec2Form, want: "s3"},
		{name: "a bucket listing", method: "GET", target: "/", want: "s3"},
		{name: "a CORS preflight", method: "OPTIONS", target: "/?Action=DescribeRegions", want: "s3"},
		{name: "S3 SigV2 presigned: S3's check", method: "GET", target: "/bucket/key?AWSAccessKeyId=" + docKey + "&Expires=1&Signature=x", refused: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s3, ec2, iam := &recorder{}, &actionRecorder{actions: []string{"DescribeRegions"}}, &recorder{}
			ep := NewEndpoint(testCreds(docKey, docSecret))
			ep.Register("s3", s3)
			ep.Register("ec2", ec2)
			ep.Register("iam", iam)
			headers := append([][2]string{{"Host", "127.0.0.1:9000"}}, tt.headers...)
			w := httptest.NewRecorder()
			ep.ServeHTTP(w, rawRequest(tt.method, tt.target, headers, tt.body))
			got := map[string]*recorder{"s3": s3, "ec2": &ec2.recorder, "iam": iam}
			if tt.refused {
				if w.Code != 403 || parseS3Error(t, w.Body.Bytes()).Code != codeAccessDenied || s3.count()+ec2.count()+iam.count() != 0 {
					t.Errorf("status %d: %s", w.Code, w.Body)
				}
				return
			}
			if tt.want == "none" {
				for name, r := range got {
					if r.count() != 0 {
						t.Errorf("%s got the request", name)
					}
				}
				if w.Code != 501 || !strings.Contains(w.Body.String(), "<ErrorResponse>") || !strings.Contains(w.Body.String(), `The service &#34;sts&#34; is not served by this endpoint.`) {
					t.Errorf("status %d: %s", w.Code, w.Body)
				}
				return
			}
			for name, r := range got {
				if (r.count() == 1) != (name == tt.want) {
					t.Errorf("%s got %d requests, want it to go to %s (status %d: %s)", name, r.count(), tt.want, w.Code, w.Body)
				}
			}
			sn := got[tt.want].seen()
			if sn == nil {
				return
			}
			if !sn.info.Identity.Anonymous || sn.info.Service != tt.want || string(sn.body) != tt.body {
				t.Errorf("the service saw %+v, body %q (sent %q)", sn.info, sn.body, tt.body)
			}
			if tt.want != "s3" && (len(sn.info.RequestID) != 36 || w.Header().Get("X-Amzn-Requestid") != sn.info.RequestID) {
				t.Errorf("a query service's request ID: %q, header %q", sn.info.RequestID, w.Header().Get("X-Amzn-Requestid"))
			}
		})
	}
}

// A form larger than the endpoint reads for a query request is left, whole, to S3.
func TestQueryRoutingLargeForm(t *testing.T) {
	s3, ec2 := &recorder{}, &recorder{}
	ep := NewEndpoint(testCreds(docKey, docSecret), WithMaxQueryBody(64))
	ep.Register("s3", s3)
	ep.Register("ec2", ec2)
	body := "Action=DescribeRegions&Version=2016-11-15&Pad=" + strings.Repeat("x", 100)
	ep.ServeHTTP(httptest.NewRecorder(), rawRequest("POST", "/", [][2]string{{"Host", "127.0.0.1"}, {"Content-Type", "application/x-www-form-urlencoded"}}, body))
	if s3.count() != 1 || ec2.count() != 0 || string(s3.seen().body) != body {
		t.Errorf("s3 %d, ec2 %d, body %q", s3.count(), ec2.count(), s3.seen().body)
	}
}
