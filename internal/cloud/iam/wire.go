package iam

import "time"

// The XML shapes of IAM's and STS's query API (2010-05-08, 2011-06-15), shared by the services and the Client.

const (
	iamVersion = "2010-05-08"
	stsVersion = "2011-06-15"
	iamXMLNS   = "https://iam.amazonaws.com/doc/2010-05-08/"
	stsXMLNS   = "https://sts.amazonaws.com/doc/2011-06-15/"
	timeFormat = "2006-01-02T15:04:05Z"
)

// WireUser is IAM's User.
type WireUser struct {
	Path       string    `xml:"Path,omitempty"`
	UserName   string    `xml:"UserName,omitempty"`
	UserID     string    `xml:"UserId"`
	Arn        string    `xml:"Arn"`
	CreateDate time.Time `xml:"CreateDate"`
}

// WireAccessKey is IAM's AccessKey (with the secret, from CreateAccessKey).
type WireAccessKey struct {
	UserName        string    `xml:"UserName,omitempty"`
	AccessKeyID     string    `xml:"AccessKeyId"`
	Status          string    `xml:"Status"`
	SecretAccessKey string    `xml:"SecretAccessKey"`
	CreateDate      time.Time `xml:"CreateDate"`
}

// WireAccessKeyMetadata is IAM's AccessKeyMetadata (ListAccessKeys).
type WireAccessKeyMetadata struct {
	UserName    string    `xml:"UserName,omitempty"`
	AccessKeyID string    `xml:"AccessKeyId"`
	Status      string    `xml:"Status"`
	CreateDate  time.Time `xml:"CreateDate"`
}

// WireAttachedPolicy is IAM's AttachedPolicy.
type WireAttachedPolicy struct {
	PolicyName string `xml:"PolicyName"`
	PolicyArn  string `xml:"PolicyArn"`
}

// WireAccount is Berth's account record (CreateAccount, ListAccounts: Berth-specific actions).
type WireAccount struct {
	AccountID   string    `xml:"AccountId"`
	AccountName string    `xml:"AccountName"`
	CanonicalID string    `xml:"CanonicalUserId"`
	Arn         string    `xml:"Arn"`
	CreateDate  time.Time `xml:"CreateDate"`
}

// Result documents, one per action (the element is <ActionResult>).
type (
	CreateUserResult struct {
		User WireUser `xml:"User"`
	}
	GetUserResult struct {
		User WireUser `xml:"User"`
	}
	ListUsersResult struct {
		Users       []WireUser `xml:"Users>member"`
		IsTruncated bool       `xml:"IsTruncated"`
		Marker      string     `xml:"Marker,omitempty"`
	}
	CreateAccessKeyResult struct {
		AccessKey WireAccessKey `xml:"AccessKey"`
	}
	ListAccessKeysResult struct {
		UserName          string                  `xml:"UserName,omitempty"`
		AccessKeyMetadata []WireAccessKeyMetadata `xml:"AccessKeyMetadata>member"`
		IsTruncated       bool                    `xml:"IsTruncated"`
		Marker            string                  `xml:"Marker,omitempty"`
	}
	GetUserPolicyResult struct {
		UserName       string `xml:"UserName"`
		PolicyName     string `xml:"PolicyName"`
		PolicyDocument string `xml:"PolicyDocument"` // URL-encoded (RFC 3986), as IAM sends it
	}
	ListUserPoliciesResult struct {
		PolicyNames []string `xml:"PolicyNames>member"`
		IsTruncated bool     `xml:"IsTruncated"`
		Marker      string   `xml:"Marker,omitempty"`
	}
	ListAttachedUserPoliciesResult struct {
		AttachedPolicies []WireAttachedPolicy `xml:"AttachedPolicies>member"`
		IsTruncated      bool                 `xml:"IsTruncated"`
		Marker           string               `xml:"Marker,omitempty"`
	}
	CreateAccountResult struct {
		Account   WireAccount   `xml:"Account"`
		AccessKey WireAccessKey `xml:"AccessKey"`
	}
	ListAccountsResult struct {
		Accounts []WireAccount `xml:"Accounts>member"`
	}
	GetCallerIdentityResult struct {
		Arn     string `xml:"Arn"`
		UserID  string `xml:"UserId"`
		Account string `xml:"Account"`
	}
)

// wireError is the query protocol's <ErrorResponse>.
type wireError struct {
	Error struct {
		Type    string `xml:"Type"`
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	} `xml:"Error"`
	RequestID string `xml:"RequestId"`
}
