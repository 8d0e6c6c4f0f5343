package s3api

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"

	"github.com/berth/berth/internal/objectstore"
	"github.com/berth/berth/internal/objectstore/lifecycle"
)

// defaultTransitionMinimumSize is x-amz-transition-default-minimum-object-size when a client names none, as S3
// answers today (transitions are kept, never acted on here).
const defaultTransitionMinimumSize = "all_storage_classes_128K"

// lifecycleError words a refused configuration as S3 does.
func lifecycleError(err error) error {
	var le *lifecycle.Error
	if !errors.As(err, &le) {
		return err
	}
	var extra [][2]string
	if le.ArgumentName != "" {
		extra = append(extra, [2]string{"ArgumentName", le.ArgumentName}, [2]string{"ArgumentValue", le.ArgumentValue})
	}
	e := s3Error(le.Code, le.Message, extra...)
	if _, ok := statusOf[le.Code]; !ok {
		e.Status = http.StatusBadRequest
	}
	return e
}

// getBucketLifecycle is GET /bucket?lifecycle (GetBucketLifecycleConfiguration).
func (s *Server) getBucketLifecycle(rq *request) error {
	b, err := s.bucketFor(rq, "s3:GetLifecycleConfiguration", "", "")
	if err != nil {
		return err
	}
	st, err := s.bucketState(rq, b)
	if err != nil {
		return err
	}
	if st.lifecycle == nil {
		return s3Error("NoSuchLifecycleConfiguration", "The lifecycle configuration does not exist", [2]string{"BucketName", b.Name})
	}
	min := string(st.docs[configTransitionMinimum])
	if min == "" {
		min = defaultTransitionMinimumSize
	}
	doc := st.lifecycle.Marshal()
	h := rq.w.Header()
	h.Set("x-amz-transition-default-minimum-object-size", min)
	h.Set("Content-Type", "application/xml")
	h.Set("Content-Length", strconv.Itoa(len(doc)))
	rq.w.WriteHeader(http.StatusOK)
	rq.w.Write(doc)
	return nil
}

// configTransitionMinimum keeps the x-amz-transition-default-minimum-object-size a configuration was put with.
const configTransitionMinimum = "lifecycleTransitionMinimum"

// putBucketLifecycle is PUT /bucket?lifecycle (PutBucketLifecycleConfiguration): the rules replace any before.
func (s *Server) putBucketLifecycle(rq *request) error {
	b, err := s.bucketFor(rq, "s3:PutLifecycleConfiguration", "", "")
	if err != nil {
		return err
	}
	min := rq.r.Header.Get("X-Amz-Transition-Default-Minimum-Object-Size")
	switch min {
	case "":
		min = defaultTransitionMinimumSize
	case "all_storage_classes_128K", "varies_by_storage_class":
	default:
		return invalidArgument("Invalid value for x-amz-transition-default-minimum-object-size", "x-amz-transition-default-minimum-object-size", min)
	}
	body, err := readBody(rq.r, maxXMLBody)
	if err != nil {
		return err
	}
	cfg, err := lifecycle.Parse(body)
	if err != nil {
		return lifecycleError(err)
	}
	doc := cfg.Marshal()
	err = s.store.UpdateBucketConfigs(rq.ctx, b.Name, func(docs map[string][]byte) error {
		docs[objectstore.ConfigLifecycle] = doc
		docs[configTransitionMinimum] = []byte(min)
		return nil
	})
	if err != nil {
		return err
	}
	h := rq.w.Header()
	h.Set("x-amz-transition-default-minimum-object-size", min)
	h.Set("Content-Length", "0")
	rq.w.WriteHeader(http.StatusOK)
	return nil
}

// deleteBucketLifecycle is DELETE /bucket?lifecycle.
func (s *Server) deleteBucketLifecycle(rq *request) error {
	b, err := s.bucketFor(rq, "s3:PutLifecycleConfiguration", "", "")
	if err != nil {
		return err
	}
	err = s.store.UpdateBucketConfigs(rq.ctx, b.Name, func(docs map[string][]byte) error {
		delete(docs, objectstore.ConfigLifecycle)
		delete(docs, configTransitionMinimum)
		return nil
	})
	if err != nil {
		return err
	}
	rq.w.WriteHeader(http.StatusNoContent)
	return nil
}

// writeExpiration sets x-amz-expiration for the current version of an object a lifecycle rule will expire:
// expiry-date="Fri, 23 Dec 2012 00:00:00 GMT", rule-id="…" (URL-encoded), as S3 answers PUT, GET and HEAD.
func writeExpiration(h http.Header, st *bucketState, info objectstore.ObjectInfo) {
	if st == nil || st.lifecycle == nil || !info.IsLatest || info.DeleteMarker {
		return
	}
	when, rule, ok := st.lifecycle.Expiry(lifecycle.Version{Key: info.Key, Size: info.Size, Tags: info.TagMap(), Modified: info.LastModified})
	if !ok {
		return
	}
	h.Set("x-amz-expiration", `expiry-date="`+httpTime(when)+`", rule-id="`+url.QueryEscape(rule)+`"`)
}
