// Package iam is a Go client of the IAM and STS query APIs of a cloud endpoint (`berth s3 serve`, or the
// daemon's --cloud-addr), signed with SigV4 as the aws CLI signs. The `berth s3 user` and `berth s3 account`
// commands use it. It speaks Berth's account actions (CreateAccount, ListAccounts) too, which the AWS SDKs do
// not know, and decodes the responses by itself: the CLI links neither the server nor an AWS service client.
package iam

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// The query APIs' versions, sent with every action.
const (
	iamVersion = "2010-05-08"
	stsVersion = "2011-06-15"
)

// ManagedPolicyNames are the AWS-managed policies a Berth endpoint serves, for help texts (their ARNs are
// arn:aws:iam::aws:policy/NAME).
var ManagedPolicyNames = []string{"AdministratorAccess", "AmazonS3FullAccess", "AmazonS3ReadOnlyAccess", "IAMFullAccess", "IAMReadOnlyAccess"}

// Client calls the IAM and STS APIs of one endpoint with one access key.
type Client struct {
	Endpoint        string // e.g. http://127.0.0.1:9000
	Region          string // default us-east-1
	AccessKeyID     string
	SecretAccessKey string
	HTTPClient      *http.Client // default http.DefaultClient
}

// Error is an error the endpoint answered, in its own words. It reads as the aws CLI prints it.
type Error struct {
	Status    int
	Code      string
	Message   string
	RequestID string
}

func (e *Error) Error() string {
	return fmt.Sprintf("An error occurred (%s): %s", e.Code, e.Message)
}

// User is IAM's User.
type User struct {
	Path       string    `xml:"Path"`
	UserName   string    `xml:"UserName"`
	UserID     string    `xml:"UserId"`
	Arn        string    `xml:"Arn"`
	CreateDate time.Time `xml:"CreateDate"`
}

// AccessKey is IAM's AccessKey; SecretAccessKey is set only by the calls that create a key.
type AccessKey struct {
	UserName        string    `xml:"UserName"`
	AccessKeyID     string    `xml:"AccessKeyId"`
	Status          string    `xml:"Status"`
	SecretAccessKey string    `xml:"SecretAccessKey"`
	CreateDate      time.Time `xml:"CreateDate"`
}

// AttachedPolicy is IAM's AttachedPolicy.
type AttachedPolicy struct {
	PolicyName string `xml:"PolicyName"`
	PolicyArn  string `xml:"PolicyArn"`
}

// Account is a Berth account (a tenant with its own root user).
type Account struct {
	AccountID   string    `xml:"AccountId"`
	AccountName string    `xml:"AccountName"`
	CanonicalID string    `xml:"CanonicalUserId"`
	Arn         string    `xml:"Arn"`
	CreateDate  time.Time `xml:"CreateDate"`
}

// CallerIdentity is STS GetCallerIdentity's answer.
type CallerIdentity struct {
	Arn     string `xml:"Arn"`
	UserID  string `xml:"UserId"`
	Account string `xml:"Account"`
}

// page is what every paginated IAM listing carries.
type page struct {
	IsTruncated bool   `xml:"IsTruncated"`
	Marker      string `xml:"Marker"`
}

// Call performs action on service ("iam" or "sts") with params, decoding its <ActionResult> into out (nil to
// ignore it). An answer of 300 or more is an *Error.
func (c *Client) Call(ctx context.Context, service, action string, params url.Values, out any) error {
	form := url.Values{}
	for k, v := range params {
		form[k] = v
	}
	form.Set("Action", action)
	form.Set("Version", iamVersion)
	if service == "sts" {
		form.Set("Version", stsVersion)
	}
	body := form.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(c.Endpoint, "/")+"/", strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	region := c.Region
	if region == "" {
		region = "us-east-1"
	}
	sum := sha256.Sum256([]byte(body))
	creds := aws.Credentials{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey}
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), service, region, time.Now()); err != nil {
		return err
	}
	hc := c.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		return decodeError(resp.StatusCode, data)
	}
	if out == nil {
		return nil
	}
	return decodeResult(data, action+"Result", out)
}

// decodeError reads the query protocol's <ErrorResponse>, or S3's <Error> (what the endpoint answers a request
// it could not route), or keeps the body's text.
func decodeError(status int, data []byte) error {
	var query struct {
		Error struct {
			Code    string `xml:"Code"`
			Message string `xml:"Message"`
		} `xml:"Error"`
		RequestID string `xml:"RequestId"`
	}
	if xml.Unmarshal(data, &query) == nil && query.Error.Code != "" {
		return &Error{Status: status, Code: query.Error.Code, Message: query.Error.Message, RequestID: query.RequestID}
	}
	var s3 struct {
		Code      string `xml:"Code"`
		Message   string `xml:"Message"`
		RequestID string `xml:"RequestId"`
	}
	if xml.Unmarshal(data, &s3) == nil && s3.Code != "" {
		return &Error{Status: status, Code: s3.Code, Message: s3.Message, RequestID: s3.RequestID}
	}
	return &Error{Status: status, Code: http.StatusText(status), Message: strings.TrimSpace(string(data))}
}

// decodeResult finds the <name> element of a query response and decodes it into out.
func decodeResult(data []byte, name string, out any) error {
	dec := xml.NewDecoder(strings.NewReader(string(data)))
	for {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("the response has no %s: %w", name, err)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == name {
			return dec.DecodeElement(out, &se)
		}
	}
}

// iam calls an IAM action with parameters given as name, value pairs; empty values are left out.
func (c *Client) iam(ctx context.Context, action string, out any, kv ...string) error {
	params := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			params.Set(kv[i], kv[i+1])
		}
	}
	return c.Call(ctx, "iam", action, params, out)
}

// CreateUser creates an IAM user under path ("" for "/").
func (c *Client) CreateUser(ctx context.Context, name, path string) (User, error) {
	var r struct {
		User User `xml:"User"`
	}
	err := c.iam(ctx, "CreateUser", &r, "UserName", name, "Path", path)
	return r.User, err
}

// ListUsers lists every user of the caller's account, following markers.
func (c *Client) ListUsers(ctx context.Context) ([]User, error) {
	var all []User
	marker := ""
	for {
		var r struct {
			Users []User `xml:"Users>member"`
			page
		}
		if err := c.iam(ctx, "ListUsers", &r, "Marker", marker); err != nil {
			return nil, err
		}
		all = append(all, r.Users...)
		if !r.IsTruncated || r.Marker == "" {
			return all, nil
		}
		marker = r.Marker
	}
}

// DeleteUser deletes a user (IAM refuses while it has keys or policies).
func (c *Client) DeleteUser(ctx context.Context, name string) error {
	return c.iam(ctx, "DeleteUser", nil, "UserName", name)
}

// CreateAccessKey creates a key for user ("" for the caller); its secret is in the answer, this once.
func (c *Client) CreateAccessKey(ctx context.Context, user string) (AccessKey, error) {
	var r struct {
		AccessKey AccessKey `xml:"AccessKey"`
	}
	err := c.iam(ctx, "CreateAccessKey", &r, "UserName", user)
	return r.AccessKey, err
}

// ListAccessKeys lists user's keys ("" for the caller), without secrets.
func (c *Client) ListAccessKeys(ctx context.Context, user string) ([]AccessKey, error) {
	var all []AccessKey
	marker := ""
	for {
		var r struct {
			Keys []AccessKey `xml:"AccessKeyMetadata>member"`
			page
		}
		if err := c.iam(ctx, "ListAccessKeys", &r, "UserName", user, "Marker", marker); err != nil {
			return nil, err
		}
		all = append(all, r.Keys...)
		if !r.IsTruncated || r.Marker == "" {
			return all, nil
		}
		marker = r.Marker
	}
}

// UpdateAccessKey sets a key's status, "Active" or "Inactive".
func (c *Client) UpdateAccessKey(ctx context.Context, user, id, status string) error {
	return c.iam(ctx, "UpdateAccessKey", nil, "UserName", user, "AccessKeyId", id, "Status", status)
}

// DeleteAccessKey deletes a key.
func (c *Client) DeleteAccessKey(ctx context.Context, user, id string) error {
	return c.iam(ctx, "DeleteAccessKey", nil, "UserName", user, "AccessKeyId", id)
}

// AttachUserPolicy attaches a managed policy by ARN.
func (c *Client) AttachUserPolicy(ctx context.Context, user, arn string) error {
	return c.iam(ctx, "AttachUserPolicy", nil, "UserName", user, "PolicyArn", arn)
}

// DetachUserPolicy detaches a managed policy.
func (c *Client) DetachUserPolicy(ctx context.Context, user, arn string) error {
	return c.iam(ctx, "DetachUserPolicy", nil, "UserName", user, "PolicyArn", arn)
}

// ListAttachedUserPolicies lists a user's managed policies.
func (c *Client) ListAttachedUserPolicies(ctx context.Context, user string) ([]AttachedPolicy, error) {
	var all []AttachedPolicy
	marker := ""
	for {
		var r struct {
			Policies []AttachedPolicy `xml:"AttachedPolicies>member"`
			page
		}
		if err := c.iam(ctx, "ListAttachedUserPolicies", &r, "UserName", user, "Marker", marker); err != nil {
			return nil, err
		}
		all = append(all, r.Policies...)
		if !r.IsTruncated || r.Marker == "" {
			return all, nil
		}
		marker = r.Marker
	}
}

// PutUserPolicy sets an inline policy.
func (c *Client) PutUserPolicy(ctx context.Context, user, name, doc string) error {
	return c.iam(ctx, "PutUserPolicy", nil, "UserName", user, "PolicyName", name, "PolicyDocument", doc)
}

// GetUserPolicy returns an inline policy's document, decoded (IAM sends it URL-encoded).
func (c *Client) GetUserPolicy(ctx context.Context, user, name string) (string, error) {
	var r struct {
		PolicyDocument string `xml:"PolicyDocument"`
	}
	if err := c.iam(ctx, "GetUserPolicy", &r, "UserName", user, "PolicyName", name); err != nil {
		return "", err
	}
	return url.QueryUnescape(r.PolicyDocument)
}

// ListUserPolicies lists a user's inline policy names.
func (c *Client) ListUserPolicies(ctx context.Context, user string) ([]string, error) {
	var all []string
	marker := ""
	for {
		var r struct {
			Names []string `xml:"PolicyNames>member"`
			page
		}
		if err := c.iam(ctx, "ListUserPolicies", &r, "UserName", user, "Marker", marker); err != nil {
			return nil, err
		}
		all = append(all, r.Names...)
		if !r.IsTruncated || r.Marker == "" {
			return all, nil
		}
		marker = r.Marker
	}
}

// DeleteUserPolicy deletes an inline policy.
func (c *Client) DeleteUserPolicy(ctx context.Context, user, name string) error {
	return c.iam(ctx, "DeleteUserPolicy", nil, "UserName", user, "PolicyName", name)
}

// CreateAccount creates an account and its root key, whose secret is in the answer this once (Berth's
// action; only the first account's root may call it).
func (c *Client) CreateAccount(ctx context.Context, name string) (Account, AccessKey, error) {
	var r struct {
		Account   Account   `xml:"Account"`
		AccessKey AccessKey `xml:"AccessKey"`
	}
	err := c.iam(ctx, "CreateAccount", &r, "AccountName", name)
	return r.Account, r.AccessKey, err
}

// ListAccounts lists every account, the first one first (Berth's action; the first account's root only).
func (c *Client) ListAccounts(ctx context.Context) ([]Account, error) {
	var r struct {
		Accounts []Account `xml:"Accounts>member"`
	}
	err := c.iam(ctx, "ListAccounts", &r)
	return r.Accounts, err
}

// GetCallerIdentity is STS's "who am I".
func (c *Client) GetCallerIdentity(ctx context.Context) (CallerIdentity, error) {
	var r CallerIdentity
	err := c.Call(ctx, "sts", "GetCallerIdentity", nil, &r)
	return r, err
}
