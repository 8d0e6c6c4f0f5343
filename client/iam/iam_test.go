package iam

import (
	"context"
	"errors"
	"net/http/httptest"
	"regexp"
	"slices"
	"sort"
	"testing"

	"github.com/berth/berth/internal/cloud"
	server "github.com/berth/berth/internal/cloud/iam"
)

const rootID, rootSecret = "ROOTKEYFORCLIENTTEST", "root-secret-for-client-tests"

// endpoint serves the real IAM and STS services over a real store in a temp dir.
func endpoint(t *testing.T) (string, *server.Store) {
	t.Helper()
	st, err := server.Open(t.TempDir(), server.WithRootCredentials(rootID, rootSecret))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ep := cloud.NewEndpoint(st)
	ep.Register("iam", server.NewIAMService(st))
	ep.Register("sts", server.NewSTSService(st))
	srv := httptest.NewServer(ep)
	t.Cleanup(srv.Close)
	return srv.URL, st
}

// Every call against the real services: what it returns is what the server holds.
func TestClient(t *testing.T) {
	ctx := context.Background()
	url, _ := endpoint(t)
	root := &Client{Endpoint: url, AccessKeyID: rootID, SecretAccessKey: rootSecret}

	me, err := root.GetCallerIdentity(ctx)
	if err != nil || !regexp.MustCompile(`^arn:aws:iam::\d{12}:root$`).MatchString(me.Arn) || me.Account == "" {
		t.Fatalf("GetCallerIdentity: %+v %v", me, err)
	}
	u, err := root.CreateUser(ctx, "ana", "/team/")
	if err != nil || u.UserName != "ana" || u.Path != "/team/" || u.Arn != "arn:aws:iam::"+me.Account+":user/team/ana" || u.UserID == "" || u.CreateDate.IsZero() {
		t.Fatalf("CreateUser: %+v %v", u, err)
	}
	if _, err := root.CreateUser(ctx, "bo", ""); err != nil {
		t.Fatal(err)
	}
	users, err := root.ListUsers(ctx)
	if err != nil || len(users) != 2 || users[0].UserName != "ana" || users[1].UserName != "bo" || users[1].Path != "/" {
		t.Fatalf("ListUsers: %+v %v", users, err)
	}
	k, err := root.CreateAccessKey(ctx, "ana")
	if err != nil || k.UserName != "ana" || k.Status != "Active" || len(k.SecretAccessKey) != 40 {
		t.Fatalf("CreateAccessKey: %+v %v", k, err)
	}
	if err := root.UpdateAccessKey(ctx, "ana", k.AccessKeyID, "Inactive"); err != nil {
		t.Fatal(err)
	}
	keys, err := root.ListAccessKeys(ctx, "ana")
	if err != nil || len(keys) != 1 || keys[0].AccessKeyID != k.AccessKeyID || keys[0].Status != "Inactive" || keys[0].SecretAccessKey != "" {
		t.Fatalf("ListAccessKeys: %+v %v", keys, err)
	}
	// An inactive key is refused, as IAM words it.
	ana := &Client{Endpoint: url, AccessKeyID: k.AccessKeyID, SecretAccessKey: k.SecretAccessKey}
	var apiErr *Error
	if _, err := ana.GetCallerIdentity(ctx); !errors.As(err, &apiErr) || apiErr.Code != "InvalidClientTokenId" || apiErr.Status != 403 || apiErr.RequestID == "" {
		t.Fatalf("inactive key: %v", err)
	}
	if err := root.UpdateAccessKey(ctx, "ana", k.AccessKeyID, "Active"); err != nil {
		t.Fatal(err)
	}
	if id, err := ana.GetCallerIdentity(ctx); err != nil || id.Arn != u.Arn {
		t.Fatalf("ana: %+v %v", id, err)
	}

	if err := root.AttachUserPolicy(ctx, "ana", "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"); err != nil {
		t.Fatal(err)
	}
	doc := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:PutObject","Resource":"arn:aws:s3:::b/*"}]}`
	if err := root.PutUserPolicy(ctx, "ana", "uploads", doc); err != nil {
		t.Fatal(err)
	}
	attached, err := root.ListAttachedUserPolicies(ctx, "ana")
	if err != nil || len(attached) != 1 || attached[0].PolicyName != "AmazonS3ReadOnlyAccess" {
		t.Fatalf("ListAttachedUserPolicies: %+v %v", attached, err)
	}
	inline, err := root.ListUserPolicies(ctx, "ana")
	if err != nil || !slices.Equal(inline, []string{"uploads"}) {
		t.Fatalf("ListUserPolicies: %q %v", inline, err)
	}
	if got, err := root.GetUserPolicy(ctx, "ana", "uploads"); err != nil || got != doc {
		t.Fatalf("GetUserPolicy: %q %v", got, err)
	}
	// IAM's order: a user goes only once its keys and policies are gone.
	if err := root.DeleteUser(ctx, "ana"); !errors.As(err, &apiErr) || apiErr.Code != "DeleteConflict" || apiErr.Status != 409 {
		t.Fatalf("DeleteUser with keys: %v", err)
	}
	for _, step := range []error{
		root.DeleteAccessKey(ctx, "ana", k.AccessKeyID),
		root.DeleteUserPolicy(ctx, "ana", "uploads"),
		root.DetachUserPolicy(ctx, "ana", attached[0].PolicyArn),
		root.DeleteUser(ctx, "ana"),
	} {
		if step != nil {
			t.Fatal(step)
		}
	}

	a, ak, err := root.CreateAccount(ctx, "tenant")
	if err != nil || a.AccountName != "tenant" || len(a.AccountID) != 12 || a.AccountID == me.Account || len(a.CanonicalID) != 64 || ak.SecretAccessKey == "" {
		t.Fatalf("CreateAccount: %+v %+v %v", a, ak, err)
	}
	accounts, err := root.ListAccounts(ctx)
	if err != nil || len(accounts) != 2 || accounts[0].AccountID != me.Account || accounts[1].AccountID != a.AccountID {
		t.Fatalf("ListAccounts: %+v %v", accounts, err)
	}
	tenant := &Client{Endpoint: url, AccessKeyID: ak.AccessKeyID, SecretAccessKey: ak.SecretAccessKey}
	if id, err := tenant.GetCallerIdentity(ctx); err != nil || id.Account != a.AccountID {
		t.Fatalf("the new account's root: %+v %v", id, err)
	}
	if _, err := tenant.ListAccounts(ctx); !errors.As(err, &apiErr) || apiErr.Code != "AccessDenied" {
		t.Fatalf("a second account's root listed accounts: %v", err)
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		want   Error
	}{
		{name: "query protocol", status: 404,
			body: `<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>Sender</Type><Code>NoSuchEntity</Code><Message>The user with name x cannot be found.</Message></Error><RequestId>R1</RequestId></ErrorResponse>`,
			want: Error{Status: 404, Code: "NoSuchEntity", Message: "The user with name x cannot be found.", RequestID: "R1"}},
		{name: "S3's shape", status: 501,
			body: `<?xml version="1.0" encoding="UTF-8"?><Error><Code>NotImplemented</Code><Message>nope</Message><RequestId>R2</RequestId></Error>`,
			want: Error{Status: 501, Code: "NotImplemented", Message: "nope", RequestID: "R2"}},
		{name: "not XML", status: 502, body: "bad gateway\n", want: Error{Status: 502, Code: "Bad Gateway", Message: "bad gateway"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got *Error
			if !errors.As(decodeError(tt.status, []byte(tt.body)), &got) || *got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
	if s := (&Error{Code: "AccessDenied", Message: "no"}).Error(); s != "An error occurred (AccessDenied): no" {
		t.Errorf("Error() = %q", s)
	}
}

// The help texts' list is the server's catalogue.
func TestManagedPolicyNames(t *testing.T) {
	var want []string
	for _, p := range server.ManagedPolicies() {
		want = append(want, p.Name)
	}
	sort.Strings(want)
	if !slices.Equal(ManagedPolicyNames, want) {
		t.Errorf("ManagedPolicyNames %q, the server serves %q", ManagedPolicyNames, want)
	}
}
