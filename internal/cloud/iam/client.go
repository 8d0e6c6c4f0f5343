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

// Client calls the IAM and STS query APIs of a cloud endpoint, signed with SigV4 (the `berth s3 user` commands
// use it). It speaks Berth's account actions too, which the AWS SDKs do not know.
type Client struct {
	Endpoint        string // e.g. http://127.0.0.1:9000
	Region          string // default us-east-1
	AccessKeyID     string
	SecretAccessKey string
	HTTPClient      *http.Client
}

// APIError is an error answered by the endpoint, in its own words.
type APIError struct {
	Status    int
	Code      string
	Message   string
	RequestID string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("An error occurred (%s): %s", e.Code, e.Message)
}

// Call performs action on service ("iam" or "sts") with params, decoding <ActionResult> into out (nil to ignore).
func (c *Client) Call(ctx context.Context, service, action string, params url.Values, out any) error {
	form := url.Values{}
	for k, v := range params {
		form[k] = v
	}
	form.Set("Action", action)
	form.Set("Version", map[string]string{"sts": stsVersion}[service])
	if form.Get("Version") == "" {
		form.Set("Version", iamVersion)
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
		var we wireError
		if xml.Unmarshal(data, &we) == nil && we.Error.Code != "" {
			return &APIError{Status: resp.StatusCode, Code: we.Error.Code, Message: we.Error.Message, RequestID: we.RequestID}
		}
		var s3e struct {
			Code, Message, RequestId string
		}
		if xml.Unmarshal(data, &s3e) == nil && s3e.Code != "" {
			return &APIError{Status: resp.StatusCode, Code: s3e.Code, Message: s3e.Message, RequestID: s3e.RequestId}
		}
		return &APIError{Status: resp.StatusCode, Code: http.StatusText(resp.StatusCode), Message: strings.TrimSpace(string(data))}
	}
	if out == nil {
		return nil
	}
	return decodeResult(data, action+"Result", out)
}

// decodeResult finds the <name> element of a query response and decodes it into out.
func decodeResult(data []byte, name string, out any) error {
	dec := xml.NewDecoder(strings.NewReader(string(data)))
	for {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("response has no %s: %w", name, err)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == name {
			return dec.DecodeElement(out, &se)
		}
	}
}

func (c *Client) iam(ctx context.Context, action string, out any, kv ...string) error {
	params := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			params.Set(kv[i], kv[i+1])
		}
	}
	return c.Call(ctx, "iam", action, params, out)
}

// CreateUser creates an IAM user.
func (c *Client) CreateUser(ctx context.Context, name string) (WireUser, error) {
	var r CreateUserResult
	err := c.iam(ctx, "CreateUser", &r, "UserName", name)
	return r.User, err
}

// ListUsers lists every user, following markers.
func (c *Client) ListUsers(ctx context.Context) ([]WireUser, error) {
	var all []WireUser
	marker := ""
	for {
		var r ListUsersResult
		if err := c.iam(ctx, "ListUsers", &r, "Marker", marker); err != nil {
			return nil, err
		}
		all = append(all, r.Users...)
		if !r.IsTruncated {
			return all, nil
		}
		marker = r.Marker
	}
}

// DeleteUser deletes a user.
func (c *Client) DeleteUser(ctx context.Context, name string) error {
	return c.iam(ctx, "DeleteUser", nil, "UserName", name)
}

// CreateAccessKey creates a key for user ("" for the caller).
func (c *Client) CreateAccessKey(ctx context.Context, user string) (WireAccessKey, error) {
	var r CreateAccessKeyResult
	err := c.iam(ctx, "CreateAccessKey", &r, "UserName", user)
	return r.AccessKey, err
}

// ListAccessKeys lists user's keys ("" for the caller).
func (c *Client) ListAccessKeys(ctx context.Context, user string) ([]WireAccessKeyMetadata, error) {
	var r ListAccessKeysResult
	err := c.iam(ctx, "ListAccessKeys", &r, "UserName", user)
	return r.AccessKeyMetadata, err
}

// UpdateAccessKey sets a key's status ("Active" or "Inactive").
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
func (c *Client) ListAttachedUserPolicies(ctx context.Context, user string) ([]WireAttachedPolicy, error) {
	var r ListAttachedUserPoliciesResult
	err := c.iam(ctx, "ListAttachedUserPolicies", &r, "UserName", user)
	return r.AttachedPolicies, err
}

// PutUserPolicy sets an inline policy.
func (c *Client) PutUserPolicy(ctx context.Context, user, name, doc string) error {
	return c.iam(ctx, "PutUserPolicy", nil, "UserName", user, "PolicyName", name, "PolicyDocument", doc)
}

// GetUserPolicy returns an inline policy's document, decoded.
func (c *Client) GetUserPolicy(ctx context.Context, user, name string) (string, error) {
	var r GetUserPolicyResult
	if err := c.iam(ctx, "GetUserPolicy", &r, "UserName", user, "PolicyName", name); err != nil {
		return "", err
	}
	return url.QueryUnescape(r.PolicyDocument)
}

// ListUserPolicies lists a user's inline policy names.
func (c *Client) ListUserPolicies(ctx context.Context, user string) ([]string, error) {
	var r ListUserPoliciesResult
	err := c.iam(ctx, "ListUserPolicies", &r, "UserName", user)
	return r.PolicyNames, err
}

// DeleteUserPolicy deletes an inline policy.
func (c *Client) DeleteUserPolicy(ctx context.Context, user, name string) error {
	return c.iam(ctx, "DeleteUserPolicy", nil, "UserName", user, "PolicyName", name)
}

// CreateAccount creates an account (Berth-specific; the first account's root only).
func (c *Client) CreateAccount(ctx context.Context, name string) (CreateAccountResult, error) {
	var r CreateAccountResult
	err := c.iam(ctx, "CreateAccount", &r, "AccountName", name)
	return r, err
}

// ListAccounts lists accounts (Berth-specific; the first account's root only).
func (c *Client) ListAccounts(ctx context.Context) ([]WireAccount, error) {
	var r ListAccountsResult
	err := c.iam(ctx, "ListAccounts", &r)
	return r.Accounts, err
}

// GetCallerIdentity is STS's "who am I".
func (c *Client) GetCallerIdentity(ctx context.Context) (GetCallerIdentityResult, error) {
	var r GetCallerIdentityResult
	err := c.Call(ctx, "sts", "GetCallerIdentity", nil, &r)
	return r, err
}
