package s3api

import (
	"context"
	"encoding/xml"
	"net/http"
	"strings"

	"github.com/berth/berth/internal/objectstore"
	"github.com/berth/berth/internal/objectstore/access"
)

// The ACL document (AccessControlPolicy), as S3 writes and reads it.

const xsiNS = "http://www.w3.org/2001/XMLSchema-instance"

type accessControlPolicy struct {
	XMLName xml.Name   `xml:"AccessControlPolicy"`
	Owner   *ownerXML  `xml:"Owner"`
	Grants  []grantXML `xml:"AccessControlList>Grant"`
}

type grantXML struct {
	Grantee    *granteeXML `xml:"Grantee"`
	Permission string      `xml:"Permission"`
}

// granteeXML carries its type in an xsi:type attribute.
type granteeXML struct {
	Type         string
	ID           string `xml:"ID,omitempty"`
	DisplayName  string `xml:"DisplayName,omitempty"`
	URI          string `xml:"URI,omitempty"`
	EmailAddress string `xml:"EmailAddress,omitempty"`
}

// UnmarshalXML reads the xsi:type attribute whatever prefix the client gave the namespace.
func (g *granteeXML) UnmarshalXML(d *xml.Decoder, start xml.StartElement) error {
	type plain granteeXML
	var p plain
	if err := d.DecodeElement(&p, &start); err != nil {
		return err
	}
	*g = granteeXML(p)
	for _, a := range start.Attr {
		if a.Name.Local == "type" && (a.Name.Space == xsiNS || a.Name.Space == "xsi") {
			g.Type = a.Value
		}
	}
	return nil
}

// MarshalXML writes the xsi:type attribute and its namespace declaration, as S3 does.
func (g granteeXML) MarshalXML(e *xml.Encoder, start xml.StartElement) error {
	start.Attr = []xml.Attr{{Name: xml.Name{Local: "xmlns:xsi"}, Value: xsiNS}, {Name: xml.Name{Local: "xsi:type"}, Value: g.Type}}
	type plain struct {
		ID           string `xml:"ID,omitempty"`
		DisplayName  string `xml:"DisplayName,omitempty"`
		URI          string `xml:"URI,omitempty"`
		EmailAddress string `xml:"EmailAddress,omitempty"`
	}
	return e.EncodeElement(plain{g.ID, g.DisplayName, g.URI, g.EmailAddress}, start)
}

type accessControlPolicyOut struct {
	XMLName xml.Name   `xml:"http://s3.amazonaws.com/doc/2006-03-01/ AccessControlPolicy"`
	Owner   *ownerXML  `xml:"Owner"`
	Grants  []grantXML `xml:"AccessControlList>Grant"`
}

func aclDocument(a access.ACL) accessControlPolicyOut {
	out := accessControlPolicyOut{Owner: &ownerXML{ID: a.Owner.ID, DisplayName: a.Owner.DisplayName}, Grants: []grantXML{}}
	for _, g := range a.Grants {
		gr := g.Grantee
		out.Grants = append(out.Grants, grantXML{Grantee: &granteeXML{Type: gr.Type, ID: gr.ID, DisplayName: gr.DisplayName,
			URI: gr.URI, EmailAddress: gr.EmailAddress}, Permission: string(g.Permission)})
	}
	return out
}

// errors of ACL requests, in S3's words
func errMalformedACL() error {
	return s3Error("MalformedACLError", "The XML you provided was not well-formed or did not validate against our published schema")
}

func errACLNotSupported() error {
	return s3Error("AccessControlListNotSupported", "The bucket does not allow ACLs")
}

func errBucketACLWithOwnership() error {
	return s3Error("InvalidBucketAclWithObjectOwnership", "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting")
}

// maxGrants is how many grants an ACL may hold.
const maxGrants = 100

// grantHeaders map the x-amz-grant-* headers to the permission each grants.
var grantHeaders = []struct {
	header string
	perm   access.Permission
}{
	{"X-Amz-Grant-Read", access.Read},
	{"X-Amz-Grant-Write", access.Write},
	{"X-Amz-Grant-Read-Acp", access.ReadACP},
	{"X-Amz-Grant-Write-Acp", access.WriteACP},
	{"X-Amz-Grant-Full-Control", access.FullControl},
}

func hasGrantHeaders(h http.Header) bool {
	for _, g := range grantHeaders {
		if h.Get(g.header) != "" {
			return true
		}
	}
	return false
}

// hasACLHeaders reports whether a request sets an ACL in its headers.
func hasACLHeaders(h http.Header) bool { return h.Get("X-Amz-Acl") != "" || hasGrantHeaders(h) }

// aclFromHeaders reads the ACL a request's headers set: a canned ACL (x-amz-acl) or grants (x-amz-grant-*), for a
// resource owned by owner in a bucket owned by bucketOwner. ok is false when the headers set none.
func (s *Server) aclFromHeaders(ctx context.Context, h http.Header, owner, bucketOwner access.Owner) (access.ACL, bool, error) {
	canned := h.Get("X-Amz-Acl")
	grants := hasGrantHeaders(h)
	switch {
	case canned != "" && grants:
		return access.ACL{}, false, s3Error("InvalidRequest", "Specifying both Canned ACLs and Header Grants is not allowed")
	case canned != "":
		acl, ok := access.Canned(canned, owner, bucketOwner)
		if !ok {
			return access.ACL{}, false, invalidArgument("", "x-amz-acl", canned)
		}
		return acl, true, nil
	case !grants:
		return access.ACL{}, false, nil
	}
	acl := access.ACL{Owner: owner}
	for _, gh := range grantHeaders {
		v := h.Get(gh.header)
		if v == "" {
			continue
		}
		for _, item := range strings.Split(v, ",") {
			item = strings.TrimSpace(item)
			if item == "" {
				continue
			}
			k, val, ok := strings.Cut(item, "=")
			val = strings.Trim(strings.TrimSpace(val), `"`)
			if !ok || val == "" {
				return access.ACL{}, false, invalidArgument("Invalid grant header", strings.ToLower(gh.header), v)
			}
			var g access.Grantee
			switch strings.TrimSpace(k) {
			case "id":
				g = access.Grantee{Type: access.TypeCanonicalUser, ID: val}
			case "uri":
				g = access.Grantee{Type: access.TypeGroup, URI: val}
			case "emailAddress":
				g = access.Grantee{Type: access.TypeEmail, EmailAddress: val}
			default:
				return access.ACL{}, false, invalidArgument("Argument format not recognized", strings.ToLower(gh.header), v)
			}
			acl.Grants = append(acl.Grants, access.Grant{Grantee: g, Permission: gh.perm})
		}
	}
	if err := s.resolveGrants(ctx, &acl); err != nil {
		return access.ACL{}, false, err
	}
	return acl, true, nil
}

// aclFromBody reads an AccessControlPolicy document.
func (s *Server) aclFromBody(ctx context.Context, body []byte, owner access.Owner) (access.ACL, error) {
	var doc accessControlPolicy
	if err := xml.Unmarshal(body, &doc); err != nil {
		return access.ACL{}, errMalformedACL()
	}
	if doc.Owner != nil && doc.Owner.ID != "" && !strings.EqualFold(doc.Owner.ID, owner.ID) {
		return access.ACL{}, errAccessDenied // an ACL cannot give the resource away
	}
	acl := access.ACL{Owner: owner}
	for _, g := range doc.Grants {
		if g.Grantee == nil || !access.ValidPermission(access.Permission(g.Permission)) {
			return access.ACL{}, errMalformedACL()
		}
		gr := g.Grantee
		acl.Grants = append(acl.Grants, access.Grant{Permission: access.Permission(g.Permission),
			Grantee: access.Grantee{Type: gr.Type, ID: gr.ID, URI: gr.URI, EmailAddress: gr.EmailAddress}})
	}
	if err := s.resolveGrants(ctx, &acl); err != nil {
		return access.ACL{}, err
	}
	return acl, nil
}

// resolveGrants checks every grantee and fills in the display names of accounts: an account that does not
// exist is "Invalid id", a group S3 does not have "Invalid group uri"; an e-mail address names no Berth account.
func (s *Server) resolveGrants(ctx context.Context, acl *access.ACL) error {
	if len(acl.Grants) > maxGrants {
		return errMalformedACL()
	}
	for i := range acl.Grants {
		g := &acl.Grants[i].Grantee
		switch g.Type {
		case access.TypeCanonicalUser:
			a, ok, err := s.accountByCanonicalID(ctx, g.ID)
			if err != nil {
				return err
			}
			if !ok {
				return invalidArgument("Invalid id", "CanonicalUser/ID", g.ID)
			}
			g.ID, g.DisplayName, g.URI, g.EmailAddress = strings.ToLower(a.CanonicalID), a.Name, "", ""
		case access.TypeGroup:
			switch g.URI {
			case access.AllUsers, access.AuthenticatedUsers, access.LogDelivery:
			default:
				return invalidArgument("Invalid group uri", "Group/URI", g.URI)
			}
			g.ID, g.DisplayName, g.EmailAddress = "", "", ""
		case access.TypeEmail:
			return s3Error("UnresolvableGrantByEmailAddress", "The e-mail address you provided does not match any account on record.",
				[2]string{"EmailAddress", g.EmailAddress})
		default:
			return errMalformedACL()
		}
	}
	return nil
}

// checkACLWrite applies Object Ownership and Block Public Access to an ACL a request sets. A bucket with ACLs
// disabled accepts only an ACL that gives its owner full control and nothing else (and keeps none);
// BlockPublicAcls refuses a public one. stored reports whether the ACL is to be kept.
func checkACLWrite(ownership access.ObjectOwnership, block access.PublicAccessBlock, acl access.ACL, bucketOwner access.Owner) (stored bool, err error) {
	if !ownership.ACLsEnabled() {
		if !acl.OnlyOwnerFullControl(bucketOwner) {
			return false, errACLNotSupported()
		}
		return false, nil
	}
	if block.BlockPublicAcls && acl.IsPublic() {
		return false, errAccessDenied
	}
	return true, nil
}

// objectOwner is who owns an object a caller writes: the bucket owner when ACLs are disabled, or when
// BucketOwnerPreferred and the writer gave the bucket owner full control; the writer otherwise.
func objectOwner(st *bucketState, writer objectstore.Owner, h http.Header) objectstore.Owner {
	if !st.ownership.ACLsEnabled() || st.ownership == access.BucketOwnerPreferred && h.Get("X-Amz-Acl") == "bucket-owner-full-control" {
		return st.bucket.Owner
	}
	return writer
}

func aclOwner(o objectstore.Owner) access.Owner {
	return access.Owner{ID: o.ID, DisplayName: o.DisplayName}
}

// writeACL returns the sub-resources an object write stores for the ACL its headers set (none when they set
// none or ACLs are disabled), after the checks S3 makes.
func (s *Server) writeACL(rq *request, st *bucketState, owner objectstore.Owner) (map[string][]byte, error) {
	h := rq.r.Header
	if !hasACLHeaders(h) {
		return nil, nil
	}
	acl, _, err := s.aclFromHeaders(rq.ctx, h, aclOwner(owner), st.owner())
	if err != nil {
		return nil, err
	}
	stored, err := checkACLWrite(st.ownership, st.block, acl, st.owner())
	if err != nil || !stored {
		return nil, err
	}
	return map[string][]byte{objectstore.SubresourceACL: acl.Encode()}, nil
}

// getBucketACL is GET /bucket?acl.
func (s *Server) getBucketACL(rq *request) error {
	b, err := s.bucketFor(rq, "s3:GetBucketAcl", "", "")
	if err != nil {
		return err
	}
	st, err := s.bucketState(rq, b)
	if err != nil {
		return err
	}
	acl := access.Private(st.owner())
	if st.ownership.ACLsEnabled() && st.acl != nil {
		acl = *st.acl
	}
	return writeXML(rq.w, aclDocument(acl))
}

// putBucketACL is PUT /bucket?acl: a canned ACL, grant headers or an AccessControlPolicy body.
func (s *Server) putBucketACL(rq *request) error {
	b, err := s.bucketFor(rq, "s3:PutBucketAcl", "", "")
	if err != nil {
		return err
	}
	owner := aclOwner(b.Owner)
	acl, err := s.requestACL(rq, owner, owner)
	if err != nil {
		return err
	}
	err = s.store.UpdateBucketConfigs(rq.ctx, b.Name, func(docs map[string][]byte) error {
		ownership, block := docsOwnership(docs), docsBlock(docs)
		stored, err := checkACLWrite(ownership, block, acl, owner)
		if err != nil || !stored {
			return err
		}
		docs[objectstore.ConfigACL] = acl.Encode()
		return nil
	})
	if err != nil {
		return err
	}
	rq.w.Header().Set("Content-Length", "0")
	rq.w.WriteHeader(http.StatusOK)
	return nil
}

// requestACL reads the ACL of a PUT ?acl: from the headers or from the body, not both, and one of them.
func (s *Server) requestACL(rq *request, owner, bucketOwner access.Owner) (access.ACL, error) {
	body, err := readACLBody(rq)
	if err != nil {
		return access.ACL{}, err
	}
	return s.parseRequestACL(rq, body, owner, bucketOwner)
}

// readACLBody reads the body of a PUT ?acl (none when it has none).
func readACLBody(rq *request) ([]byte, error) {
	if rq.r.ContentLength == 0 {
		return nil, nil
	}
	return readBody(rq.r, maxSmallXMLBody)
}

// parseRequestACL is requestACL over a body already read.
func (s *Server) parseRequestACL(rq *request, body []byte, owner, bucketOwner access.Owner) (access.ACL, error) {
	hasBody := len(strings.TrimSpace(string(body))) > 0
	if hasACLHeaders(rq.r.Header) {
		if hasBody {
			return access.ACL{}, s3Error("UnexpectedContent", "This request does not support content")
		}
		acl, _, err := s.aclFromHeaders(rq.ctx, rq.r.Header, owner, bucketOwner)
		return acl, err
	}
	if !hasBody {
		return access.ACL{}, s3Error("MissingSecurityHeader", "Your request was missing a required header",
			[2]string{"MissingHeaderName", "x-amz-acl"})
	}
	return s.aclFromBody(rq.ctx, body, owner)
}

// docsOwnership and docsBlock read ownership controls and a public access block from raw documents (inside an
// atomic update).
func docsOwnership(docs map[string][]byte) access.ObjectOwnership {
	if o := access.ObjectOwnership(docs[objectstore.ConfigOwnership]); o.Valid() {
		return o
	}
	return access.ObjectWriter
}

func docsBlock(docs map[string][]byte) access.PublicAccessBlock {
	var b access.PublicAccessBlock
	if doc := docs[objectstore.ConfigPublicAccessBlock]; doc != nil {
		decodeBlock(doc, &b)
	}
	return b
}

// objectACLTarget serves an object ACL request on the version it names, decided on that version (onVersion).
func (s *Server) objectACLTarget(rq *request, action string, act func(b *objectstore.Bucket, st *bucketState, versionID string, info objectstore.ObjectInfo) error) error {
	versionID, err := versionParam(rq)
	if err != nil {
		return err
	}
	if versionID != "" {
		action = strings.Replace(action, "ObjectAcl", "ObjectVersionAcl", 1)
	}
	b, err := s.lookupBucket(rq)
	if err != nil {
		return err
	}
	return s.onVersion(s.statOf(rq, b, objectstore.GetOptions{VersionID: versionID}), s.decider(rq, action, b, versionID, nil),
		func(info objectstore.ObjectInfo) error {
			st, err := s.bucketState(rq, b)
			if err != nil {
				return err
			}
			return act(b, st, versionID, info)
		})
}

// objectACL is the ACL an object version has.
func objectACL(st *bucketState, info objectstore.ObjectInfo) access.ACL {
	if !st.ownership.ACLsEnabled() {
		return access.Private(st.owner())
	}
	if doc := info.Subresources[objectstore.SubresourceACL]; doc != nil {
		if acl, err := access.DecodeACL(doc); err == nil {
			return acl
		}
	}
	owner := info.Owner
	if owner.ID == "" {
		owner = st.bucket.Owner
	}
	return access.Private(aclOwner(owner))
}

// getObjectACL is GET /bucket/key?acl.
func (s *Server) getObjectACL(rq *request) error {
	return s.objectACLTarget(rq, "s3:GetObjectAcl", func(b *objectstore.Bucket, st *bucketState, _ string, info objectstore.ObjectInfo) error {
		writeVersionID(rq.w.Header(), b, info.VersionID)
		return writeXML(rq.w, aclDocument(objectACL(st, info)))
	})
}

// putObjectACL is PUT /bucket/key?acl.
func (s *Server) putObjectACL(rq *request) error {
	body, err := readACLBody(rq)
	if err != nil {
		return err
	}
	return s.objectACLTarget(rq, "s3:PutObjectAcl", func(b *objectstore.Bucket, st *bucketState, versionID string, info objectstore.ObjectInfo) error {
		owner := objectACL(st, info).Owner
		acl, err := s.parseRequestACL(rq, body, owner, st.owner())
		if err != nil {
			return err
		}
		stored, err := checkACLWrite(st.ownership, st.block, acl, st.owner())
		if err != nil {
			return err
		}
		if stored {
			_, err := s.store.SetSubresource(rq.ctx, objectstore.SubresourceInput{Bucket: b.Name, BucketID: b.ID, Key: rq.key,
				VersionID: versionID, Of: &info, Name: objectstore.SubresourceACL, Doc: acl.Encode()})
			if err != nil {
				return err
			}
		}
		writeVersionID(rq.w.Header(), b, info.VersionID)
		rq.w.Header().Set("Content-Length", "0")
		rq.w.WriteHeader(http.StatusOK)
		return nil
	})
}

// The ownership controls document.
type ownershipControls struct {
	XMLName xml.Name `xml:"OwnershipControls"`
	Rules   []struct {
		ObjectOwnership string `xml:"ObjectOwnership"`
	} `xml:"Rule"`
}

type ownershipControlsOut struct {
	XMLName xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ OwnershipControls"`
	Rule    struct {
		ObjectOwnership string `xml:"ObjectOwnership"`
	} `xml:"Rule"`
}

// getOwnershipControls is GET /bucket?ownershipControls.
func (s *Server) getOwnershipControls(rq *request) error {
	b, err := s.bucketFor(rq, "s3:GetBucketOwnershipControls", "", "")
	if err != nil {
		return err
	}
	st, err := s.bucketState(rq, b)
	if err != nil {
		return err
	}
	if !st.ownershipSet {
		return s3Error("OwnershipControlsNotFoundError", "The bucket ownership controls were not found", [2]string{"BucketName", b.Name})
	}
	var out ownershipControlsOut
	out.Rule.ObjectOwnership = string(st.ownership)
	return writeXML(rq.w, out)
}

// putOwnershipControls is PUT /bucket?ownershipControls. Turning ACLs off needs a bucket ACL that grants only
// its owner.
func (s *Server) putOwnershipControls(rq *request) error {
	b, err := s.bucketFor(rq, "s3:PutBucketOwnershipControls", "", "")
	if err != nil {
		return err
	}
	body, err := readBody(rq.r, maxSmallXMLBody)
	if err != nil {
		return err
	}
	var doc ownershipControls
	if err := decodeXML(body, &doc); err != nil {
		return err
	}
	if len(doc.Rules) != 1 || !access.ObjectOwnership(doc.Rules[0].ObjectOwnership).Valid() {
		return malformedXML()
	}
	o := access.ObjectOwnership(doc.Rules[0].ObjectOwnership)
	owner := aclOwner(b.Owner)
	err = s.store.UpdateBucketConfigs(rq.ctx, b.Name, func(docs map[string][]byte) error {
		if !o.ACLsEnabled() {
			if acl, err := access.DecodeACL(docs[objectstore.ConfigACL]); err == nil && !acl.OnlyOwnerFullControl(owner) {
				return errBucketACLWithOwnership()
			}
			delete(docs, objectstore.ConfigACL)
		}
		docs[objectstore.ConfigOwnership] = []byte(o)
		return nil
	})
	if err != nil {
		return err
	}
	rq.w.Header().Set("Content-Length", "0")
	rq.w.WriteHeader(http.StatusOK)
	return nil
}

// deleteOwnershipControls is DELETE /bucket?ownershipControls: the bucket behaves as ObjectWriter again.
func (s *Server) deleteOwnershipControls(rq *request) error {
	if _, err := s.bucketFor(rq, "s3:PutBucketOwnershipControls", "", ""); err != nil {
		return err
	}
	if err := s.store.DeleteBucketConfig(rq.ctx, rq.bucket, objectstore.ConfigOwnership); err != nil {
		return err
	}
	rq.w.WriteHeader(http.StatusNoContent)
	return nil
}
