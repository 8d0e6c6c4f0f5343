package s3api

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"net/http"
	"strconv"

	"github.com/containerd/errdefs"

	"github.com/berth/berth/internal/cloud/policy"
	"github.com/berth/berth/internal/objectstore"
	"github.com/berth/berth/internal/objectstore/access"
)

// maxBucketPolicy is S3's limit on a bucket policy's size.
const maxBucketPolicy = 20 << 10

func errNoSuchBucketPolicy(bucket string) error {
	return s3Error("NoSuchBucketPolicy", "The bucket policy does not exist", [2]string{"BucketName", bucket})
}

// policyFor looks the request's bucket up and authorizes a bucket policy action, which S3 allows only to the bucket
// owner's account: another account, however much the policy grants it, gets 405 MethodNotAllowed ("If you have the
// correct permissions, but you're not using an identity that belongs to the bucket owner's account").
func (s *Server) policyFor(rq *request, action string) (*objectstore.Bucket, error) {
	b, err := s.bucketFor(rq, action, "", "")
	if err != nil {
		return nil, err
	}
	if rq.info.Identity.AccountID != b.Owner.AccountID {
		return nil, objectstore.ErrMethodNotAllowed.With("The specified method is not allowed against this resource.").
			WithExtra("Method", rq.r.Method).WithExtra("ResourceType", "BUCKET")
	}
	return b, nil
}

// getBucketPolicy is GET /bucket?policy: the policy document as it was put.
func (s *Server) getBucketPolicy(rq *request) error {
	b, err := s.policyFor(rq, "s3:GetBucketPolicy")
	if err != nil {
		return err
	}
	doc, err := s.store.BucketConfig(rq.ctx, b.Name, objectstore.ConfigPolicy)
	if errdefs.IsNotFound(err) {
		return errNoSuchBucketPolicy(b.Name)
	}
	if err != nil {
		return err
	}
	h := rq.w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(doc)))
	rq.w.WriteHeader(http.StatusOK)
	rq.w.Write(doc)
	return nil
}

// putBucketPolicy is PUT /bucket?policy: checked as S3 checks it (MalformedPolicy), its principals must exist,
// and BlockPublicPolicy refuses a public one.
func (s *Server) putBucketPolicy(rq *request) error {
	b, err := s.policyFor(rq, "s3:PutBucketPolicy")
	if err != nil {
		return err
	}
	tooLarge := s3Error("MalformedPolicy", "Policy exceeds the maximum allowed document size.")
	if rq.r.ContentLength > maxBucketPolicy {
		return tooLarge
	}
	doc, err := readBody(rq.r, maxBucketPolicy)
	if err != nil {
		if toCloudError(err).Code == "MaxMessageLengthExceeded" {
			return tooLarge
		}
		return err
	}
	if len(doc) == 0 {
		return s3Error("MalformedPolicy", "Policies must be valid JSON and the first byte must be '{'")
	}
	p, err := policy.Parse(doc, policy.Resource)
	if err == nil {
		err = p.ValidateBucketPolicy(b.Name)
	}
	if err == nil {
		err = s.checkPolicyPrincipals(rq.ctx, p)
	}
	var me *policy.MalformedError
	if errors.As(err, &me) {
		return s3Error("MalformedPolicy", me.Message)
	}
	if err != nil {
		return err
	}
	public := p.IsPublic()
	err = s.store.UpdateBucketConfigs(rq.ctx, b.Name, func(docs map[string][]byte) error {
		if public && docsBlock(docs).BlockPublicPolicy {
			return errBlockedPolicy(rq, b)
		}
		docs[objectstore.ConfigPolicy] = doc
		return nil
	})
	if err != nil {
		return err
	}
	rq.w.WriteHeader(http.StatusNoContent)
	return nil
}

// errBlockedPolicy is S3's refusal of a public policy under BlockPublicPolicy.
func errBlockedPolicy(rq *request, b *objectstore.Bucket) error {
	id := rq.info.Identity
	if id.Anonymous || id.AccountID != b.Owner.AccountID {
		return errAccessDenied
	}
	return s3Error("AccessDenied", "User: "+id.ARN+" is not authorized to perform: s3:PutBucketPolicy on resource: \"arn:aws:s3:::"+b.Name+
		"\" because public policies are blocked by the BlockPublicPolicy block public access setting.")
}

// deleteBucketPolicy is DELETE /bucket?policy.
func (s *Server) deleteBucketPolicy(rq *request) error {
	if _, err := s.policyFor(rq, "s3:DeleteBucketPolicy"); err != nil {
		return err
	}
	if err := s.store.DeleteBucketConfig(rq.ctx, rq.bucket, objectstore.ConfigPolicy); err != nil {
		return err
	}
	rq.w.WriteHeader(http.StatusNoContent)
	return nil
}

type policyStatus struct {
	XMLName  xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ PolicyStatus"`
	IsPublic bool     `xml:"IsPublic"`
}

// getBucketPolicyStatus is GET /bucket?policyStatus: whether the bucket policy is public.
func (s *Server) getBucketPolicyStatus(rq *request) error {
	b, err := s.bucketFor(rq, "s3:GetBucketPolicyStatus", "", "")
	if err != nil {
		return err
	}
	st, err := s.bucketState(rq, b)
	if err != nil {
		return err
	}
	if st.policy == nil {
		return errNoSuchBucketPolicy(b.Name)
	}
	return writeXML(rq.w, policyStatus{IsPublic: st.policyPublic})
}

// The Block Public Access document: every flag is false unless given.
type publicAccessBlockXML struct {
	XMLName               xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ PublicAccessBlockConfiguration"`
	BlockPublicAcls       bool     `xml:"BlockPublicAcls"`
	IgnorePublicAcls      bool     `xml:"IgnorePublicAcls"`
	BlockPublicPolicy     bool     `xml:"BlockPublicPolicy"`
	RestrictPublicBuckets bool     `xml:"RestrictPublicBuckets"`
}

type publicAccessBlockIn struct {
	XMLName               xml.Name `xml:"PublicAccessBlockConfiguration"`
	BlockPublicAcls       *bool    `xml:"BlockPublicAcls"`
	IgnorePublicAcls      *bool    `xml:"IgnorePublicAcls"`
	BlockPublicPolicy     *bool    `xml:"BlockPublicPolicy"`
	RestrictPublicBuckets *bool    `xml:"RestrictPublicBuckets"`
}

func encodeBlock(b access.PublicAccessBlock) []byte {
	doc, _ := json.Marshal(b) // four booleans
	return doc
}

func decodeBlock(doc []byte, b *access.PublicAccessBlock) error { return json.Unmarshal(doc, b) }

// getPublicAccessBlock is GET /bucket?publicAccessBlock.
func (s *Server) getPublicAccessBlock(rq *request) error {
	b, err := s.bucketFor(rq, "s3:GetBucketPublicAccessBlock", "", "")
	if err != nil {
		return err
	}
	st, err := s.bucketState(rq, b)
	if err != nil {
		return err
	}
	if !st.blockSet {
		return s3Error("NoSuchPublicAccessBlockConfiguration", "The public access block configuration was not found",
			[2]string{"BucketName", b.Name})
	}
	return writeXML(rq.w, publicAccessBlockXML{BlockPublicAcls: st.block.BlockPublicAcls, IgnorePublicAcls: st.block.IgnorePublicAcls,
		BlockPublicPolicy: st.block.BlockPublicPolicy, RestrictPublicBuckets: st.block.RestrictPublicBuckets})
}

// putPublicAccessBlock is PUT /bucket?publicAccessBlock.
func (s *Server) putPublicAccessBlock(rq *request) error {
	b, err := s.bucketFor(rq, "s3:PutBucketPublicAccessBlock", "", "")
	if err != nil {
		return err
	}
	body, err := readBody(rq.r, maxSmallXMLBody)
	if err != nil {
		return err
	}
	var in publicAccessBlockIn
	if err := decodeXML(body, &in); err != nil {
		return err
	}
	flag := func(p *bool) bool { return p != nil && *p }
	block := access.PublicAccessBlock{BlockPublicAcls: flag(in.BlockPublicAcls), IgnorePublicAcls: flag(in.IgnorePublicAcls),
		BlockPublicPolicy: flag(in.BlockPublicPolicy), RestrictPublicBuckets: flag(in.RestrictPublicBuckets)}
	if err := s.store.PutBucketConfig(rq.ctx, b.Name, objectstore.ConfigPublicAccessBlock, encodeBlock(block)); err != nil {
		return err
	}
	rq.w.Header().Set("Content-Length", "0")
	rq.w.WriteHeader(http.StatusOK)
	return nil
}

// deletePublicAccessBlock is DELETE /bucket?publicAccessBlock.
func (s *Server) deletePublicAccessBlock(rq *request) error {
	if _, err := s.bucketFor(rq, "s3:PutBucketPublicAccessBlock", "", ""); err != nil {
		return err
	}
	if err := s.store.DeleteBucketConfig(rq.ctx, rq.bucket, objectstore.ConfigPublicAccessBlock); err != nil {
		return err
	}
	rq.w.WriteHeader(http.StatusNoContent)
	return nil
}
