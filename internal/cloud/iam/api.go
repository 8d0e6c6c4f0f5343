package iam

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/containerd/errdefs"

	"github.com/berth/berth/internal/cloud"
	"github.com/berth/berth/internal/cloud/policy"
)

// queryService serves one query-protocol API (IAM or STS) over the Store.
type queryService struct {
	store   *Store
	name    string // "iam" or "sts"
	version string
	xmlns   string
	log     *slog.Logger
	actions map[string]action
}

type action func(r *call) (any, error)

// call is one API request being served.
type call struct {
	*http.Request
	form   url.Values
	caller cloud.Identity
	action string
}

func (c *call) param(name string) string { return c.form.Get(name) }

// ServiceOption configures the IAM and STS services.
type ServiceOption func(*queryService)

// WithServiceLogger sets the services' logger.
func WithServiceLogger(l *slog.Logger) ServiceOption { return func(q *queryService) { q.log = l } }

// NewIAMService returns the IAM query API over st, to register as "iam" on the endpoint.
func NewIAMService(st *Store, opts ...ServiceOption) cloud.Service {
	q := &queryService{store: st, name: "iam", version: iamVersion, xmlns: iamXMLNS, log: slog.Default()}
	q.actions = map[string]action{
		"CreateUser":               q.createUser,
		"GetUser":                  q.getUser,
		"ListUsers":                q.listUsers,
		"DeleteUser":               q.deleteUser,
		"CreateAccessKey":          q.createAccessKey,
		"ListAccessKeys":           q.listAccessKeys,
		"UpdateAccessKey":          q.updateAccessKey,
		"DeleteAccessKey":          q.deleteAccessKey,
		"PutUserPolicy":            q.putUserPolicy,
		"GetUserPolicy":            q.getUserPolicy,
		"ListUserPolicies":         q.listUserPolicies,
		"DeleteUserPolicy":         q.deleteUserPolicy,
		"AttachUserPolicy":         q.attachUserPolicy,
		"DetachUserPolicy":         q.detachUserPolicy,
		"ListAttachedUserPolicies": q.listAttachedUserPolicies,
		"CreateAccount":            q.createAccount,
		"ListAccounts":             q.listAccounts,
	}
	for _, o := range opts {
		o(q)
	}
	return q
}

// NewSTSService returns the STS query API (GetCallerIdentity) over st, to register as "sts".
func NewSTSService(st *Store, opts ...ServiceOption) cloud.Service {
	q := &queryService{store: st, name: "sts", version: stsVersion, xmlns: stsXMLNS, log: slog.Default()}
	q.actions = map[string]action{"GetCallerIdentity": q.getCallerIdentity}
	for _, o := range opts {
		o(q)
	}
	return q
}

// HasAction implements cloud.ActionServer: the endpoint finds the service of an unsigned request without a
// Version by its action.
func (q *queryService) HasAction(action string) bool {
	_, ok := q.actions[action]
	return ok
}

// ServeHTTP implements cloud.Service.
func (q *queryService) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		q.WriteError(w, r, &cloud.Error{Code: "InvalidAction", Message: "The query API takes GET and POST requests.", Status: http.StatusBadRequest})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	if err := r.ParseForm(); err != nil {
		var ce *cloud.Error
		if !errors.As(err, &ce) {
			err = &cloud.Error{Code: "MalformedQueryString", Message: "The request could not be parsed as a form.", Status: http.StatusBadRequest}
		}
		q.WriteError(w, r, err)
		return
	}
	c := &call{Request: r, form: r.Form, caller: cloud.IdentityFrom(r.Context()), action: r.Form.Get("Action")}
	if c.action == "" {
		q.WriteError(w, r, &cloud.Error{Code: "MissingAction", Message: "Missing Action", Status: http.StatusBadRequest})
		return
	}
	fn, ok := q.actions[c.action]
	if v := c.param("Version"); !ok || (v != "" && v != q.version) {
		version := c.param("Version")
		q.WriteError(w, r, &cloud.Error{Code: "InvalidAction", Message: "Could not find operation " + c.action + " for version " + version, Status: http.StatusBadRequest})
		return
	}
	if c.caller.Anonymous {
		q.WriteError(w, r, &cloud.Error{Code: "MissingAuthenticationToken", Message: "Request is missing Authentication Token", Status: http.StatusForbidden})
		return
	}
	result, err := fn(c)
	if err != nil {
		q.WriteError(w, r, err)
		return
	}
	q.writeResult(w, r, c.action, result)
}

func (q *queryService) writeResult(w http.ResponseWriter, r *http.Request, action string, result any) {
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	fmt.Fprintf(&buf, "<%sResponse xmlns=\"%s\">", action, q.xmlns)
	if result != nil {
		enc := xml.NewEncoder(&buf)
		if err := enc.EncodeElement(result, xml.StartElement{Name: xml.Name{Local: action + "Result"}}); err != nil {
			q.WriteError(w, r, err)
			return
		}
	}
	fmt.Fprintf(&buf, "<ResponseMetadata><RequestId>%s</RequestId></ResponseMetadata></%sResponse>", cloud.InfoFrom(r.Context()).RequestID, action)
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	_, _ = w.Write(buf.Bytes())
}

// WriteError implements cloud.Service: the query protocol's <ErrorResponse>.
func (q *queryService) WriteError(w http.ResponseWriter, r *http.Request, err error) {
	e := toCloudError(err)
	if e.Code == "InternalFailure" {
		q.log.ErrorContext(r.Context(), "IAM request failed", "service", q.name, "request_id", cloud.InfoFrom(r.Context()).RequestID, "error", err)
	}
	var doc wireError
	doc.Error.Type = "Sender"
	if e.Status >= 500 {
		doc.Error.Type = "Receiver"
	}
	doc.Error.Code, doc.Error.Message, doc.RequestID = e.Code, e.Message, cloud.InfoFrom(r.Context()).RequestID
	body, _ := xml.Marshal(struct {
		XMLName xml.Name `xml:"ErrorResponse"`
		XMLNS   string   `xml:"xmlns,attr"`
		wireError
	}{XMLNS: q.xmlns, wireError: doc})
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(e.Status)
	_, _ = w.Write(append([]byte(xml.Header), body...))
}

// toCloudError maps a store or policy error to IAM's code and status; anything unexpected is InternalFailure.
func toCloudError(err error) *cloud.Error {
	var ce *cloud.Error
	if errors.As(err, &ce) {
		return ce
	}
	var mp *policy.MalformedError
	if errors.As(err, &mp) {
		return &cloud.Error{Code: "MalformedPolicyDocument", Message: mp.Message, Status: http.StatusBadRequest}
	}
	var se *Error
	if errors.As(err, &se) {
		status, code := http.StatusBadRequest, "ValidationError"
		switch {
		case errors.Is(err, errdefs.ErrNotFound):
			status, code = http.StatusNotFound, "NoSuchEntity"
		case errors.Is(err, errdefs.ErrAlreadyExists):
			status, code = http.StatusConflict, "EntityAlreadyExists"
		case errors.Is(err, errdefs.ErrFailedPrecondition):
			status, code = http.StatusConflict, "DeleteConflict"
		case errors.Is(err, errdefs.ErrResourceExhausted):
			status, code = http.StatusConflict, "LimitExceeded"
		case errors.Is(err, errdefs.ErrPermissionDenied):
			status, code = http.StatusForbidden, "AccessDenied"
		case errors.Is(err, errdefs.ErrInvalidArgument) && strings.HasPrefix(se.msg, "ARN "):
			code = "InvalidInput"
		}
		return &cloud.Error{Code: code, Message: se.msg, Status: status}
	}
	return &cloud.Error{Code: "InternalFailure", Message: "The request processing has failed because of an unknown error, exception or failure.", Status: http.StatusInternalServerError}
}

// authorize lets an account's root do anything in its account, and an IAM user what its identity policies allow.
func (q *queryService) authorize(c *call, resource string) error {
	if c.caller.Root() {
		return nil
	}
	act := q.name + ":" + c.action
	req := policy.Request{
		Principal: policy.Principal{AccountID: c.caller.AccountID, ARN: c.caller.ARN, CanonicalID: c.caller.CanonicalID},
		Action:    act,
		Resource:  resource,
		Context:   requestContext(c),
	}
	var decisions []policy.Decision
	for _, doc := range c.caller.Policies {
		p, err := policy.Parse(doc, policy.Identity)
		if err != nil {
			continue // stored documents were validated when put; a managed one that no longer parses grants nothing
		}
		decisions = append(decisions, p.Evaluate(req))
	}
	switch policy.Combine(decisions...) {
	case policy.Allow:
		return nil
	case policy.Deny:
		return &cloud.Error{Code: "AccessDenied", Status: http.StatusForbidden, Message: "User: " + c.caller.ARN +
			" is not authorized to perform: " + act + " on resource: " + resource + " with an explicit deny in an identity-based policy"}
	}
	return &cloud.Error{Code: "AccessDenied", Status: http.StatusForbidden, Message: "User: " + c.caller.ARN +
		" is not authorized to perform: " + act + " on resource: " + resource + " because no identity-based policy allows the " + act + " action"}
}

func requestContext(c *call) map[string][]string {
	info := cloud.InfoFrom(c.Context())
	ctx := map[string][]string{
		"aws:PrincipalAccount": {c.caller.AccountID},
		"aws:PrincipalArn":     {c.caller.ARN},
		"aws:userid":           {c.caller.UserID},
		"aws:SecureTransport":  {strconv.FormatBool(info.SecureTransport)},
	}
	if c.caller.UserName != "" {
		ctx["aws:username"] = []string{c.caller.UserName}
	}
	if info.SourceIP.IsValid() {
		ctx["aws:SourceIp"] = []string{info.SourceIP.String()}
	}
	return ctx
}

// targetUser returns the user an action names, or the caller itself (IAM's default for GetUser, ListAccessKeys,
// CreateAccessKey …): "" for a root caller.
func (c *call) targetUser() string {
	if u := c.param("UserName"); u != "" {
		return u
	}
	return c.caller.UserName
}

func (q *queryService) userARN(c *call, name string) string {
	if name == "" {
		return "arn:aws:iam::" + c.caller.AccountID + ":root"
	}
	if u, err := q.store.GetUser(c.Context(), c.caller.AccountID, name); err == nil {
		return u.ARN()
	}
	return "arn:aws:iam::" + c.caller.AccountID + ":user/" + name
}

func wireUser(u User) WireUser {
	return WireUser{Path: u.Path, UserName: u.Name, UserID: u.ID, Arn: u.ARN(), CreateDate: u.Created}
}

func required(c *call, name, member string) (string, error) {
	v := c.param(name)
	if v == "" {
		return "", apiErr(errdefs.ErrInvalidArgument, "1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null", member)
	}
	return v, nil
}

// page applies Marker and MaxItems to n sorted items, returning the slice bounds and the next marker.
func page(c *call, keys []string) (lo, hi int, next string, err error) {
	maxItems := 100
	if v := c.param("MaxItems"); v != "" {
		n, perr := strconv.Atoi(v)
		if perr != nil || n < 1 || n > 1000 {
			return 0, 0, "", apiErr(errdefs.ErrInvalidArgument, "1 validation error detected: Value '%s' at 'maxItems' failed to satisfy constraint: Member must have value between 1 and 1000", v)
		}
		maxItems = n
	}
	if m := c.param("Marker"); m != "" {
		lo = sort.SearchStrings(keys, m)
	}
	hi = min(lo+maxItems, len(keys))
	if hi < len(keys) {
		next = keys[hi]
	}
	return lo, hi, next, nil
}

func (q *queryService) createUser(c *call) (any, error) {
	name, err := required(c, "UserName", "userName")
	if err != nil {
		return nil, err
	}
	path := c.param("Path")
	if path == "" {
		path = "/"
	}
	if err := q.authorize(c, "arn:aws:iam::"+c.caller.AccountID+":user"+path+name); err != nil {
		return nil, err
	}
	u, err := q.store.CreateUser(c.Context(), c.caller.AccountID, name, path)
	if err != nil {
		return nil, err
	}
	return CreateUserResult{User: wireUser(u)}, nil
}

func (q *queryService) getUser(c *call) (any, error) {
	name := c.targetUser()
	if err := q.authorize(c, q.userARN(c, name)); err != nil {
		return nil, err
	}
	if name == "" { // the root asking about itself
		a, err := q.store.Account(c.Context(), c.caller.AccountID)
		if err != nil {
			return nil, err
		}
		return GetUserResult{User: WireUser{UserID: a.ID, Arn: a.RootARN(), CreateDate: a.Created}}, nil
	}
	u, err := q.store.GetUser(c.Context(), c.caller.AccountID, name)
	if err != nil {
		return nil, err
	}
	return GetUserResult{User: wireUser(u)}, nil
}

func (q *queryService) listUsers(c *call) (any, error) {
	if err := q.authorize(c, "arn:aws:iam::"+c.caller.AccountID+":user/"); err != nil {
		return nil, err
	}
	prefix := c.param("PathPrefix")
	if prefix == "" {
		prefix = "/"
	}
	users, err := q.store.ListUsers(c.Context(), c.caller.AccountID, prefix)
	if err != nil {
		return nil, err
	}
	keys := make([]string, len(users))
	for i, u := range users {
		keys[i] = strings.ToLower(u.Name)
	}
	lo, hi, next, err := page(c, keys)
	if err != nil {
		return nil, err
	}
	res := ListUsersResult{IsTruncated: next != "", Marker: next, Users: []WireUser{}}
	for _, u := range users[lo:hi] {
		res.Users = append(res.Users, wireUser(u))
	}
	return res, nil
}

func (q *queryService) deleteUser(c *call) (any, error) {
	name, err := required(c, "UserName", "userName")
	if err != nil {
		return nil, err
	}
	if err := q.authorize(c, q.userARN(c, name)); err != nil {
		return nil, err
	}
	return nil, q.store.DeleteUser(c.Context(), c.caller.AccountID, name)
}

func (q *queryService) createAccessKey(c *call) (any, error) {
	name := c.targetUser()
	if err := q.authorize(c, q.userARN(c, name)); err != nil {
		return nil, err
	}
	k, err := q.store.CreateAccessKey(c.Context(), c.caller.AccountID, name)
	if err != nil {
		return nil, err
	}
	return CreateAccessKeyResult{AccessKey: WireAccessKey{UserName: k.UserName, AccessKeyID: k.ID, Status: k.Status, SecretAccessKey: k.Secret, CreateDate: k.Created}}, nil
}

func (q *queryService) listAccessKeys(c *call) (any, error) {
	name := c.targetUser()
	if err := q.authorize(c, q.userARN(c, name)); err != nil {
		return nil, err
	}
	keys, err := q.store.ListAccessKeys(c.Context(), c.caller.AccountID, name)
	if err != nil {
		return nil, err
	}
	res := ListAccessKeysResult{UserName: name, AccessKeyMetadata: []WireAccessKeyMetadata{}}
	for _, k := range keys {
		res.AccessKeyMetadata = append(res.AccessKeyMetadata, WireAccessKeyMetadata{UserName: k.UserName, AccessKeyID: k.ID, Status: k.Status, CreateDate: k.Created})
	}
	return res, nil
}

func (q *queryService) updateAccessKey(c *call) (any, error) {
	id, err := required(c, "AccessKeyId", "accessKeyId")
	if err != nil {
		return nil, err
	}
	status, err := required(c, "Status", "status")
	if err != nil {
		return nil, err
	}
	name := c.targetUser()
	if err := q.authorize(c, q.userARN(c, name)); err != nil {
		return nil, err
	}
	return nil, q.store.UpdateAccessKey(c.Context(), c.caller.AccountID, name, id, status)
}

func (q *queryService) deleteAccessKey(c *call) (any, error) {
	id, err := required(c, "AccessKeyId", "accessKeyId")
	if err != nil {
		return nil, err
	}
	name := c.targetUser()
	if err := q.authorize(c, q.userARN(c, name)); err != nil {
		return nil, err
	}
	return nil, q.store.DeleteAccessKey(c.Context(), c.caller.AccountID, name, id)
}

func (q *queryService) userAndPolicy(c *call) (user, name string, err error) {
	if user, err = required(c, "UserName", "userName"); err != nil {
		return
	}
	if name, err = required(c, "PolicyName", "policyName"); err != nil {
		return
	}
	err = q.authorize(c, q.userARN(c, user))
	return
}

func (q *queryService) putUserPolicy(c *call) (any, error) {
	user, name, err := q.userAndPolicy(c)
	if err != nil {
		return nil, err
	}
	doc, err := required(c, "PolicyDocument", "policyDocument")
	if err != nil {
		return nil, err
	}
	return nil, q.store.PutUserPolicy(c.Context(), c.caller.AccountID, user, name, doc)
}

func (q *queryService) getUserPolicy(c *call) (any, error) {
	user, name, err := q.userAndPolicy(c)
	if err != nil {
		return nil, err
	}
	doc, err := q.store.GetUserPolicy(c.Context(), c.caller.AccountID, user, name)
	if err != nil {
		return nil, err
	}
	u, err := q.store.GetUser(c.Context(), c.caller.AccountID, user)
	if err != nil {
		return nil, err
	}
	return GetUserPolicyResult{UserName: u.Name, PolicyName: name, PolicyDocument: rfc3986Escape(doc)}, nil
}

// rfc3986Escape URL-encodes a policy document as IAM returns it (space as %20, not +).
func rfc3986Escape(s string) string { return strings.ReplaceAll(url.QueryEscape(s), "+", "%20") }

func (q *queryService) listUserPolicies(c *call) (any, error) {
	user, err := required(c, "UserName", "userName")
	if err != nil {
		return nil, err
	}
	if err := q.authorize(c, q.userARN(c, user)); err != nil {
		return nil, err
	}
	names, err := q.store.ListUserPolicies(c.Context(), c.caller.AccountID, user)
	if err != nil {
		return nil, err
	}
	lo, hi, next, err := page(c, names)
	if err != nil {
		return nil, err
	}
	return ListUserPoliciesResult{PolicyNames: append([]string{}, names[lo:hi]...), IsTruncated: next != "", Marker: next}, nil
}

func (q *queryService) deleteUserPolicy(c *call) (any, error) {
	user, name, err := q.userAndPolicy(c)
	if err != nil {
		return nil, err
	}
	return nil, q.store.DeleteUserPolicy(c.Context(), c.caller.AccountID, user, name)
}

func (q *queryService) userAndARN(c *call) (user, arn string, err error) {
	if user, err = required(c, "UserName", "userName"); err != nil {
		return
	}
	if arn, err = required(c, "PolicyArn", "policyArn"); err != nil {
		return
	}
	err = q.authorize(c, q.userARN(c, user))
	return
}

func (q *queryService) attachUserPolicy(c *call) (any, error) {
	user, arn, err := q.userAndARN(c)
	if err != nil {
		return nil, err
	}
	return nil, q.store.AttachUserPolicy(c.Context(), c.caller.AccountID, user, arn)
}

func (q *queryService) detachUserPolicy(c *call) (any, error) {
	user, arn, err := q.userAndARN(c)
	if err != nil {
		return nil, err
	}
	return nil, q.store.DetachUserPolicy(c.Context(), c.caller.AccountID, user, arn)
}

func (q *queryService) listAttachedUserPolicies(c *call) (any, error) {
	user, err := required(c, "UserName", "userName")
	if err != nil {
		return nil, err
	}
	if err := q.authorize(c, q.userARN(c, user)); err != nil {
		return nil, err
	}
	u, err := q.store.GetUser(c.Context(), c.caller.AccountID, user)
	if err != nil {
		return nil, err
	}
	prefix := c.param("PathPrefix")
	var arns []string
	for _, a := range u.Attached {
		if prefix == "" || prefix == "/" {
			arns = append(arns, a)
		}
	}
	lo, hi, next, err := page(c, arns)
	if err != nil {
		return nil, err
	}
	res := ListAttachedUserPoliciesResult{AttachedPolicies: []WireAttachedPolicy{}, IsTruncated: next != "", Marker: next}
	for _, a := range arns[lo:hi] {
		res.AttachedPolicies = append(res.AttachedPolicies, WireAttachedPolicy{PolicyName: strings.TrimPrefix(a, managedPrefix), PolicyArn: a})
	}
	return res, nil
}

// firstRootOnly refuses the Berth-specific account actions to anyone but the first account's root.
func (q *queryService) firstRootOnly(c *call) error {
	first, err := q.store.FirstAccount(c.Context())
	if err != nil {
		return err
	}
	if !c.caller.Root() || c.caller.AccountID != first.ID {
		return &cloud.Error{Code: "AccessDenied", Status: http.StatusForbidden,
			Message: "User: " + c.caller.ARN + " is not authorized to perform: iam:" + c.action + ": only the root user of the first account manages accounts"}
	}
	return nil
}

func wireAccount(a Account) WireAccount {
	return WireAccount{AccountID: a.ID, AccountName: a.Name, CanonicalID: a.CanonicalID, Arn: a.RootARN(), CreateDate: a.Created}
}

func (q *queryService) createAccount(c *call) (any, error) {
	if err := q.firstRootOnly(c); err != nil {
		return nil, err
	}
	name, err := required(c, "AccountName", "accountName")
	if err != nil {
		return nil, err
	}
	a, k, err := q.store.CreateAccount(c.Context(), name)
	if err != nil {
		return nil, err
	}
	return CreateAccountResult{Account: wireAccount(a), AccessKey: WireAccessKey{AccessKeyID: k.ID, Status: k.Status, SecretAccessKey: k.Secret, CreateDate: k.Created}}, nil
}

func (q *queryService) listAccounts(c *call) (any, error) {
	if err := q.firstRootOnly(c); err != nil {
		return nil, err
	}
	accts, err := q.store.ListAccounts(c.Context())
	if err != nil {
		return nil, err
	}
	res := ListAccountsResult{Accounts: []WireAccount{}}
	for _, a := range accts {
		res.Accounts = append(res.Accounts, wireAccount(a))
	}
	return res, nil
}

// getCallerIdentity needs no permission, as in AWS.
func (q *queryService) getCallerIdentity(c *call) (any, error) {
	return GetCallerIdentityResult{Arn: c.caller.ARN, UserID: c.caller.UserID, Account: c.caller.AccountID}, nil
}
