package instance

import (
	"context"
	"fmt"
	"sort"
	"strings"
)

// Resources belong to accounts, as in EC2: an instance, a key pair or a security group is owned by the account
// that made it (its Owner), and a caller scoped to an account (WithAccount: the cloud endpoint's EC2 API, for the
// account that signed the request) sees, names and uses only that account's. Names are unique per account, and
// each account has a default security group of its own, made the first time it is needed.
//
// A context without an account is Berth's own API (`berth vm`, root on the daemon's socket): it sees every
// account's resources, and what it makes is owned by no account (Owner ""). A name more than one account uses
// resolves, for it, to the one of no account, else it is ambiguous and must be given by ID.

type accountKey struct{}

// WithAccount returns ctx scoped to account: what the service does under it sees and makes only that account's
// resources.
func WithAccount(ctx context.Context, account string) context.Context {
	return context.WithValue(ctx, accountKey{}, account)
}

// scope is whose resources a call sees.
type scope struct {
	all   bool   // Berth's own API: every account's
	owner string // the account the call makes resources for ("" with all)
}

func scopeOf(ctx context.Context) scope {
	if a, ok := ctx.Value(accountKey{}).(string); ok {
		return scope{owner: a}
	}
	return scope{all: true}
}

// sees reports whether a resource owned by owner is visible in the scope.
func (sc scope) sees(owner string) bool { return sc.all || owner == sc.owner }

// pick chooses among resources of one name visible in the scope (owners lists their owners, in the same
// order): the only one; with several (only Berth's own API sees several), the one of no account. -1 and an
// error when it stays ambiguous; -1 and nil when there is none.
func (sc scope) pick(kind, name string, owners []string) (int, error) {
	switch len(owners) {
	case 0:
		return -1, nil
	case 1:
		return 0, nil
	}
	for i, o := range owners {
		if o == "" {
			return i, nil
		}
	}
	list := append([]string(nil), owners...)
	sort.Strings(list)
	return -1, newError(CodeInvalidParameterValue, fmt.Sprintf("The %s name '%s' is used by accounts %s: name it by its ID", kind, name, strings.Join(list, ", ")), errInvalid)
}
