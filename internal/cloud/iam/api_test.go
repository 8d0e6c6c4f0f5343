package iam

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	iamclient "github.com/berth/berth/client/iam"
	"github.com/berth/berth/internal/cloud"
)

const (
	rootKey    = "BERTHROOTKEY"
	rootSecret = "berth-root-secret-for-tests"
)

type apiEnv struct {
	srv   *httptest.Server
	store *Store
}

func newAPIEnv(t *testing.T) *apiEnv {
	t.Helper()
	st, err := Open(t.TempDir(), WithRootCredentials(rootKey, rootSecret))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ep := cloud.NewEndpoint(st)
	ep.Register("iam", NewIAMService(st))
	ep.Register("sts", NewSTSService(st))
	srv := httptest.NewServer(ep)
	t.Cleanup(srv.Close)
	return &apiEnv{srv: srv, store: st}
}

func (e *apiEnv) iamClient(key, secret string) *iam.Client {
	return iam.New(iam.Options{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider(key, secret, ""),
		BaseEndpoint: aws.String(e.srv.URL), RetryMaxAttempts: 1})
}

func (e *apiEnv) stsClient(key, secret string) *sts.Client {
	return sts.New(sts.Options{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider(key, secret, ""),
		BaseEndpoint: aws.String(e.srv.URL), RetryMaxAttempts: 1})
}

// client is the Go client the berth CLI uses (client/iam), which speaks Berth's account actions too.
func (e *apiEnv) client(key, secret string) *iamclient.Client {
	return &iamclient.Client{Endpoint: e.srv.URL, AccessKeyID: key, SecretAccessKey: secret}
}

func codeOf(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	var ce *iamclient.Error
	if errors.As(err, &ce) {
		return ce.Code
	}
	if err == nil {
		return ""
	}
	return fmt.Sprintf("unexpected error %v", err)
}

func messageOf(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorMessage()
	}
	return ""
}

// TestIAMWithSDK walks the user lifecycle with aws-sdk-go-v2's IAM and STS clients, as an administrator would.
func TestIAMWithSDK(t *testing.T) {
	env := newAPIEnv(t)
	ctx := context.Background()
	root := env.iamClient(rootKey, rootSecret)
	acct, _ := env.store.FirstAccount(ctx)

	who, err := env.stsClient(rootKey, rootSecret).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	if *who.Account != acct.ID || *who.Arn != "arn:aws:iam::"+acct.ID+":root" || *who.UserId != acct.ID {
		t.Fatalf("root identity %s %s %s", *who.Account, *who.Arn, *who.UserId)
	}

	cu, err := root.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("alice")})
	if err != nil {
		t.Fatal(err)
	}
	if *cu.User.Arn != "arn:aws:iam::"+acct.ID+":user/alice" || !strings.HasPrefix(*cu.User.UserId, "AIDA") || cu.User.CreateDate == nil {
		t.Fatalf("created %+v", cu.User)
	}
	_, err = root.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("Alice")})
	if codeOf(err) != "EntityAlreadyExists" || messageOf(err) != "User with name Alice already exists." {
		t.Fatalf("duplicate (case-insensitive): %v", err)
	}
	_, err = root.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("bad name!")})
	if codeOf(err) != "ValidationError" {
		t.Fatalf("bad name: %v", err)
	}

	ak, err := root.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("alice")})
	if err != nil {
		t.Fatal(err)
	}
	aliceKey, aliceSecret := *ak.AccessKey.AccessKeyId, *ak.AccessKey.SecretAccessKey
	if len(aliceKey) != 20 || !strings.HasPrefix(aliceKey, "AKIA") || len(aliceSecret) != 40 {
		t.Fatalf("key %q secret length %d", aliceKey, len(aliceSecret))
	}
	who, err = env.stsClient(aliceKey, aliceSecret).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	if *who.Arn != "arn:aws:iam::"+acct.ID+":user/alice" || *who.UserId != *cu.User.UserId {
		t.Fatalf("alice identity %s %s", *who.Arn, *who.UserId)
	}
	keys, err := root.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String("alice")})
	if err != nil || len(keys.AccessKeyMetadata) != 1 || *keys.AccessKeyMetadata[0].AccessKeyId != aliceKey || keys.AccessKeyMetadata[0].Status != "Active" {
		t.Fatalf("list keys: %+v %v", keys, err)
	}

	// Alice has no policy: IAM says no, in IAM's words.
	alice := env.iamClient(aliceKey, aliceSecret)
	_, err = alice.ListUsers(ctx, &iam.ListUsersInput{})
	if codeOf(err) != "AccessDenied" || !strings.Contains(messageOf(err), "is not authorized to perform: iam:ListUsers") {
		t.Fatalf("alice without policy: %v", err)
	}

	// Attached IAMReadOnlyAccess lets her list but not create.
	if _, err := root.AttachUserPolicy(ctx, &iam.AttachUserPolicyInput{UserName: aws.String("alice"), PolicyArn: aws.String("arn:aws:iam::aws:policy/IAMReadOnlyAccess")}); err != nil {
		t.Fatal(err)
	}
	lu, err := alice.ListUsers(ctx, &iam.ListUsersInput{})
	if err != nil || len(lu.Users) != 1 || *lu.Users[0].UserName != "alice" {
		t.Fatalf("alice lists: %+v %v", lu, err)
	}
	if _, err := alice.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("mallory")}); codeOf(err) != "AccessDenied" {
		t.Fatalf("read-only alice created a user: %v", err)
	}
	_, err = root.AttachUserPolicy(ctx, &iam.AttachUserPolicyInput{UserName: aws.String("alice"), PolicyArn: aws.String("arn:aws:iam::aws:policy/NoSuchPolicy")})
	if codeOf(err) != "NoSuchEntity" {
		t.Fatalf("unknown managed policy: %v", err)
	}
	ap, err := root.ListAttachedUserPolicies(ctx, &iam.ListAttachedUserPoliciesInput{UserName: aws.String("alice")})
	if err != nil || len(ap.AttachedPolicies) != 1 || *ap.AttachedPolicies[0].PolicyName != "IAMReadOnlyAccess" {
		t.Fatalf("attached: %+v %v", ap, err)
	}

	// An inline policy with an explicit deny wins over the managed allow.
	deny := `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"iam:ListUsers","Resource":"*"}]}`
	if _, err := root.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("alice"), PolicyName: aws.String("no-list"), PolicyDocument: aws.String(deny)}); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.ListUsers(ctx, &iam.ListUsersInput{}); codeOf(err) != "AccessDenied" || !strings.Contains(messageOf(err), "explicit deny") {
		t.Fatalf("explicit deny: %v", err)
	}
	gp, err := root.GetUserPolicy(ctx, &iam.GetUserPolicyInput{UserName: aws.String("alice"), PolicyName: aws.String("no-list")})
	if err != nil {
		t.Fatal(err)
	}
	if doc, _ := url.QueryUnescape(*gp.PolicyDocument); doc != deny {
		t.Fatalf("policy document %q", *gp.PolicyDocument)
	}
	_, err = root.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("alice"), PolicyName: aws.String("broken"), PolicyDocument: aws.String(`{"Statement":[`)})
	if codeOf(err) != "MalformedPolicyDocument" {
		t.Fatalf("malformed policy: %v", err)
	}

	// Deleting a user with keys and policies left is a DeleteConflict, in this order.
	conflicts := []struct {
		name string
		msg  string
		fix  func() error
	}{
		{name: "keys", msg: "Cannot delete entity, must delete access keys first.", fix: func() error {
			_, err := root.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{UserName: aws.String("alice"), AccessKeyId: aws.String(aliceKey)})
			return err
		}},
		{name: "inline policies", msg: "Cannot delete entity, must delete policies first.", fix: func() error {
			_, err := root.DeleteUserPolicy(ctx, &iam.DeleteUserPolicyInput{UserName: aws.String("alice"), PolicyName: aws.String("no-list")})
			return err
		}},
		{name: "attached policies", msg: "Cannot delete entity, must detach all policies first.", fix: func() error {
			_, err := root.DetachUserPolicy(ctx, &iam.DetachUserPolicyInput{UserName: aws.String("alice"), PolicyArn: aws.String("arn:aws:iam::aws:policy/IAMReadOnlyAccess")})
			return err
		}},
	}
	for _, c := range conflicts {
		_, err := root.DeleteUser(ctx, &iam.DeleteUserInput{UserName: aws.String("alice")})
		if codeOf(err) != "DeleteConflict" || messageOf(err) != c.msg {
			t.Fatalf("%s left: %v", c.name, err)
		}
		if err := c.fix(); err != nil {
			t.Fatalf("removing %s: %v", c.name, err)
		}
	}
	if _, err := root.DeleteUser(ctx, &iam.DeleteUserInput{UserName: aws.String("alice")}); err != nil {
		t.Fatal(err)
	}
	_, err = root.GetUser(ctx, &iam.GetUserInput{UserName: aws.String("alice")})
	if codeOf(err) != "NoSuchEntity" || messageOf(err) != "The user with name alice cannot be found." {
		t.Fatalf("deleted user: %v", err)
	}
	if _, err := env.stsClient(aliceKey, aliceSecret).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); codeOf(err) != "InvalidClientTokenId" {
		t.Fatalf("deleted key still works: %v", err)
	}
}

func TestAccessKeyLimitsAndStatus(t *testing.T) {
	env := newAPIEnv(t)
	ctx := context.Background()
	root := env.iamClient(rootKey, rootSecret)
	if _, err := root.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("bob")}); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for range 2 {
		k, err := root.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("bob")})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, *k.AccessKey.AccessKeyId+"\x00"+*k.AccessKey.SecretAccessKey)
	}
	_, err := root.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("bob")})
	if codeOf(err) != "LimitExceeded" || messageOf(err) != "Cannot exceed quota for AccessKeysPerUser: 2" {
		t.Fatalf("third key: %v", err)
	}
	id, secret, _ := strings.Cut(ids[0], "\x00")
	if _, err := root.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: aws.String("bob"), AccessKeyId: aws.String(id), Status: "Inactive"}); err != nil {
		t.Fatal(err)
	}
	if _, err := env.stsClient(id, secret).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); codeOf(err) != "InvalidClientTokenId" {
		t.Fatalf("inactive key accepted: %v", err)
	}
	if _, err := root.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: aws.String("bob"), AccessKeyId: aws.String(id), Status: "Active"}); err != nil {
		t.Fatal(err)
	}
	if _, err := env.stsClient(id, secret).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
		t.Fatalf("reactivated key refused: %v", err)
	}
	_, err = root.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{UserName: aws.String("bob"), AccessKeyId: aws.String("AKIANOTAKEY000000000")})
	if codeOf(err) != "NoSuchEntity" || messageOf(err) != "The Access Key with id AKIANOTAKEY000000000 cannot be found." {
		t.Fatalf("unknown key: %v", err)
	}
}

// TestTwoAccounts: a second account (Berth's CreateAccount, the first root only) is walled off from the first.
func TestTwoAccounts(t *testing.T) {
	env := newAPIEnv(t)
	ctx := context.Background()
	first := env.client(rootKey, rootSecret)
	if _, err := first.CreateUser(ctx, "alice", ""); err != nil {
		t.Fatal(err)
	}
	acct, key, err := first.CreateAccount(ctx, "tenant2")
	if err != nil {
		t.Fatal(err)
	}
	if len(acct.AccountID) != 12 || key.SecretAccessKey == "" {
		t.Fatalf("account %+v, key %+v", acct, key)
	}
	second := env.client(key.AccessKeyID, key.SecretAccessKey)
	who, err := second.GetCallerIdentity(ctx)
	if err != nil || who.Account != acct.AccountID {
		t.Fatalf("second root: %+v %v", who, err)
	}
	users, err := second.ListUsers(ctx)
	if err != nil || len(users) != 0 {
		t.Fatalf("the second account sees users %+v (%v)", users, err)
	}
	if _, err := second.CreateUser(ctx, "alice", ""); err != nil {
		t.Fatalf("same user name in another account: %v", err)
	}
	if err := second.DeleteUser(ctx, "bob"); codeOf(err) != "NoSuchEntity" {
		t.Fatalf("%v", err)
	}
	if _, _, err := second.CreateAccount(ctx, "tenant3"); codeOf(err) != "AccessDenied" {
		t.Fatalf("second root created an account: %v", err)
	}
	if _, _, err := first.CreateAccount(ctx, "TENANT2"); codeOf(err) != "EntityAlreadyExists" {
		t.Fatalf("duplicate account name: %v", err)
	}
	accts, err := first.ListAccounts(ctx)
	if err != nil || len(accts) != 2 || accts[1].AccountName != "tenant2" {
		t.Fatalf("accounts %+v %v", accts, err)
	}
}

func TestQueryProtocolErrors(t *testing.T) {
	env := newAPIEnv(t)
	ctx := context.Background()
	c := env.client(rootKey, rootSecret)
	tests := []struct {
		name, service, action string
		params                url.Values
		wantCode              string
		wantStatus            int
	}{
		{name: "unknown action", service: "iam", action: "ListRoles", wantCode: "InvalidAction", wantStatus: 400},
		{name: "missing user name", service: "iam", action: "DeleteUser", wantCode: "ValidationError", wantStatus: 400},
		{name: "bad status", service: "iam", action: "UpdateAccessKey", params: url.Values{"AccessKeyId": {"x"}, "Status": {"Dormant"}}, wantCode: "ValidationError", wantStatus: 400},
		{name: "bad MaxItems", service: "iam", action: "ListUsers", params: url.Values{"MaxItems": {"0"}}, wantCode: "ValidationError", wantStatus: 400},
		{name: "IAM action on STS", service: "sts", action: "ListUsers", wantCode: "InvalidAction", wantStatus: 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := c.Call(ctx, tc.service, tc.action, tc.params, nil)
			var ae *iamclient.Error
			if !errors.As(err, &ae) || ae.Code != tc.wantCode || ae.Status != tc.wantStatus || ae.RequestID == "" {
				t.Fatalf("got %+v (%v)", ae, err)
			}
		})
	}
}

func TestListUsersPages(t *testing.T) {
	env := newAPIEnv(t)
	ctx := context.Background()
	root := env.iamClient(rootKey, rootSecret)
	for i := range 5 {
		if _, err := root.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(fmt.Sprintf("u%d", i))}); err != nil {
			t.Fatal(err)
		}
	}
	var names []string
	p := iam.NewListUsersPaginator(root, &iam.ListUsersInput{MaxItems: aws.Int32(2)})
	pages := 0
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, u := range out.Users {
			names = append(names, *u.UserName)
		}
	}
	if strings.Join(names, ",") != "u0,u1,u2,u3,u4" || pages != 3 {
		t.Fatalf("%d pages: %v", pages, names)
	}
}
