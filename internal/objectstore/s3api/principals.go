package s3api

import (
	"context"
	"strings"

	"github.com/containerd/errdefs"

	"github.com/berth/berth/internal/cloud/iam"
	"github.com/berth/berth/internal/cloud/policy"
)

// Principals tells the S3 API which accounts and users exist, so that a bucket policy or an ACL grant naming one
// that does not is refused as S3 refuses it. *iam.Store implements it.
type Principals interface {
	Account(ctx context.Context, id string) (iam.Account, error)
	ListAccounts(ctx context.Context) ([]iam.Account, error)
	GetUser(ctx context.Context, account, name string) (iam.User, error)
}

var _ Principals = (*iam.Store)(nil)

// accountByCanonicalID finds the account with a canonical user ID. Without Principals every well-formed ID is
// taken to exist (with no display name).
func (s *Server) accountByCanonicalID(ctx context.Context, id string) (iam.Account, bool, error) {
	if s.principals == nil {
		return iam.Account{CanonicalID: id}, isCanonicalID(id), nil
	}
	accounts, err := s.principals.ListAccounts(ctx)
	if err != nil {
		return iam.Account{}, false, err
	}
	for _, a := range accounts {
		if strings.EqualFold(a.CanonicalID, id) {
			return a, true, nil
		}
	}
	return iam.Account{}, false, nil
}

func isCanonicalID(id string) bool {
	if len(id) != 64 {
		return false
	}
	for _, c := range id {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// checkPolicyPrincipals makes sure every account and user a bucket policy names exists: S3 refuses a policy
// naming an unknown one with "Invalid principal in policy". Roles, federated identities and unique IDs name
// nothing in Berth. Service principals are accepted.
func (s *Server) checkPolicyPrincipals(ctx context.Context, p *policy.Policy) error {
	ps := p.Principals()
	invalid := policy.Malformed(policy.Resource, policy.MsgInvalidPrincipal)
	if len(ps.Federated) > 0 || len(ps.Others) > 0 {
		return invalid
	}
	if s.principals == nil {
		return nil
	}
	exists := func(err error) (bool, error) {
		switch {
		case err == nil:
			return true, nil
		case errdefs.IsNotFound(err):
			return false, nil
		}
		return false, err
	}
	for _, id := range ps.Accounts {
		ok, err := exists(s.principalsAccount(ctx, id))
		if err != nil {
			return err
		}
		if !ok {
			return invalid
		}
	}
	for _, id := range ps.CanonicalUsers {
		_, ok, err := s.accountByCanonicalID(ctx, id)
		if err != nil {
			return err
		}
		if !ok {
			return invalid
		}
	}
	for _, arn := range ps.ARNs {
		// arn:aws:iam::ACCOUNT:user/PATH/NAME names a user; roles and sessions do not exist here.
		parts := strings.SplitN(arn, ":", 6)
		if len(parts) != 6 || parts[2] != "iam" || !strings.HasPrefix(parts[5], "user/") {
			return invalid
		}
		rest := strings.TrimPrefix(parts[5], "user")
		name := rest[strings.LastIndexByte(rest, '/')+1:]
		path := rest[:strings.LastIndexByte(rest, '/')+1]
		u, err := s.principals.GetUser(ctx, parts[4], name)
		ok, err := exists(err)
		if err != nil {
			return err
		}
		if !ok || u.Name != name || u.Path != path {
			return invalid
		}
	}
	return nil
}

func (s *Server) principalsAccount(ctx context.Context, id string) error {
	_, err := s.principals.Account(ctx, id)
	return err
}
